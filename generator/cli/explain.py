"""`tierstack explain` and `tierstack show`: what a use case selects and why, and the plan it resolves to.

Both read a fleet member as they read a tierstack.yaml (--member NAME)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tierstack.generator.cli.options import (
    config_argument,
    exit_codes,
    format_option,
    member_option,
)
from tierstack.generator.cli.views import echo
from tierstack.generator.core.exit_codes import (
    EXIT_OK,
    EXIT_USER_ERROR,
)


def _fleet_member(config: Path, name: str, resolved: bool = True) -> Any:
    """A fleet member's plan (or, not resolved, its validated config), as a tierstack.yaml's would be."""
    from tierstack.generator.services import fleet

    return fleet.resolved_member(config, name) if resolved else fleet.loaded_member(config, name)


def _is_fleet(config: Path) -> bool:
    from tierstack.generator.services import fleet

    return str(config) != "-" and fleet.is_fleet_file(config)


def _fleet_rollup(config: Path, fmt: str) -> str:
    """explain FLEET: the roll-ups of every member's plan, as text or data (nothing synthesized)."""
    from tierstack.generator.analysis import rollup
    from tierstack.generator.facts.catalog import load_catalog
    from tierstack.generator.output.report import as_data

    result = rollup.explain_rollup(rollup.resolved_fleet(config), load_catalog())
    return rollup.explain_text(result) if fmt == "text" else as_data(rollup.explain_data(result), fmt)


@click.command(
    short_help="Why each capability, which tier, which stacks.",
    epilog=exit_codes({EXIT_OK: "explained", EXIT_USER_ERROR: "bad input: the config, a blueprint, --member"}),
)
@config_argument
@format_option()
@member_option
def explain(config: Path, fmt: str, member: str | None) -> None:
    """Explain a use case: capabilities with reasons, tier, and what each
    provisions in each environment, read from the stacks synthesized as
    generate would (a few seconds: the Google provider bindings load); what a
    capability can provision and this plan does not comes with why (the
    setting and where it was set) and how to have it. For a check in about a
    second that never synthesizes, use `tierstack validate`.

    Given a fleet file without --member, the fleet's roll-ups instead, read
    from the members' plans without synthesis: each member's team, tier,
    environments and budgets; per team and per cost label, the members and
    the budgets their environments declare; per capability, the members
    that select it and why. The estimate against those budgets is
    `tierstack cost FLEET`'s (docs/fleets.md).

    \b
    Examples:
      tierstack explain examples/fraud-detection/tierstack.yaml
      tierstack explain examples/churn-fleet/churn.fleet.yaml             # the fleet's roll-ups
      tierstack explain examples/churn-fleet/churn.fleet.yaml --member churn-de
    """
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.facts.catalog import load_catalog
    from tierstack.generator.output.report import as_data, explain_data, explain_text
    from tierstack.generator.plan.resolve import resolve

    if member is None and _is_fleet(config):
        echo(_fleet_rollup(config, fmt), nl=False)
        return
    catalog = load_catalog()
    plan = _fleet_member(config, member) if member is not None else resolve(load_spec(config), catalog)
    data = explain_data(plan, catalog)
    echo(explain_text(data) if fmt == "text" else as_data(data, fmt), nl=False)


@click.command(
    short_help="The spec, or the resolved plan with provenance.",
    epilog=exit_codes({EXIT_OK: "shown", EXIT_USER_ERROR: "bad input: the config, a blueprint, --member"}),
)
@config_argument
@click.option("--resolved", is_flag=True, help="Show the resolved blueprint, per environment.")
@click.option(
    "--provenance",
    is_flag=True,
    help="With --resolved: where each value was set (a file and line; tierstack:BLUEPRINT:LINE in a built-in "
    "blueprint). A listing, or data with an explicit --format json or yaml.",
)
@format_option(default="yaml")
@member_option
def show(config: Path, resolved: bool, provenance: bool, fmt: str, member: str | None) -> None:
    """Show the validated spec, or with --resolved the plan stacks are built from.

    With --provenance, each value is followed by the place that set it: a
    line of tierstack.yaml or of a blueprint of your own, or a line of a
    built-in blueprint, written tierstack:NAME:LINE (tierstack blueprints
    --show NAME prints that file).

    \b
    Examples:
      tierstack show examples/recommender/tierstack.yaml
      tierstack show --resolved --provenance
      tierstack show --resolved --format json | jq '.environments.prod'
      tierstack show --resolved --provenance --format json | jq '.provenance'
    """
    from click.core import ParameterSource

    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.report import as_data, resolved_provenance_data, resolved_text
    from tierstack.generator.plan.resolve import resolve

    if provenance and not resolved:
        raise click.UsageError("--provenance goes with --resolved")
    if member is not None and resolved:
        plan = _fleet_member(config, member)
    else:
        loaded = _fleet_member(config, member, resolved=False) if member is not None else load_spec(config)
        if not resolved:
            echo(as_data(loaded.spec.model_dump(mode="json"), "json" if fmt == "json" else "yaml"), nl=False)
            return
        plan = resolve(loaded)
    listing = fmt == "yaml" and click.get_current_context().get_parameter_source("fmt") is ParameterSource.DEFAULT
    if fmt == "text" or (provenance and listing):
        echo(resolved_text(plan, provenance), nl=False)
    elif provenance:
        echo(as_data(resolved_provenance_data(plan), fmt), nl=False)
    else:
        echo(as_data(plan.to_data(), fmt), nl=False)
