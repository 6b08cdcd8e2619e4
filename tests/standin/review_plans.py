"""Real plans for `tierstack review`, made by real Terraform: tests/fixtures/review/.

Run by hand when the stacks, the stand-in or Terraform change (it is not part of `make refresh`;
an apply against the stand-in takes a minute):

    .venv/bin/python tests/standin/review_plans.py

A small production use case (`review-case`: batch serving, notebooks, dev and prod) is generated,
planned and applied to the offline stand-in with local state, then changed the way teams change
it, and planned again against that state. For each scenario the plan's `terraform show -json`
goes to `<scenario>.json` and Terraform's own rendering of the same plan (`terraform show`) to
`<scenario>.txt`, so the tests can hold tierstack's counts, moves and drift against Terraform's.

| scenario | how |
|---|---|
| create | the prod stack planned on an empty state |
| update-labels-prod, -dev | `labels: {cost-center: cc-4410}` added to the config, regenerated |
| replace-stateful | a copy of the prod stack with the bucket's and the dataset's location changed (ForceNew) |
| delete-capability | `capabilities.add: [experimentation]` removed from the config, regenerated |
| add-capability | `feature_repository` added to `capabilities.add`, regenerated (the `tier` labels change too) |
| rename-stack | the use case renamed (`name: review-scoring`): the new prod stack on an empty state (see below) |
| move | a copy of the prod stack with the predictions bucket renamed and a `moved` block |
| forget | a copy of the prod stack without the TensorBoard, and a `removed` block with `destroy = false` |
| drift | the applied prod stack planned again while its provider reports changes made outside Terraform |
| terraform-data | Terraform's built-in `terraform_data`: an `import` block, a `removed` block, a delete, |
| | a replacement in each order (`create_before_destroy` for the second) |

A renamed stack has a new state prefix, so Terraform plans only creates there; the old stack's
resources are orphaned in the old state, which `tierstack diff` and `generate` flag (a stack that
leaves the output is data at risk).

What the stand-in cannot do, and how these plans get it anyway:

- import: the stand-in refuses ImportResourceState (there is no cloud to read), so the import comes
  from `terraform_data`, whose built-in provider imports an id; that plan also gives
  `["create", "delete"]`, which no tierstack stack plans.
- drift: the stand-in's refresh returns the state unchanged, so no plan of it shows drift. The
  drift scenario runs the stand-in itself (tests/standin/provider.py, not edited) behind a thin
  wrapper whose ReadResource reports two changes made in the console: the TensorBoard recreated
  (a new id, which an output reads: drift the plan depends on) and a label added to the bucket
  (nothing reads the labels: drift Terraform leaves out). Terraform computes resource_drift and
  relevant_attributes from those reads as it would from Google's.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "review"
DRIFT_ENV = "REVIEW_PLANS_DRIFT"
STACK = "review-case-prod"
BUCKET = "model_serving_predictions_bucket"
RENAMED = "model_serving_batch_output_bucket"
DATASET = "model_serving_predictions_dataset"
TENSORBOARD = "experimentation_tensorboard"

CONFIG = """\
name: review-case
team: ml-platform
use_case:
  stage: production
  serving: batch
capabilities:
  add: [experimentation]
region: us-central1
environments:
  dev:
    project: acme-review-dev
  prod:
    project: acme-review-prod
"""
LABELED = CONFIG + "labels:\n  cost-center: cc-4410\n"
WITHOUT_NOTEBOOKS = CONFIG.replace("capabilities:\n  add: [experimentation]\n", "")
WITH_FEATURES = CONFIG.replace("add: [experimentation]", "add: [experimentation, feature_repository]")
RENAMED_USE_CASE = CONFIG.replace("name: review-case", "name: review-scoring")

# what the console changed, for the drift scenario: (type, attribute to match, its value, changes)
RECREATED_ID = "projects/acme-review-prod/locations/us-central1/tensorboards/7305112094461"
DRIFT = [
    {
        "type": "google_vertex_ai_tensorboard",
        "match": {"display_name": STACK},
        "set": {"id": RECREATED_ID, "name": RECREATED_ID},
    },
    {
        "type": "google_storage_bucket",
        "match": {"name": "acme-review-prod-review-case-predictions"},
        "merge": {"effective_labels": {"owner": "alice"}},
    },
]

TERRAFORM_DATA_BEFORE = {
    "resource": {
        "terraform_data": {
            "kept": {"input": "same"},
            "rebuilt": {"input": "job", "triggers_replace": ["v1"]},
            "rolled": {"input": "pool", "triggers_replace": ["v1"], "lifecycle": [{"create_before_destroy": True}]},
            "retired": {"input": "old"},
            "handed_over": {"input": "theirs now"},
        }
    }
}
TERRAFORM_DATA_AFTER = {
    "resource": {
        "terraform_data": {
            "kept": {"input": "same"},
            "rebuilt": {"input": "job", "triggers_replace": ["v2"]},
            "rolled": {"input": "pool", "triggers_replace": ["v2"], "lifecycle": [{"create_before_destroy": True}]},
            "adopted": {"input": "found"},
        }
    },
    "import": [{"to": "terraform_data.adopted", "id": "adopted-7f3a"}],
    "removed": [{"from": "terraform_data.handed_over", "lifecycle": {"destroy": False}}],
}


# --- the drifting wrapper: run by Terraform as the provider for the drift scenario ----------------


def drifted(type_name: str, state: Any, drift: list[dict[str, Any]]) -> Any:
    """The state as the cloud reports it after the changes in `drift`, or None when none applies."""
    if not isinstance(state, dict):
        return None
    for change in drift:
        if change["type"] != type_name or any(state.get(k) != v for k, v in change["match"].items()):
            continue
        new = {**state, **change.get("set", {})}
        for key, extra in change.get("merge", {}).items():
            new[key] = {**(state.get(key) or {}), **extra}
        return new
    return None


def serve_drifting(provider_name: str) -> int:
    """tests/standin/provider.py as it is, except that a read reports the changes in $REVIEW_PLANS_DRIFT."""
    sys.path.insert(0, str(HERE))
    import provider  # the stand-in (tests/standin/provider.py), imported, not changed
    import values

    drift = json.loads(os.environ.get(DRIFT_ENV, "[]"))
    original = provider._servicer

    def servicer(standin: Any, pb: Any, rpc: Any) -> Any:
        base = original(standin, pb, rpc)

        class Drifting(type(base)):  # type: ignore[misc]
            def ReadResource(self, request: Any, context: Any) -> Any:
                state = drifted(request.type_name, values.decode(request.current_state.msgpack), drift)
                if state is None:
                    return super().ReadResource(request, context)
                return pb.ReadResource.Response(
                    new_state=pb.DynamicValue(msgpack=values.encode(state)), private=request.private
                )

        return Drifting()

    provider._servicer = servicer
    return int(provider.serve(provider_name))


def build_drifting_mirror(root: Path) -> Path:
    """A mirror like mirror.build's whose providers are the drifting wrapper; its CLI configuration file."""
    from standin import mirror

    config = mirror.build(root)
    for name in mirror.PROVIDERS:
        binary = root / "mirror" / "registry.terraform.io" / "hashicorp" / name / mirror.VERSION / mirror.os_arch()
        binary /= f"terraform-provider-{name}_v{mirror.VERSION}"
        binary.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" -B "{Path(__file__).resolve()}" --serve-drifting {name} "$@"\n',
            encoding="utf-8",
        )
    return config


# --- the scenarios ---------------------------------------------------------------------------------


def synth(text: str, root: Path) -> Path:
    """Generate the config's stacks under root; the cdktf output directory."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    root.mkdir(parents=True, exist_ok=True)
    (root / "tierstack.yaml").write_text(text, encoding="utf-8")
    out = root / "cdktf.out"
    generate(resolve(load_spec(root / "tierstack.yaml")), out)
    return out


def edited(stack_dir: Path, workdir: Path, edit: Any) -> Path:
    """A work dir holding a copy of the stack, changed by edit(stack JSON)."""
    from standin import mirror

    mirror.workdir_for(stack_dir, workdir)
    stack = json.loads((workdir / "cdk.tf.json").read_text(encoding="utf-8"))
    edit(stack)
    (workdir / "cdk.tf.json").write_text(json.dumps(stack, indent=2), encoding="utf-8")
    return workdir


def relocate(stack: dict[str, Any]) -> None:
    """A bucket and a dataset moved to the EU: location cannot change in place, both are replaced."""
    stack["resource"]["google_storage_bucket"][BUCKET]["location"] = "EU"
    stack["resource"]["google_bigquery_dataset"][DATASET]["location"] = "EU"


def rename(stack: dict[str, Any]) -> None:
    """The predictions bucket's construct renamed, every reference with it, and a moved block."""
    old, new = f"google_storage_bucket.{BUCKET}", f"google_storage_bucket.{RENAMED}"
    buckets = stack["resource"]["google_storage_bucket"]
    buckets[RENAMED] = buckets.pop(BUCKET)
    text = json.dumps(stack).replace(old + ".", new + ".")
    stack.clear()
    stack.update(json.loads(text))
    stack["moved"] = [*stack.get("moved", []), {"from": old, "to": new}]


def hand_over(stack: dict[str, Any]) -> None:
    """The TensorBoard handed to another stack: out of this configuration, kept in the cloud (`removed`)."""
    address = f"google_vertex_ai_tensorboard.{TENSORBOARD}"
    del stack["resource"]["google_vertex_ai_tensorboard"][TENSORBOARD]
    if not stack["resource"]["google_vertex_ai_tensorboard"]:
        del stack["resource"]["google_vertex_ai_tensorboard"]
    stack["output"] = {k: v for k, v in stack.get("output", {}).items() if address not in json.dumps(v)}
    assert address not in json.dumps(stack), "something else reads the TensorBoard: pick another resource"
    stack["removed"] = [{"from": address, "lifecycle": {"destroy": False}}]


def write(name: str, terraform: Any, workdir: Path, plan: dict[str, Any]) -> None:
    """<name>.json (the plan's JSON, timestamp fixed) and <name>.txt (Terraform's rendering of it)."""
    from standin import mirror, plans

    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / f"{name}.json"
    path.write_text(json.dumps(plans.normalize(plan), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    shown = mirror.check(terraform.run("show", "-no-color", "plan.tfplan", cwd=workdir), "show")
    (FIXTURES / f"{name}.txt").write_text(shown.stdout, encoding="utf-8")
    print(path.relative_to(REPO))


def replan(terraform: Any, applied: Path, stack_dir: Path, workdir: Path) -> dict[str, Any]:
    from standin import mirror

    mirror.workdir_for(stack_dir, workdir)
    shutil.copy(applied / "terraform.tfstate", workdir / "terraform.tfstate")
    return mirror.plan(terraform, workdir)


def terraform_data(terraform: Any, workdir: Path) -> dict[str, Any]:
    """Apply TERRAFORM_DATA_BEFORE, then plan TERRAFORM_DATA_AFTER: Terraform's built-in provider only."""
    from standin import mirror

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "main.tf.json").write_text(json.dumps(TERRAFORM_DATA_BEFORE), encoding="utf-8")
    mirror.plan(terraform, workdir)
    mirror.apply(terraform, workdir)
    (workdir / "main.tf.json").write_text(json.dumps(TERRAFORM_DATA_AFTER), encoding="utf-8")
    return mirror.plan(terraform, workdir)


class _WithEnv:
    """A mirror.Terraform whose runs (and so its providers) see extra environment variables."""

    def __init__(self, terraform: Any, extra: dict[str, str]) -> None:
        self.terraform, self.extra = terraform, extra

    def run(self, *args: str, cwd: Path) -> Any:
        import subprocess

        return subprocess.run(
            [self.terraform.binary, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env={**self.terraform.env(), **self.extra},
            check=False,
            timeout=300,
        )


def main() -> int:
    sys.path.insert(0, str(HERE.parent))
    from standin import mirror

    binary, _ = mirror.find_terraform()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        terraform = mirror.Terraform(binary, mirror.build(root / "standin"))
        base = synth(CONFIG, root / "base")
        applied = {}
        for env in ("prod", "dev"):
            workdir = mirror.workdir_for(base / "stacks" / f"review-case-{env}", root / f"applied-{env}")
            plan = mirror.plan(terraform, workdir)
            if env == "prod":
                write("create", terraform, workdir, plan)
            mirror.apply(terraform, workdir)
            applied[env] = workdir

        labeled = synth(LABELED, root / "labeled")
        for env in ("prod", "dev"):
            workdir = root / f"labels-{env}"
            plan = replan(terraform, applied[env], labeled / "stacks" / f"review-case-{env}", workdir)
            write(f"update-labels-{env}", terraform, workdir, plan)

        prod = base / "stacks" / STACK
        for name, edit in (("replace-stateful", relocate), ("move", rename), ("forget", hand_over)):
            workdir = edited(prod, root / name, edit)
            shutil.copy(applied["prod"] / "terraform.tfstate", workdir / "terraform.tfstate")
            write(name, terraform, workdir, mirror.plan(terraform, workdir))

        for name, config in (("delete-capability", WITHOUT_NOTEBOOKS), ("add-capability", WITH_FEATURES)):
            changed = synth(config, root / f"{name}-config")
            workdir = root / name
            write(name, terraform, workdir, replan(terraform, applied["prod"], changed / "stacks" / STACK, workdir))

        renamed = synth(RENAMED_USE_CASE, root / "renamed")
        workdir = mirror.workdir_for(renamed / "stacks" / "review-scoring-prod", root / "rename-stack")
        write("rename-stack", terraform, workdir, mirror.plan(terraform, workdir))

        drifting = mirror.Terraform(binary, build_drifting_mirror(root / "drifting"))
        with_drift = _WithEnv(drifting, {DRIFT_ENV: json.dumps(DRIFT)})
        workdir = root / "drift"
        write("drift", with_drift, workdir, replan(with_drift, applied["prod"], prod, workdir))

        workdir = root / "terraform-data"
        write("terraform-data", terraform, workdir, terraform_data(terraform, workdir))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--serve-drifting":
        sys.exit(serve_drifting(sys.argv[2]))
    sys.exit(main())
