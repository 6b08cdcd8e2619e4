"""The reports as data for scripts: `as_data` prints any of them as JSON (C1 controls escaped, as C0 are)
or YAML; the catalog's capabilities and tiers, and the resolved plan with where each value was set."""

from __future__ import annotations

import json
from typing import Any

from tierstack.generator.core.errors import json_printable
from tierstack.generator.core.yamlio import dump
from tierstack.generator.facts.catalog import Catalog
from tierstack.generator.plan.resolve import Resolved


def as_data(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json_printable(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"  # C1 escaped, as C0 is
    return dump(data)


def catalog_data(catalog: Catalog) -> list[dict[str, Any]]:
    return [c.model_dump() for c in catalog.capabilities]


def tiers_data(catalog: Catalog) -> list[dict[str, Any]]:
    return [t.model_dump() | {"capabilities": list(catalog.tier_capabilities(t.level))} for t in catalog.tiers]


def resolved_provenance_data(resolved: Resolved) -> dict[str, Any]:
    """The plan and, for every value, the places that set it as data: [{file, line}], [{blueprint, line}], ..."""
    return {
        "resolved": resolved.to_data(),
        "provenance": {key: source.to_data() for key, source in resolved.provenance().items()},
    }
