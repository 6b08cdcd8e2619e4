"""The stack as a graph (`stack_graph`): a group per capability in the flow's order, a box per drawn
resource, the thick arrows of the data flow and ml_pipelines' trigger, the dotted references between
resources (those to the encryption key counted on the key), and the identities' boxes from access.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from tierstack.generator.output.docs.access import _access, _account_prefix, _identity_nodes
from tierstack.generator.output.docs.model import (
    ACCESS,
    FLOW,
    IDENTITIES,
    KEYS,
    PLUMBING,
    SOURCES_LABEL,
    TRIGGERS,
    Edge,
    Graph,
    Group,
    Node,
    _kind,
    _node_id,
    _title,
    capability_order,
)
from tierstack.generator.output.docs.resources import Resource, cloud_name, references, stack_resources


def _is_iam_member(rtype: str) -> bool:
    return rtype.endswith("_iam_member") and rtype != "google_project_iam_member"


def stack_graph(stack: dict[str, Any], capabilities: Iterable[tuple[str, str]]) -> Graph:
    """The diagram: the data flow between the capabilities first, each capability's resources inside it, the
    identities in one group with what each may do summarised on it (not an edge per IAM binding), and the
    references between resources (those to the encryption key counted on the key)."""
    resources = stack_resources(stack)
    titles = dict(capabilities)
    present = {r.capability for r in resources if _drawn(r) and r.type not in IDENTITIES}  # groups with a box
    order = capability_order([*[c for c in titles if c in present], *(present - set(titles))])
    taken: set[str] = set()
    groups = _groups(order, titles, taken)
    group_of = {g.capability: g.id for g in groups}
    access_id = _node_id("cap_", "identities_and_access", taken)
    rank = {cap: i for i, cap in enumerate(order)}
    by_address = {r.address: r for r in resources}
    nodes: dict[str, Node] = {}
    for res in sorted(resources, key=lambda r: (rank.get(r.capability, len(rank)), r.address)):
        if _drawn(res):
            group = access_id if res.type in IDENTITIES else group_of[res.capability]
            label = (_title(res.type), cloud_name(res))
            nodes[res.address] = Node(_node_id("r_", res.name, taken), res.address, _kind(res.type), group, label)
    access, outside = _access(resources, by_address, nodes, _account_prefix(resources))
    edges, encrypted = _references(resources, nodes, by_address)
    for address, count in encrypted.items():
        node = nodes[address]
        nodes[address] = replace(node, label=(*node.label, f"encrypts {count} resource{'s' if count != 1 else ''}"))
    identities = _identity_nodes(nodes, access, outside, by_address, access_id, taken)
    drawn = [n for n in nodes.values() if n.kind != "identity"]
    flow = _flow_edges(groups, resources, taken)
    sources = [n for n in flow[1] if n.kind == "source"]
    all_groups = [*groups, *([Group(access_id, None, ACCESS)] if identities else [])]
    return Graph(groups=all_groups, nodes=[*sources, *drawn, *identities], edges=[*flow[0], *edges])


def _drawn(res: Resource) -> bool:
    """A box of its own: not plumbing, not an IAM member (a grant is summarised on its holder)."""
    return res.type not in PLUMBING and not _is_iam_member(res.type)


def _groups(order: list[str], titles: dict[str, str], taken: set[str]) -> list[Group]:
    """A group per capability; those on the flow numbered in its order (`1. data_processing: Data processing`)."""
    flow = {cap for cap, _ in FLOW}
    groups: list[Group] = []
    for cap in order:
        title = titles.get(cap, cap)
        text = f"{cap}: {title}" if title != cap else cap
        stage = len([g for g in groups if g.stage is not None]) + 1 if cap in flow else None
        shown = f"{stage}. {text}" if stage else text
        groups.append(Group(_node_id("cap_", cap, taken), cap, shown, stage))
    return groups


def _flow_edges(groups: list[Group], resources: list[Resource], taken: set[str]) -> tuple[list[Edge], list[Node]]:
    """The backbone: data sources into the first stage, each stage into the next with what it hands on; and
    ml_pipelines starting training runs, when it has a trigger. Their nodes: the data sources."""
    handed = dict(FLOW)
    stages = [g for g in groups if g.stage is not None]
    if not stages:
        return [], []
    sources = Node(
        _node_id("src_", "data_sources", taken), "data sources", "source", None, ("data sources", "outside this stack")
    )
    edges = [Edge(sources.id, stages[0].id, "flow", SOURCES_LABEL)]
    for before, after in itertools.pairwise(stages):
        edges.append(Edge(before.id, after.id, "flow", handed.get(before.capability or "", "")))
    by_cap = {g.capability: g.id for g in groups}
    triggers = {r.capability for r in resources if r.type in TRIGGERS}
    target = by_cap.get("model_training") or (stages[0].id if stages else None)
    if "ml_pipelines" in by_cap and "ml_pipelines" in triggers and target:
        edges.append(Edge(by_cap["ml_pipelines"], target, "trigger", "starts training runs"))
    return edges, [sources]


def _references(
    resources: list[Resource], nodes: dict[str, Node], by_address: dict[str, Resource]
) -> tuple[list[Edge], dict[str, int]]:
    """A dotted arrow per reference between two boxes, labelled with the attributes that hold it; references
    to an encryption key are counted on the key instead (every encrypted resource has one)."""
    merged: dict[tuple[str, str], set[str]] = {}
    encrypted: dict[str, set[str]] = {}
    for res in resources:
        if res.address not in nodes:
            continue
        for attribute, address in references(res.body):
            if address not in nodes or address == res.address:
                continue
            if by_address[address].type in KEYS:
                encrypted.setdefault(address, set()).add(res.address)
                continue
            merged.setdefault((nodes[res.address].id, nodes[address].id), set()).add(attribute)
    edges = [Edge(s, t, "ref", ", ".join(sorted(labels))) for (s, t), labels in sorted(merged.items())]
    return edges, {address: len(users) for address, users in sorted(encrypted.items())}
