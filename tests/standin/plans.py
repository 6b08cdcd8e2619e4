"""Plans of the generated stacks, made by real Terraform against the stand-in, kept as fixtures.

`tests/fixtures/plans/<stack>.json` is `terraform show -json` of each example's
and test case's stack planned on an empty state: real plan JSON for the review
features to read. Regenerate with `make refresh` (python tests/standin/plans.py).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "plans"
TIMESTAMP = "2026-01-01T00:00:00Z"  # the one field that changes on every run


def fixture_path(stack: str) -> Path:
    return FIXTURES / f"{stack}.json"


def actions(plan: dict[str, Any]) -> dict[str, list[str]]:
    """Address -> planned actions, for every resource change in a plan's JSON."""
    return {c["address"]: c["change"]["actions"] for c in plan.get("resource_changes", [])}


def normalize(plan: dict[str, Any]) -> dict[str, Any]:
    """The run's timestamp fixed, and relevant_attributes (in no stable order from Terraform) sorted."""
    out = {**plan, "timestamp": TIMESTAMP} if "timestamp" in plan else dict(plan)
    if "relevant_attributes" in out:
        out["relevant_attributes"] = sorted(
            out["relevant_attributes"], key=lambda a: (a["resource"], json.dumps(a["attribute"]))
        )
    return out


def comparable(plan: dict[str, Any]) -> dict[str, Any]:
    """What a plan says about the stack, without what says which Terraform made it."""
    return {key: plan.get(key) for key in ("resource_changes", "output_changes", "planned_values")}


def write_fixture(stack: str, plan: dict[str, Any]) -> Path:
    path = fixture_path(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(normalize(plan), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def main() -> int:
    sys.path.insert(0, str(HERE.parent))
    from standin import mirror
    from synth_support import example_configs
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    binary, _ = mirror.find_terraform()
    configs = [*example_configs(REPO / "examples"), *sorted((REPO / "tests" / "cases").glob("*.yaml"))]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        terraform = mirror.Terraform(binary, mirror.build(root / "standin"))
        written = set()
        for i, config in enumerate(configs):
            out = root / f"out{i}"
            generate(resolve(load_spec(config)), out)
            for stack_dir in sorted((out / "stacks").iterdir()):
                workdir = mirror.workdir_for(stack_dir, root / "work" / stack_dir.name)
                path = write_fixture(stack_dir.name, mirror.plan(terraform, workdir))
                written.add(path)
                print(path.relative_to(REPO))
        for stale in set(FIXTURES.glob("*.json")) - written:
            stale.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
