"""`tierstack explain FLEET`: what the members select and why, per team, label and capability, and the
budget each member's environments declare. Read from the resolved plans only: explain of one member
synthesizes its stacks to say what they hold, which for a fleet of 150 would take minutes; the figures
against the budgets are `tierstack cost FLEET`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tierstack.generator.analysis.rollup.model import Budget, StackFacts, stack_facts

if TYPE_CHECKING:
    from tierstack.generator.facts.catalog import Catalog
    from tierstack.generator.plan.resolve import Resolved
    from tierstack.generator.services.fleet import Fleet


@dataclass(frozen=True)
class MemberView:
    name: str
    team: str  # the member's `team` (each stack's `team` label says whom the bill names)
    tier: int
    blueprint: tuple[str, ...]
    capabilities: tuple[str, ...]  # in the plan's order
    stacks: tuple[StackFacts, ...]


def member_view(name: str, plan: Resolved) -> MemberView:
    return MemberView(
        name=name,
        team=plan.loaded.spec.team,
        tier=plan.selection.tier,
        blueprint=tuple(plan.blueprint.chain),
        capabilities=tuple(plan.selection.capabilities),
        stacks=tuple(
            stack_facts(name, env.stack, env.name, env.region, env.settings) for env in plan.environments.values()
        ),
    )


@dataclass(frozen=True)
class Declared:
    """Budgets as the configs declare them, summed per currency (None: the billing account's)."""

    amounts: Mapping[str | None, float]
    budgeted: tuple[str, ...]
    without: tuple[str, ...]


def declared(stacks: Iterable[StackFacts]) -> Declared:
    amounts: dict[str | None, float] = {}
    budgeted, without = [], []
    for facts in stacks:
        if facts.budget is None:
            without.append(facts.stack)
            continue
        amounts[facts.budget.currency] = amounts.get(facts.budget.currency, 0.0) + facts.budget.amount
        budgeted.append(facts.stack)
    ordered = dict(sorted(amounts.items(), key=lambda item: (item[0] is None, item[0] or "")))
    return Declared(ordered, tuple(budgeted), tuple(without))


@dataclass(frozen=True)
class DeclaredGroup:
    key: str  # "team" or "label"
    name: str  # the label's key, or "team"
    value: str | None  # None: the stacks without the label
    members: tuple[str, ...]
    stacks: tuple[str, ...]
    capabilities: tuple[str, ...]  # every capability some member of the group selects, sorted
    budgets: Declared


@dataclass(frozen=True)
class CapabilityView:
    capability: str
    name: str
    members: tuple[str, ...]  # the members that select it, in file order
    reasons: tuple[tuple[str, tuple[str, ...]], ...]  # each reason given, with the members it is given for


@dataclass(frozen=True)
class ExplainRollup:
    fleet: str
    file: str
    description: str
    members: tuple[MemberView, ...]
    teams: tuple[DeclaredGroup, ...]
    labels: tuple[DeclaredGroup, ...]
    capabilities: tuple[CapabilityView, ...]  # selected by some member, in the catalog's order
    not_selected: tuple[str, ...]  # by any member
    budgets: Declared  # the whole fleet's


def _pairs(members: Sequence[MemberView]) -> list[tuple[MemberView, StackFacts]]:
    return [(m, s) for m in members for s in m.stacks]


def _declared_group(
    key: str, name: str, value: str | None, pairs: Sequence[tuple[MemberView, StackFacts]]
) -> DeclaredGroup:
    members = list(dict.fromkeys(m.name for m, _ in pairs))
    chosen = {m.name: m for m, _ in pairs}
    return DeclaredGroup(
        key=key,
        name=name,
        value=value,
        members=tuple(members),
        stacks=tuple(s.stack for _, s in pairs),
        capabilities=tuple(sorted({c for n in members for c in chosen[n].capabilities})),
        budgets=declared(s for _, s in pairs),
    )


def _by(
    pairs: Sequence[tuple[MemberView, StackFacts]], value: Callable[[StackFacts], str | None]
) -> dict[str | None, list[tuple[MemberView, StackFacts]]]:
    out: dict[str | None, list[tuple[MemberView, StackFacts]]] = {}
    for pair in pairs:
        out.setdefault(value(pair[1]), []).append(pair)
    return dict(sorted(out.items(), key=lambda item: (item[0] is None, item[0] or "")))


def _label_of(name: str) -> Callable[[StackFacts], str | None]:
    return lambda facts: facts.labels.get(name)


def declared_groups(members: Sequence[MemberView]) -> tuple[tuple[DeclaredGroup, ...], tuple[DeclaredGroup, ...]]:
    """Per team (the stacks' `team` label) and per label value (the stacks without it apart), sorted."""
    pairs = _pairs(members)
    teams = tuple(_declared_group("team", "team", v, p) for v, p in _by(pairs, lambda s: s.team).items())
    labels = [
        _declared_group("label", name, v, p)
        for name in sorted({k for _, s in pairs for k in s.labels})
        for v, p in _by(pairs, _label_of(name)).items()
    ]
    return teams, tuple(labels)


def capability_views(plans: Sequence[tuple[str, Resolved]], catalog: Catalog) -> tuple[CapabilityView, ...]:
    """Each capability some member selects, the members selecting it and the reasons, in the catalog's order."""
    out = []
    for cap in catalog.ids:
        reasons: dict[str, list[str]] = {}
        having = []
        for name, plan in plans:
            given = plan.selection.capabilities.get(cap)
            if given is None:
                continue
            having.append(name)
            for reason in given:
                reasons.setdefault(reason.text(), []).append(name)
        if having:
            listed = tuple((text, tuple(names)) for text, names in reasons.items())
            out.append(CapabilityView(cap, catalog.capability(cap).name, tuple(having), listed))
    return tuple(out)


def explain_rollup(fleet: Fleet, catalog: Catalog) -> ExplainRollup:
    """The roll-ups of a fleet whose members are all resolved (read.resolved_fleet)."""
    plans = [(m.name or m.label, m.resolved) for m in fleet.members if m.resolved is not None]
    members = tuple(member_view(name, plan) for name, plan in plans)
    teams, labels = declared_groups(members)
    capabilities = capability_views(plans, catalog)
    chosen = {c.capability for c in capabilities}
    return ExplainRollup(
        fleet=fleet.name,
        file=fleet.shown,
        description=fleet.description,
        members=members,
        teams=teams,
        labels=labels,
        capabilities=capabilities,
        not_selected=tuple(c for c in catalog.ids if c not in chosen),
        budgets=declared(s for m in members for s in m.stacks),
    )


def budget_data(budget: Budget | None) -> dict[str, object] | None:
    """A stack's declared budget as data: its amount and currency (null: the billing account's)."""
    return None if budget is None else {"amount": budget.amount, "currency": budget.currency}
