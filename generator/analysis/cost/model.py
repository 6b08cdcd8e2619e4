"""The estimate's model: a Resource to price, a priced Line (or one not priced, with why), a StackEstimate of
lines with its totals by capability and by kind (always on, usage), and the Estimate of every stack with its
JSON-ready data. What is not priced is None and named beside the figures, never counted as zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tierstack.generator.analysis.cost.prices import PriceTable

ESTIMATE_NOTE = (
    "An estimate, not a quote: on-demand list prices in USD for what the stacks keep running, plus "
    "usage the price table assumes. Your bill depends on use, discounts, taxes and your billing currency."
)

ACCOUNT_CURRENCY = "the billing account's"  # a budget's currency when tierstack.yaml gives none


@dataclass(frozen=True)
class Resource:
    address: str
    type: str
    values: Mapping[str, Any]
    capability: str


@dataclass(frozen=True)
class Line:
    address: str
    capability: str
    what: str  # "deployment pool: 2 × n1-standard-4 node × 729.6 h"
    always_on: bool
    monthly: float | None  # None: not priced
    not_priced: str | None = None  # why, in a short sentence for the person reading the estimate
    assumption: str | None = None
    sources: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()  # prices or resource types the table has no entry for: a gap to fill
    left_out: bool = False  # not priced on purpose: a type the table's `excluded` list names
    catalog_may_price: bool = False  # a price missing here that a Cloud Billing Catalog rule can look up

    @property
    def why_not_priced(self) -> str:
        """The reason shown beside a line that is not priced."""
        return self.not_priced or ""

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "address": self.address,
            "capability": self.capability,
            "what": self.what,
            "always_on": self.always_on,
            "monthly": None if self.monthly is None else round(self.monthly, 2),
        }
        for key in ("not_priced", "assumption"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.left_out:
            data["left_out"] = True
        if self.sources:
            data["sources"] = list(self.sources)
        return data


@dataclass
class StackEstimate:
    stack: str
    environment: str
    region: str
    lines: list[Line]
    budget: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def total(self, always_on: bool | None = None) -> float:
        return sum(line.monthly or 0.0 for line in self.lines if always_on is None or line.always_on == always_on)

    @property
    def baseline(self) -> float:
        return self.total(always_on=True)

    @property
    def not_priced(self) -> list[Line]:
        return [line for line in self.lines if line.monthly is None]

    def by_capability(self) -> dict[str, float | None]:
        """The priced lines' sum per capability; None where no line of it is priced (never a zero)."""
        out: dict[str, float | None] = {}
        for line in self.lines:
            so_far = out.get(line.capability)
            if line.monthly is None:
                out.setdefault(line.capability, None)
            else:
                out[line.capability] = (so_far or 0.0) + line.monthly
        return dict(sorted(out.items()))

    def not_priced_by_capability(self) -> dict[str, int]:
        """How many lines of each capability are not priced (only capabilities with one)."""
        out: dict[str, int] = {}
        for line in self.not_priced:
            out[line.capability] = out.get(line.capability, 0) + 1
        return dict(sorted(out.items()))

    def capability_figure(self, capability: str) -> str:
        """The capability's figure as shown: "218.88", "218.88 + 1 item not priced" or "not priced"."""
        amount = self.by_capability().get(capability)
        unpriced = self.not_priced_by_capability().get(capability, 0)
        if amount is None:
            return "not priced"
        return f"{amount:,.2f}" + (f" + {items_not_priced(unpriced)}" if unpriced else "")

    def total_text(self, currency: str) -> str:
        """The stack's total as shown wherever it is: what is not priced is named beside it."""
        return f"{currency} {self.total():,.2f} a month" + (
            f" + {items_not_priced(len(self.not_priced))}" if self.not_priced else ""
        )


def items_not_priced(count: int) -> str:
    return f"{count} item{'s' if count != 1 else ''} not priced"


@dataclass
class Estimate:
    currency: str
    stacks: list[StackEstimate]
    table: PriceTable

    @property
    def catalog_may_price(self) -> int:
        """How many lines not priced the Cloud Billing Catalog may price (its rules cover them; table prices only)."""
        return sum(1 for s in self.stacks for line in s.not_priced if line.catalog_may_price)

    def catalog_hint(self) -> str | None:
        """Said once, below the lines, rather than beside each: where the missing prices may be found."""
        count = self.catalog_may_price
        if not count:
            return None
        return (
            f"{items_not_priced(count)} may have a price in Google's Cloud Billing Catalog, which "
            "`tierstack cost --prices catalog` reads (docs/operate.md)"
        )

    def to_data(self) -> dict[str, Any]:
        return {
            "estimate": True,
            "note": ESTIMATE_NOTE,
            "currency": self.currency,
            "hours_per_month": self.table.assumptions.get("hours_per_month"),
            "assumptions": self.table.assumptions,
            "leaves_out": list(self.table.left_out),
            "prices": {
                "origin": self.table.origin,
                "fetched": self.table.fetched,
                "notes": list(self.table.notes),
                "catalog_may_price": self.catalog_may_price,
            },
            "total": round(sum(s.total() for s in self.stacks), 2),
            "not_priced": sum(len(s.not_priced) for s in self.stacks),
            "stacks": [
                {
                    "stack": s.stack,
                    "environment": s.environment,
                    "region": s.region,
                    "total": round(s.total(), 2),
                    "always_on": round(s.baseline, 2),
                    "usage": round(s.total(always_on=False), 2),
                    "by_capability": {k: None if v is None else round(v, 2) for k, v in s.by_capability().items()},
                    "not_priced": len(s.not_priced),
                    "not_priced_by_capability": s.not_priced_by_capability(),
                    "budget": s.budget,
                    "warnings": s.warnings,
                    "lines": [line.to_data() for line in s.lines],
                }
                for s in self.stacks
            ],
        }
