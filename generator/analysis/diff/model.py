"""The model of a change: the parsed syntheses (a Resource, a Stack with its `moved` and `removed` blocks, a
Synthesis of stacks) and what comparing two of them finds (an AttributeChange, a ResourceChange added,
removed, changed or renamed, replaced or at risk, a StackDiff per stack and the Report over all of them).
ABSENT is the value of an attribute one side does not have, since None is a value Terraform JSON holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tierstack.generator.facts.stateful import is_stateful

METADATA_KEY = "//"


Kind = Literal["added", "removed", "changed", "renamed"]
KINDS: tuple[Kind, ...] = ("removed", "renamed", "changed", "added")  # the order a report lists them in
StackStatus = Literal["added", "removed", "changed", "unchanged"]


class _Absent:
    """The value of an attribute one side does not have (None is a value Terraform JSON can hold)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Resource:
    stack: str
    type: str
    name: str
    capability: str
    body: Mapping[str, Any]  # the resource's arguments, without `//` metadata

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass(frozen=True)
class Stack:
    """One `cdk.tf.json`: its resources by address, its `moved` and `removed` blocks, and the rest."""

    name: str
    resources: Mapping[str, Resource]
    moved: tuple[tuple[str, str], ...] = ()  # (from, to)
    forgotten: frozenset[str] = frozenset()  # `removed` blocks with `destroy = false`: left in Google Cloud
    blocks: Mapping[str, Any] = field(default_factory=dict)  # provider, terraform, data, output, ...


Synthesis = Mapping[str, Stack]  # stack name -> stack


@dataclass(frozen=True)
class AttributeChange:
    path: str  # `labels.tier`, `lifecycle_rule[0].condition.age`
    before: Any = ABSENT
    after: Any = ABSENT
    ignored: bool = False  # HEAD's `lifecycle.ignore_changes` names it: Terraform leaves it as it is


@dataclass(frozen=True)
class ResourceChange:
    kind: Kind
    stack: str
    capability: str
    type: str
    address: str  # HEAD's address (BASE's for a removed resource)
    previous_address: str | None = None  # a renamed resource's address in BASE
    attributes: tuple[AttributeChange, ...] = ()
    replaced: bool = False  # its identity changes: Google Cloud gets a new resource
    declared: bool = False  # renamed by a `moved` block, or removed by a `removed` block that keeps it
    at_risk: str | None = None  # why the data it holds would be lost, for a stateful resource
    identity: str = ""  # what names it in Google Cloud, for people

    @property
    def stateful(self) -> bool:
        return is_stateful(self.type)


@dataclass(frozen=True)
class StackDiff:
    name: str
    status: StackStatus
    resources: tuple[ResourceChange, ...] = ()
    blocks: tuple[AttributeChange, ...] = ()  # providers, backend, data sources, outputs

    def count(self, kind: Kind) -> int:
        return sum(1 for r in self.resources if r.kind == kind)

    @property
    def replaced(self) -> int:
        return sum(1 for r in self.resources if r.replaced)

    @property
    def at_risk(self) -> tuple[ResourceChange, ...]:
        return tuple(r for r in self.resources if r.at_risk)


@dataclass(frozen=True)
class Report:
    base: str
    head: str
    stacks: tuple[StackDiff, ...]

    @property
    def changed(self) -> bool:
        return any(s.status != "unchanged" for s in self.stacks)

    @property
    def at_risk(self) -> tuple[ResourceChange, ...]:
        return tuple(r for s in self.stacks for r in s.at_risk)
