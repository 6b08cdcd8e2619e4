"""The bundled catalog is valid and agrees with the design (docs/design.md) and the built-in blueprints."""

from __future__ import annotations

import re

import pytest

from conftest import REPO
from tierstack.generator.config.blueprint import builtin_names, load
from tierstack.generator.config.spec import REGION_RE
from tierstack.generator.facts.catalog import load_catalog
from tierstack.modules import BUILT_IN

DESIGN = REPO / "docs" / "design.md"  # the repository's own: a clone has nothing beside it


def design_capabilities() -> dict[str, bool]:
    """The capability table of docs/design.md ('## Capabilities'): id -> always."""
    text = DESIGN.read_text(encoding="utf-8")
    section = text.split("## Capabilities", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| ([a-z_]+)( \(always\))? \|", section, flags=re.M)
    return {cap_id: bool(always) for cap_id, always in rows if cap_id != "id"}  # "id": the header row


def test_the_built_in_capabilities_are_those_of_the_design() -> None:
    design = design_capabilities()
    assert len(design) > 10, f"could not read the capability table of {DESIGN}"
    catalog = load_catalog()
    built_in = [c for c in catalog.capabilities if c.id in BUILT_IN]
    assert [c.id for c in built_in] == list(BUILT_IN), "the built-ins are registered in catalog order"
    assert set(BUILT_IN) == set(design), f"the catalog and {DESIGN} disagree"
    assert {c.id for c in built_in if c.always} == {i for i, always in design.items() if always}
    for cap in built_in:
        assert cap.definition and cap.process and cap.provisions, cap.id


def test_tiers_are_zero_one_two_with_growing_environments() -> None:
    tiers = load_catalog().tiers
    assert [t.level for t in tiers] == [0, 1, 2]
    assert [len(t.environments) for t in tiers] == [1, 2, 3]
    assert [t.ci_cd for t in tiers] == [False, False, True]
    assert [t.blueprint for t in tiers] == builtin_names()


VARIABLES = {
    "name": "demo",
    "team": "t",
    "region": "us-central1",
    "tier": 2,
    "mission_critical": False,
    "serving": "online",
    "schedule": "0 1 * * *",
    "capabilities": [],
    "features": [],
    "use_case": {"stage": "production"},
    "accelerator": {"kind": "none", "type": None, "count": 0, "machine_type": None},
}


@pytest.mark.parametrize("level", [0, 1, 2])
def test_each_tier_blueprint_configures_exactly_the_tier_capabilities(level: int) -> None:
    catalog = load_catalog()
    blueprint = load(catalog.tier(level).blueprint, VARIABLES, None, "test")
    configured = set(blueprint.layer.data["defaults"]["capabilities"])
    assert configured == set(catalog.tier_capabilities(level))
    assert blueprint.tier == level


def test_accelerator_table_is_consistent() -> None:
    machine = re.compile(r"^[a-z0-9]+-[a-z0-9-]+$")
    for acc in load_catalog().accelerators:
        assert acc.regions, acc.name
        assert list(acc.regions) == sorted(acc.regions), f"{acc.name}: keep regions sorted"
        assert all(REGION_RE.match(r) for r in acc.regions), acc.name
        assert all(machine.match(m) for m in acc.machine_types.values()), acc.name
        assert acc.name.startswith("TPU_") == (acc.kind == "tpu")
