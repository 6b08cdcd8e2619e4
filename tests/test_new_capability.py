"""A fourteenth capability is one file and its inventory (issue 12).

tests/plugins/data_validation.py defines a capability outside tierstack's package; nothing else in
the repository names it. Importing it must be enough for the catalog, `tierstack capabilities`,
`explain`, the typed settings checks, the assembler (APIs, CMEK grants, outputs) and `generate`,
and its stacks must match tests/plugins/data_validation.inventory.yaml, written by hand from what the
capability promises, and pass real `terraform validate` against the provider stand-in.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run
from synth_support import check_capability_inventory, inventory_configs, read_stack
from tierstack.generator.catalog import load_catalog
from tierstack.generator.errors import UserError
from tierstack.generator.resolve import resolve
from tierstack.generator.spec import load_spec
from tierstack.modules import base

PLUGINS = REPO / "tests" / "plugins"
EXAMPLE = PLUGINS / "data_validation.example.yaml"
INVENTORY = PLUGINS / "data_validation.inventory.yaml"


@pytest.fixture
def data_validation() -> Iterator[Any]:
    """The throwaway capability, registered for one test and forgotten after it."""
    module = importlib.import_module("plugins.data_validation")
    try:
        yield module
    finally:
        base.unregister("data_validation")
        sys.modules.pop("plugins.data_validation", None)


def test_without_its_file_the_capability_does_not_exist() -> None:
    assert "data_validation" not in load_catalog().ids
    result = run("explain", str(EXAMPLE))
    assert result.exit_code == 2 and "'data_validation' is not a capability" in result.output


def test_defining_the_class_puts_it_in_the_catalog(data_validation: Any) -> None:
    catalog = load_catalog()
    assert catalog.ids[-1] == "data_validation"
    assert catalog.capability("data_validation").min_tier == 1
    listed = json.loads(run("capabilities", "--format", "json").output)
    assert [c["id"] for c in listed][-1] == "data_validation"


def test_explain_selects_it_with_its_reason(data_validation: Any) -> None:
    result = run("explain", str(EXAMPLE), "--format", "json")
    assert result.exit_code == 0, result.output
    explained = json.loads(result.output)
    chosen = {c["id"]: c for c in explained["capabilities"]}
    assert "data_validation" in chosen
    assert "add" in json.dumps(chosen["data_validation"]).lower()


def test_its_settings_model_checks_overrides(data_validation: Any, tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        + "overrides:\n  capabilities:\n    data_validation:\n      report_retention_days: lots\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError) as raised:
        resolve(load_spec(config))
    assert "report_retention_days" in str(raised.value.field) and "integer" in raised.value.message


def test_a_capability_must_declare_what_the_assembler_reads() -> None:
    with pytest.raises(TypeError, match=r"must declare .*settings_model"):

        class Incomplete(base.CapabilityModule):
            capability = "incomplete_capability"
            title = definition = process = "x"
            provisions = ("x",)

    assert "incomplete_capability" not in base.registered()


def test_two_classes_cannot_claim_one_id() -> None:
    from tierstack.modules.model_evaluation import ModelEvaluation

    with pytest.raises(TypeError, match="defined twice"):

        class Impostor(ModelEvaluation):
            capability = "model_evaluation"

    assert base.registered()["model_evaluation"] is ModelEvaluation


def test_its_stacks_match_its_inventory(data_validation: Any, tmp_path: Path) -> None:
    from tierstack.generator.generate import generate

    (key, config), *others = inventory_configs(INVENTORY).items()
    assert config.resolve() == EXAMPLE.resolve() and not others
    out = tmp_path / "cdktf.out"
    generate(resolve(load_spec(EXAMPLE)), out)
    problems = check_capability_inventory(INVENTORY, {key: out})
    assert not problems, "\n".join(problems)

    # what the assembler did for it, from its declarations alone
    prod = read_stack(out, "dv-demo-prod")
    topic = prod["resource"]["google_pubsub_topic"]["data_validation_alerts"]
    assert "google_kms_crypto_key_iam_member.foundation_key_pubsub_agent" in topic["depends_on"]
    assert "google_project_service.foundation_api_pubsub" in topic["depends_on"]
    assert "foundation_key_pubsub_agent" in prod["resource"]["google_kms_crypto_key_iam_member"]
    assert {"data_validation_reports_bucket", "data_validation_alert_topic"} <= set(prod["output"])
    dev = read_stack(out, "dv-demo-dev")
    assert "kms_key_name" not in dev["resource"]["google_pubsub_topic"]["data_validation_alerts"]


def test_terraform_validates_its_stacks(data_validation: Any, terraform: Any, tmp_path: Path) -> None:
    from standin import mirror
    from tierstack.generator.generate import generate

    out = tmp_path / "cdktf.out"
    generate(resolve(load_spec(EXAMPLE)), out)
    for stack in ("dv-demo-dev", "dv-demo-prod"):
        workdir = mirror.workdir_for(out / "stacks" / stack, tmp_path / "tf" / stack)
        verdict = mirror.validate(terraform, workdir)
        assert verdict["valid"] is True, json.dumps(verdict, indent=1)
        plan = mirror.plan(terraform, workdir)
        planned = {c["address"] for c in plan["resource_changes"] if c["change"]["actions"] == ["create"]}
        assert "google_pubsub_topic.data_validation_alerts" in planned
