"""Production guarantees can be weakened only by a named waiver with a reason (the hardening issue, item 3).

The weakening without a waiver is in tests/bad_inputs/ (90-94); here: with a
waiver the plan resolves, `explain` shows it, and the stack records it.
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
