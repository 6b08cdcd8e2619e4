"""The diagram's model: its groups, nodes and edges (`Graph`), the data flow that is its backbone (FLOW,
then SUPPORT), each resource type's part in it (its `diagram` role in generator/facts/resource_types.py),
the short names an identity's box gives the capabilities, and node ids unique within a diagram."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tierstack.generator.facts import resource_types

# Each type's part in the diagram is its `diagram` in the resource-type table (generator/facts/resource_types.py):
# plumbing is in the resource table, not in the diagram; identities (agents among them) are drawn in the
# access group; stores (keys among them) are the capabilities' data.
PLUMBING = resource_types.with_role("plumbing")
IDENTITIES = resource_types.with_role("identity", "agent")
STORES = resource_types.with_role("store", "key")


# The data flow, the diagram's backbone: the capabilities that move data from its sources to a monitored
# model, in the order data and models pass through them, each with what it hands on to the next one present.
FLOW: tuple[tuple[str, str], ...] = (
    ("data_processing", "prepared data"),
    ("feature_repository", "features"),
    ("experimentation", "experiment code"),
    ("model_training", "trained model"),
    ("model_evaluation", "evaluated model"),
    ("model_registry", "registered model"),
    ("model_serving", "predictions, request logs"),
    ("online_experimentation", "experiment results"),
    ("model_monitoring", ""),
)
SOURCES_LABEL = "raw data"
# Off the flow: the capabilities that run, record, pay for and secure it (in this order, after the flow).
SUPPORT = ("ml_pipelines", "metadata_tracking", "cost_controls", "foundation")
# ml_pipelines starts training runs (its scheduler job or workflow calls pipelineJobs.create)
TRIGGERS = resource_types.with_role("trigger")
ACCESS = "identities and access"
AGENTS = resource_types.with_role("agent")  # Google's service agents: alike, so grouped
KEYS = resource_types.with_role("key")  # referenced by every encrypted resource: counted, not drawn
LINE_WIDTH = 20  # characters of a label line before a list wraps (Mermaid wraps a box at about that)


class _ShortNames(dict[str, str]):
    """What an identity's box calls each capability; one this table does not know (a new module, a
    plugin's) is called by its id in words, so a grant on a new capability is drawn, not a KeyError."""

    def __missing__(self, capability: str) -> str:
        return capability.replace("_", " ")


# what an identity's box calls each capability it may touch (the group's title says the rest)
SHORT_NAMES = _ShortNames(
    {
        "data_processing": "data",
        "feature_repository": "features",
        "experimentation": "notebooks",
        "model_training": "training",
        "model_evaluation": "evaluation",
        "model_registry": "registry",
        "model_serving": "serving",
        "online_experimentation": "A/B tests",
        "model_monitoring": "monitoring",
        "ml_pipelines": "pipelines",
        "metadata_tracking": "metadata",
        "cost_controls": "budget",
        "foundation": "foundation",
    }
)
# boxes side by side, at most, in a group: with 4, fraud-detection prod's identities and SLOs passed 2,400 px
ROW = 3


@dataclass(frozen=True)
class Node:
    id: str
    address: str  # a Terraform address, or the IAM member for a principal outside the stack
    kind: str  # identity, store, resource, external (a principal the stack does not create), source
    group: str | None  # the id of its subgraph (a capability, identities and access); None for the sources
    label: tuple[str, ...]  # its lines
    members: tuple[str, ...] = ()  # what it stands for: its address, or the identities grouped in it

    @property
    def stands_for(self) -> tuple[str, ...]:
        return self.members or (self.address,)


@dataclass(frozen=True)
class Group:
    id: str
    capability: str | None  # None for identities and access
    title: str
    stage: int | None = None  # its place in the data flow, 1 first; None off the flow


@dataclass(frozen=True)
class Edge:
    source: str  # a node's or a group's id
    target: str
    style: str  # flow (data between stages), trigger (starts a stage), ref (a reference between resources)
    label: str


@dataclass
class Graph:
    groups: list[Group]  # the flow's capabilities in flow order, then the others, then identities and access
    nodes: list[Node]
    edges: list[Edge]  # the flow first, in its order; then triggers; then references


def _node_id(prefix: str, text: str, taken: set[str]) -> str:
    base = prefix + re.sub(r"[^A-Za-z0-9_]", "_", text.replace(".", "__"))
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _kind(rtype: str) -> str:
    return "identity" if rtype in IDENTITIES else "store" if rtype in STORES else "resource"


def _title(rtype: str) -> str:
    return rtype.removeprefix("google_").replace("_", " ")


def capability_order(capabilities: Iterable[str]) -> list[str]:
    """The flow's capabilities in flow order, then the supporting ones, then any other (a plugin's), by name."""
    present = set(capabilities)
    flow = [cap for cap, _ in FLOW if cap in present]
    support = [cap for cap in SUPPORT if cap in present]
    return [*flow, *support, *sorted(present - set(flow) - set(support))]
