"""Change freezes: the windows in tierstack.yaml, the clock, and `tierstack review` blocking a production apply.

The plans are the real ones in tests/fixtures/review/ (a label change planned for review-case's
prod and dev stacks, and a stateful replacement in prod); the time comes from `--at`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run
from tierstack.generator.config import freeze
from tierstack.generator.config.spec import Freeze, load_spec
from tierstack.generator.core.errors import UserError

PLANS = REPO / "tests" / "fixtures" / "review"
PROD = str(PLANS / "update-labels-prod.json")
DEV = str(PLANS / "update-labels-dev.json")
REPLACE = str(PLANS / "replace-stateful.json")

CONFIG = """\
name: review-case
team: ml-platform
use_case:
  stage: production
  serving: batch
environments:
  dev:
    project: acme-review-dev
  prod:
    project: acme-review-prod
freezes:
  - name: black-friday
    reason: Peak season; production changes wait
    start: 2026-11-27
    end: 2026-11-30
    time_zone: America/New_York
  - name: weekend
    reason: the on-call rota is thin at weekends
    weekly:
      start: fri 18:00
      end: mon 08:00
"""
IN_BLACK_FRIDAY = "2026-11-28T12:00:00Z"  # a Saturday: both windows are on
WEDNESDAY = "2026-11-25T12:00:00Z"


def utc(text: str) -> datetime:
    return freeze.parse_at(text)


def window(**fields: Any) -> Freeze:
    return Freeze.model_validate({"name": "w", "reason": "a reason long enough", **fields})


# --- windows and the clock -----------------------------------------------------------------------


def test_a_date_range_covers_whole_days_in_its_time_zone() -> None:
    w = window(start="2026-11-27", end="2026-11-30", time_zone="America/New_York")  # EST: UTC-5
    assert not freeze.contains(w, utc("2026-11-27T04:59:59Z"))  # 23:59:59 on the 26th in New York
    assert freeze.contains(w, utc("2026-11-27T05:00:00Z"))
    assert freeze.contains(w, utc("2026-12-01T04:59:00Z"))  # 23:59 on the 30th, the last day, in New York
    assert not freeze.contains(w, utc("2026-12-01T05:00:00Z"))


def test_a_date_range_with_times_ends_at_its_end() -> None:
    w = window(start="2026-03-01T18:00", end="2026-03-02T08:00")  # UTC unless time_zone says otherwise
    assert not freeze.contains(w, utc("2026-03-01T17:59Z"))
    assert freeze.contains(w, utc("2026-03-01T18:00Z"))
    assert not freeze.contains(w, utc("2026-03-02T08:00Z"))


def test_a_weekly_window_runs_over_the_weekend() -> None:
    w = window(weekly={"start": "Fri 18:00", "end": "monday 08:00"}, time_zone="Europe/Amsterdam")
    assert w.weekly is not None and (w.weekly.start, w.weekly.end) == ("fri 18:00", "mon 08:00")
    # 2026-11-27 is a Friday; Amsterdam is UTC+1 in November
    assert not freeze.contains(w, utc("2026-11-27T16:59Z"))
    assert freeze.contains(w, utc("2026-11-27T17:00Z"))
    assert freeze.contains(w, utc("2026-11-29T12:00Z"))
    assert freeze.contains(w, utc("2026-11-30T06:59Z"))
    assert not freeze.contains(w, utc("2026-11-30T07:00Z"))
    assert not freeze.contains(w, utc("2026-11-25T12:00Z"))
    # in summer (UTC+2) the same local window starts an hour earlier in UTC
    assert freeze.contains(w, utc("2026-07-03T16:00Z")) and not freeze.contains(w, utc("2026-07-03T15:59Z"))


def test_a_weekly_window_within_a_day() -> None:
    w = window(weekly={"start": "wed 09:00", "end": "wed 17:00"})
    assert freeze.contains(w, utc("2026-11-25T09:00Z")) and freeze.contains(w, utc("2026-11-25T16:59Z"))
    assert not freeze.contains(w, utc("2026-11-25T17:00Z")) and not freeze.contains(w, utc("2026-11-26T10:00Z"))


def test_at_is_iso_8601_utc_unless_it_has_an_offset() -> None:
    expected = datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)
    assert freeze.parse_at("2026-11-27T09:30:00Z") == expected
    assert freeze.parse_at("2026-11-27T09:30") == expected
    assert freeze.parse_at("2026-11-27T10:30+01:00") == expected
    assert freeze.parse_at("2026-11-27") == datetime(2026, 11, 27, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="not an ISO 8601 timestamp"):
        freeze.parse_at("next friday")


def test_production_by_default_or_the_environments_named() -> None:
    default = window(weekly={"start": "fri 18:00", "end": "mon 08:00"})
    assert freeze.applies_to(default, "prod", "production") and freeze.applies_to(default, "live", "production")
    assert not freeze.applies_to(default, "dev", "development")
    named = window(weekly={"start": "fri 18:00", "end": "mon 08:00"}, environments=["staging"])
    assert freeze.applies_to(named, "staging", "staging") and not freeze.applies_to(named, "prod", "production")


# --- the spec: bad dates and times name the field and the fix ------------------------------------


def _error(write: Callable[..., Path], old: str, new: str) -> UserError:
    assert old in CONFIG
    with pytest.raises(UserError) as caught:
        load_spec(write(CONFIG.replace(old, new, 1)))
    return caught.value


@pytest.mark.parametrize(
    ("old", "new", "field", "says"),
    [
        ("end: 2026-11-30", 'end: "2026-11-30T25:00"', "freezes.0.end", "25:00 is not a time of day"),
        ("end: 2026-11-30", 'end: "30/11/2026"', "freezes.0.end", "write a date such as 2026-11-20"),
        ("start: 2026-11-27", 'start: "2026-11-27T09:00+01:00"', "freezes.0.start", "set the freeze's time_zone"),
        ("end: 2026-11-30", "end: 2026-11-26", "freezes.0", "ends (2026-11-26) before it starts (2026-11-27)"),
        ("      end: mon 08:00", "      end: mon 8am", "freezes.1.weekly.end", "such as 'fri 18:00'"),
        ("      start: fri 18:00", "      start: caturday 18:00", "freezes.1.weekly.start", "'caturday' is not a day"),
        ("      end: mon 08:00", "      end: fri 18:00", "freezes.1.weekly", "starts and ends at fri 18:00"),
        ("time_zone: America/New_York", "time_zone: America/Gotham", "freezes.0.time_zone", "IANA time zone"),
        ("    end: 2026-11-30\n", "", "freezes.0", "needs end too"),
        ("name: weekend", "name: Weekend Freeze", "freezes.1.name", "e.g. black-friday"),
        ("name: weekend", "name: black-friday", "freezes", "two freezes are named 'black-friday'"),
        ("    time_zone: America/New_York\n", "    environments: [prd]\n", "freezes", "did you mean 'prod'?"),
    ],
)
def test_a_bad_freeze_is_a_precise_error(write: Callable[..., Path], old: str, new: str, field: str, says: str) -> None:
    error = _error(write, old, new)
    assert error.field == field, error.render()
    assert says in error.render(), error.render()
    assert error.line is not None, error.render()


def test_both_kinds_of_window_or_none_are_errors(write: Callable[..., Path]) -> None:
    both = _error(write, "    time_zone: America/New_York\n", "    weekly: {start: fri 18:00, end: mon 08:00}\n")
    assert "both start/end and weekly" in both.render()
    neither = _error(write, "    start: 2026-11-27\n    end: 2026-11-30\n", "")
    assert "has no window" in neither.render()


def test_a_good_config_loads(write: Callable[..., Path]) -> None:
    spec = load_spec(write(CONFIG)).spec
    first = spec.freezes[0]
    assert (first.name, first.start, first.end, first.time_zone) == (
        "black-friday",
        "2026-11-27",
        "2026-11-30",
        "America/New_York",
    )


# --- review blocks production, not dev; the override is recorded --------------------------------


def test_a_freeze_blocks_a_production_apply_and_names_the_window(write: Callable[..., Path]) -> None:
    config = str(write(CONFIG))
    result = run("review", PROD, "--config", config, "--at", IN_BLACK_FRIDAY)
    assert result.exit_code == 4, result.output
    verdict = result.output.splitlines()[2]
    assert "Blocked by change freeze 'black-friday' (Peak season; production changes wait)" in verdict
    assert "review-case-prod" in verdict and "--override-freeze" in verdict
    assert "2026-11-27 to 2026-11-30 (whole days, America/New\\_York)" in result.output
    assert "weekend" in result.output  # the weekly window is on too


def test_a_freeze_does_not_block_dev(write: Callable[..., Path]) -> None:
    config = str(write(CONFIG))
    result = run("review", DEV, "--config", config, "--at", IN_BLACK_FRIDAY, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["freeze"]["hits"] == []
    both = run("review", DEV, PROD, "--config", config, "--at", IN_BLACK_FRIDAY, "--format", "json")
    assert both.exit_code == 4
    assert {hit["stack"] for hit in json.loads(both.output)["freeze"]["hits"]} == {"review-case-prod"}


def test_outside_the_windows_nothing_is_blocked(write: Callable[..., Path]) -> None:
    result = run("review", PROD, "--config", str(write(CONFIG)), "--at", WEDNESDAY)
    assert result.exit_code == 0, result.output
    assert "Blocked" not in result.output


def test_a_freeze_may_name_its_environments(write: Callable[..., Path]) -> None:
    config = write(CONFIG.replace("    time_zone: America/New_York\n", "    environments: [dev]\n"))
    result = run("review", DEV, "--config", str(config), "--at", IN_BLACK_FRIDAY, "--format", "json")
    assert result.exit_code == 4, result.output
    assert [hit["freeze"] for hit in json.loads(result.output)["freeze"]["hits"]] == ["black-friday"]


def test_an_override_lets_it_through_and_is_recorded(write: Callable[..., Path]) -> None:
    config = str(write(CONFIG))
    reason = "INC-4711: revert the broken label policy"
    result = run("review", PROD, "--config", config, "--at", IN_BLACK_FRIDAY, "--override-freeze", reason)
    assert result.exit_code == 0, result.output
    assert "; change freeze overridden**" in result.output.splitlines()[2]
    assert "Emergency override, recorded: INC-4711: revert the broken label policy" in result.output
    args = ("review", PROD, "--config", config, "--at", IN_BLACK_FRIDAY, "--override-freeze", reason)
    data = json.loads(run(*args, "--format", "json").output)
    assert data["freeze"]["override"] == reason and data["freeze"]["overridden"] is True and data["blocked"] is False


def test_an_override_does_not_hide_data_at_risk(write: Callable[..., Path]) -> None:
    config = str(write(CONFIG))
    result = run("review", REPLACE, "--config", config, "--at", IN_BLACK_FRIDAY, "--override-freeze", "INC-1: hotfix")
    assert result.exit_code == 3, result.output
    assert "Approval required" in result.output and "change freeze overridden" in result.output
    assert run("review", REPLACE, "--config", config, "--at", IN_BLACK_FRIDAY).exit_code == 4


def test_bad_clock_or_override_or_config(write: Callable[..., Path]) -> None:
    config = str(write(CONFIG))
    bad_at = run("review", PROD, "--config", config, "--at", "friday")
    assert bad_at.exit_code == 2 and "--at" in bad_at.output and "ISO 8601" in bad_at.output
    empty = run("review", PROD, "--config", config, "--override-freeze", "  ")
    assert empty.exit_code == 2 and "say why" in empty.output
    other = write(CONFIG.replace("name: review-case", "name: other-case"), "other.yaml")
    wrong = run("review", PROD, "--config", str(other), "--at", IN_BLACK_FRIDAY)
    assert wrong.exit_code == 2, wrong.output
    assert "review-case-prod" in wrong.output and "other.yaml" in wrong.output and "--config" in wrong.output


# --- the config, found from the plan's stack directory --------------------------------------------


def _generated_layout(tmp_path: Path, config_text: str) -> Path:
    """What `generate` leaves (cdktf.json beside DIR names the config), with a plan in the stack directory."""
    (tmp_path / "uc").mkdir()
    (tmp_path / "uc" / "tierstack.yaml").write_text(config_text, encoding="utf-8")
    stack_dir = tmp_path / "build" / "stacks" / "review-case-prod"
    stack_dir.mkdir(parents=True)
    (tmp_path / "cdktf.json").write_text(
        json.dumps(
            {
                "//": "written by tierstack generate; edit tierstack.yaml instead",
                "app": "tierstack generate uc/tierstack.yaml --out build",
                "output": "build",
            }
        ),
        encoding="utf-8",
    )
    shutil.copy(PROD, stack_dir / "plan.json")
    return stack_dir / "plan.json"


def test_the_config_is_found_from_the_stack_directory(tmp_path: Path) -> None:
    plan = _generated_layout(tmp_path, CONFIG)
    assert freeze.find_config(plan) == tmp_path / "uc" / "tierstack.yaml"
    result = run("review", str(plan), "--at", IN_BLACK_FRIDAY)
    assert result.exit_code == 4, result.output
    assert "black-friday" in result.output


def test_without_a_config_the_review_says_freezes_were_not_checked(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    shutil.copy(PROD, plan)
    assert freeze.find_config(plan) is None
    result = run("review", str(plan), "--at", IN_BLACK_FRIDAY)
    assert result.exit_code == 0, result.output
    assert "Change freezes not checked for `review-case-prod`" in result.output
