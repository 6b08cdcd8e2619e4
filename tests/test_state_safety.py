"""State safety, proven by Terraform: a changed use case never destroys or replaces what holds state.

A production stack is applied to the offline stand-in (local state), the use
case is changed the way a team changes it (a capability added, the YAML
reordered, an answer that changes every label), the stack is regenerated and
planned against that state. The stand-in knows which arguments the real
provider cannot update in place (tests/standin/data/replace_attributes.yaml,
read from the provider's sources), so a replacement shows as Terraform would
show it. A rename ships a `moved` block, and the plan shows a move.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from standin import mirror, plans
from tierstack.generator.config.spec import load_spec
from tierstack.generator.facts.stateful import is_stateful
from tierstack.generator.output.generate import generate
from tierstack.generator.plan.resolve import resolve

pytestmark = pytest.mark.slow  # terraform apply and plan on generated stacks

BASE = """\
name: safety-case
team: ml-platform
use_case:
  stage: production
  mission_critical: yes
  retraining: scheduled
  schedule: "0 3 * * 1"
  serving: online
  accelerator: gpu:NVIDIA_L4×1
region: europe-west4
environments:
  dev:
    project: acme-safety-dev
  staging:
    project: acme-safety-stg
  prod:
    project: acme-safety-prod
budget:
  amount: 900
  billing_account: 01A2B3-C4D5E6-F7A8B9
variables:
  alert_email: oncall@example.com
  ci_repository: acme/safety-case
  ci_repository_id: 1
  ci_repository_owner_id: 2
"""

REORDERED = """\
variables:
  ci_repository: acme/safety-case
  ci_repository_id: 1
  ci_repository_owner_id: 2
  alert_email: oncall@example.com
environments:
  prod:
    project: acme-safety-prod
  staging:
    project: acme-safety-stg
  dev:
    project: acme-safety-dev
region: europe-west4
budget:
  billing_account: 01A2B3-C4D5E6-F7A8B9
  amount: 900
use_case:
  accelerator: gpu:NVIDIA_L4×1
  serving: online
  schedule: "0 3 * * 1"
  retraining: scheduled
  mission_critical: yes
  stage: production
team: ml-platform
name: safety-case
"""

VARIANTS = {
    "a capability added (reusable: feature_repository)": BASE.replace(
        "  serving: online\n", "  serving: online\n  reusable: yes\n"
    ),
    "YAML keys reordered": REORDERED,
    "an answer that changes the labels (code_changes: frequent -> tier-2)": BASE.replace(
        "  serving: online\n", "  serving: online\n  code_changes: frequent\n"
    ),
}
STACK = "safety-case-prod"


def synth(text: str, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "tierstack.yaml"
    config.write_text(text, encoding="utf-8")
    out = root / "cdktf.out"
    generate(resolve(load_spec(config)), out)
    return out / "stacks" / STACK


@pytest.fixture(scope="module")
def applied(terraform: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base prod stack applied to the stand-in: a work dir holding its terraform.tfstate."""
    root = tmp_path_factory.mktemp("safety")
    workdir = mirror.workdir_for(synth(BASE, root / "base"), root / "applied")
    mirror.plan(terraform, workdir)
    mirror.apply(terraform, workdir)
    return workdir


def replan(terraform: Any, applied: Path, stack_dir: Path, workdir: Path) -> dict[str, Any]:
    """Plan a regenerated stack against a copy of the applied state."""
    workdir = mirror.workdir_for(stack_dir, workdir)
    shutil.copy(applied / "terraform.tfstate", workdir / "terraform.tfstate")
    return mirror.plan(terraform, workdir)


def destroyed_state(plan: dict[str, Any]) -> list[str]:
    return [
        f"{c['address']}: {c['change']['actions']} ({c.get('action_reason', '')})"
        for c in plan["resource_changes"]
        if "delete" in c["change"]["actions"] and is_stateful(c["type"])
    ]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_changed_use_case_destroys_no_stateful_resource(
    variant: str, terraform: Any, applied: Path, tmp_path: Path
) -> None:
    plan = replan(terraform, applied, synth(VARIANTS[variant], tmp_path / "synth"), tmp_path / "work")
    assert not destroyed_state(plan), f"{variant}: " + "; ".join(destroyed_state(plan))


def test_the_label_change_is_planned_as_in_place_updates(terraform: Any, applied: Path, tmp_path: Path) -> None:
    """Not vacuous: the same plans do show the changes (here, every bucket's new `tier` label)."""
    variant = VARIANTS["an answer that changes the labels (code_changes: frequent -> tier-2)"]
    plan = replan(terraform, applied, synth(variant, tmp_path / "synth"), tmp_path / "work")
    actions = plans.actions(plan)
    buckets = {a: act for a, act in actions.items() if a.startswith("google_storage_bucket.")}
    assert buckets and all(act == ["update"] for act in buckets.values()), buckets


def test_the_stand_in_plans_a_replacement_where_the_provider_would(
    terraform: Any, applied: Path, tmp_path: Path
) -> None:
    """Not vacuous either: a bucket moved to another location (ForceNew) is replaced, and the check sees it."""
    workdir = mirror.workdir_for(applied, tmp_path / "work")
    stack = json.loads((workdir / "cdk.tf.json").read_text(encoding="utf-8"))
    stack["resource"]["google_storage_bucket"]["model_training_artifacts_bucket"]["location"] = "EUROPE-WEST1"
    (workdir / "cdk.tf.json").write_text(json.dumps(stack), encoding="utf-8")
    shutil.copy(applied / "terraform.tfstate", workdir / "terraform.tfstate")
    destroyed = destroyed_state(mirror.plan(terraform, workdir))
    assert destroyed == [
        "google_storage_bucket.model_training_artifacts_bucket: ['delete', 'create'] (replace_because_cannot_update)"
    ], destroyed


def test_a_rename_ships_a_moved_block_and_plans_a_move(
    terraform: Any, applied: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A throwaway rename of the artifacts bucket's construct id, declared in `moved_from`."""
    from tierstack.modules.base import CapabilityModule
    from tierstack.modules.model_training import ModelTraining

    original_add = CapabilityModule.add

    def renaming_add(self: CapabilityModule, resource_type: type, construct_id: str, /, **kwargs: Any) -> Any:
        if self.capability == "model_training" and construct_id == "artifacts_bucket":
            construct_id = "artifact_store_bucket"
        return original_add(self, resource_type, construct_id, **kwargs)

    monkeypatch.setattr(CapabilityModule, "add", renaming_add)
    monkeypatch.setattr(ModelTraining, "moved_from", {"artifact_store_bucket": "artifacts_bucket"})
    plan = replan(terraform, applied, synth(BASE, tmp_path / "synth"), tmp_path / "work")
    new = "google_storage_bucket.model_training_artifact_store_bucket"
    change = next(c for c in plan["resource_changes"] if c["address"] == new)
    assert change["previous_address"] == "google_storage_bucket.model_training_artifacts_bucket"
    assert change["change"]["actions"] == ["no-op"], change["change"]["actions"]
    assert not destroyed_state(plan)


def test_terraform_init_in_a_stack_then_generate_again_keeps_the_lock_file(terraform: Any, tmp_path: Path) -> None:
    """The README's flow: generate, `terraform init` where the stack is, change the use case, generate again."""
    stack_dir = synth(BASE, tmp_path)
    mirror.check(terraform.run("init", "-backend=false", "-input=false", "-no-color", cwd=stack_dir), "init")
    lock = (stack_dir / ".terraform.lock.hcl").read_bytes()
    assert (stack_dir / ".terraform" / "providers").is_dir()
    synth(VARIANTS["a capability added (reusable: feature_repository)"], tmp_path)  # no --force needed
    assert (stack_dir / ".terraform.lock.hcl").read_bytes() == lock
    assert "feature_repository" in (stack_dir / "cdk.tf.json").read_text(encoding="utf-8")
    verdict = json.loads(terraform.run("validate", "-json", "-no-color", cwd=stack_dir).stdout)
    assert verdict["valid"] is True, verdict
