"""Synthesis helpers for the stack tests: generate once, read stacks, compare with inventories.

An inventory (tests/inventories/<case>.yaml), after Cloud Foundation Fabric's
module tests, says what must be in a synthesized stack:

    config: examples/fraud-detection/tierstack.yaml   # relative to the repository
    stacks:
      fraud-detection-prod:
        counts: {google_storage_bucket: 4}            # exact, per resource type listed
        resources:                                    # a subset of each resource's attributes
          google_storage_bucket.model_training_artifacts_bucket:
            deletion_policy: PREVENT
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
INVENTORIES = REPO / "tests" / "inventories"


def example_configs(root: Path = REPO / "examples") -> list[Path]:
    """The bundled examples' tierstack.yaml files, sorted."""
    return sorted(root.glob("*/tierstack.yaml"))


def read_stack(out: Path, stack: str) -> dict[str, Any]:
    return json.loads((out / "stacks" / stack / "cdk.tf.json").read_text(encoding="utf-8"))


def resources(stack_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Address -> body, for every managed resource in a stack."""
    return {
        f"{rtype}.{name}": body
        for rtype, items in stack_json.get("resource", {}).items()
        for name, body in items.items()
    }


def counts(stack_json: dict[str, Any]) -> dict[str, int]:
    return {rtype: len(items) for rtype, items in stack_json.get("resource", {}).items()}


def load_inventory(path: Path) -> dict[str, Any]:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def mismatches(expected: Any, actual: Any, where: str) -> list[str]:
    """Where `actual` does not contain `expected` (mappings as subsets, everything else equal)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected a mapping, got {actual!r}"]
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{where}.{key}: missing")
            else:
                out.extend(mismatches(value, actual[key], f"{where}.{key}"))
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        pairs = enumerate(zip(expected, actual, strict=True))
        return [m for i, (e, a) in pairs for m in mismatches(e, a, f"{where}[{i}]")]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


STATIC_ADDRESS = re.compile(r"^(data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*$|^module\.[A-Za-z_][\w-]*$")
STATIC_PROVIDER = re.compile(r"^[a-z][a-z0-9-]*(\.[A-Za-z_][\w-]*)?$")


def dynamic_meta_arguments(stack_json: dict[str, Any]) -> list[str]:
    """Meta-arguments that are not the static references Terraform requires (`${...}` and the like).

    Terraform evaluates depends_on, lifecycle, provider and the moved/import/removed addresses before any
    value exists, so each must be a literal address; an interpolation there fails `terraform init`.
    """
    problems = []
    blocks = [
        (f"{kind}.{rtype}.{name}", body)
        for kind in ("resource", "data")
        for rtype, items in stack_json.get(kind, {}).items()
        for name, body in items.items()
    ]
    blocks += [(f"output.{name}", body) for name, body in stack_json.get("output", {}).items()]
    for where, body in blocks:
        for ref in body.get("depends_on", []):
            if not STATIC_ADDRESS.match(str(ref)):
                problems.append(f"{where}: depends_on {ref!r}")
        if "${" in json.dumps(body.get("lifecycle", {})):
            problems.append(f"{where}: lifecycle {json.dumps(body['lifecycle'])}")
        if "provider" in body and not STATIC_PROVIDER.match(str(body["provider"])):
            problems.append(f"{where}: provider {body['provider']!r}")
    for kind in ("moved", "import", "removed"):
        for entry in stack_json.get(kind, []):
            for key in ("from", "to"):
                if key in entry and not STATIC_ADDRESS.match(str(entry[key])):
                    problems.append(f"{kind}: {key} {entry[key]!r}")
    return problems
