"""`tierstack cost`: a monthly estimate per stack and capability, or (--diff) what saved plans change."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from tierstack.generator.cli.options import (
    config_argument,
    environments_option,
    exit_codes,
    format_option,
    members_option,
    stacks_out_option,
)
from tierstack.generator.cli.views import echo
from tierstack.generator.core.exit_codes import (
    EXIT_OK,
    EXIT_USER_ERROR,
)

if TYPE_CHECKING:  # read lazily: `tierstack --help` need not load the estimate
    from tierstack.generator.analysis.cost import Estimate, PriceTable
    from tierstack.generator.analysis.rollup import CostRollup


@click.command(
    short_help="A monthly cost estimate per stack and capability, against the budget.",
    epilog=exit_codes(
        {
            EXIT_OK: "estimated (a budget warning is not an error)",
            EXIT_USER_ERROR: "bad input: the config, a stack never generated, a file that is not\n"
            "a plan (--diff); with --prices catalog or --refresh-prices: no\n"
            "credentials, a 403 or no network (the Cloud Billing Catalog API)",
        }
    ),
)
@config_argument
@click.argument("plans", nargs=-1, metavar="[PLAN.json]...", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--diff",
    "diff",
    is_flag=True,
    help="The arguments are plans (`terraform show -json`, `-` for stdin): price the change of each per "
    "capability: before, after, change.",
)
@stacks_out_option
@environments_option
@members_option
@click.option(
    "--prices",
    "prices",
    type=click.Choice(["auto", "catalog", "table"]),
    default="auto",
    show_default=True,
    help="Where prices come from: the Cloud Billing Catalog API (cached), the shipped table, or auto: "
    "the catalog when a fresh cache or credentials are found, else the table.",
)
@click.option(
    "--refresh-prices",
    is_flag=True,
    help="Fetch the catalog's prices again now, whatever the cache's age (needs credentials).",
)
@format_option()
def cost(
    config: Path,
    plans: tuple[str, ...],
    diff: bool,
    out: Path | None,
    environments: tuple[str, ...],
    members: tuple[str, ...],
    prices: str,
    refresh_prices: bool,
    fmt: str,
) -> None:
    """Estimate what each generated stack costs a month, per capability, from
    Google's Cloud Billing Catalog API where credentials (or a cache younger
    than 30 days) allow, else from the shipped table generator/data/prices.yaml
    (on-demand list prices in USD, each with its source and the date it was
    read). The output says which source and which date it used.

    Always-on items (deployment pool nodes at min replicas, persistent
    training pools, feature store nodes, scheduler jobs) are billed every
    hour; usage items (bucket sizes, pipeline runs from the schedule, log
    volume) rest on assumptions the table states. An item whose price the
    table lacks is "not priced", never zero. Each stack is compared with its
    budget (budget.amount): a warning when the always-on baseline alone
    passes the first threshold. An estimate, not a quote; it says what it
    leaves out.

    With --diff, the arguments are plans (`terraform show -json`, read as
    `tierstack review` reads them), and the change they make is priced
    instead: per stack and capability, the monthly figure before and after
    the plan and the change, and what is not priced and why.

    Given a fleet file, the estimate is followed by its roll-ups: per stack
    against its budget, per member, per team, per cost label (each value,
    and the stacks without it) and per capability, each group's estimate
    against the sum of its stacks' budgets; the stacks without a budget are
    named, and what is not priced is counted beside each figure, never as 0
    (docs/fleets.md). The data (--format json) holds them under `rollup`.

    \b
    Examples:
      tierstack cost examples/fraud-detection/tierstack.yaml
      tierstack cost --env prod --format json | jq '.stacks[0].by_capability'
      tierstack cost churn.fleet.yaml                       # every member of a fleet, and the roll-ups
      tierstack cost churn.fleet.yaml --format json | jq '.rollup.teams'
      tierstack cost --prices catalog --refresh-prices      # today's catalog prices (docs/operate.md)
      tierstack cost --diff cdktf.out/stacks/*/*.tfplan.json  # what the plans change, per capability
    """
    from tierstack.generator.analysis import cost as costing
    from tierstack.generator.analysis import price_catalog
    from tierstack.generator.analysis import rollup as rollups
    from tierstack.generator.output.report import as_data

    paths = _cost_paths(config, plans, diff, out, environments, members)
    mode: price_catalog.Mode = "catalog" if prices == "catalog" else "table" if prices == "table" else "auto"
    table = price_catalog.price_table(mode, refresh_prices, progress=lambda text: echo(text, err=True))
    if diff:
        change = costing.diff_plans(paths, table)
        echo(costing.diff_to_text(change) if fmt == "text" else as_data(change.to_data(), fmt), nl=False)
        if fmt != "text":
            for note in table.notes:
                echo(f"note: {note}", err=True)
        return
    result, rollup = _estimate(config, out, environments, members, table)
    if fmt == "text":  # the warnings are in the text
        echo(costing.to_text(result) + ("" if rollup is None else "\n" + rollups.cost_text(rollup)), nl=False)
        return
    data = result.to_data()
    if rollup is not None:
        data["rollup"] = rollups.cost_data(rollup)
    echo(as_data(data, fmt), nl=False)
    for stack in result.stacks:  # and beside the data, for the person running the script
        for warning in stack.warnings:
            echo(f"warning: {stack.stack}: {warning}", err=True)
    for note in table.notes:  # where the prices came from, when it is not what was asked
        echo(f"note: {note}", err=True)


def _estimate(
    config: Path, out: Path | None, environments: tuple[str, ...], members: tuple[str, ...], table: PriceTable
) -> tuple[Estimate, CostRollup | None]:
    """The estimate of a config's stacks; a fleet's with its roll-ups per member, team, label and capability."""
    from tierstack.generator.analysis import cost as costing
    from tierstack.generator.analysis import rollup as rollups
    from tierstack.generator.services import fleet as fleets

    if fleets.is_fleet_file(config):
        return rollups.fleet_cost(config, out, environments, members, table)
    return costing.estimate(config, out, environments, members, table), None


def _cost_paths(
    config: Path,
    plans: tuple[str, ...],
    diff: bool,
    out: Path | None,
    environments: tuple[str, ...],
    members: tuple[str, ...],
) -> tuple[str, ...]:
    """With --diff, the plans: every argument given (CONFIG's place holds the first); else checks that one
    config was given at most."""
    from click.core import ParameterSource

    given_config = click.get_current_context().get_parameter_source("config") != ParameterSource.DEFAULT
    if diff:
        paths = ((str(config),) if given_config else ()) + plans
        if not paths:
            raise click.UsageError("--diff prices plans: give one or more (terraform show -json PLAN > PLAN.json)")
        given = [name for name, value in (("--out", out), ("--env", environments), ("--member", members)) if value]
        if given:
            verb = "is" if len(given) == 1 else "are"
            raise click.UsageError(f"--diff prices the plans given; {', '.join(given)} {verb} for a config's stacks")
        return paths
    if plans:
        count = 1 + len(plans)
        raise click.UsageError(f"cost reads one config, and {count} paths were given; to price plans, add --diff")
    if str(config) == "-":
        raise click.UsageError("cost reads a config file, not standard input; plans from stdin: --diff -")
    return ()
