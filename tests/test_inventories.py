"""Synthesized stacks against their YAML inventories (tests/inventories/), Fabric style.

Counts are exact for each resource type an inventory lists, and a type it
does not list must not appear: a new resource shows up here, in review, before
it shows up in a plan.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synth_support import INVENTORIES, counts, load_inventory, mismatches, read_stack, resources

CASES = sorted(INVENTORIES.glob("*.yaml"))


@pytest.mark.parametrize("inventory", CASES, ids=[p.stem for p in CASES])
def test_stacks_match_their_inventory(inventory: Path, synthesized: dict[str, Path]) -> None:
    spec = load_inventory(inventory)
    out = synthesized[spec["config"]]
    problems: list[str] = []
    for stack, expected in spec["stacks"].items():
        data = read_stack(out, stack)
        actual_counts = counts(data)
        if actual_counts != expected["counts"]:
            problems.append(f"{stack} counts: expected {expected['counts']}, got {actual_counts}")
        present = resources(data)
        for address, attributes in (expected.get("resources") or {}).items():
            if address not in present:
                problems.append(f"{stack}: {address} is missing")
            else:
                problems.extend(mismatches(attributes, present[address], f"{stack}: {address}"))
    assert not problems, "\n".join(problems)


def test_every_example_and_tier_case_has_an_inventory() -> None:
    from conftest import CASES as TIER_CASES
    from conftest import REPO

    covered = {load_inventory(p)["config"] for p in CASES}
    wanted = {p.relative_to(REPO).as_posix() for p in [*REPO.glob("examples/*/tierstack.yaml"), *TIER_CASES]}
    assert wanted <= covered, f"no inventory for {sorted(wanted - covered)}"
