"""Cost deltas of plans, for `tierstack review`: `plan_cost_delta` (one plan's before and after) and
`cost_delta` (two plans' planned values) price both sides the same way and return the change resource by
resource and per capability, with what is not priced listed and left out of the totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tierstack.generator.analysis.cost.model import Resource
from tierstack.generator.analysis.cost.prices import PriceTable, load_prices
from tierstack.generator.analysis.cost.pricing import _Pricer, pipeline_workflows
from tierstack.generator.analysis.cost.read import _changed_resources, _plan_region, _planned_resources


@dataclass(frozen=True)
class ResourceDelta:
    address: str
    capability: str
    before: float | None  # None: not priced (or absent: see present_before)
    after: float | None
    present_before: bool
    present_after: bool
    not_priced: str | None = None

    @property
    def delta(self) -> float | None:
        if self.not_priced:
            return None
        return (self.after or 0.0) - (self.before or 0.0)


@dataclass(frozen=True)
class CostDelta:
    currency: str
    before: float
    after: float
    resources: tuple[ResourceDelta, ...]  # only resources whose monthly figure changes, or that are not priced
    # per capability, (before, after) over the resources priced on both sides (like with like); a side is
    # None when the capability has resources there and not one of them is priced
    by_capability: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def not_priced(self) -> tuple[ResourceDelta, ...]:
        return tuple(r for r in self.resources if r.not_priced)

    def to_data(self) -> dict[str, Any]:
        return {
            "estimate": True,
            "currency": self.currency,
            "before": round(self.before, 2),
            "after": round(self.after, 2),
            "delta": round(self.delta, 2),
            "resources": [
                {
                    "address": r.address,
                    "capability": r.capability,
                    "before": None if r.before is None else round(r.before, 2),
                    "after": None if r.after is None else round(r.after, 2),
                    "delta": None if r.delta is None else round(r.delta, 2),
                    **({"not_priced": r.not_priced} if r.not_priced else {}),
                }
                for r in self.resources
            ],
        }


def _delta(before: list[Resource], after: list[Resource], table: PriceTable, region: str) -> CostDelta:
    pricer = _Pricer(table, region, pipeline_workflows([*before, *after]))

    def priced(resources: list[Resource]) -> dict[str, tuple[str, float | None, str | None]]:
        out: dict[str, tuple[str, float | None, str | None]] = {}
        for resource in resources:
            lines = pricer.price(resource)
            if not lines:
                continue
            missing = [line.not_priced for line in lines if line.monthly is None and line.not_priced]
            total = sum(line.monthly or 0.0 for line in lines)
            out[resource.address] = (resource.capability, None if missing else total, "; ".join(missing) or None)
        return out

    old, new = priced(before), priced(after)
    changes = []
    for address in sorted(set(old) | set(new)):
        cap_a, amount_a, why_a = old.get(address, ("", 0.0, None))
        cap_b, amount_b, why_b = new.get(address, ("", 0.0, None))
        why = why_b or why_a
        if why is None and abs((amount_b or 0.0) - (amount_a or 0.0)) < 0.005:
            continue
        changes.append(ResourceDelta(address, cap_b or cap_a, amount_a, amount_b, address in old, address in new, why))
    before_total = sum(v[1] or 0.0 for v in old.values())
    after_total = sum(v[1] or 0.0 for v in new.values())
    unpriced = {r.address for r in changes if r.not_priced}
    capabilities = _by_capability(old, new, unpriced)
    return CostDelta(table.currency, before_total, after_total, tuple(changes), capabilities)


def _by_capability(
    old: Mapping[str, tuple[str, float | None, str | None]],
    new: Mapping[str, tuple[str, float | None, str | None]],
    unpriced: set[str],
) -> dict[str, tuple[float | None, float | None]]:
    """Each capability's (before, after): the sum over its resources priced on both sides; None for a side
    where it has resources and none of them is priced (not priced, never 0.00)."""
    sums: dict[str, list[float]] = {}
    seen: dict[str, list[bool]] = {}  # [priced before, unpriced before, priced after, unpriced after]
    for address in set(old) | set(new):
        capability = (new.get(address) or old.get(address) or ("other",))[0]
        totals = sums.setdefault(capability, [0.0, 0.0])
        flags = seen.setdefault(capability, [False, False, False, False])
        for side, values in enumerate((old, new)):
            if address not in values:
                continue
            if address in unpriced:
                flags[2 * side + 1] = True
            else:
                totals[side] += values[address][1] or 0.0
                flags[2 * side] = True
    out: dict[str, tuple[float | None, float | None]] = {}
    for capability, (before, after) in sorted(sums.items()):
        f = seen[capability]
        out[capability] = (None if f[1] and not f[0] else before, None if f[3] and not f[2] else after)
    return out


def plan_cost_delta(plan: Mapping[str, Any], table: PriceTable | None = None) -> CostDelta:
    """The monthly cost change of one `terraform show -json` plan: its resource_changes, before vs after.

    Pure: no network, no files but the price table (pass `table` to skip reading it). A created
    resource has no before, a destroyed one no after; resources the table cannot price are listed
    with the reason and left out of the totals.
    """
    table = table or load_prices()
    return _delta(_changed_resources(plan, "before"), _changed_resources(plan, "after"), table, _plan_region(plan))


def cost_delta(before: Mapping[str, Any], after: Mapping[str, Any], table: PriceTable | None = None) -> CostDelta:
    """The monthly cost change between two plans' planned_values (say, the base branch's and the head's)."""
    table = table or load_prices()
    region = _plan_region(after) or _plan_region(before)
    return _delta(_planned_resources(before), _planned_resources(after), table, region)
