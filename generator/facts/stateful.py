"""Which Google resource types hold state that a delete or a replacement would lose.

A view of generator/data/resource_types.yaml (generator/facts/resource_types.py), the one table for every
check that guards state: the state-safety tests, and the review of diffs and plans. Each entry says
what is lost, so a warning can say it. A type the table does not know possibly holds data.
"""

from __future__ import annotations

from tierstack.generator.facts.resource_types import holds_data, stateful_types

STATEFUL_TYPES: dict[str, str] = stateful_types()


def is_stateful(resource_type: str) -> bool:
    """Destroying it may lose data: the table says it holds data, or does not know the type."""
    return holds_data(resource_type) is not None


__all__ = ["STATEFUL_TYPES", "holds_data", "is_stateful"]
