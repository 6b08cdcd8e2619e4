"""`tierstack validate`: every check short of synthesis, every problem listed (a fleet member by member)."""

from __future__ import annotations

from pathlib import Path

import click

from tierstack.generator.cli.options import (
    config_argument,
    exit_codes,
    format_option,
    jobs_option,
)
from tierstack.generator.cli.views import (
    echo,
    print_error,
)
from tierstack.generator.core.exit_codes import (
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.command(
    short_help="Check a config without synthesizing: every problem, in about a second.",
    epilog=exit_codes(
        {
            EXIT_OK: "valid (warnings, such as alerts nobody receives, go to stderr)",
            EXIT_USER_ERROR: "a problem: each is listed with its file, line, field and hint",
        }
    ),
)
@config_argument
@jobs_option("A fleet file: check the members in N worker processes")
@format_option(("text", "json"), note="(the problems with file, line, field, message and hint)")
def validate(config: Path, jobs: int | None, fmt: str) -> None:
    """Run every check that needs no synthesis and report every problem found:
    the spec's fields, contradictions between answers, the blueprint, Google
    Cloud facts (zones, machines, GPUs, networks), every capability's typed
    settings in every environment, the production guarantees. Nothing is
    written and the Google provider bindings are not loaded.

    A fleet file is checked member by member (docs/fleets.md).

    \b
    Examples:
      tierstack validate
      tierstack validate examples/fraud-detection/tierstack.yaml --format json | jq '.problems'
    """
    from tierstack.generator.output.report import as_data
    from tierstack.generator.services import fleet
    from tierstack.generator.services import validate as checks

    if fleet.is_fleet_file(config):
        _validate_fleet(config, fmt, jobs)
        return
    result = checks.validate(config)
    if fmt == "json":
        echo(as_data(checks.to_data(result), "json"), nl=False)
    else:
        for problem in result.problems:
            print_error(f"error: {problem.render()}")
        for warning in result.warnings:
            echo(f"warning: {warning}", err=True)
        echo(checks.summary(result), err=not result.valid)
    if not result.valid:
        raise click.exceptions.Exit(EXIT_USER_ERROR)


def _validate_fleet(config: Path, fmt: str, jobs: int | None = None) -> None:
    """validate FLEET: every member, each problem with its member's field (members[NAME].FIELD)."""
    from tierstack.generator.output.report import as_data
    from tierstack.generator.services import fleet

    problems, members = fleet.validate_fleet(config, jobs)
    data = fleet.validation_data(config, problems, members)
    if fmt == "json":
        echo(as_data(data, "json"), nl=False)
    else:
        for problem in problems:
            print_error(f"error: {problem.render()}")
        for kind, text in fleet.validation_lines(config, members) if not problems else []:
            if kind == "error":
                print_error(f"error: {text}")
            elif kind == "warning":
                echo(f"warning: {text}", err=True)
            else:
                echo(text, err=not data["valid"])
    if not data["valid"]:
        raise click.exceptions.Exit(EXIT_USER_ERROR)
