"""Values Google would reject, caught before anything is written (the hardening issue, item 5).

The spec-level ones live in tests/bad_inputs/ (80-89); these need a command
other than `explain`, or a value that only a blueprint or override can set.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import run, use_case
from tierstack.generator.core import grammars


def test_init_refuses_a_budget_that_is_not_a_finite_amount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(
        "init",
        "--no-input",
        "--name",
        "demo-x",
        "--team",
        "ml",
        "--stage",
        "production",
        "--serving",
        "batch",
        "--budget",
        "1e400",
        "--billing-account",
        "01A2B3-C4D5E6-F7A8B9",
    )
    assert result.exit_code == 2, result.output
    assert "field '--budget'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "tierstack.yaml").exists()


def test_a_repository_id_with_uppercase_or_underscores_is_an_error(write: Any) -> None:
    config = write(
        use_case(retraining="scheduled", schedule="0 3 * * 1", serving="batch")
        + "overrides:\n  capabilities:\n    model_registry:\n      container_repository: Serving_Repo\n"
    )
    result = run("generate", str(config))
    assert result.exit_code == 2, result.output
    assert "model_registry.container_repository" in result.output and "lowercase" in result.output
    assert not (config.parent / "cdktf.out").exists()


def test_a_state_bucket_a_blueprint_sets_follows_the_same_rule(write: Any) -> None:
    write("extends: level-0-manual\ndefaults:\n  state:\n    bucket: my-google-state\n", name="org.yaml.j2")
    config = write(use_case(serving="batch") + "blueprint: org.yaml.j2\n")
    result = run("explain", str(config))  # caught when the plan is resolved, at the blueprint's line
    assert result.exit_code == 2, result.output
    assert "org.yaml.j2:4, field 'environments.dev.state.bucket'" in result.output
    assert "without 'google'" in result.output


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("0 24 * * *", "'24' is not a valid hour (0-23)"),
        ("0 3 32 * *", "'32' is not a valid day of month (1-31)"),
        ("0 3 * 13 *", "'13' is not a valid month (1-12)"),
        ("0 3 * * 8", "'8' is not a valid day of week (0-7)"),
        ("*/0 * * * *", "'/0' is not a step"),
        ("5-1 * * * *", "runs backwards"),
        ("0 3 * *", "five fields"),
    ],
)
def test_cron_fields_are_checked_against_their_ranges(cron: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        grammars.check_cron(cron)


@pytest.mark.parametrize("cron", ["0 3 * * 1", "*/15 * * * *", "0 0 1 JAN,JUL *", "30 2 * * MON-FRI", "0 1-5/2 * * *"])
def test_valid_cron_passes(cron: str) -> None:
    assert grammars.check_cron(cron) == cron


@pytest.mark.parametrize("value", ["acme/x' || true || 'y", "acme", "acme/x y", "/x", "a" * 40 + "/x"])
def test_a_repository_that_could_change_the_cel_condition_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not a GitHub repository"):
        grammars.check_repository(value)
