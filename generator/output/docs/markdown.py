"""A stack's Markdown page (`page`): the first line that marks it as written by tierstack, the use case,
the capabilities and why they were selected, the diagram, the resource, identity and output tables, then
the budget, cost and warnings sections."""

from __future__ import annotations

import json
from typing import Any

from tierstack.generator.output.docs.about import StackDoc
from tierstack.generator.output.docs.access import _granted_on, _role_name
from tierstack.generator.output.docs.budget import _budget_and_alerts, _cost_estimate
from tierstack.generator.output.docs.diagram import mermaid
from tierstack.generator.output.docs.escape import code, markdown_text
from tierstack.generator.output.docs.graph import stack_graph
from tierstack.generator.output.docs.model import capability_order
from tierstack.generator.output.docs.resources import Resource, cloud_name, google_name, references, stack_resources

MARK = "<!-- Written by tierstack"  # the first line of every page starts with it


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
