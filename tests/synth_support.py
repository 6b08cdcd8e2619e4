"""Synthesis helpers for the stack tests: generate once, read stacks, compare with inventories.

An inventory, after Cloud Foundation Fabric's module tests (one inventory per module example), says what
one capability must put in the synthesized stacks of every config that selects it. Every resource
tierstack generates is named `<capability>_<name>` (modules/base.py), so each belongs to exactly one
capability: the longest capability id that prefixes its name followed by `_`. tests/inventories/ holds
one file per capability, <capability>.yaml:

    capability: model_training
    configs:
      examples/fraud-detection/tierstack.yaml:        # relative to the repository;
        fraud-detection-prod:                         # ./x.yaml: relative to this file
          counts: {google_storage_bucket: 2}          # exact: this capability's resources, every type
          resources:                                  # a subset of each resource's attributes
            google_storage_bucket.model_training_artifacts_bucket:
              deletion_policy: PREVENT

`counts: {}` says the capability is selected and puts nothing in that stack. check_capability_inventory
reads an inventory from any folder (a test package may keep its own capability's inventory next to its
module), so adding a capability means adding its inventory, not editing everyone else's. An inventory
for one config may say `config: <path>` and `stacks:` instead of `configs:`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
INVENTORIES = REPO / "tests" / "inventories"


def example_configs(root: Path = REPO / "examples") -> list[Path]:
    """The bundled examples' tierstack.yaml files, sorted: one per example folder, or one per subfolder of an
    example with several configs (examples/regional-propensity/us/ and uk/).

    An example's prepare.py runs first (prepare_examples): it builds what its configs need, such as the git
    repository regional-propensity's forks extend.
    """
    prepare_examples(root)
    return sorted([*root.glob("*/tierstack.yaml"), *root.glob("*/*/tierstack.yaml")])


def prepare_examples(root: Path = REPO / "examples") -> None:
    """Run each examples/*/prepare.py (idempotent, fast when there is nothing to do; `make demo` and
    `make refresh` run them too)."""
    import subprocess
    import sys

    for script in sorted(root.glob("*/prepare.py")):
        subprocess.run([sys.executable, str(script)], check=True, capture_output=True)


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


def capability_ids() -> list[str]:
    """The catalog's capability ids, as `tierstack capabilities` lists them."""
    from tierstack.generator.facts.catalog import load_catalog

    return [capability.id for capability in load_catalog().capabilities]


def capability_of(name: str, ids: Iterable[str]) -> str | None:
    """The capability a resource name (the part after the type) belongs to: the longest id followed by `_`."""
    owners = [cap for cap in ids if name.startswith(f"{cap}_")]
    return max(owners, key=len) if owners else None


def config_key(config: str, inventory: Path) -> str:
    """An inventory's config as a key of the `synthesized` outputs: the path relative to the repository.

    A config written `./...` is relative to the inventory's own folder; anything else to the repository
    root. A config outside the repository keys by its absolute path.
    """
    path = (inventory.resolve().parent / config if config.startswith("./") else REPO / config).resolve()
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.as_posix()


def inventory_entries(spec: Any) -> dict[str, Any] | None:
    """config -> stack -> entry, from an inventory's `configs:` or its one `config:` with `stacks:`."""
    if not isinstance(spec, dict):
        return None
    if "config" in spec and "configs" not in spec:
        return {spec["config"]: spec.get("stacks")}
    configs = spec.get("configs")
    return configs if isinstance(configs, dict) and configs else None


def inventory_configs(inventory: Path) -> dict[str, Path]:
    """config key -> the config file, for every config an inventory names (what a test must synthesize)."""
    keys = [config_key(str(config), inventory) for config in inventory_entries(load_inventory(inventory)) or {}]
    return {key: Path(key) if Path(key).is_absolute() else REPO / key for key in keys}


def check_capability_inventory(
    inventory: Path, synthesized: Mapping[str, Path], ids: Iterable[str] | None = None
) -> list[str]:
    """What in the synthesized stacks disagrees with a capability's inventory, one readable line each.

    `synthesized` maps config keys (see config_key) to generate()'s output folder; `ids` are the
    capability ids that decide which resources are whose (default: the catalog's, plus the inventory's own).
    """
    spec = load_inventory(inventory)
    if not isinstance(spec, dict) or not isinstance(spec.get("capability"), str):
        return [f"{inventory}: no `capability: <id>` at the top"]
    cap = spec["capability"]
    known = {*(capability_ids() if ids is None else ids), cap}
    configs = inventory_entries(spec)
    if configs is None:
        return [f"{inventory}: no `configs:` (config -> stack -> counts/resources), nor `config:` with `stacks:`"]
    problems: list[str] = []
    for config, stacks in configs.items():
        key = config_key(str(config), inventory)
        if key not in synthesized:
            problems.append(f"{config}: not synthesized (known: {', '.join(sorted(synthesized))})")
            continue
        out = synthesized[key]
        for stack, expected in (stacks or {}).items():
            where = f"{config} {stack}"
            if not isinstance(expected, dict) or "counts" not in expected:
                problems.append(f"{where}: needs `counts:` (`counts: {{}}` when {cap} puts nothing here)")
                continue
            unknown = set(expected) - {"counts", "resources"}
            if unknown:
                problems.append(f"{where}: unknown keys {sorted(unknown)} (counts, resources)")
            if not (out / "stacks" / stack / "cdk.tf.json").is_file():
                generated = sorted(p.name for p in (out / "stacks").iterdir()) if (out / "stacks").is_dir() else []
                problems.append(f"{where}: no such stack (generated: {', '.join(generated)})")
                continue
            present = resources(read_stack(out, stack))
            mine = {a: body for a, body in present.items() if capability_of(a.split(".", 1)[1], known) == cap}
            problems += [f"{where}: {line}" for line in count_differences(expected["counts"] or {}, mine)]
            for address, attributes in (expected.get("resources") or {}).items():
                owner = capability_of(address.split(".", 1)[-1], known)
                if owner != cap:
                    problems.append(f"{where}: {address} belongs to {owner or 'no capability'}, not {cap}")
                elif address not in present:
                    problems.append(f"{where}: {address} is missing")
                else:
                    problems.extend(mismatches(attributes, present[address], f"{where}: {address}"))
    return problems


def count_differences(expected: Mapping[str, int], addresses: Iterable[str]) -> list[str]:
    """Per resource type, where the expected counts and these addresses disagree."""
    actual = Counter(address.split(".", 1)[0] for address in addresses)
    lines = []
    for rtype in [*expected, *sorted(set(actual) - set(expected))]:
        if rtype not in expected:
            lines.append(f"{rtype}: {actual[rtype]} generated, not in counts (add it to the inventory)")
        elif expected[rtype] != actual[rtype]:
            lines.append(f"{rtype}: expected {expected[rtype]}, got {actual[rtype]}")
    return lines


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
