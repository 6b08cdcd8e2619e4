"""`tierstack docs`: a Markdown page per stack, its diagram derived from the synthesized stack itself.

`generate` writes each stack's page beside its Terraform JSON, `stacks/<stack>/README.md` in the output
directory (a code host shows it with the folder, and renders the Mermaid diagram), recorded in the
manifest like every file it writes, so `generate --check` finds a stale page. `tierstack docs` prints the
pages of a synthesized output directory again.

A page has: the use case and its answers; the capabilities with the answers that selected them (what
`explain` says, read from the selection); a Mermaid diagram; the resources (address, Google name, type,
capability, labels); the identities and their project roles; the outputs; the budget and the alert thresholds.

The diagram is read from the stack's `cdk.tf.json`, not from a list kept beside the modules, so it shows
what `terraform apply` creates. It is drawn so that the data flow is its backbone (issue 17):

- a node per resource except the plumbing (enabled APIs, project-level IAM, audit-log settings, the IAM
  members themselves), grouped by capability (each resource's construct path names it);
- the capabilities on the data flow (FLOW: data processing, features, training, evaluation, registry,
  serving, A/B tests, monitoring) come first, top to bottom, numbered, joined by thick arrows from the
  data sources on, each labelled with what it hands on; then the ones that run, record, pay for and
  secure the flow (SUPPORT); ml_pipelines' trigger is a dotted arrow to training;
- the identities (service accounts, service agents, the CI pool, the principals outside the stack) are
  one group at the end, in rows: each box says what its IAM members let it do, summarised per
  capability (`writes: data, training`, `reads: registry`, `acts as: serving`, `2 roles on the project`),
  instead of one arrow per binding; Google's service agents with the same access are one box;
- a reference `${google_x.y.attr}` from one resource to another is a dotted arrow labelled with the
  attribute that holds it; references to the encryption key are counted on the key (`encrypts 17
  resources`), since every encrypted resource has one.

Every text that reaches the diagram is escaped: a character other than a letter, a digit, a space or
`_ - . , : / @ ( )` becomes a Mermaid entity code (`#35;`), so a name from a config cannot close a label, start a
directive (`%%{init}`), a click callback or HTML. Text that reaches the Markdown is escaped the same way
for Markdown and HTML. The page depends on nothing but the config and the stack: not the time, not the
working directory, not where the output directory is (generate --check compares pages byte for byte).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tierstack.generator.facts import resource_types

PAGE = "README.md"  # beside cdk.tf.json, in stacks/<stack>/
MAX_PAGE_BYTES = 4 * 1024 * 1024  # a page is tens of KiB; the README.md read back to compare is bounded by this
MARK = "<!-- Written by tierstack"  # the first line of every page starts with it

# Each type's part in the diagram is its `diagram` in the resource-type table (generator/facts/resource_types.py):
# plumbing is in the resource table, not in the diagram; identities (agents among them) are drawn in the
# access group; stores (keys among them) are the capabilities' data.
PLUMBING = resource_types.with_role("plumbing")
IDENTITIES = resource_types.with_role("identity", "agent")
STORES = resource_types.with_role("store", "key")
# the attributes that name a resource in Google Cloud, in the order a label prefers them
NAME_KEYS = (
    "account_id",
    "table_id",
    "dataset_id",
    "repository_id",
    "workload_identity_pool_provider_id",
    "workload_identity_pool_id",
    "name",
    "display_name",
    "service",
)
# a resource whose name is inside a JSON argument (a dashboard's `displayName`): type -> (argument, key)
NAME_IN_JSON = {"google_monitoring_dashboard": ("dashboard_json", "displayName")}
# the arguments of each kind of IAM grant that name what it is on, most specific last (a kind not listed: all
# but member, role and condition); a grant on a resource outside the stack is named by their values
GRANTED_ON = {
    "google_storage_bucket_iam_member": ("bucket",),
    "google_bigquery_dataset_iam_member": ("project", "dataset_id"),
    "google_bigquery_table_iam_member": ("project", "dataset_id", "table_id"),
    "google_pubsub_topic_iam_member": ("topic",),
    "google_artifact_registry_repository_iam_member": ("repository",),
    "google_kms_crypto_key_iam_member": ("crypto_key_id",),
    "google_service_account_iam_member": ("service_account_id",),
}
READ_ROLES = ("viewer", "reader", "subscriber", "accessor")
WRITE_ROLES = ("admin", "editor", "creator", "writer", "publisher", "owner")
# `google_x.y` inside an interpolation; not `data.google_x.y`, not `googleapis.com`
REFERENCE = re.compile(r"(?<![\w.])(google_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)")
SKIPPED_KEYS = frozenset({"//", "depends_on", "provider", "lifecycle", "count", "for_each"})
SAFE_LABEL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:/@()")
COMPARISONS = {
    "COMPARISON_GT": ">",
    "COMPARISON_GE": "≥",
    "COMPARISON_LT": "<",
    "COMPARISON_LE": "≤",
    "COMPARISON_EQ": "=",
    "COMPARISON_NE": "≠",
}


# --- escaping ------------------------------------------------------------------------------------


def mermaid_text(text: str) -> str:
    """Text for inside a quoted Mermaid label: everything but a few plain characters as entity codes."""
    return "".join(c if c in SAFE_LABEL else f"#{ord(c)};" for c in str(text))


def markdown_text(text: str) -> str:
    """Text for a Markdown paragraph or table cell: no markup, no HTML, no line break, no table break."""
    out = []
    for c in " ".join(str(text).split()):
        if c in "<&":
            out.append(f"&#{ord(c)};")
        elif c in "\\`*_[]|~#":
            out.append("\\" + c)
        else:
            out.append(c)
    escaped = re.sub(r"^(\d+)([.)])", r"\1\\\2", "".join(out))  # `1. ` would start a list
    return "\\" + escaped if escaped[:1] in ("-", "+", "=", ">") else escaped


def code(text: str) -> str:
    """A code span, or escaped text when a code span could not hold the text."""
    text = " ".join(str(text).split())
    if not text or "`" in text:
        return markdown_text(text)
    return f"`{text.replace('|', chr(92) + '|')}`"


# --- the stack as a graph ------------------------------------------------------------------------

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


@dataclass
class Resource:
    address: str
    type: str
    name: str
    capability: str
    body: dict[str, Any]

    @property
    def labels(self) -> dict[str, str]:
        labels = self.body.get("labels") if self.type != "google_monitoring_notification_channel" else None
        labels = labels if isinstance(labels, dict) else self.body.get("user_labels")
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def stack_resources(stack: dict[str, Any]) -> list[Resource]:
    """Every managed resource of a synthesized stack, with the capability its construct path names."""
    found = []
    for rtype, items in (stack.get("resource") or {}).items():
        for name, body in items.items():
            path = str(((body.get("//") or {}).get("metadata") or {}).get("path") or "")
            parts = path.split("/")
            capability = parts[1] if len(parts) > 2 else "(stack)"
            found.append(Resource(f"{rtype}.{name}", rtype, name, capability, body))
    return found


def references(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(attribute, address) for every `${google_x.y...}` reference in a resource's attributes."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in SKIPPED_KEYS:
                yield from references(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from references(item, key)
    elif isinstance(value, str) and "${" in value:
        for rtype, name in REFERENCE.findall(value):
            yield key, f"{rtype}.{name}"


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


def google_name(resource: Resource) -> str | None:
    """The argument that names the resource in Google Cloud (`name`, `dataset_id`, `account_id`,
    `display_name`, ...), as the stack writes it; None for a resource Google Cloud gives no name of its own
    (an IAM binding is its resource, role and member)."""
    if resource.type.endswith("_iam_member"):
        return None
    if resource.type in NAME_IN_JSON:
        return _name_in_json(resource)
    for key in NAME_KEYS:
        value = resource.body.get(key)
        if isinstance(value, str) and value and "${" not in value:
            return value
    for key in NAME_KEYS:  # built from another resource's attributes: as written
        value = resource.body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _name_in_json(resource: Resource) -> str | None:
    """The name inside a JSON argument (a dashboard's displayName), when the argument is JSON that has it."""
    argument, key = NAME_IN_JSON[resource.type]
    try:
        value = json.loads(str(resource.body.get(argument) or "")).get(key)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def cloud_name(resource: Resource) -> str:
    """What names the resource in Google Cloud, when the stack says it plainly; else its Terraform name."""
    if resource.type in NAME_IN_JSON:
        named = _name_in_json(resource)
        return named if named and "${" not in named else resource.name
    for key in NAME_KEYS:
        value = resource.body.get(key)
        if isinstance(value, str) and value and "${" not in value:
            return value
    return resource.name


def _role_name(role: str) -> str:
    return role.rsplit("/", 1)[-1].rsplit(".", 1)[-1]


def _is_iam_member(rtype: str) -> bool:
    return rtype.endswith("_iam_member") and rtype != "google_project_iam_member"


def capability_order(capabilities: Iterable[str]) -> list[str]:
    """The flow's capabilities in flow order, then the supporting ones, then any other (a plugin's), by name."""
    present = set(capabilities)
    flow = [cap for cap, _ in FLOW if cap in present]
    support = [cap for cap in SUPPORT if cap in present]
    return [*flow, *support, *sorted(present - set(flow) - set(support))]


@dataclass
class _Access:
    """What one identity may do, summarised: verb -> what on (capabilities, identities, keys), project roles."""

    verbs: dict[str, set[str]] = field(default_factory=dict)
    project_roles: set[str] = field(default_factory=set)

    def key(self) -> tuple[Any, ...]:
        return (tuple(sorted((v, tuple(sorted(o))) for v, o in self.verbs.items())), tuple(sorted(self.project_roles)))

    def lines(self) -> list[str]:
        out = []
        for verb in sorted(self.verbs, key=_verb_order):
            out += _wrapped(f"{verb}: ", sorted(self.verbs[verb], key=_item_order))
        if self.project_roles:
            count = len(self.project_roles)
            out.append(f"{count} role{'s' if count != 1 else ''} on the project")
        return out


VERBS = ("writes", "reads", "acts as", "signs in as", "encrypts with")


SHORT_ORDER = {short: i for i, short in enumerate(SHORT_NAMES.values())}


def _item_order(item: str) -> tuple[int, str]:
    """Capabilities in the flow's order (data before training), then identities and keys by name."""
    return (SHORT_ORDER.get(item, len(SHORT_ORDER)), item)


def _verb_order(verb: str) -> tuple[int, str]:
    return (VERBS.index(verb) if verb in VERBS else len(VERBS), verb)


def _verb(role: str) -> str:
    """What a role on a resource lets its holder do, in a word or two (any other role: its own name)."""
    name = _role_name(role)
    lowered = name.lower()
    if lowered in ("serviceaccountuser", "serviceaccounttokencreator"):
        return "acts as"
    if lowered == "workloadidentityuser":
        return "signs in as"
    if lowered.startswith("cryptokeyencrypter"):
        return "encrypts with"
    if any(word in lowered for word in WRITE_ROLES):
        return "writes"
    if any(word in lowered for word in READ_ROLES):
        return "reads"
    return name


def _wrapped(head: str, items: list[str]) -> list[str]:
    """`head` and the items, comma-separated, in lines of about LINE_WIDTH characters."""
    lines, line = [], head
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if len(line) + len(piece) > LINE_WIDTH and line.strip() and line != head:
            lines.append(line.rstrip())
            line = "  "
        line += piece + " "
    lines.append(line.rstrip())
    return lines


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


def _access(
    resources: list[Resource], by_address: dict[str, Resource], nodes: dict[str, Node], prefix: str
) -> tuple[dict[str, _Access], dict[str, _Access]]:
    """Each holder's access, from every IAM member: by address for the identities the stack creates, by
    IAM member for the principals it does not (a group, a Google-managed account)."""
    inside: dict[str, _Access] = {}
    outside: dict[str, _Access] = {}
    for res in resources:
        if not res.type.endswith("_iam_member"):
            continue
        member, role = str(res.body.get("member") or ""), str(res.body.get("role") or "")
        holders = [a for _, a in references(member) if a in nodes and by_address[a].type in IDENTITIES]
        keys = holders or ([member] if member else [])
        found = [inside.setdefault(a, _Access()) for a in holders] or [outside.setdefault(k, _Access()) for k in keys]
        if res.type == "google_project_iam_member":
            for access in found:
                access.project_roles.add(role)
            continue
        targets = [a for a in _grant_targets(res) if a in by_address]
        for holder, access in zip(keys, found, strict=True):
            # a service account that may act as itself: nothing to draw; a grant on a resource outside the
            # stack (a data source's table): shown on the capability that grants it
            on = {_what(by_address[t], prefix) for t in targets if t != holder} if targets else {_what(res, prefix)}
            if on:
                access.verbs.setdefault(_verb(role), set()).update(on)
    return inside, outside


def _grant_arguments(res: Resource) -> list[tuple[str, Any]]:
    """The arguments of an IAM grant that name what it is on (GRANTED_ON; for another kind, all but who and what)."""
    wanted = GRANTED_ON.get(res.type)
    if wanted is None:
        return [(k, v) for k, v in res.body.items() if k not in ("member", "role", "condition", *SKIPPED_KEYS)]
    return [(k, res.body[k]) for k in wanted if k in res.body]


def _grant_targets(res: Resource) -> list[str]:
    """The addresses of the stack's resources an IAM grant is on (none when it is on something outside)."""
    return sorted({a for _, value in _grant_arguments(res) for _, a in references(value)})


def _granted_on(res: Resource) -> list[str]:
    """What an IAM grant is on, for the Identities table: the stack's resources by address, or, outside the
    stack, the resource as the grant names it (`acme-data-lake.storefront.orders`)."""
    targets = _grant_targets(res)
    if targets:
        return [code(t) for t in targets]
    written = [str(v) for _, v in _grant_arguments(res) if isinstance(v, str) and v]
    return [code(".".join(written))] if written else []


def _what(resource: Resource, prefix: str) -> str:
    """What an identity's box says it may touch: a capability by its short name, an identity by its name
    without the stack's common prefix, a key by its name."""
    if resource.type in KEYS:
        return f"key {cloud_name(resource)}"
    if resource.type in IDENTITIES:
        name = cloud_name(resource)
        return name.removeprefix(prefix) or name
    return SHORT_NAMES[resource.capability]


def _account_prefix(resources: list[Resource]) -> str:
    """The start the stack's service account ids share, up to a `-` (`fraud-detection-`), when there are two."""
    names = [cloud_name(r) for r in resources if r.type == "google_service_account"]
    if len(names) < 2:
        return ""
    common = os.path.commonprefix(names)  # noqa: RUF071 (characters, not path components, are wanted)
    return common[: common.rfind("-") + 1]


def _identity_nodes(
    nodes: dict[str, Node],
    access: dict[str, _Access],
    outside: dict[str, _Access],
    by_address: dict[str, Resource],
    group: str,
    taken: set[str],
) -> list[Node]:
    """One box per identity the stack creates, with what it may do; Google's service agents and the
    Google-managed accounts outside the stack that may do the same are one box; other principals outside
    the stack (a group, a user) one box each."""
    out: list[Node] = []
    agents: dict[tuple[Any, ...], list[tuple[str, str, _Access]]] = {}  # access -> (member, who, access)
    for address, node in nodes.items():
        if node.kind != "identity":
            continue
        mine = access.get(address, _Access())
        if by_address[address].type in AGENTS:
            who = cloud_name(by_address[address]).removesuffix(".googleapis.com")
            agents.setdefault(mine.key(), []).append((address, who, mine))
        else:
            out.append(replace(node, label=(*node.label, *mine.lines())))
    for member, mine in sorted(outside.items()):
        kind, who = _principal_label(member)[0], _principal_label(member)[-1]
        if kind == "serviceAccount":
            agents.setdefault(mine.key(), []).append((member, _agent_name(who), mine))
        else:
            node_id = _node_id("x_", DATA_SOURCE.sub(lambda m: m.group(1), member)[:48], taken)
            out.append(Node(node_id, member, "external", group, (*_principal_label(member), *mine.lines())))
    for _, alike in sorted(agents.items(), key=lambda item: sorted(m for m, _, _ in item[1])):
        members = tuple(sorted(m for m, _, _ in alike))
        whom = sorted(who for _, who, _ in alike)
        first = members[0]
        kind = "identity" if any(m in by_address for m in members) else "external"
        if len(alike) == 1 and first in nodes:
            node = nodes[first]
            out.append(replace(node, label=(*node.label, *alike[0][2].lines())))
            continue
        head = f"{len(alike)} service agents" if len(alike) > 1 else "service agent"
        node_id = (
            nodes[first].id
            if first in nodes
            else _node_id("x_", DATA_SOURCE.sub(lambda m: m.group(1), first)[:48], taken)
        )
        label = (head, *_wrapped("", whom), *alike[0][2].lines())
        out.append(Node(node_id, first, kind, group, label, members))
    return out


def _agent_name(who: str) -> str:
    """A Google-managed account, shortly: `billing-budget-alert`, `bigquery default service account`."""
    who = who.split("@", 1)[0].removesuffix(" (data source)")
    return re.sub(r" (default|project) service account$", "", who)


DATA_SOURCE = re.compile(r"\$\{data\.(google_[a-z0-9_]+)\.[^}]*\}")


def _principal_label(member: str) -> tuple[str, ...]:
    """An IAM member the stack does not create: its kind, then who (a data source by what it reads)."""
    kind, _, who = member.partition(":")
    who = DATA_SOURCE.sub(lambda m: f"{_title(m.group(1))} (data source)", who)
    return (kind, who) if who else (kind,)


SHAPES = {
    "identity": ('("', '")'),
    "store": ('[("', '")]'),
    "external": ('{{"', '"}}'),
    "resource": ('["', '"]'),
    "source": ('>"', '"]'),
}
ARROWS = {"flow": "==>", "trigger": "-.->", "ref": "-.->"}
CLASSES = {
    "identity": "fill:#e8f0fe,stroke:#1a73e8,color:#202124",
    "store": "fill:#fef7e0,stroke:#e37400,color:#202124",
    "resource": "fill:#f1f3f4,stroke:#5f6368,color:#202124",
    "external": "fill:#fce8e6,stroke:#c5221f,color:#202124",
    "source": "fill:#e6f4ea,stroke:#188038,color:#202124",
}


def mermaid(graph: Graph) -> str:
    """The graph as a Mermaid flowchart, top to bottom; every label escaped (mermaid_text)."""
    lines = ["flowchart TB"]
    lines += [f"  {_node(node)}" for node in graph.nodes if node.group is None]
    for group in graph.groups:
        lines.append(f'  subgraph {group.id}["{mermaid_text(group.title)}"]')
        lines += [f"    {_node(node)}" for node in graph.nodes if node.group == group.id]
        lines.append("  end")
    for edge in graph.edges:
        label = f'|"{mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"  {edge.source} {ARROWS[edge.style]}{label} {edge.target}")
    # invisible links, for the layout only: the groups off the flow below its last stage, one under the
    # other (identities last), rather than side by side; the boxes of every group in rows of ROW boxes (a
    # capability with many alerts or grants would otherwise widen the page past a screen)
    staged = [g.id for g in graph.groups if g.stage is not None]
    below = [g.id for g in graph.groups if g.stage is None]
    chain = [*staged[-1:], *below]
    lines += [f"  {above} ~~~ {under}" for above, under in itertools.pairwise(chain)]
    for group in graph.groups:
        boxes = [n.id for n in graph.nodes if n.group == group.id]
        lines += [f"  {above} ~~~ {under}" for above, under in zip(boxes, boxes[ROW:], strict=False)]
    for kind, style in CLASSES.items():
        members = [n.id for n in graph.nodes if n.kind == kind]
        if members:
            lines.append(f"  classDef {kind} {style}")
            lines.append(f"  class {','.join(members)} {kind}")
    return "\n".join(lines) + "\n"


def _node(node: Node) -> str:
    start, end = SHAPES[node.kind]
    text = "<br/>".join(mermaid_text(part) for part in node.label)
    return f"{node.id}{start}{text}{end}"


# --- the page ------------------------------------------------------------------------------------


@dataclass
class StackDoc:
    """What one page shows: the use case (summary()), one environment, its synthesized stack."""

    stack: str
    summary: dict[str, Any]
    environment: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)  # the stack's cdk.tf.json


def summary(resolved: Any, catalog: Any) -> dict[str, Any]:
    """The use case as every page of its stacks shows it: what explain says, less what depends on where
    tierstack runs (a reason names the config's line, not its path; the blueprint chain is seen from the
    config's folder)."""
    from tierstack.generator.output.report import delivery_warnings
    from tierstack.generator.plan.selection import answer_text

    spec, selection = resolved.loaded.spec, resolved.selection
    config = Path(resolved.loaded.path)
    answers = spec.use_case.model_dump()
    answers["accelerator"] = str(spec.use_case.accelerator)
    return {
        "name": spec.name,
        "team": spec.team,
        "description": spec.description,
        "config": config.name,
        "blueprint": blueprint_chain(list(resolved.blueprint.chain), config),
        "tier": selection.tier,
        "tier_name": catalog.tier(selection.tier).name,
        "recommended_tier": selection.recommended_tier,
        "tier_pinned": selection.pinned,
        "answers": {key: None if value is None else answer_text(value) for key, value in answers.items()},
        "capabilities": [
            {
                "id": cap,
                "name": catalog.capability(cap).name,
                "reasons": [
                    {"answer": r.field, "value": answer_text(r.value), "why": r.why, "line": r.line} for r in reasons
                ],
            }
            for cap, reasons in selection.capabilities.items()
        ],
        "not_selected": [cap for cap in catalog.ids if cap not in selection.capabilities],
        "warnings": [*selection.warnings, *delivery_warnings(resolved)],
        "environments": {
            env.stack: {
                "name": env.name,
                "role": env.role,
                "project": env.project,
                "region": env.region,
                "budget_on": bool((env.settings.get("budget") or {}).get("enabled")),
                "budget": dict(env.settings.get("budget") or {}),
            }
            for env in resolved.environments.values()
        },
    }


def page(doc: StackDoc) -> str:
    """A stack's Markdown page."""
    about, env, stack = doc.summary, doc.environment, doc.data
    titles = [(c["id"], c["name"]) for c in about["capabilities"]]
    resources = stack_resources(stack)
    order = {cap: i for i, cap in enumerate(capability_order({r.capability for r in resources}))}
    resources.sort(key=lambda r: (order.get(r.capability, len(order)), r.address))
    out: list[str] = []
    add = out.append
    add(
        f"{MARK} generate from {markdown_text(about['config'])} and this folder's cdk.tf.json; edit the "
        "config, not this page: the next generate writes it again. -->"
    )
    add(f"# {markdown_text(doc.stack)}")
    add("")
    tier = f"tier {about['tier']}, {markdown_text(about['tier_name'])}"
    tier += f" (pinned; tier {about['recommended_tier']} recommended)" if about["tier_pinned"] else ""
    add(
        f"Use case {code(about['name'])} of team {code(about['team'])}, environment {code(env['name'])} "
        f"({markdown_text(env['role'])}): project {code(env['project'])} in {code(env['region'])}; {tier}. "
        "Blueprint: " + " → ".join(code(name) for name in about["blueprint"]) + "."
    )
    if about["description"]:
        add("")
        add(markdown_text(about["description"]))
    add("")
    add("## Use case")
    add("")
    add("| answer | value |")
    add("|---|---|")
    for key, value in about["answers"].items():
        add(f"| {code(key)} | {code('-' if value is None else value)} |")
    add("")
    add(f"## Capabilities ({len(titles)} of {len(titles) + len(about['not_selected'])})")
    add("")
    add("| capability | selected because |")
    add("|---|---|")
    for cap in about["capabilities"]:
        reasons = "; ".join(_reason(r, about["config"]) for r in cap["reasons"]) or "-"
        add(f"| {code(cap['id'])}: {markdown_text(cap['name'])} | {reasons} |")
    if about["not_selected"]:
        add("")
        add("Not selected: " + ", ".join(code(c) for c in about["not_selected"]) + ".")
    add("")
    add("## Diagram")
    add("")
    add(
        "Read from this stack's cdk.tf.json, grouped by capability. The thick arrows are the data flow, top to "
        "bottom: from the data sources through the numbered capabilities, each labelled with what it hands on; "
        "the capabilities that run, record, pay for and secure the flow come after. Cylinders hold data. "
        "The identities are grouped at the end, each box saying what it may do (writes, reads, acts as, on "
        "which capability or identity; its roles on the project), summarised from its IAM grants, which the "
        "Identities table lists one by one. A dotted arrow between resources is a reference, labelled with "
        "the attribute that holds it; the references to the encryption key are counted on the key. The "
        "enabled APIs and the IAM grants are in the resource table."
    )
    add("")
    add("```mermaid")
    add(mermaid(stack_graph(stack, titles)).rstrip("\n"))
    add("```")
    add("")
    out += _resource_table(resources)
    out += _identities(resources)
    out += _outputs(stack)
    out += _budget_and_alerts(resources, env)
    out += _cost_estimate(doc)
    if about["warnings"]:
        out += ["## Warnings", "", *(f"- {markdown_text(w)}" for w in about["warnings"]), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _reason(reason: dict[str, Any], config_name: str) -> str:
    why = markdown_text(reason.get("why") or "")
    if reason["answer"] == "always":
        return f"always: {why}"
    if reason["answer"] == "requires":
        return f"{code(reason['value'])} requires it"
    head = f"{code(reason['answer'])} = {code(reason['value'])}"
    if reason.get("line"):
        head += f" ({markdown_text(config_name)} line {reason['line']})"
    return f"{head}: {why}" if why else head


def _resource_table(resources: list[Resource]) -> list[str]:
    labelled = [r.labels for r in resources if r.labels]
    common = dict(set.intersection(*(set(labels.items()) for labels in labelled))) if labelled else {}
    out = [f"## Resources ({len(resources)})", ""]
    if common:
        pairs = ", ".join(code(f"{k}={v}") for k, v in sorted(common.items()))
        out += [f"Every labelled resource carries {pairs}; the table shows the labels beyond those.", ""]
    out += [
        "The Google name is the argument that names the resource in Google Cloud (`name`, `dataset_id`, "
        "`account_id`, `display_name`, ...); an IAM grant has none of its own (it is its resource, role "
        "and member).",
        "",
        "| address | Google name | type | capability | labels |",
        "|---|---|---|---|---|",
    ]
    for res in resources:
        own = {k: v for k, v in res.labels.items() if common.get(k) != v}
        labels = ", ".join(code(f"{k}={v}") for k, v in sorted(own.items())) or ("-" if not res.labels else "")
        name = google_name(res)
        shown = code(name) if name else "-"
        out.append(f"| {code(res.address)} | {shown} | {code(res.type)} | {code(res.capability)} | {labels} |")
    return [*out, ""]


def _identities(resources: list[Resource]) -> list[str]:
    accounts = [r for r in resources if r.type == "google_service_account"]
    if not accounts:
        return []
    roles: dict[str, set[str]] = {r.address: set() for r in accounts}
    grants: dict[str, set[str]] = {r.address: set() for r in accounts}
    for res in resources:
        if not res.type.endswith("_iam_member"):
            continue
        holders = [a for _, a in references(str(res.body.get("member") or "")) if a in roles]
        role = str(res.body.get("role") or "")
        for holder in holders:
            if res.type == "google_project_iam_member":
                roles[holder].add(role)
            else:
                grants[holder] |= {f"{_role_name(role)} on {on}" for on in _granted_on(res)}
    out = ["## Identities", "", "| service account | capability | project roles | grants on resources |"]
    out.append("|---|---|---|---|")
    for res in accounts:
        name = f"{code(cloud_name(res))} ({code(res.address)})"
        project_roles = ", ".join(code(r) for r in sorted(roles[res.address])) or "-"
        on = ", ".join(sorted(grants[res.address])) or "-"
        out.append(f"| {name} | {code(res.capability)} | {project_roles} | {on} |")
    return [*out, ""]


def _outputs(stack: dict[str, Any]) -> list[str]:
    outputs = stack.get("output") or {}
    if not outputs:
        return []
    out = ["## Outputs", "", "| output | description | value |", "|---|---|---|"]
    for name, body in sorted(outputs.items()):
        description = markdown_text(body.get("description") or "")
        out.append(f"| {code(name)} | {description} | {code(json.dumps(body.get('value'), ensure_ascii=False))} |")
    return [*out, ""]


def _cost_estimate(doc: StackDoc) -> list[str]:
    """`tierstack cost` for this stack: the monthly estimate per capability, against the budget."""
    from tierstack.generator.analysis import cost

    table = cost.load_prices()
    estimate = cost.estimate_stack(doc.stack, doc.environment["name"], doc.data, table)
    cost.compare_budget(estimate, doc.environment.get("budget") or {}, table.currency)
    cur = table.currency
    unpriced = f" + {cost.items_not_priced(len(estimate.not_priced))}" if estimate.not_priced else ""
    out = [
        "## Cost estimate",
        "",
        f"About {estimate.total():,.2f} {cur} a month{unpriced}: {estimate.baseline:,.2f} always on (billed every "
        f"hour) and {estimate.total(always_on=False):,.2f} from usage. {markdown_text(cost.ESTIMATE_NOTE)}",
        "",
        f"| capability | {cur} a month |",
        "|---|--:|",
    ]
    out += [f"| {code(cap)} | {estimate.capability_figure(cap)} |" for cap in estimate.by_capability()]
    out.append("")
    if estimate.not_priced:
        out.append("Not priced (not counted above):")
        out.append("")
        out += [f"- {markdown_text(line.what)}: {markdown_text(line.why_not_priced)}" for line in estimate.not_priced]
        out.append("")
    out += [f"> warning: {markdown_text(warning)}" for warning in estimate.warnings]
    if estimate.warnings:
        out.append("")
    if table.left_out:
        out += ["Leaves out: " + markdown_text("; ".join(table.left_out)) + ".", ""]
    return out


def _budget_and_alerts(resources: list[Resource], env: dict[str, Any]) -> list[str]:
    out = ["## Budget and alerts", ""]
    budgets = [r for r in resources if r.type == "google_billing_budget"]
    if not budgets:
        why = "its budget is off" if env.get("budget_on") else "tierstack.yaml gives no budget"
        out += [f"No budget in this stack: {why}.", ""]
    for res in budgets:
        amount = (res.body.get("amount") or {}).get("specified_amount") or {}
        units = amount.get("units")
        currency = amount.get("currency_code")
        rules = res.body.get("threshold_rules") or []
        actual = [_percent(r) for r in rules if r.get("spend_basis", "CURRENT_SPEND") == "CURRENT_SPEND"]
        forecast = [_percent(r) for r in rules if r.get("spend_basis") == "FORECASTED_SPEND"]
        per_month = f"{units} {currency}" if currency else f"{units} in the billing account's currency"
        out.append(f"Budget {code(res.address)}: {markdown_text(per_month)} a month.")
        out.append("")
        out.append(f"- alerts at {', '.join(actual) or 'no threshold'} of actual spend")
        if forecast:
            out.append(f"- alerts at {', '.join(forecast)} of forecast spend")
        topic = [a for _, a in references((res.body.get("all_updates_rule") or {}).get("pubsub_topic", ""))]
        if topic:
            out.append(f"- notifications to the Pub/Sub topic {code(topic[0])}")
        out.append("")
    channels = {r.address: r for r in resources if r.type == "google_monitoring_notification_channel"}
    policies = [r for r in resources if r.type == "google_monitoring_alert_policy"]
    if not policies:
        return [*out, "No alert policies in this stack.", ""]
    out += ["| alert | condition | threshold | for | notifies |", "|---|---|---|---|---|"]
    for res in policies:
        receivers = []
        for channel in res.body.get("notification_channels") or []:
            for _, address in references(channel):
                receiver = channels.get(address)
                if receiver is not None:
                    email = (receiver.body.get("labels") or {}).get("email_address")
                    receivers.append(code(email) if email else code(address))
        for condition in res.body.get("conditions") or []:
            threshold = condition.get("condition_threshold") or {}
            comparison = COMPARISONS.get(threshold.get("comparison", ""), threshold.get("comparison", ""))
            value = threshold.get("threshold_value", 0)
            out.append(
                f"| {markdown_text(res.body.get('display_name') or res.address)} "
                f"| {markdown_text(condition.get('display_name') or '')} "
                f"| {markdown_text(f'{comparison} {value:g}' if isinstance(value, (int, float)) else value)} "
                f"| {markdown_text(threshold.get('duration', '-'))} | {', '.join(receivers) or 'nobody'} |"
            )
    return [*out, ""]


def _percent(rule: dict[str, Any]) -> str:
    value = float(rule.get("threshold_percent", 0))
    return f"{value:.0%}"


# --- pages of a resolved config ------------------------------------------------------------------


def blueprint_chain(chain: list[str], config: Path) -> list[str]:
    """The blueprint chain as the config's folder sees it: `tierstack:NAME` for a built-in, a path relative
    to the config for a file (the chain's paths are relative to the working directory)."""
    shown = []
    for name in chain:
        path = Path(name)
        if name.startswith("tierstack:") or not path.is_file():
            shown.append(name)
        else:
            shown.append(Path(os.path.relpath(path.resolve(), config.resolve().parent)).as_posix())
    return shown


def pages(resolved: Any, out: Path, stacks: list[str] | None = None) -> dict[str, str]:
    """Stack name -> its page, for the stacks of `resolved` (or those named) synthesized in `out`."""
    from tierstack.generator.facts.catalog import load_catalog

    about = summary(resolved, load_catalog())
    result = {}
    for stack, env in about["environments"].items():
        if stacks is None or stack in stacks:
            result[stack] = page(StackDoc(stack, about, env, _stack_data(out, stack)))
    return result


def _stack_data(out: Path, stack: str) -> Any:
    """A synthesized stack through the bounded reader (a FIFO, a sparse 4 GB file, JSON nested deeper than
    any walk over it can go, a link out of `out`: a UserError naming it); not a JSON object, too."""
    from tierstack.generator.config.blueprint import display_path
    from tierstack.generator.core import fsio
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.synth.stacks import stack_file

    path = stack_file(out, stack)
    hint = "run `tierstack generate` again"
    data = fsio.read_json(path, "Terraform JSON stack", fsio.MAX_JSON_BYTES, hint, shown=display_path(path), within=out)
    if not isinstance(data, dict):
        raise UserError("not a Terraform JSON stack (no top-level object)", file=display_path(path), hint=hint)
    return data


def _anything_at(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def write_stack_docs(resolved: Any, tree: Path, stacks: list[str]) -> None:
    """generate's call: each synthesized stack's page, beside its cdk.tf.json in the new output tree."""
    for stack, text in pages(resolved, tree, stacks).items():
        (tree / "stacks" / stack / PAGE).write_text(text, encoding="utf-8", newline="\n")


def synthesized_pages(resolved: Any, out: Path, environments: list[str]) -> tuple[list[str], list[str]]:
    """`tierstack docs`: the pages of the stacks generate wrote in `out` (every environment, or those named),
    in promotion order, and a warning for each page that differs from the README.md generate wrote beside
    its stack (the config changed since: generate again)."""
    from tierstack.generator.config.blueprint import display_path
    from tierstack.generator.core import fsio
    from tierstack.generator.core.errors import UserError, did_you_mean
    from tierstack.generator.synth.stacks import stack_file

    known = {env.name: env.stack for env in resolved.environments.values()}
    for env in environments:
        if env not in known:
            hint = did_you_mean(env, list(known)) or "environments: " + ", ".join(known)
            raise UserError(f"no environment '{env}' in this use case", field="--env", hint=hint)
    stacks = [known[env] for env in environments] if environments else list(known.values())
    # anything there (a FIFO, a directory, a link) is read, and so refused by name; only nothing is missing
    missing = [stack for stack in stacks if not _anything_at(stack_file(out, stack))]
    if missing:
        config = display_path(resolved.loaded.path)
        raise UserError(
            f"no synthesized stack {', '.join(missing)} in {display_path(out)}",
            file=display_path(out),
            field="--out",
            hint=f"run `tierstack generate {config}` first (or give --out, the directory generate wrote)",
        )
    texts = pages(resolved, out, stacks)
    warnings = []
    for stack in stacks:
        written = out / "stacks" / stack / PAGE
        if not written.is_file():
            continue
        try:
            limit = max(MAX_PAGE_BYTES, 4 * len(texts[stack]))
            same = fsio.read_text(written, PAGE, limit, limit_of="a stack's page") == texts[stack]
        except UserError as err:  # too large, not UTF-8, unreadable: it cannot be this page
            warnings.append(f"{display_path(written)} is not this page: {err.message}; run `tierstack generate`")
            continue
        if not same:
            warnings.append(
                f"{display_path(written)} differs from this page: the config changed since generate wrote "
                f"{display_path(out)}; run `tierstack generate` (the stacks may be stale too)"
            )
    return [texts[stack] for stack in stacks], warnings
