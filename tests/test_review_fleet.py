"""`tierstack review --config FLEET`: each stack's plan is checked against the change freezes of the fleet
member whose stack it is (the fleet's pull-request and deploy workflows run it so). The plans are real
Terraform plans (tests/fixtures/review/, planned against the provider stand-in), placed in a member's
stack directory as the workflows leave them; the clock comes from --at."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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


def review(root: Path, member: str, env: str, at: str = IN_WINDOW, *extra: str) -> Any:
    """`tierstack review` of a plan of the member's stack, with the fleet (made in `root`) as --config."""
    fleet = fleet_with_a_freeze(root)
    plan = plan_of(root, member, env)
    return run("review", str(plan), "--config", str(fleet), "--format", "text", "--at", at, *extra)


def test_the_member_with_the_freeze_is_blocked_and_the_others_are_not(tmp_path: Path) -> None:
    frozen = review(tmp_path / "de", "churn-de", "prod")
    assert frozen.exit_code == EXIT_FROZEN, frozen.output
    assert "de-quarter-close" in frozen.output
    free = review(tmp_path / "us", "churn-us", "prod")
    assert free.exit_code == EXIT_OK, free.output
    assert "de-quarter-close" not in free.output


def test_the_freeze_ends_and_an_override_is_recorded(tmp_path: Path) -> None:
    after = review(tmp_path / "after", "churn-de", "prod", AFTER)
    assert after.exit_code == EXIT_OK, after.output
    reason = "the fraud model is broken in production"
    overridden = review(tmp_path / "override", "churn-de", "prod", IN_WINDOW, "--override-freeze", reason)
    assert overridden.exit_code == EXIT_OK, overridden.output
    assert reason in overridden.output


def test_the_dev_stack_of_the_frozen_member_is_not_frozen(tmp_path: Path) -> None:
    """A dated freeze applies to production unless it names environments (docs/freezes)."""
    dev = review(tmp_path / "fleet", "churn-de", "dev")
    assert dev.exit_code == EXIT_OK, dev.output


def test_a_stack_of_no_member_is_a_clear_error(tmp_path: Path) -> None:
    stray = review(tmp_path / "fleet", "fraud-detection", "prod")
    assert stray.exit_code == EXIT_USER_ERROR, stray.output
    assert "is of no member of the fleet" in stray.output
