"""`tierstack review --config FLEET`: each stack's plan is checked against the change freezes of the fleet
member whose stack it is (the fleet's pull-request and deploy workflows run it so). The plans are real
Terraform plans (tests/fixtures/review/, planned against the provider stand-in), placed in a member's
stack directory as the workflows leave them; the clock comes from --at."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import REPO, run
from tierstack.generator.core.exit_codes import EXIT_FROZEN, EXIT_OK, EXIT_USER_ERROR

PLANS = REPO / "tests" / "fixtures" / "review"  # update-labels-ENV.json: a label change, no data at risk
FREEZE = """\
    freezes:
      - name: de-quarter-close
        reason: the German quarter close; production waits
        start: 2026-12-28
        end: 2026-12-31
"""
IN_WINDOW = "2026-12-29T12:00:00Z"
AFTER = "2027-01-05T12:00:00Z"


def fleet_with_a_freeze(root: Path) -> Path:
    """The churn-fleet example, churn-de alone with a year-end freeze on its production."""
    shutil.copytree(REPO / "examples" / "churn-fleet", root, ignore=shutil.ignore_patterns("*.out", "churn-*"))
    fleet = root / "churn.fleet.yaml"
    text = fleet.read_text()
    marker = "    labels:\n      data-residency: eu\n"
    assert marker in text
    fleet.write_text(text.replace(marker, marker + FREEZE))
    return fleet


def plan_of(root: Path, member: str, env: str) -> Path:
    """A plan where the fleet's workflows put it: the member's stack directory."""
    directory = root / member / "cdktf.out" / "stacks" / f"{member}-{env}"
    directory.mkdir(parents=True)
    shutil.copy(PLANS / f"update-labels-{env}.json", directory / "plan.json")  # its environment label: env
    return directory / "plan.json"


def test_the_member_with_the_freeze_is_blocked_and_the_others_are_not(tmp_path: Path) -> None:
    fleet = fleet_with_a_freeze(tmp_path / "fleet")
    frozen = run(
        "review",
        str(plan_of(tmp_path / "fleet", "churn-de", "prod")),
        "--config",
        str(fleet),
        "--format",
        "text",
        "--at",
        IN_WINDOW,
    )
    assert frozen.exit_code == EXIT_FROZEN, frozen.output
    assert "de-quarter-close" in frozen.output
    free = run(
        "review",
        str(plan_of(tmp_path / "fleet", "churn-us", "prod")),
        "--config",
        str(fleet),
        "--format",
        "text",
        "--at",
        IN_WINDOW,
    )
    assert free.exit_code == EXIT_OK, free.output
    assert "de-quarter-close" not in free.output


def test_the_freeze_ends_and_an_override_is_recorded(tmp_path: Path) -> None:
    fleet = fleet_with_a_freeze(tmp_path / "fleet")
    plan = str(plan_of(tmp_path / "fleet", "churn-de", "prod"))
    after = run("review", plan, "--config", str(fleet), "--format", "text", "--at", AFTER)
    assert after.exit_code == EXIT_OK, after.output
    overridden = run(
        "review",
        plan,
        "--config",
        str(fleet),
        "--format",
        "text",
        "--at",
        IN_WINDOW,
        "--override-freeze",
        "the fraud model is broken in production",
    )
    assert overridden.exit_code == EXIT_OK, overridden.output
    assert "the fraud model is broken in production" in overridden.output


def test_the_dev_stack_of_the_frozen_member_is_not_frozen(tmp_path: Path) -> None:
    """A dated freeze applies to production unless it names environments (docs/freezes)."""
    fleet = fleet_with_a_freeze(tmp_path / "fleet")
    dev = run(
        "review",
        str(plan_of(tmp_path / "fleet", "churn-de", "dev")),
        "--config",
        str(fleet),
        "--format",
        "text",
        "--at",
        IN_WINDOW,
    )
    assert dev.exit_code == EXIT_OK, dev.output


def test_a_stack_of_no_member_is_a_clear_error(tmp_path: Path) -> None:
    fleet = fleet_with_a_freeze(tmp_path / "fleet")
    stray = run(
        "review",
        str(plan_of(tmp_path / "fleet", "fraud-detection", "prod")),
        "--config",
        str(fleet),
        "--format",
        "text",
        "--at",
        IN_WINDOW,
    )
    assert stray.exit_code == EXIT_USER_ERROR, stray.output
    assert "is of no member of the fleet" in stray.output
