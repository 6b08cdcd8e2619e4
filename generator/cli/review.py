"""`tierstack review`: saved terraform plans summarised for a pull request, change freezes enforced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tierstack.generator.cli.options import (
    exit_codes,
    format_option,
)
from tierstack.generator.cli.views import echo
from tierstack.generator.core.exit_codes import (
    EXIT_DESTRUCTIVE_CHANGE,
    EXIT_FROZEN,
    EXIT_OK,
    EXIT_PLAN_CHANGED,
    EXIT_USER_ERROR,
)

REVIEW_FORMATS = ("text", "markdown", "json")


@click.command(
    short_help="Summarise terraform plans for a pull request; enforce change freezes.",
    epilog=exit_codes(
        {
            EXIT_OK: "nothing destructive touches a stateful resource",
            EXIT_USER_ERROR: "bad input: not a plan, an old plan format, an unreadable file,\na bad config",
            EXIT_DESTRUCTIVE_CHANGE: "data at risk (destroyed, replaced or lost in place), or a plan not\n"
            "complete (-target, deferred): ask for an approval",
            EXIT_FROZEN: "a change freeze is on for a stack with changes",
            EXIT_PLAN_CHANGED: "with --reviewed: the plans differ from the plans reviewed",
        }
    ),
)
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@format_option(REVIEW_FORMATS, default="markdown")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The tierstack.yaml (or fleet file: each stack's member) whose freezes apply [default: found from each "
    "plan's stack directory].",
)
@click.option(
    "--at",
    "at",
    metavar="TIMESTAMP",
    help="Check the freezes at this ISO 8601 time, UTC unless it has an offset [default: now].",
)
@click.option(
    "--override-freeze",
    "override",
    metavar="REASON",
    help="Apply inside a change freeze anyway (an emergency); the reason is recorded in the review.",
)
@click.option(
    "--reviewed",
    "reviewed",
    metavar="REVIEWED.json",
    multiple=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="A plan the review approved (repeat per stack): compare PLANS with it instead; exit 7 when they differ.",
)
def review(
    plans: tuple[str, ...],
    fmt: str,
    config: Path | None,
    at: str | None,
    override: str | None,
    reviewed: tuple[str, ...] = (),
) -> None:
    """Summarise plans (`terraform show -json`): a verdict, counts, what is destroyed or replaced and
    the data at risk, moves, imports, drift, outputs, per stack and capability.

    Change freezes (`freezes:` in tierstack.yaml) block a plan that changes a stack inside a window;
    --override-freeze REASON lets it through and records why. The config is found from a plan in its
    stack directory (DIR/stacks/<stack>/<stack>.tfplan.json, where `tierstack plan` saves it), or given
    with --config.

    \b
    Examples:
      tierstack review cdktf.out/stacks/*/*.tfplan.json > comment.md   # as plan saved them
      terraform plan -out=churn-prod.tfplan                            # or by hand
      terraform show -json churn-prod.tfplan > churn-prod.tfplan.json
      tierstack review churn-prod.tfplan.json --format text --at 2026-11-27T09:00:00Z
      tierstack review --reviewed pr/plan.json deploy/plan.json   # at deploy: the plan reviewed, or exit 7
    """
    from tierstack.generator.analysis import review as plan_review
    from tierstack.generator.config import freeze
    from tierstack.generator.core.errors import json_printable, printable

    if reviewed:
        from tierstack.generator.analysis.review import compare as review_compare

        old = [(source, plan_review.load_plan(source)) for source in reviewed]
        new = [(source, plan_review.load_plan(source)) for source in plans]
        differences = review_compare.compare(old, new)
        echo(review_compare.to_text(differences, len(old), len(new)), nl=False)
        if differences:
            raise click.exceptions.Exit(EXIT_PLAN_CHANGED)
        return

    try:
        when = freeze.parse_at(at) if at is not None else freeze.now()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--at") from None
    if override is not None and not override.strip():
        raise click.BadParameter(
            "say why the freeze is overridden: it goes into the review", param_hint="--override-freeze"
        )
    stacks = [plan_review.review_stack(plan_review.load_plan(source), source) for source in plans]
    plan_review.check_one_plan_per_stack(stacks)
    changing = [(s.stack, s.environment, s.source) for s in stacks if s.has_changes]
    reason = override.strip() if override else None
    check = (
        _fleet_freezes(changing, config, when, reason)
        if config is not None and _is_fleet(config)
        else freeze.check_plans(changing, config, when, reason)
    )
    result = plan_review.Review(tuple(stacks), check)
    if fmt == "json":
        # compact, as `terraform show -json` writes: the C encoder, a third of the time on a large plan
        echo(json_printable(json.dumps(plan_review.to_data(result), ensure_ascii=False, separators=(",", ":"))))
    elif fmt == "text":
        echo(printable(plan_review.to_text(result)), nl=False)  # a plan's strings: shown, never obeyed
    else:
        echo(printable(plan_review.to_markdown(result)), nl=False)
    if result.blocked:
        raise click.exceptions.Exit(EXIT_FROZEN)
    if result.approval_required:
        raise click.exceptions.Exit(EXIT_DESTRUCTIVE_CHANGE)


def _is_fleet(config: Path) -> bool:
    from tierstack.generator.services.fleet import is_fleet_file

    return is_fleet_file(config)


def _fleet_freezes(changing: list[tuple[str, str | None, str]], config: Path, when: Any, reason: str | None) -> Any:
    """The freezes of the fleet members whose stacks the plans change (only those are loaded)."""
    from tierstack.generator.config import freeze
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.services.fleet import load_fleet

    names = {m.name for m in load_fleet(config, members=()).members if m.name}
    owning = {name for name in names for stack, _, _ in changing if stack.startswith(f"{name}-")}
    fleet = load_fleet(config, members=owning)
    members = []
    for member in fleet.members:
        if member.name in owning:
            if member.error is not None or member.loaded is None:
                raise member.error or UserError("the member does not load", file=config, field=member.label)
            members.append((member.loaded.spec, f"{fleet.shown}:{member.label}"))
    return freeze.check_member_plans(changing, members, config, when, reason)
