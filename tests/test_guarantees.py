"""Production guarantees can be weakened only by a named waiver with a reason (the hardening issue, item 3).

The weakening without a waiver is in tests/bad_inputs/ (90-94); here: with a
waiver the plan resolves, `explain` shows it, and the stack records it. A waiver names its environments,
and a mission-critical production use case keeps an environment of role production (the checks here run
`validate`, which resolves the plan without synthesis).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import run, use_case

WAIVED = (
    use_case(serving="batch")
    + """\
environments:
  dev: {}
  prod:
    overrides: {delete_protection: false}
waivers:
  - guarantee: delete_protection
    environments: [prod]
    reason: the predictions are rebuilt every night from the warehouse
"""
)


def test_a_waiver_lets_the_plan_resolve_and_explain_shows_it(write: Any, synthesizes: None) -> None:
    result = run("explain", str(write(WAIVED)))
    assert result.exit_code == 0, result.output
    assert (
        "WAIVED delete_protection: stateful resources in production keep delete protection; because the "
        "predictions are rebuilt every night from the warehouse"
    ) in result.output


def test_the_stack_records_the_waiver_and_really_drops_the_protection(write: Any, synthesizes: None) -> None:
    config = write(WAIVED)
    assert run("generate", str(config)).exit_code == 0
    prod = json.loads((config.parent / "cdktf.out/stacks/demo-case-prod/cdk.tf.json").read_text())
    assert prod["//"]["tierstack_waivers"] == [
        {
            "guarantee": "delete_protection",
            "promise": "stateful resources in production keep delete protection",
            "reason": "the predictions are rebuilt every night from the warehouse",
        }
    ]
    assert {b["deletion_policy"] for b in prod["resource"]["google_storage_bucket"].values()} == {"DELETE"}
    dev = json.loads((config.parent / "cdktf.out/stacks/demo-case-dev/cdk.tf.json").read_text())
    assert "tierstack_waivers" not in dev["//"]


def test_a_waiver_for_an_environment_that_does_not_exist_is_an_error(write: Any) -> None:
    result = run("explain", str(write(WAIVED.replace("environments: [prod]", "environments: [production]"))))
    assert result.exit_code == 2
    assert "the waiver names environment 'production'" in result.output


def test_an_unweakened_guarantee_needs_no_waiver_and_shows_none(write: Any, tmp_path: Path, synthesizes: None) -> None:
    result = run("explain", str(write(use_case(serving="batch"))))
    assert result.exit_code == 0 and "WAIVED" not in result.output


def test_a_waiver_without_environments_waives_nothing_and_is_an_error(write: Any) -> None:
    """It used to waive the guarantee in every environment, one added later included."""
    result = run("validate", str(write(WAIVED.replace("    environments: [prod]\n", ""))))
    assert result.exit_code == 2, result.output
    assert "waivers.0.environments" in result.output and "this field is required" in result.output
    result = run("validate", str(write(WAIVED.replace("environments: [prod]", "environments: []"))))
    assert result.exit_code == 2 and "a waiver names the environments it applies to" in result.output


def test_a_waiver_for_one_environment_does_not_weaken_another(write: Any) -> None:
    config = WAIVED.replace("  prod:\n    overrides: {delete_protection: false}\n", "  prod: {}\n  live: {}\n")
    config = config.replace("waivers:", "overrides: {delete_protection: false}\nwaivers:")
    result = run("validate", str(write(config)))
    assert result.exit_code == 2, result.output
    assert "this weakens a production guarantee in live" in result.output
    assert "in prod:" not in result.output  # the waiver holds there


def test_a_reason_of_spaces_is_no_reason(write: Any) -> None:
    padded = WAIVED.replace(
        "reason: the predictions are rebuilt every night from the warehouse", 'reason: "    short     "'
    )
    result = run("validate", str(write(padded)))
    assert result.exit_code == 2 and "waivers.0.reason" in result.output and "at least 10 characters" in result.output
    spaced = WAIVED.replace("reason: the predictions", 'reason: "  the predictions').replace("warehouse", 'warehouse "')
    assert run("validate", str(write(spaced))).exit_code == 0


MISSION_CRITICAL = use_case(serving="batch", mission_critical=True)


def test_a_mission_critical_use_case_keeps_an_environment_of_role_production(write: Any) -> None:
    """Every environment `role: development` would drop delete protection and CMEK without an override."""
    result = run("validate", str(write(MISSION_CRITICAL + "environments:\n  dev: {}\n  prod: {role: development}\n")))
    assert result.exit_code == 2, result.output
    assert "needs an environment of role production" in result.output
    assert "field 'environments.prod.role'" in result.output
    for fine in ("  dev: {}\n  prod: {}\n", "  dev: {}\n  main: {role: production}\n"):
        assert run("validate", str(write(MISSION_CRITICAL + "environments:\n" + fine))).exit_code == 0, fine


def test_a_use_case_that_is_not_mission_critical_may_have_no_production_environment(write: Any) -> None:
    text = use_case(serving="batch") + "environments:\n  dev: {}\n  prod: {role: development}\n"
    assert run("validate", str(write(text))).exit_code == 0
