"""`tierstack docs`: a Markdown page per stack, its diagram derived from the synthesized stack itself.

`generate` writes each stack's page beside its Terraform JSON, `stacks/<stack>/README.md` in the output
directory (a code host shows it with the folder, and renders the Mermaid diagram), recorded in the
manifest like every file it writes, so `generate --check` finds a stale page. `tierstack docs` prints the
pages of a synthesized output directory again.

A page has: the use case and its answers; the capabilities with the answers that selected them (what
`explain` says, read from the selection); a Mermaid diagram; the resources (address, type, capability,
labels); the identities and their project roles; the outputs; the budget and the alert thresholds.

The diagram is read from the stack's `cdk.tf.json`, not from a list kept beside the modules, so it shows
what `terraform apply` creates:

- a node per resource except the plumbing (enabled APIs, project-level IAM, audit-log settings, the IAM
  members themselves), grouped by capability (each resource's construct path names it);
- an IAM member granting an identity a role on a bucket, dataset, topic, repository or key is an arrow
  the way data moves: a writer's role (admin, editor, creator, writer, publisher) points from the
  identity to the resource, a reader's (viewer, reader, subscriber) from the resource to the identity, any
  other role (act as, encrypt with) is a dotted arrow from the identity, labelled with the role; a member
  the stack does not create (a group, a Google-managed account) is a node outside the capabilities;
- a reference `${google_x.y.attr}` from one resource to another is a dotted arrow labelled with the
  attribute that holds it.

Every text that reaches the diagram is escaped: a character other than a letter, a digit, a space or
`_ - . , : / @ ( )` becomes a Mermaid entity code (`#35;`), so a name from a config cannot close a label, start a
directive (`%%{init}`), a click callback or HTML. Text that reaches the Markdown is escaped the same way
for Markdown and HTML. The page depends on nothing but the config and the stack: not the time, not the
working directory, not where the output directory is (generate --check compares pages byte for byte).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PAGE = "README.md"  # beside cdk.tf.json, in stacks/<stack>/
MARK = "<!-- Written by tierstack"  # the first line of every page starts with it

# Resources that are plumbing rather than parts of the picture: in the resource table, not in the diagram.
PLUMBING = frozenset({"google_project_service", "google_project_iam_member", "google_project_iam_audit_config"})
IDENTITIES = frozenset(
    {
        "google_service_account",
        "google_project_service_identity",
        "google_iam_workload_identity_pool",
        "google_iam_workload_identity_pool_provider",
    }
)
STORES = frozenset(
    {
        "google_storage_bucket",
        "google_bigquery_dataset",
        "google_bigquery_table",
        "google_artifact_registry_repository",
        "google_pubsub_topic",
        "google_kms_key_ring",
        "google_kms_crypto_key",
        "google_vertex_ai_metadata_store",
        "google_vertex_ai_feature_online_store",
        "google_vertex_ai_feature_group",
        "google_vertex_ai_tensorboard",
    }
)
# the attributes that name a resource in Google Cloud, in the order a label prefers them
NAME_KEYS = (
    "account_id",
    "dataset_id",
    "table_id",
    "repository_id",
    "workload_identity_pool_provider_id",
    "workload_identity_pool_id",
    "name",
    "display_name",
    "service",
)
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


@dataclass(frozen=True)
class Node:
    id: str
    address: str  # a Terraform address, or the IAM member for a principal outside the stack
    kind: str  # identity, store, resource, external (a principal the stack does not create), project
    capability: str | None
    label: tuple[str, ...]  # its lines


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    style: str  # flow (IAM: data moves this way), use (IAM: act as, encrypt with), ref (a reference)
    label: str


@dataclass
class Graph:
    capabilities: list[tuple[str, str]]  # (id, title) in catalog order, those with nodes
    nodes: list[Node]
    edges: list[Edge]


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


def cloud_name(resource: Resource) -> str:
    """What names the resource in Google Cloud, when the stack says it plainly; else its Terraform name."""
    for key in NAME_KEYS:
        value = resource.body.get(key)
        if isinstance(value, str) and value and "${" not in value:
            return value
    return resource.name


def _role_name(role: str) -> str:
    return role.rsplit("/", 1)[-1].rsplit(".", 1)[-1]


def _is_iam_member(rtype: str) -> bool:
    return rtype.endswith("_iam_member") and rtype != "google_project_iam_member"


def stack_graph(stack: dict[str, Any], capabilities: Iterable[tuple[str, str]]) -> Graph:
    """The diagram's nodes and edges, derived from the stack's resources, IAM members and references."""
    resources = stack_resources(stack)
    titles = dict(capabilities)
    order = {cap: i for i, cap in enumerate(titles)}
    taken: set[str] = set()
    nodes: dict[str, Node] = {}
    for res in sorted(resources, key=lambda r: (order.get(r.capability, len(order)), r.address)):
        if res.type in PLUMBING or _is_iam_member(res.type):
            continue
        label = (_title(res.type), cloud_name(res))
        nodes[res.address] = Node(_node_id("r_", res.name, taken), res.address, _kind(res.type), res.capability, label)
    outside: dict[str, Node] = {}
    edges: set[Edge] = set()
    for res in resources:
        if _is_iam_member(res.type) or res.type == "google_project_iam_member":
            edges |= _grant_edges(res, nodes, outside, taken)
        elif res.address in nodes:
            source = nodes[res.address].id
            for attribute, address in references(res.body):
                if address in nodes and address != res.address:
                    edges.add(Edge(source, nodes[address].id, "ref", attribute))
    merged: dict[tuple[str, str, str], set[str]] = {}
    for edge in edges:
        merged.setdefault((edge.source, edge.target, edge.style), set()).add(edge.label)
    used = [cap for cap in titles if any(n.capability == cap for n in nodes.values())]
    extra = sorted({n.capability for n in nodes.values() if n.capability and n.capability not in titles})
    return Graph(
        capabilities=[(cap, titles.get(cap, cap)) for cap in [*used, *extra]],
        nodes=[*nodes.values(), *sorted(outside.values(), key=lambda n: (n.kind != "project", n.address))],
        edges=[Edge(s, t, style, ", ".join(sorted(labels))) for (s, t, style), labels in sorted(merged.items())],
    )


DATA_SOURCE = re.compile(r"\$\{data\.(google_[a-z0-9_]+)\.[^}]*\}")


def _principal_label(member: str) -> tuple[str, ...]:
    """An IAM member the stack does not create: its kind, then who (a data source by what it reads)."""
    kind, _, who = member.partition(":")
    who = DATA_SOURCE.sub(lambda m: f"{_title(m.group(1))} (data source)", who)
    return (kind, who) if who else (kind,)


def _grant_edges(res: Resource, nodes: dict[str, Node], outside: dict[str, Node], taken: set[str]) -> set[Edge]:
    """The edges of one IAM member: from its member to what it grants a role on, the way data moves.

    A project-level grant points at the project (a node of its own); its role is not a data flow.
    """
    member = str(res.body.get("member") or "")
    role = _role_name(str(res.body.get("role") or ""))
    if res.type == "google_project_iam_member":
        project = str(res.body.get("project") or "")
        key = f"project:{project}"
        if key not in outside:
            outside[key] = Node(_node_id("p_", project, taken), key, "project", None, ("project", project))
        granted = {key}
    else:
        granted = {
            address
            for key, value in res.body.items()
            if key not in ("member", "role", "condition")
            for _, address in references(value)
            if address in nodes
        }
    if not granted:
        return set()
    holders = [nodes[address].id for _, address in references(member) if address in nodes]
    if not holders and member:
        if member not in outside:
            who = _node_id("x_", DATA_SOURCE.sub(lambda m: m.group(1), member)[:48], taken)
            outside[member] = Node(who, member, "external", None, _principal_label(member))
        holders = [outside[member].id]
    lowered = role.lower()
    edges = set()
    for holder in holders:
        for address in sorted(granted):
            target = (nodes.get(address) or outside[address]).id
            if res.type == "google_project_iam_member":
                edges.add(Edge(holder, target, "use", str(res.body.get("role") or "").removeprefix("roles/")))
            elif any(word in lowered for word in READ_ROLES):
                edges.add(Edge(target, holder, "flow", role))
            elif any(word in lowered for word in WRITE_ROLES):
                edges.add(Edge(holder, target, "flow", role))
            else:
                edges.add(Edge(holder, target, "use", role))
    return edges


SHAPES = {
    "identity": ('(["', '"])'),
    "store": ('[("', '")]'),
    "external": ('{{"', '"}}'),
    "resource": ('["', '"]'),
    "project": ('[["', '"]]'),
}
ARROWS = {"flow": "-->", "use": "-.->", "ref": "-.->"}
CLASSES = {
    "identity": "fill:#e8f0fe,stroke:#1a73e8,color:#202124",
    "store": "fill:#fef7e0,stroke:#e37400,color:#202124",
    "resource": "fill:#f1f3f4,stroke:#5f6368,color:#202124",
    "external": "fill:#fce8e6,stroke:#c5221f,color:#202124",
    "project": "fill:#e6f4ea,stroke:#188038,color:#202124",
}


def mermaid(graph: Graph) -> str:
    """The graph as a Mermaid flowchart; every label escaped (mermaid_text)."""
    lines = ["flowchart LR"]
    taken = {n.id for n in graph.nodes}
    for cap, title in graph.capabilities:
        cap_id = _node_id("cap_", cap, taken)
        lines.append(f'  subgraph {cap_id}["{mermaid_text(f"{cap}: {title}" if title != cap else cap)}"]')
        for node in (n for n in graph.nodes if n.capability == cap):
            lines.append(f"    {_node(node)}")
        lines.append("  end")
    lines += [f"  {_node(node)}" for node in graph.nodes if node.kind == "project"]
    outside = [n for n in graph.nodes if n.kind == "external"]
    if outside:
        cap_id = _node_id("cap_", "outside", taken)
        lines.append(f'  subgraph {cap_id}["{mermaid_text("principals outside this stack")}"]')
        lines += [f"    {_node(node)}" for node in outside]
        lines.append("  end")
    for edge in graph.edges:
        lines.append(f'  {edge.source} {ARROWS[edge.style]}|"{mermaid_text(edge.label)}"| {edge.target}')
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
    from tierstack.generator.report import delivery_warnings
    from tierstack.generator.selection import answer_text

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
    order = {cap: i for i, (cap, _) in enumerate(titles)}
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
        "Read from this stack's cdk.tf.json, grouped by capability: rounded boxes are identities, cylinders "
        "hold data. A solid arrow is an IAM grant drawn the way data moves (a writer's role points at the "
        "resource, a reader's at the identity); a dotted arrow from an identity is any other role (act as, "
        "encrypt with, the roles on the project); a dotted arrow between resources is a reference, labelled "
        "with the attribute that holds it. The enabled APIs are in the resource table."
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
    out += ["| address | type | capability | labels |", "|---|---|---|---|"]
    for res in resources:
        own = {k: v for k, v in res.labels.items() if common.get(k) != v}
        labels = ", ".join(code(f"{k}={v}") for k, v in sorted(own.items())) or ("-" if not res.labels else "")
        out.append(f"| {code(res.address)} | {code(res.type)} | {code(res.capability)} | {labels} |")
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
                targets = {a for k, v in res.body.items() if k not in ("member", "role") for _, a in references(v)}
                grants[holder] |= {f"{_role_name(role)} on {code(t)}" for t in targets}
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
    from tierstack.generator import cost

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
    from tierstack.generator.catalog import load_catalog
    from tierstack.generator.stacks import stack_file

    about = summary(resolved, load_catalog())
    result = {}
    for stack, env in about["environments"].items():
        if stacks is None or stack in stacks:
            data = json.loads(stack_file(out, stack).read_text(encoding="utf-8"))
            result[stack] = page(StackDoc(stack, about, env, data))
    return result


def write_stack_docs(resolved: Any, tree: Path, stacks: list[str]) -> None:
    """generate's call: each synthesized stack's page, beside its cdk.tf.json in the new output tree."""
    for stack, text in pages(resolved, tree, stacks).items():
        (tree / "stacks" / stack / PAGE).write_text(text, encoding="utf-8", newline="\n")


def synthesized_pages(resolved: Any, out: Path, environments: list[str]) -> tuple[list[str], list[str]]:
    """`tierstack docs`: the pages of the stacks generate wrote in `out` (every environment, or those named),
    in promotion order, and a warning for each page that differs from the README.md generate wrote beside
    its stack (the config changed since: generate again)."""
    from tierstack.generator.blueprint import display_path
    from tierstack.generator.errors import UserError, did_you_mean
    from tierstack.generator.stacks import stack_file

    known = {env.name: env.stack for env in resolved.environments.values()}
    for env in environments:
        if env not in known:
            hint = did_you_mean(env, list(known)) or "environments: " + ", ".join(known)
            raise UserError(f"no environment '{env}' in this use case", field="--env", hint=hint)
    stacks = [known[env] for env in environments] if environments else list(known.values())
    missing = [stack for stack in stacks if not stack_file(out, stack).is_file()]
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
        if written.is_file() and written.read_text(encoding="utf-8") != texts[stack]:
            warnings.append(
                f"{display_path(written)} differs from this page: the config changed since generate wrote "
                f"{display_path(out)}; run `tierstack generate` (the stacks may be stale too)"
            )
    return [texts[stack] for stack in stacks], warnings
