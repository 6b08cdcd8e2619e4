"""`tierstack upstream`: what a newer upstream release changes in a fork; --accept moves the pin."""

from __future__ import annotations

from pathlib import Path

import click

from tierstack.generator.cli.options import (
    config_argument,
    exit_codes,
    format_option,
    jobs_option,
    members_option,
)
from tierstack.generator.cli.views import (
    echo,
    shown_path,
    warn_data_at_risk,
)
from tierstack.generator.core.exit_codes import (
    EXIT_DESTRUCTIVE_CHANGE,
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.command(
    short_help="What a newer upstream release changes in this fork; --accept moves the pin.",
    epilog=exit_codes(
        {
            EXIT_OK: "shown (and, with --accept, moved)",
            EXIT_USER_ERROR: "bad input: no upstream in git, no such ref, unreachable and not cached\n"
            "(a fleet: a member failed, no member has one, or --accept)",
            EXIT_DESTRUCTIVE_CHANGE: "without --accept: the new upstream would destroy a stateful resource\n"
            "(a fleet: in some member)",
        }
    ),
)
@config_argument
@click.option("--to", "to_ref", metavar="REF", help="Compare with REF instead of the upstream's newest tag.")
@click.option(
    "--accept",
    "accept_ref",
    metavar="REF",
    help="After showing the effect, move the pin to REF: the ref: in the file that writes it, and tierstack.lock.",
)
@click.option("--no-resources", is_flag=True, help="Compare the resolved plans only; do not synthesize (faster).")
@members_option
@jobs_option("A fleet file: synthesize the members in N worker processes, each loading the bindings")
@format_option()
def upstream(
    config: Path,
    to_ref: str | None,
    accept_ref: str | None,
    no_resources: bool,
    members: tuple[str, ...],
    jobs: int | None,
    fmt: str,
) -> None:
    """What changes between the upstream this fork is pinned to and its
    newest tag (or --to REF): the upstream's own changes, with the ones this
    fork overrides marked as conflicts (!); the effect on the resolved plan,
    with where each value is set; and the effect on the generated resources
    (both synthesized and compared as `tierstack diff` does).

    --accept REF shows the same and then moves the pin: the `ref:` in
    tierstack.yaml or in the overlay that writes it (only that line; an
    overlay `tierstack fork` wrote is rewritten round-trip with its comments
    brought up to date), and tierstack.lock.

    A fleet file (docs/fleets.md) compares every member (--member NAME:
    some) with the release of the upstream it is pinned to, as for a
    config, and ends with a summary: how many members change, which the
    release puts at risk, which use no upstream in git. Exit 3 when some
    member is at risk, 2 when a member failed. --accept is refused: a fleet
    pins each upstream file at one ref for all its members (docs/fleets.md).

    \b
    Examples:
      tierstack upstream examples/regional-propensity/us/tierstack.yaml
      tierstack upstream --to main --no-resources
      tierstack upstream --accept v1.1.0
      tierstack upstream churn.fleet.yaml --jobs 2     # every member of a fleet
    """
    from tierstack.generator.output.report import as_data
    from tierstack.generator.services import fleet
    from tierstack.generator.services import upstream as upstreams

    if to_ref and accept_ref and to_ref != accept_ref:
        raise click.UsageError("--to and --accept name two refs: give the one to accept")
    if fleet.is_fleet_file(config):
        _fleet(config, to_ref, accept_ref, no_resources, members, jobs, fmt)
        return
    if members or jobs is not None:
        given = "--member" if members else "--jobs"
        raise click.UsageError(f"{given} is for a fleet file; {shown_path(config)} is one config")
    if not no_resources:
        echo("synthesizing both (loading the Google provider bindings takes a few seconds)...", err=True)
    comparison = upstreams.compare(config, accept_ref or to_ref, resources=not no_resources)
    if fmt == "text":
        echo(upstreams.render_text(comparison), nl=False)
    else:
        echo(as_data(upstreams.to_data(comparison), fmt), nl=False)
    at_risk = comparison.resources is not None and comparison.resources.at_risk
    if accept_ref:
        if comparison.up_to_date and comparison.pin.ref == comparison.target.ref:
            echo(f"already pinned to {accept_ref}: nothing to move", err=True)
            return
        if at_risk:
            warn_data_at_risk(comparison.resources, "the pin moves anyway: review before `tierstack generate`")
        for path in upstreams.accept(comparison):
            echo(f"wrote {path}", err=True)
        echo(
            f"pinned to {accept_ref}: run `tierstack generate {shown_path(config)}` to regenerate the stacks", err=True
        )
        return
    if at_risk:
        raise click.exceptions.Exit(EXIT_DESTRUCTIVE_CHANGE)


def _fleet(
    config: Path,
    to_ref: str | None,
    accept_ref: str | None,
    no_resources: bool,
    members: tuple[str, ...],
    jobs: int | None,
    fmt: str,
) -> None:
    """`upstream FLEET`: every member compared, the summary last; exit 2 (a member failed), else 3 (data at risk)."""
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.output.report import as_data
    from tierstack.generator.services import upstream as upstreams

    if accept_ref:
        raise UserError(
            "--accept moves one config's pin, and a fleet pins each upstream file at one ref for all its members "
            "(one tierstack.lock beside the fleet file): it cannot move for one member alone",
            file=shown_path(config),
            field="--accept",
            hint=f"see what {accept_ref} does to each member with `tierstack upstream {shown_path(config)} --to "
            f"{accept_ref}`, then edit the `ref:` where the fleet file (or the fork it names) writes it and run "
            f"`tierstack generate {shown_path(config)} --update` (docs/fleets.md)",
        )
    if not no_resources:
        echo("synthesizing what each member's release changes (loading the bindings takes a few seconds)...", err=True)
    result = upstreams.compare_fleet(
        config,
        to_ref,
        resources=not no_resources,
        names=members,
        jobs=jobs,
        progress=lambda text: echo(text, err=True),
    )
    if not result.members or len(result.having("no upstream")) == len(result.members):
        raise UserError(
            "none of the members compared has an upstream in git: " + ", ".join(result.having("no upstream")),
            file=shown_path(config),
            hint="a member's blueprint (or a fork it names) extends {git: URL, ref: REF, path: PATH} (docs/forks.md)",
        )
    if fmt == "text":
        echo(upstreams.render_fleet_text(result), nl=False)
    else:
        echo(as_data(upstreams.fleet_data(result), fmt), nl=False)
        echo(upstreams.fleet_summary(result), err=True)
    if result.having("error"):
        raise click.exceptions.Exit(EXIT_USER_ERROR)
    if result.at_risk:
        raise click.exceptions.Exit(EXIT_DESTRUCTIVE_CHANGE)
