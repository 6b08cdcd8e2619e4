"""`tierstack golden-set`: the gate on promotion, `check` a candidate and print the `version`."""

from __future__ import annotations

from pathlib import Path

import click

from tierstack.generator.cli.context import CommandGroup
from tierstack.generator.cli.options import (
    config_argument,
    environments_option,
    exit_codes,
)
from tierstack.generator.cli.views import echo
from tierstack.generator.core.exit_codes import (
    EXIT_NOT_PROMOTABLE,
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.group(
    "golden-set",
    cls=CommandGroup,
    short_help="The golden set that gates promotion: check a candidate, print the version.",
    epilog=exit_codes({EXIT_OK: "--help", EXIT_USER_ERROR: "no command, or one golden-set does not have"}),
)
def golden_set() -> None:
    """Gate promotion on the golden set tierstack.yaml declares (golden_set:):
    questions with defined answers the model team runs every candidate
    through. Evaluations are recorded in each stack's results table; a
    candidate without one on the current golden set, or differing by more
    than max_difference, does not ship. See docs/golden-sets.md.
    """


@golden_set.command(
    "check",
    short_help=f"Exit {EXIT_NOT_PROMOTABLE} unless the candidate passed the current golden set.",
    epilog=exit_codes(
        {
            EXIT_OK: "the candidate may be promoted (each metric within max_difference)",
            EXIT_USER_ERROR: "bad input: the config, no golden_set declared, --env; no credentials,\n"
            "a golden set or results table that is missing or unreadable",
            EXIT_NOT_PROMOTABLE: "no evaluation of MODEL VERSION on the golden set's current version,\n"
            "or a difference above max_difference (the numbers are printed)",
        }
    ),
)
@config_argument
@environments_option
@click.option("--model", required=True, metavar="MODEL", help="The model, as the evaluations record it.")
@click.option("--version", "model_version", required=True, metavar="VERSION", help="The candidate's version.")
def golden_set_check(config: Path, environments: tuple[str, ...], model: str, model_version: str) -> None:
    """Refuse a candidate model the golden set has not passed: read the
    golden set's current version (the newest object generation under the
    prefix, or the table's lastModifiedTime) and the evaluations of MODEL
    at VERSION in the results table of --env (the environment promoted to;
    default: the last in promotion order); exit 0 only when one on the
    current version has every metric within max_difference.

    Run it as a pipeline step before a deploy, or by hand. Uses Application
    Default Credentials; at tier 2 the generated deploy workflow runs it as
    production's deployer before the production apply.

    \b
    Examples:
      tierstack golden-set check --model demand --version 7
      tierstack golden-set check examples/fraud-detection/tierstack.yaml --env prod --model fraud --version 12
    """
    from tierstack.generator.analysis import golden_set_check as gate
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

    if len(environments) > 1:
        raise click.UsageError("golden-set check gates one promotion: give one --env (the environment promoted to)")
    checked = gate.gate_for(resolve(load_spec(config)), environments[0] if environments else None)
    verdict = gate.check(checked, model, model_version)
    for line in verdict.lines:
        echo(line)
    if not verdict.promotable:
        raise click.exceptions.Exit(EXIT_NOT_PROMOTABLE)


@golden_set.command(
    "version",
    short_help="Print the golden set's current version, for the evaluation to record.",
    epilog=exit_codes(
        {
            EXIT_OK: "printed",
            EXIT_USER_ERROR: "bad input: the config, no golden_set declared; no credentials, a golden\n"
            "set that is missing, empty or unreadable",
        }
    ),
)
@config_argument
def golden_set_version(config: Path) -> None:
    """Print the golden set's current version: what an evaluation records
    as golden_set_version, and what `golden-set check` compares with (the
    newest object generation under the prefix, or the table's
    lastModifiedTime in ms).

    \b
    Examples:
      tierstack golden-set version
    """
    from tierstack.generator.analysis import golden_set_check as gate
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

    echo(gate.version(gate.gate_for(resolve(load_spec(config)), None)))
