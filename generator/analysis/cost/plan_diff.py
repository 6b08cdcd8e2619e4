"""`tierstack cost --diff`: plan files read with the review's bounded reader and priced on the review's rules
(generator/analysis/review/pricing.py), as monthly figures before and after per stack and capability, with
their JSON-ready data. Two plans of one stack are refused: its change would be counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tierstack.generator.analysis.cost.model import ESTIMATE_NOTE
from tierstack.generator.analysis.cost.prices import PriceTable
from tierstack.generator.analysis.cost.read import _plan_region
from tierstack.generator.core.errors import UserError

if TYPE_CHECKING:  # the review prices plans with this package: its model is read here only for types
    from tierstack.generator.analysis.review.model import CostChange


DIFF_NOTE = (
    "Before and after are over what is priced on both sides of the plan; what is not priced is listed, "
    "never counted as 0."
)


@dataclass(frozen=True)
class CapabilityDiff:
    """One capability's monthly figure before and after a plan (None: it has resources there, none priced)."""

    capability: str
    before: float | None
    after: float | None
    changes: tuple[CostChange, ...]  # its resources the review lists: priced and changing, or not priced

    @property
    def priced_change(self) -> float:
        """The change over what is priced on both sides."""
        return (self.after or 0.0) - (self.before or 0.0)

    @property
    def change(self) -> float | None:
        """The priced change; None (not priced, never 0.00) when it is nothing and something not priced changes."""
        if self.not_priced and abs(self.priced_change) < 0.005:
            return None
        return self.priced_change

    @property
    def not_priced(self) -> tuple[CostChange, ...]:
        return tuple(c for c in self.changes if c.not_priced)

    @property
    def changed(self) -> bool:
        """A priced figure moves, or something not priced is created, destroyed or changed."""
        return abs(self.priced_change) >= 0.005 or bool(self.not_priced)


@dataclass(frozen=True)
class StackDiff:
    stack: str
    source: str
    region: str
    before: float  # over what is priced on both sides (the review's figures)
    after: float
    capabilities: tuple[CapabilityDiff, ...]

    @property
    def change(self) -> float:
        return self.after - self.before

    @property
    def not_priced(self) -> tuple[CostChange, ...]:
        return tuple(c for cap in self.capabilities for c in cap.not_priced)


@dataclass
class Diff:
    currency: str
    stacks: list[StackDiff]
    table: PriceTable

    @property
    def before(self) -> float:
        return sum(s.before for s in self.stacks)

    @property
    def after(self) -> float:
        return sum(s.after for s in self.stacks)

    def to_data(self) -> dict[str, Any]:
        return {
            "estimate": True,
            "note": f"{ESTIMATE_NOTE} {DIFF_NOTE}",
            "currency": self.currency,
            "assumptions": self.table.assumptions,
            "leaves_out": list(self.table.left_out),
            "prices": {"origin": self.table.origin, "fetched": self.table.fetched, "notes": list(self.table.notes)},
            "before": round(self.before, 2),
            "after": round(self.after, 2),
            "change": _rounded(self.after - self.before),
            "not_priced": sum(len(s.not_priced) for s in self.stacks),
            "stacks": [_stack_diff_data(s) for s in self.stacks],
        }


def _rounded(amount: float | None) -> float | None:
    """Two decimals, and never -0.0 (a saving of nothing)."""
    return None if amount is None else round(amount, 2) + 0.0


def _stack_diff_data(s: StackDiff) -> dict[str, Any]:
    return {
        "stack": s.stack,
        "plan": s.source,
        "region": s.region,
        "before": round(s.before, 2),
        "after": round(s.after, 2),
        "change": _rounded(s.change),
        "not_priced": len(s.not_priced),
        "capabilities": [
            {
                "capability": c.capability,
                "before": _rounded(c.before),
                "after": _rounded(c.after),
                "change": _rounded(c.change),
                "changed": c.changed,
                "not_priced": len(c.not_priced),
            }
            for c in s.capabilities
        ],
        "resources": [
            {
                "address": ch.address,
                "capability": ch.capability,
                "action": ch.action,
                "before": _rounded(ch.before),
                "after": _rounded(ch.after),
                "present_before": ch.present_before,
                "present_after": ch.present_after,
                "change": _rounded(ch.delta),
                **({"not_priced": ch.not_priced} if ch.not_priced else {}),
            }
            for c in s.capabilities
            for ch in c.changes
        ],
    }


def diff_stack(plan: Mapping[str, Any], source: str, table: PriceTable) -> StackDiff:
    """One plan's monthly cost change per capability, on the review's rules (generator/analysis/review/pricing.py):
    a forgotten object keeps costing, an unpriced resource changed only in its labels is not listed, and what
    is not priced on either side leaves both figures."""
    from tierstack.generator.analysis.review import pricing, stack_name

    listed = pricing.stack_cost(plan, table)
    delta = pricing.billed_delta(plan, table)
    capabilities = tuple(
        CapabilityDiff(capability, before, after, tuple(c for c in listed.changes if c.capability == capability))
        for capability, (before, after) in delta.by_capability.items()
    )
    return StackDiff(stack_name(plan, source), source, _plan_region(plan), listed.before, listed.after, capabilities)


def diff_plans(sources: Sequence[str], table: PriceTable) -> Diff:
    """`tierstack cost --diff`: each plan file (`terraform show -json`; `-`: standard input) read with the review's
    bounded reader and priced per capability. Two plans of one stack would count its change twice: refused."""
    from tierstack.generator.analysis.review import load_plan

    stacks: list[StackDiff] = []
    seen: dict[str, str] = {}
    for source in sources:
        result = diff_stack(load_plan(source), "<stdin>" if source == "-" else source, table)
        if result.stack in seen:
            raise UserError(
                f"{seen[result.stack]} and {source} are both plans of stack {result.stack}: its change would be "
                "counted twice",
                file=source,
                hint="give each stack's plan once (the newest), e.g. cdktf.out/stacks/*/*.tfplan.json",
            )
        seen[result.stack] = source
        stacks.append(result)
    return Diff(table.currency, stacks, table)
