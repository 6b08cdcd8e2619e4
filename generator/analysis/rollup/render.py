"""The roll-ups as data (`--format json|yaml`) and as text, for `tierstack cost FLEET` and `explain FLEET`.

Every figure is shown with what is not priced beside it ("487.58 + 2 not priced"), and a group with
nothing priced says "not priced", never 0.00; the data gives `estimate` (null: not priced) and
`not_priced` (a count) side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tierstack.generator.analysis.rollup.explain import Declared, DeclaredGroup, ExplainRollup, budget_data
from tierstack.generator.analysis.rollup.model import (
    Amount,
    Budget,
    BudgetCheck,
    CostRollup,
    Group,
    GroupBudget,
    Status,
)
from tierstack.generator.core.errors import printable

ACCOUNT_NOTE = "a budget without a currency is in the billing account's; it is compared as the estimate's currency"
NOT_PRICED_NOTE = "the estimate is what is priced; items not priced are counted beside it, never as 0"


def _money(amount: float) -> float:
    """Two decimals, never -0.0."""
    return round(amount, 2) + 0.0


# --- cost: data ------------------------------------------------------------------------------------


def amount_data(amount: Amount) -> dict[str, Any]:
    figure = amount.figure
    return {"estimate": None if figure is None else _money(figure), "not_priced": amount.not_priced}


def check_data(check: BudgetCheck) -> dict[str, Any]:
    difference = check.difference
    return {
        "stack": check.stack,
        "member": check.member,
        **amount_data(check.estimate),
        "budget": budget_data(check.budget),
        "status": check.status,
        "difference": None if difference is None else _money(difference),
    }


def group_budget_data(budget: GroupBudget) -> dict[str, Any]:
    difference, estimate = budget.difference, amount_data(budget.estimate)
    return {
        "amount": _money(budget.amount) if budget.budgeted else None,
        "budgeted_estimate": estimate["estimate"] if budget.budgeted else None,
        "budgeted_not_priced": estimate["not_priced"],
        "status": budget.status,
        "difference": None if difference is None else _money(difference),
        "budgeted": list(budget.budgeted),
        "without_budget": list(budget.without),
        "other_currency": list(budget.other_currency),
        "over": list(budget.over),
    }


def group_data(group: Group) -> dict[str, Any]:
    out: dict[str, Any] = {group.key if group.key != "label" else "value": group.value}
    if group.key == "label":
        out = {"label": group.name, **out}
    out |= {"members": list(group.members), "stacks": list(group.stacks), **amount_data(group.estimate)}
    if group.budget is not None:
        out["budget"] = group_budget_data(group.budget)
    return out


def cost_data(rollup: CostRollup) -> dict[str, Any]:
    """The `rollup` of `tierstack cost FLEET --format json`: the fleet, then each view, in a fixed order."""
    return {
        "fleet": rollup.fleet,
        "file": rollup.file,
        "currency": rollup.currency,
        "note": f"{NOT_PRICED_NOTE}; {ACCOUNT_NOTE}",
        **amount_data(rollup.total),
        "budget": group_budget_data(rollup.fleet_budget),
        "stacks": [check_data(c) for c in rollup.stacks],
        "members": [group_data(g) for g in rollup.members],
        "teams": [group_data(g) for g in rollup.teams],
        "labels": [group_data(g) for g in rollup.labels],
        "capabilities": [group_data(g) for g in rollup.capabilities],
    }


# --- cost: text ------------------------------------------------------------------------------------


def figure_text(amount: Amount) -> str:
    """ "487.58", "487.58 + 2 not priced", or "not priced" when nothing of it is."""
    figure = amount.figure
    if figure is None:
        return "not priced"
    return f"{figure:,.2f}" + (f" + {amount.not_priced} not priced" if amount.not_priced else "")


def against_text(status: Status, difference: float | None, not_priced: int) -> str:
    """A figure against its budget, in words: over/under by how much, or why it cannot be said."""
    if status == "no_budget":
        return "no budget"
    if status == "other_currency":
        return "budget in another currency: not compared"
    assert difference is not None
    if status == "over":
        return f"over by {difference:,.2f}" + (f", and {not_priced} not priced" if not_priced else "")
    if status == "unknown":
        return f"under by {-difference:,.2f} so far: {not_priced} not priced"
    return f"under by {-difference:,.2f}"


def _stacks(count: int) -> str:
    return f"{count} stack{'s' if count != 1 else ''}"


def group_against(budget: GroupBudget, named: bool = True) -> str:
    """A group against its budgets. The sum of the budgets is set against the estimate of the stacks that
    have them (like with like), so when some stacks have none, `named` says which stacks are compared."""
    counted = len(budget.budgeted) + len(budget.without) + len(budget.other_currency)
    text = against_text(budget.status, budget.difference, budget.estimate.not_priced)
    if named and budget.budgeted and counted > len(budget.budgeted):
        text = f"its {_stacks(len(budget.budgeted))} with a budget: {text}"
    if budget.without and counted > len(budget.without):
        text += f"; {len(budget.without)} of {counted} without a budget"
    if budget.other_currency and counted > len(budget.other_currency):
        text += f"; {len(budget.other_currency)} of {counted} budgeted in another currency"
    if budget.over and budget.status != "over":
        text += f"; over its own budget: {', '.join(budget.over)}"
    return text


def budget_text(budget: Budget | None, currency: str) -> str:
    if budget is None:
        return "-"
    if budget.currency is None:
        return f"{budget.amount:,.2f}*"
    return f"{budget.amount:,.2f}" + (f" {budget.currency}" if budget.currency != currency else "")


def _table(title: str, rows: Sequence[Sequence[str]], heads: Sequence[str], right: int) -> list[str]:
    """Rows under a title: the first column left-aligned, the next `right` right-aligned, the rest left."""
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    lines = [title]
    for row in [heads, *rows]:
        cells = [cell.ljust(widths[i]) if i == 0 or i > right else cell.rjust(widths[i]) for i, cell in enumerate(row)]
        lines.append(("  " + "  ".join(cells)).rstrip())
    return [*lines, ""]


def _group_rows(groups: Sequence[Group], currency: str) -> list[list[str]]:
    rows = []
    for g in groups:
        budget = g.budget
        shown = "-" if budget is None or not budget.budgeted else f"{budget.amount:,.2f}"
        rows.append(
            [
                g.value if g.value is not None else "(not set)",
                str(len(g.stacks)),
                figure_text(g.estimate),
                shown,
                group_against(budget) if budget is not None else "",
            ]
        )
    return rows


GROUP_HEADS = ("", "stacks", "estimate", "budget", "against the budget")


def cost_text(rollup: CostRollup) -> str:
    cur = rollup.currency
    out = [f"Roll-ups of fleet {rollup.fleet} ({rollup.file}), {cur} a month: {NOT_PRICED_NOTE}.", ""]
    stack_rows = [
        [
            c.stack,
            figure_text(c.estimate),
            budget_text(c.budget, cur),
            against_text(c.status, c.difference, c.estimate.not_priced),
        ]
        for c in rollup.stacks
    ]
    out += _table("per stack, against its budget", stack_rows, ("stack", "estimate", "budget", "against the budget"), 2)
    out += _table("per member", _group_rows(rollup.members, cur), ("member", *GROUP_HEADS[1:]), 3)
    out += _table("per team", _group_rows(rollup.teams, cur), ("team", *GROUP_HEADS[1:]), 3)
    for name in dict.fromkeys(g.name for g in rollup.labels):
        rows = _group_rows([g for g in rollup.labels if g.name == name], cur)
        out += _table(f"per label {name}", rows, (name, *GROUP_HEADS[1:]), 3)
    capability_rows = [
        [g.value or "", str(len(g.stacks)), str(len(g.members)), figure_text(g.estimate)] for g in rollup.capabilities
    ]
    out += _table("per capability", capability_rows, ("capability", "stacks", "members", "estimate"), 3)
    fleet = rollup.fleet_budget
    out.append(f"fleet {rollup.fleet}: {cur} {figure_text(rollup.total)} a month; " + _fleet_budget_text(fleet, cur))
    if fleet.without:
        out.append(f"without a budget: {', '.join(fleet.without)}")
    if any(c.budget is not None and c.budget.currency is None for c in rollup.stacks):
        out.append(f"* {ACCOUNT_NOTE} ({cur})")
    return printable("\n".join(out) + "\n")  # a description, a path: shown, never obeyed


def _fleet_budget_text(budget: GroupBudget, currency: str) -> str:
    if not budget.budgeted:
        return "no stack has a budget in " + currency if budget.other_currency else "no stack has a budget"
    return (
        f"budgets {currency} {budget.amount:,.2f} over {_stacks(len(budget.budgeted))}, whose estimate is "
        f"{figure_text(budget.estimate)}: {group_against(budget, named=False)}"
    )


# --- explain -----------------------------------------------------------------------------------------


def declared_data(budgets: Declared) -> dict[str, Any]:
    return {
        "amounts": [{"currency": c, "amount": _money(a)} for c, a in budgets.amounts.items()],
        "budgeted": list(budgets.budgeted),
        "without_budget": list(budgets.without),
    }


def _declared_group_data(group: DeclaredGroup) -> dict[str, Any]:
    head: dict[str, Any] = {"team": group.value} if group.key == "team" else {"label": group.name, "value": group.value}
    return {
        **head,
        "members": list(group.members),
        "stacks": list(group.stacks),
        "capabilities": list(group.capabilities),
        "budgets": declared_data(group.budgets),
    }


def explain_data(rollup: ExplainRollup) -> dict[str, Any]:
    """`tierstack explain FLEET --format json`: the members, then each view, in a fixed order."""
    return {
        "fleet": rollup.fleet,
        "file": rollup.file,
        "description": rollup.description,
        "note": f"budgets as each member's config declares them; {ACCOUNT_NOTE.split(';')[0]}",
        "members": [
            {
                "name": m.name,
                "team": m.team,
                "tier": m.tier,
                "blueprint": list(m.blueprint),
                "capabilities": list(m.capabilities),
                "stacks": [
                    {
                        "stack": s.stack,
                        "environment": s.environment,
                        "region": s.region,
                        "labels": dict(s.labels),
                        "budget": budget_data(s.budget),
                    }
                    for s in m.stacks
                ],
            }
            for m in rollup.members
        ],
        "teams": [_declared_group_data(g) for g in rollup.teams],
        "labels": [_declared_group_data(g) for g in rollup.labels],
        "capabilities": [
            {
                "id": c.capability,
                "name": c.name,
                "members": list(c.members),
                "reasons": [{"reason": text, "members": list(names)} for text, names in c.reasons],
            }
            for c in rollup.capabilities
        ],
        "not_selected": list(rollup.not_selected),
        "budgets": declared_data(rollup.budgets),
    }


def declared_text(budgets: Declared) -> str:
    """ "USD 1,300.00 over 2 stacks; 4 without", the amounts per currency as declared."""
    if not budgets.budgeted:
        return "no budget"
    sums = ", ".join(_sum_text(currency, amount) for currency, amount in budgets.amounts.items())
    count = len(budgets.budgeted)
    text = f"{sums} a month over {count} stack{'s' if count != 1 else ''}"
    return text + (f"; {len(budgets.without)} without" if budgets.without else "")


def _sum_text(currency: str | None, amount: float) -> str:
    return f"{currency} {amount:,.2f}" if currency else f"{amount:,.2f} in the billing account's currency"


SHOWN_NAMES = 8  # in a row of text; the data lists every member


def _names(names: Sequence[str], of: int) -> str:
    """ "2 of 3: churn-us, churn-de", "all 3", or the first few of a long list and how many more."""
    if len(names) >= of:
        return f"all {of}"
    more = len(names) - SHOWN_NAMES
    shown = ", ".join(names[:SHOWN_NAMES]) + (f" and {more} more" if more > 0 else "")
    return f"{len(names)} of {of}: {shown}"


def _declared_rows(groups: Sequence[DeclaredGroup], total: int) -> list[list[str]]:
    return [
        [g.value if g.value is not None else "(not set)", _names(g.members, total), declared_text(g.budgets)]
        for g in groups
    ]


def explain_text(rollup: ExplainRollup) -> str:
    count = len(rollup.members)
    stacks = sum(len(m.stacks) for m in rollup.members)
    out = [f"Fleet {rollup.fleet} ({rollup.file}): {count} members, {stacks} stacks"]
    out += [rollup.description, ""] if rollup.description else [""]
    member_rows = [
        [
            m.name,
            m.team,
            str(m.tier),
            ", ".join(f"{s.environment} {s.region}" for s in m.stacks),
            "; ".join(f"{s.environment} {_stack_budget(s.budget)}" for s in m.stacks),
        ]
        for m in rollup.members
    ]
    out += _table("members", member_rows, ("member", "team", "tier", "environments", "budgets"), 0)
    out += _table("per team", _declared_rows(rollup.teams, count), ("team", "members", "budgets"), 0)
    for name in dict.fromkeys(g.name for g in rollup.labels):
        rows = _declared_rows([g for g in rollup.labels if g.name == name], count)
        out += _table(f"per label {name}", rows, (name, "members", "budgets"), 0)
    out.append("per capability: the members that select it, and why")
    for cap in rollup.capabilities:
        out.append(f"  {cap.capability} — {cap.name}: {_names(cap.members, count)}")
        out += [f"    because {text} ({_names(names, count)})" for text, names in cap.reasons]
    if rollup.not_selected:
        out.append(f"  not selected by any member: {', '.join(rollup.not_selected)}")
    out.append("")
    out.append(f"budgets of the fleet: {declared_text(rollup.budgets)}")
    if rollup.budgets.without:
        out.append(f"without a budget: {', '.join(rollup.budgets.without)}")
    out.append(f"the estimate against them: tierstack cost {rollup.file}")
    return printable("\n".join(out) + "\n")  # a description, a path: shown, never obeyed


def _stack_budget(budget: Budget | None) -> str:
    if budget is None:
        return "none"
    return _sum_text(budget.currency, budget.amount)
