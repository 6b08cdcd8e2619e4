"""The estimate and the plans' cost change as text for the terminal: each stack's lines and figures, its
totals by capability, budget and warnings, then the table's assumptions, what it leaves out and where its
prices come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tierstack.generator.analysis.cost.model import ACCOUNT_CURRENCY, ESTIMATE_NOTE, Estimate, items_not_priced
from tierstack.generator.analysis.cost.plan_diff import DIFF_NOTE, Diff


def budget_text(budget: Mapping[str, Any]) -> str:
    """A configured budget (StackEstimate.budget) as `cost` prints it, every amount with its currency.

    A budget without a currency is in the billing account's, which tierstack cannot know: said once, in words.
    """
    amount, limit = f"{budget['amount']:,.2f}", f"{budget['first_threshold_amount']:,.2f}"
    given = budget["currency"] if budget["currency"] != ACCOUNT_CURRENCY else None
    threshold = f"first threshold {budget['first_threshold']:.0%}"
    if given:
        return f"budget {given} {amount} a month; {threshold} = {given} {limit}"
    return f"budget {amount} a month in the billing account's currency; {threshold} = {limit}"


def to_text(result: Estimate) -> str:
    cur = result.currency
    lines = [f"Monthly cost estimate ({cur}). {ESTIMATE_NOTE}", ""]
    for s in result.stacks:
        lines.append(f"{s.stack} ({s.region})")
        for line in s.lines:
            figure = f"{line.monthly:>10,.2f}" if line.monthly is not None else f"{'not priced':>10}"
            kind = "always on" if line.always_on else "usage"
            lines.append(f"  {line.capability:<20} {kind:<9} {figure}  {line.what}")
            if line.not_priced:
                lines.append(f"  {'':<20} {'':<9} {'':>10}    ({line.why_not_priced})")
        parts = ", ".join(f"{cap} {s.capability_figure(cap)}" for cap in s.by_capability())
        lines.append(f"  in {cur} a month, by capability: {parts}")
        usage = s.total(always_on=False)
        lines.append(f"  total {s.total_text(cur)} (always on {cur} {s.baseline:,.2f}, usage {cur} {usage:,.2f})")
        budget = s.budget
        if budget.get("configured"):
            lines.append(f"  {budget_text(budget)}")
        else:
            lines.append("  no budget configured")
        lines.extend(f"  warning: {w}" for w in s.warnings)
        lines.append("")
    total = sum(s.total() for s in result.stacks)
    unpriced = sum(len(s.not_priced) for s in result.stacks)
    lines.append(f"all stacks: {cur} {total:,.2f} a month" + (f" + {items_not_priced(unpriced)}" if unpriced else ""))
    assumptions = ", ".join(f"{k} = {v:g}" for k, v in result.table.assumptions.items())
    lines.append(f"assumptions: {assumptions} (generator/data/prices.yaml)")
    lines.append("leaves out: " + "; ".join(result.table.left_out))
    lines.append(f"prices: {result.table.origin}")
    lines.extend(f"note: {note}" for note in result.table.notes)
    hint = result.catalog_hint()
    if hint:
        lines.append(f"note: {hint}")
    return "\n".join(lines) + "\n"


def _signed(amount: float) -> str:
    """+12.50, -3.00, or 0.00 (never -0.00)."""
    return "0.00" if abs(amount) < 0.005 else f"{amount:+,.2f}"


def _figure(amount: float | None) -> str:
    return "not priced" if amount is None else f"{amount:,.2f}"


def diff_to_text(result: Diff) -> str:
    cur = result.currency
    lines = [f"Monthly cost change ({cur}) of the plans, per stack and capability. {ESTIMATE_NOTE} {DIFF_NOTE}", ""]
    for s in result.stacks:
        lines.append(f"{s.stack} ({s.region or 'no default region'}; {s.source})")
        changed = [c for c in s.capabilities if c.changed]
        if not changed:
            lines.append(f"  no change to the monthly cost: {cur} {s.before:,.2f} a month before and after")
            lines.append("")
            continue
        width = max(20, *(len(c.capability) for c in changed))
        lines.append(f"  {'capability':<{width}} {'before':>12} {'after':>12} {'change':>12}  not priced")
        for c in changed:
            change = "not priced" if c.change is None else _signed(c.change)
            count = f"{len(c.not_priced):>10}" if c.not_priced else ""
            figures = f"{_figure(c.before):>12} {_figure(c.after):>12} {change:>12}"
            lines.append(f"  {c.capability:<{width}} {figures}  {count}".rstrip())
        count = f"{len(s.not_priced):>10}" if s.not_priced else ""
        lines.append(
            f"  {'total':<{width}} {s.before:>12,.2f} {s.after:>12,.2f} {_signed(s.change):>12}  {count}".rstrip()
        )
        if s.not_priced:
            lines.append("  not priced (left out of the figures above):")
            for ch in s.not_priced:
                lines.append(f"    {ch.capability}: {ch.address}, {ch.action}: {ch.not_priced}")
        unchanged = [c.capability for c in s.capabilities if not c.changed]
        if unchanged:
            lines.append(f"  unchanged: {', '.join(unchanged)}")
        lines.append("")
    unpriced = sum(len(s.not_priced) for s in result.stacks)
    change = _signed(result.after - result.before)
    lines.append(
        f"all plans: {cur} {result.before:,.2f} -> {cur} {result.after:,.2f} a month ({change})"
        + (f" + {items_not_priced(unpriced)}" if unpriced else "")
    )
    assumptions = ", ".join(f"{k} = {v:g}" for k, v in result.table.assumptions.items())
    lines.append(f"assumptions: {assumptions} (generator/data/prices.yaml)")
    lines.append("leaves out: " + "; ".join(result.table.left_out))
    lines.append(f"prices: {result.table.origin}")
    lines.extend(f"note: {note}" for note in result.table.notes)
    return "\n".join(lines) + "\n"
