"""The review's model: changes, drift, outputs and cost per stack, a Review of stacks, and its verdict."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tierstack.generator.config.freeze import FreezeCheck
from tierstack.generator.facts.resource_types import holds_data

COUNTED = ("create", "update", "replace", "delete", "import", "move", "forget")


# the capabilities every stack gets (DESIGN.md); the others are read from the `capability` label


OTHER = "other"


MAX_VALUE = 80  # characters of a value shown in a table


@dataclass(frozen=True)
class AttributeChange:
    """One attribute's change, as shown to a reviewer: its path and its values in words."""

    path: str
    before: str
    after: str


@dataclass(frozen=True)
class Change:
    """A planned change to one resource instance."""

    address: str
    type: str
    capability: str
    kind: str  # create, update, replace, delete, forget, create-forget, no-op
    actions: tuple[str, ...]
    previous_address: str | None = None
    import_id: str | None = None
    action_reason: str | None = None
    replace_paths: tuple[str, ...] = ()
    attributes: tuple[AttributeChange, ...] = ()
    more_attributes: int = 0  # attribute changes beyond MAX_ATTRIBUTES, not listed
    recomputed: int = 0  # computed attributes a replacement makes unknown again, not listed
    losses: tuple[str, ...] = ()  # what an in-place update loses (generator/data/resource_types.yaml)

    @property
    def moved(self) -> bool:
        return self.previous_address is not None and self.previous_address != self.address

    @property
    def destructive(self) -> bool:
        """Terraform would destroy the object (a delete, or a replacement in either order)."""
        return "delete" in self.actions

    @functools.cached_property
    def data_at_risk(self) -> str | None:  # asked by every rendering and the verdict: computed once
        """What is lost: a resource that holds data (or of a type tierstack does not know) destroyed, or an
        in-place update that loses data (a column dropped, a retention shortened); None otherwise."""
        if self.destructive:
            return holds_data(self.type)
        return "; ".join(self.losses) if self.losses else None

    @functools.cached_property
    def counted(self) -> tuple[str, ...]:
        """The COUNTED categories this change falls in (a moved, imported update is all three)."""
        kinds = {"create-forget": ("create", "forget"), "no-op": ()}.get(self.kind, (self.kind,))
        return (*kinds, *(("import",) if self.import_id is not None else ()), *(("move",) if self.moved else ()))


@dataclass(frozen=True)
class Drift:
    """A resource that changed outside Terraform, in the attributes this plan depends on."""

    address: str
    type: str
    capability: str
    kind: str  # update (changed) or delete (gone)
    attributes: tuple[AttributeChange, ...]


@dataclass(frozen=True)
class OutputChange:
    name: str
    kind: str
    before: str
    after: str


@dataclass(frozen=True)
class CostChange:
    """A resource whose estimated monthly cost changes, or one the price table cannot price whose change may."""

    address: str
    capability: str
    action: str  # in words, as the other sections say it
    before: float | None  # None: absent before the plan, or not priced (see not_priced)
    after: float | None  # None: absent after it, or not priced
    present_before: bool
    present_after: bool
    not_priced: str | None = None  # why the table cannot price it

    @property
    def delta(self) -> float | None:
        return None if self.not_priced else (self.after or 0.0) - (self.before or 0.0)


@dataclass(frozen=True)
class StackCost:
    """A plan's estimated monthly cost, before and after, over the resources priced on both sides.

    A resource the table cannot price before or after the plan is left out of both figures and listed
    in `changes` with the reason, so the delta compares like with like.
    """

    currency: str
    before: float
    after: float
    changes: tuple[CostChange, ...]

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def shown(self) -> bool:
        """Something priced changes, or something not priced is created, destroyed or changed."""
        return bool(self.changes)

    @property
    def priced(self) -> tuple[CostChange, ...]:
        return tuple(c for c in self.changes if not c.not_priced)

    @property
    def not_priced(self) -> tuple[CostChange, ...]:
        return tuple(c for c in self.changes if c.not_priced)


@dataclass(frozen=True)
class StackReview:
    """One plan: the stack it is for and what it would do."""

    stack: str
    source: str
    environment: str | None
    terraform_version: str
    changes: tuple[Change, ...]
    drift: tuple[Drift, ...] = ()
    drift_not_relevant: int = 0  # drifted resources whose changes this plan does not depend on
    outputs: tuple[OutputChange, ...] = ()
    errored: bool = False
    refresh_only: bool = False  # `terraform plan -refresh-only`: applying it rewrites the state to the drift
    incomplete: tuple[str, ...] = ()  # why applying this plan is not the whole change (-target, deferred)
    cost: StackCost | None = None  # None: not estimated

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    @functools.cached_property
    def _counts(self) -> dict[str, int]:
        return count(self.changes)

    @property
    def has_changes(self) -> bool:
        """Applying this plan would do something: change a resource, its address or state, or an output.

        A refresh-only plan with drift changes the state: a freeze blocks it like any other change.
        """
        return any(c.counted for c in self.changes) or bool(self.outputs) or (self.refresh_only and bool(self.drift))


@dataclass(frozen=True)
class Review:
    stacks: tuple[StackReview, ...]
    freeze: FreezeCheck | None = None

    @property
    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys(COUNTED, 0)
        for stack in self.stacks:
            for kind, n in stack.counts.items():
                totals[kind] += n
        return totals

    @property
    def destructive(self) -> list[tuple[StackReview, Change]]:
        return [(s, c) for s in self.stacks for c in s.changes if c.destructive]

    @property
    def at_risk(self) -> list[tuple[StackReview, Change]]:
        """The changes that lose data: destroyed data, in-place updates that lose data; prod stacks first."""
        found = [(s, c) for s in self.stacks for c in s.changes if c.data_at_risk]
        return sorted(found, key=lambda sc: not is_prod(sc[0]))

    @property
    def incomplete(self) -> list[StackReview]:
        return [s for s in self.stacks if s.incomplete]

    @property
    def approval_required(self) -> bool:
        """Data at risk, or a plan that is not the whole change (-target, deferred): `review` exits 3."""
        return bool(self.at_risk) or bool(self.incomplete)

    @property
    def blocked(self) -> bool:
        """A change freeze is on for a stack with changes, and nobody overrode it."""
        return self.freeze is not None and self.freeze.blocked

    def verdict(self) -> str:
        return verdict(self)

    @property
    def costed(self) -> list[tuple[StackReview, StackCost]]:
        """The stacks whose cost section is shown."""
        return [(s, s.cost) for s in self.stacks if s.cost is not None and s.cost.shown]

    def cost_total(self) -> tuple[float, float] | None:
        """(before, after) over every stack's priced resources, when some stack's cost section is shown."""
        if not self.costed:
            return None
        estimated = [s.cost for s in self.stacks if s.cost is not None]
        return sum(c.before for c in estimated), sum(c.after for c in estimated)


def is_prod(stack: StackReview) -> bool:
    return (stack.environment or "").lower() in ("prod", "production") or stack.stack.endswith(("-prod", "-production"))


def count(changes: Iterable[Change]) -> dict[str, int]:
    counts = dict.fromkeys(COUNTED, 0)
    for change in changes:
        for kind in change.counted:
            counts[kind] += 1
    return counts


MISSING = object()


UNKNOWN_TEXT = "(known after apply)"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary(counts: Mapping[str, int]) -> str:
    """'1 to create, 2 to update' (only what is there), or 'no changes'."""
    words = {
        "create": "to create",
        "update": "to update",
        "replace": "to replace",
        "delete": "to destroy",
        "import": "to import",
        "move": "to move",
        "forget": "to forget",
    }
    parts = [f"{counts[k]} {words[k]}" for k in COUNTED if counts.get(k)]
    return ", ".join(parts) if parts else "no changes"


def verdict(review: Review) -> str:
    """One line: what the reviewer must know first."""
    counts = review.counts
    destructive = review.destructive
    at_risk = [c for _, c in destructive if c.data_at_risk]
    losing = [c for _, c in review.at_risk if not c.destructive]
    errored = [s.stack for s in review.stacks if s.errored]
    refreshing = [s for s in review.stacks if s.refresh_only]
    tail = f" ({summary(counts)})"
    if review.freeze is not None and review.freeze.blocked:
        hit = review.freeze.hits[0]
        more = f" and {len(review.freeze.hits) - 1} more" if len(review.freeze.hits) > 1 else ""
        line = (
            f"Blocked by change freeze '{hit.freeze}' ({hit.reason}) on {hit.stack}{more}: "
            "apply after the window, or override with --override-freeze REASON"
        )
    elif at_risk or losing:
        parts = [f"{plural(len(at_risk), 'stateful resource')} would be destroyed or replaced"] if at_risk else []
        if losing:
            parts.append(f"{plural(len(losing), 'in-place update')} would lose data")
        line = f"Approval required: {' and '.join(parts)}{'' if losing else ', losing data'}{tail}"
    elif review.incomplete:
        line = f"Approval required: {plural(len(review.incomplete), 'plan')} not complete{tail}"
    elif destructive:
        count_text = plural(len(destructive), "resource")
        line = f"Destructive: {count_text} would be destroyed or replaced, none holds data{tail}"
    elif any(counts.values()) or any(s.outputs for s in review.stacks):
        line = f"No resource is destroyed{tail}"
    elif any(s.drift for s in refreshing):
        drifted = sum(len(s.drift) for s in refreshing)
        line = (
            f"Refresh only: applying writes {plural(drifted, 'change')} made outside Terraform into the state; "
            "no resource is changed"
        )
    else:
        line = "No changes: applying these plans changes nothing"
    if review.incomplete and (at_risk or losing or review.blocked):
        line += f"; {plural(len(review.incomplete), 'plan')} not complete"
    if review.freeze is not None and review.freeze.overridden:
        line += "; change freeze overridden"
    if errored:
        line = f"Terraform failed while planning {', '.join(errored)}: the plan is incomplete. {line}"
    return line


def by_capability(review: Review) -> list[tuple[str, str, dict[str, int]]]:
    """(stack, capability, counts) for every capability with changes, in the stacks' order."""
    out = []
    for stack in review.stacks:
        groups: dict[str, list[Change]] = {}
        for change in stack.changes:
            if change.counted:
                groups.setdefault(change.capability, []).append(change)
        for capability in sorted(groups):
            out.append((stack.stack, capability, count(groups[capability])))
    return out
