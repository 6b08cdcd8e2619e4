"""Synthesized stacks against their capabilities' YAML inventories (tests/inventories/), Fabric style.

One inventory per capability: for each config that selects it and each of that config's stacks, the
capability's own resources, counted exactly per type, and a subset of their attributes. Every generated
resource belongs to one capability (by its name), and the coverage test below requires that
capability's inventory to list the config, the stack and the resource's type: a new resource shows up
here, in review, before it shows up in a plan.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from synth_support import (
    INVENTORIES,
    REPO,
    capability_ids,
    capability_of,
    check_capability_inventory,
    config_key,
    example_configs,
    inventory_configs,
    inventory_entries,
    load_inventory,
    read_stack,
    resources,
)

INVENTORY_FILES = sorted(INVENTORIES.glob("*.yaml"))


def inventories() -> dict[str, dict[str, dict[str, dict]]]:
    """capability -> config key -> stack -> its entry, from tests/inventories/."""
    out = {}
    for path in INVENTORY_FILES:
        spec = load_inventory(path)
        entries = inventory_entries(spec) or {}
        out[spec["capability"]] = {config_key(str(c), path): stacks or {} for c, stacks in entries.items()}
    return out


@pytest.mark.parametrize("inventory", INVENTORY_FILES, ids=[p.stem for p in INVENTORY_FILES])
def test_capability_matches_its_inventory(inventory: Path, synthesized: dict[str, Path]) -> None:
    problems = check_capability_inventory(inventory, synthesized)
    if problems:
        pytest.fail(f"{inventory.relative_to(REPO)}:\n  " + "\n  ".join(problems), pytrace=False)


def test_inventories_are_named_after_known_capabilities() -> None:
    ids = set(capability_ids())
    for path in INVENTORY_FILES:
        cap = load_inventory(path).get("capability")
        assert cap == path.stem, f"{path.name} says capability: {cap!r}; name the file after it"
        assert cap in ids, f"{path.name}: {cap!r} is not a capability ({', '.join(sorted(ids))})"


def test_every_generated_resource_is_in_its_capabilitys_inventory(synthesized: dict[str, Path]) -> None:
    """Each resource of each stack: owned by a capability, whose inventory has this config, stack and type."""
    ids, listed, problems = capability_ids(), inventories(), []
    for config, out in synthesized.items():
        for stack in sorted(p.name for p in (out / "stacks").iterdir()):
            for address in sorted(resources(read_stack(out, stack))):
                rtype, name = address.split(".", 1)
                cap = capability_of(name, ids)
                entry = listed.get(cap or "", {}).get(config, {}).get(stack)
                if cap is None:
                    problems.append(f"{config} {stack}: {address} belongs to no capability (<capability>_<name>)")
                elif cap not in listed:
                    problems.append(f"{config} {stack}: {address}: no inventory tests/inventories/{cap}.yaml")
                elif entry is None:
                    problems.append(f"{config} {stack}: {address}: {cap}.yaml has no entry for this config and stack")
                elif rtype not in (entry.get("counts") or {}):
                    problems.append(f"{config} {stack}: {address}: {cap}.yaml does not count {rtype}")
    if problems:
        pytest.fail("\n".join(dict.fromkeys(problems)), pytrace=False)


def test_every_example_and_tier_case_has_an_inventory(spawns: None) -> None:
    """Each example and tier case, in the inventory of everything it selects, for every stack; and no more."""
    from conftest import CASES as TIER_CASES
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

    listed, problems = inventories(), []
    configs = sorted([*example_configs(), *TIER_CASES])
    selected: dict[str, set[str]] = {}
    for path in configs:
        config = path.relative_to(REPO).as_posix()
        resolved = resolve(load_spec(path))
        selected[config] = set(resolved.selection.ids)
        stacks = {env.stack for env in resolved.environments.values()}
        for cap in resolved.selection.ids:
            have = set(listed.get(cap, {}).get(config, {}))
            if cap not in listed:
                problems.append(f"{config} selects {cap}: no inventory tests/inventories/{cap}.yaml")
            elif have != stacks:
                problems.append(f"{config} selects {cap}: {cap}.yaml lists stacks {sorted(have)}, not {sorted(stacks)}")
    for cap, configs_listed in listed.items():
        for config in configs_listed:
            if config in selected and cap not in selected[config]:
                problems.append(f"{cap}.yaml lists {config}, which does not select {cap}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_the_checker_reads_an_inventory_from_any_folder(tmp_path: Path, synthesized: dict[str, Path]) -> None:
    """A test package keeps its capability's inventory next to its module: `./` configs resolve there,
    others from the repository root; one config may be written `config:` + `stacks:`."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    package = tmp_path / "package"
    package.mkdir()
    (package / "case.yaml").write_text((REPO / "tests/cases/tier0-batch.yaml").read_text(encoding="utf-8"))
    inventory = package / "inventory.yaml"
    inventory.write_text(
        textwrap.dedent("""
            capability: model_serving
            config: ./case.yaml
            stacks:
              tier0-batch-dev:
                counts: {google_storage_bucket: 1, google_storage_bucket_iam_member: 1,
                         google_bigquery_dataset: 1, google_bigquery_dataset_iam_member: 1}
        """)
    )
    [(key, config)] = inventory_configs(inventory).items()
    assert config == package / "case.yaml"
    generate(resolve(load_spec(config)), tmp_path / "out")
    outputs = {**synthesized, key: tmp_path / "out"}
    assert check_capability_inventory(inventory, outputs) == []

    inventory.write_text(
        textwrap.dedent("""
            capability: model_serving
            configs:
              tests/cases/tier0-batch.yaml:
                tier0-batch-dev:
                  counts: {google_storage_bucket: 1, google_storage_bucket_iam_member: 1, google_bigquery_dataset: 2}
                  resources:
                    google_storage_bucket.model_serving_predictions_bucket: {location: EU}
                    google_service_account.foundation_serving_sa: {}
                tier0-batch-prod: {counts: {}}
              ./missing.yaml: {}
        """)
    )
    where = "tests/cases/tier0-batch.yaml tier0-batch-dev"
    assert check_capability_inventory(inventory, outputs) == [
        f"{where}: google_bigquery_dataset: expected 2, got 1",
        f"{where}: google_bigquery_dataset_iam_member: 1 generated, not in counts (add it to the inventory)",
        f"{where}: google_storage_bucket.model_serving_predictions_bucket.location: expected 'EU', got 'US-CENTRAL1'",
        f"{where}: google_service_account.foundation_serving_sa belongs to foundation, not model_serving",
        "tests/cases/tier0-batch.yaml tier0-batch-prod: no such stack (generated: tier0-batch-dev)",
        f"./missing.yaml: not synthesized (known: {', '.join(sorted(outputs))})",
    ]
