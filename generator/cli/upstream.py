"""`tierstack upstream`: what a newer upstream release changes in a fork; --accept moves the pin."""

from __future__ import annotations

from pathlib import Path

import click

from tierstack.generator.cli.options import (
    config_argument,
    exit_codes,
    format_option,
)
from tierstack.generator.cli.views import (
    shown_path,
    warn_data_at_risk,
)
from tierstack.generator.exit_codes import (
    EXIT_DESTRUCTIVE_CHANGE,
    EXIT_OK,
    EXIT_USER_ERROR,
)


@click.command(
    short_help="What a newer upstream release changes in this fork; --accept moves the pin.",
    epilog=exit_codes(
        {
            EXIT_OK: "shown (and, with --accept, moved)",
            EXIT_USER_ERROR: "bad input: no upstream in git, no such ref, unreachable and not cached",
            EXIT_DESTRUCTIVE_CHANGE: "without --accept: the new upstream would destroy a stateful resource",
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
@format_option()
def upstream(config: Path, to_ref: str | None, accept_ref: str | None, no_resources: bool, fmt: str) -> None:
    """What changes between the upstream this fork is pinned to and its
    newest tag (or --to REF): the upstream's own changes, with the ones this
    fork overrides marked as conflicts (!); the effect on the resolved plan,
    with where each value is set; and the effect on the generated resources
    (both synthesized and compared as `tierstack diff` does).

    --accept REF shows the same and then moves the pin: the `ref:` in
    tierstack.yaml or in the overlay that writes it (only that line; an
    overlay `tierstack fork` wrote is rewritten round-trip with its comments
    brought up to date), and tierstack.lock.

    \b
    Examples:
      tierstack upstream examples/regional-propensity/us/tierstack.yaml
      tierstack upstream --to main --no-resources
      tierstack upstream --accept v1.1.0
    """
    from tierstack.generator import upstream as upstreams
    from tierstack.generator.report import as_data

    if to_ref and accept_ref and to_ref != accept_ref:
        raise click.UsageError("--to and --accept name two refs: give the one to accept")
    if not no_resources:
        click.echo("synthesizing both (loading the Google provider bindings takes a few seconds)...", err=True)
    comparison = upstreams.compare(config, accept_ref or to_ref, resources=not no_resources)
    if fmt == "text":
        click.echo(upstreams.render_text(comparison), nl=False)
    else:
        click.echo(as_data(upstreams.to_data(comparison), fmt), nl=False)
    at_risk = comparison.resources is not None and comparison.resources.at_risk
    if accept_ref:
        if comparison.up_to_date and comparison.pin.ref == comparison.target.ref:
            click.echo(f"already pinned to {accept_ref}: nothing to move", err=True)
            return
        if at_risk:
            warn_data_at_risk(comparison.resources, "the pin moves anyway: review before `tierstack generate`")
        for path in upstreams.accept(comparison):
            click.echo(f"wrote {path}", err=True)
        click.echo(
            f"pinned to {accept_ref}: run `tierstack generate {shown_path(config)}` to regenerate the stacks", err=True
        )
        return
    if at_risk:
        raise click.exceptions.Exit(EXIT_DESTRUCTIVE_CHANGE)
