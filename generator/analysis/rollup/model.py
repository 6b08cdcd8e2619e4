"""The roll-up's model: a fleet's stacks, each with what it is grouped by and its budget, summed into groups.

A figure is two numbers, never one: the sum of what is priced and how many items are not priced. An
item without a price is never counted as 0, so a group whose every item is unpriced is "not priced",
and a group under its budget with items not priced is under only "so far".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

# labels every stack carries that are not grouped as labels: the member (use-case), the team (its own
# roll-up) and the constant managed-by
NOT_GROUPED_LABELS = ("managed-by", "team", "use-case")

Status = Literal["over", "under", "unknown", "no_budget", "other_currency"]
CENT = 0.005


@dataclass(frozen=True)
class Amount:
    """Monthly figures summed: the priced part, how many priced items made it, and how many had no price."""

    priced: float = 0.0
    priced_items: int = 0
    not_priced: int = 0

    def __add__(self, other: Amount) -> Amount:
        return Amount(
            self.priced + other.priced, self.priced_items + other.priced_items, self.not_priced + other.not_priced
        )

    @property
    def figure(self) -> float | None:
        """The priced sum; None ("not priced") when there are items and not one of them has a price."""
        return None if self.priced_items == 0 and self.not_priced else self.priced


def total(amounts: Iterable[Amount]) -> Amount:
    out = Amount()
    for amount in amounts:
        out += amount
    return out


def of_lines(monthly: Iterable[float | None]) -> Amount:
    """The Amount of an estimate's lines (cost.Line.monthly: None is not priced)."""
    out = Amount()
    for value in monthly:
        out += Amount(0.0, 0, 1) if value is None else Amount(value, 1, 0)
    return out


@dataclass(frozen=True)
class Budget:
    """A stack's monthly billing budget as its config declares it; currency None is the billing account's."""

    amount: float
    currency: str | None

    def comparable(self, currency: str) -> bool:
        """Whether the estimate (in `currency`) can be set against it: a budget in another currency cannot.

        One without a currency is in the billing account's, taken to be the estimate's (said in the output)."""
        return self.currency is None or self.currency == currency


def declared_budget(budget: Mapping[str, object]) -> Budget | None:
    """The budget of a resolved environment's settings (`budget`), None when it has none (off, or no amount);
    the same rule cost.compare_budget applies."""
    amount = budget.get("amount")
    if not budget.get("enabled", True) or not isinstance(amount, int | float):
        return None
    currency = budget.get("currency")
    return Budget(float(amount), str(currency) if currency else None)


@dataclass(frozen=True)
class StackFacts:
    """One stack of a fleet: the member it belongs to and what it is grouped by."""

    stack: str
    member: str
    environment: str
    region: str
    team: str  # the `team` cost label the stack carries: what the bill groups its spend by
    labels: Mapping[str, str]  # the cost labels that are grouped (NOT_GROUPED_LABELS left out)
    budget: Budget | None


def stack_facts(member: str, stack: str, environment: str, region: str, settings: Mapping[str, object]) -> StackFacts:
    """A stack's facts from its resolved settings: the labels every resource of it carries, and its budget."""
    raw = settings.get("labels")
    labels = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}
    budget = settings.get("budget")
    return StackFacts(
        stack=stack,
        member=member,
        environment=environment,
        region=region,
        team=labels.get("team", ""),
        labels={k: v for k, v in sorted(labels.items()) if k not in NOT_GROUPED_LABELS},
        budget=declared_budget(budget) if isinstance(budget, Mapping) else None,
    )


@dataclass(frozen=True)
class StackCost:
    """A stack's facts and its estimate: the total and each capability's."""

    facts: StackFacts
    estimate: Amount
    by_capability: Mapping[str, Amount]


def status(estimate: Amount, budget: float) -> Status:
    """Over when the priced part alone passes the budget (what is not priced only adds to it); under when
    everything is priced and it does not; unknown when it does not, so far, with items not priced."""
    if estimate.priced > budget + CENT:
        return "over"
    return "unknown" if estimate.not_priced else "under"


@dataclass(frozen=True)
class BudgetCheck:
    """One stack's estimate against its own budget."""

    stack: str
    member: str
    estimate: Amount
    budget: Budget | None
    currency: str  # the estimate's

    @property
    def status(self) -> Status:
        if self.budget is None:
            return "no_budget"
        if not self.budget.comparable(self.currency):
            return "other_currency"
        return status(self.estimate, self.budget.amount)

    @property
    def difference(self) -> float | None:
        """The priced estimate minus the budget (over: positive); None without a comparable budget."""
        if self.budget is None or not self.budget.comparable(self.currency):
            return None
        return self.estimate.priced - self.budget.amount


@dataclass(frozen=True)
class GroupBudget:
    """A group's stacks against their budgets: the budgets summed (those in the estimate's currency), and
    the estimate of the stacks they belong to, like with like; the other stacks named apart."""

    amount: float
    estimate: Amount  # of the budgeted stacks only
    budgeted: tuple[str, ...]
    without: tuple[str, ...]  # stacks with no budget
    other_currency: tuple[str, ...]  # stacks whose budget is in another currency than the estimate
    over: tuple[str, ...]  # budgeted stacks over their own budget (a group under its sum may hide one)

    @property
    def status(self) -> Status:
        if not self.budgeted:
            return "other_currency" if self.other_currency else "no_budget"
        return status(self.estimate, self.amount)

    @property
    def difference(self) -> float | None:
        return self.estimate.priced - self.amount if self.budgeted else None


def group_budget(checks: Sequence[BudgetCheck]) -> GroupBudget:
    comparable = [c for c in checks if c.status not in ("no_budget", "other_currency")]
    return GroupBudget(
        amount=sum(c.budget.amount for c in comparable if c.budget is not None),
        estimate=total(c.estimate for c in comparable),
        budgeted=tuple(c.stack for c in comparable),
        without=tuple(c.stack for c in checks if c.status == "no_budget"),
        other_currency=tuple(c.stack for c in checks if c.status == "other_currency"),
        over=tuple(c.stack for c in comparable if c.status == "over"),
    )


@dataclass(frozen=True)
class Group:
    """The stacks that share one value of a key (a team, a label's value, a capability), summed.

    `value` None: the stacks that do not carry the label. `budget` None for a capability: a budget is a
    stack's, not a capability's."""

    key: str  # "member", "team", "label", "capability"
    name: str  # the label's key for a label group, else the key
    value: str | None
    stacks: tuple[str, ...]
    members: tuple[str, ...]
    estimate: Amount
    budget: GroupBudget | None = None


@dataclass(frozen=True)
class CostRollup:
    fleet: str
    file: str
    currency: str
    stacks: tuple[BudgetCheck, ...]  # in the fleet file's order
    members: tuple[Group, ...]  # in the fleet file's order
    teams: tuple[Group, ...]  # the groups below sorted by their value
    labels: tuple[Group, ...]  # by the label's key, then its value (the stacks without it last)
    capabilities: tuple[Group, ...]
    fleet_budget: GroupBudget
    total: Amount = field(default_factory=Amount)


def grouped(items: Sequence[StackCost], value: Callable[[StackCost], str | None]) -> dict[str | None, list[StackCost]]:
    """The items by `value`, each group in the items' order, the groups in first-seen order."""
    out: dict[str | None, list[StackCost]] = {}
    for item in items:
        out.setdefault(value(item), []).append(item)
    return out


def _sorted_values(values: Iterable[str | None]) -> list[str | None]:
    """Values sorted, None (the label not set) last."""
    return sorted(values, key=lambda v: (v is None, v or ""))


def _group(
    key: str, name: str, value: str | None, items: Sequence[StackCost], checks: Mapping[str, BudgetCheck]
) -> Group:
    return Group(
        key=key,
        name=name,
        value=value,
        stacks=tuple(i.facts.stack for i in items),
        members=tuple(dict.fromkeys(i.facts.member for i in items)),
        estimate=total(i.estimate for i in items),
        budget=group_budget([checks[i.facts.stack] for i in items]),
    )


def groups_by(
    key: str, items: Sequence[StackCost], checks: Mapping[str, BudgetCheck], ordered: bool = True
) -> tuple[Group, ...]:
    """One Group per member or team (`key`), sorted by value unless `ordered` is False (the items' order)."""
    found = grouped(items, (lambda i: i.facts.member) if key == "member" else (lambda i: i.facts.team))
    values = _sorted_values(found) if ordered else list(found)
    return tuple(_group(key, key, v, found[v], checks) for v in values)


def _label_of(name: str) -> Callable[[StackCost], str | None]:
    return lambda item: item.facts.labels.get(name)


def label_groups(items: Sequence[StackCost], checks: Mapping[str, BudgetCheck]) -> tuple[Group, ...]:
    """Per label key any stack carries, a Group per value and one for the stacks without it: each key's
    groups together hold every stack once, so they add up to the fleet."""
    keys = sorted({k for i in items for k in i.facts.labels})
    out: list[Group] = []
    for name in keys:
        found = grouped(items, _label_of(name))
        out.extend(_group("label", name, v, found[v], checks) for v in _sorted_values(found))
    return tuple(out)


def capability_groups(items: Sequence[StackCost]) -> tuple[Group, ...]:
    """Per capability, its lines summed over the stacks that have any (no budget: a budget is a stack's)."""
    ids = sorted({c for i in items for c in i.by_capability})
    out = []
    for cap in ids:
        having = [i for i in items if cap in i.by_capability]
        out.append(
            Group(
                key="capability",
                name="capability",
                value=cap,
                stacks=tuple(i.facts.stack for i in having),
                members=tuple(dict.fromkeys(i.facts.member for i in having)),
                estimate=total(i.by_capability[cap] for i in having),
            )
        )
    return tuple(out)


def cost_rollup(fleet: str, file: str, currency: str, items: Sequence[StackCost]) -> CostRollup:
    """The roll-ups of a fleet's estimated stacks (given in the fleet file's order)."""
    checks = {
        i.facts.stack: BudgetCheck(i.facts.stack, i.facts.member, i.estimate, i.facts.budget, currency) for i in items
    }
    return CostRollup(
        fleet=fleet,
        file=file,
        currency=currency,
        stacks=tuple(checks.values()),
        members=groups_by("member", items, checks, ordered=False),
        teams=groups_by("team", items, checks),
        labels=label_groups(items, checks),
        capabilities=capability_groups(items),
        fleet_budget=group_budget(list(checks.values())),
        total=total(i.estimate for i in items),
    )
