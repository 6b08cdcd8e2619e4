"""The reports as plain text for people, built by hand (no terminal width, no colour) so that they are
byte-identical between runs and can be checked in beside each example: explain's (`explain_text`) and
the resolved plan's, with where each value was set (`resolved_text`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tierstack.generator.config.provenance import Provenance
from tierstack.generator.core.yamlio import dump
from tierstack.generator.plan.resolve import Resolved
from tierstack.generator.plan.selection import answer_text


def _where_text(set_at: Mapping[str, list[dict[str, Any]]]) -> str:
    """`tierstack:level-0-manual:13`, or `tierstack:level-1-pipeline-automation:61 (dev), ...:44 (prod)`."""
    places: dict[str, list[str]] = {}
    for env, data in set_at.items():
        places.setdefault(str(Provenance.from_data(data)), []).append(env)
    if len(places) == 1:
        return next(iter(places))
    return ", ".join(f"{place} ({', '.join(names)})" for place, names in places.items())


def explain_text(data: dict[str, Any]) -> str:
    out: list[str] = []
    add = out.append
    tier_note = f"pinned; recommended tier {data['recommended_tier']}" if data["tier_pinned"] else "recommended"
    add(f"{data['name']} (team {data['team']})")
    add(f"tier {data['tier']}: {data['tier_name']} ({tier_note})")
    add(f"blueprint: {' -> '.join(data['blueprint'])}")
    add("")
    add("Answers")
    width = max(len(k) for k in data["answers"])
    for key, value in data["answers"].items():
        add(f"  {key:<{width}}  {value if value is not None else '-'}")
    add("")
    add(f"Capabilities ({len(data['capabilities'])} of {len(data['capabilities']) + len(data['not_selected'])})")
    for cap in data["capabilities"]:
        add(f"  {cap['id']} — {cap['name']}")
        for reason in cap["reasons"]:
            add(f"    because {_reason_line(reason)}")
        for item in cap["declared"]:
            add(f"    can provision: {item}")
        for item in cap["provisions"]:
            add(f"    provisions: {item}")
        for missing in cap["not_provisioned"]:
            add(f"    not provisioned in {', '.join(missing['environments'])}: {missing['what']}")
            where = f" (set at {_where_text(missing['set_at'])})" if missing["set_at"] else ""
            add(f"      because {missing['why']}{where}")
            if missing["fix"]:
                add(f"      to have it: {missing['fix']}")
    if data["not_selected"]:
        add(f"  not selected: {', '.join(data['not_selected'])}")
    if data["removed"]:
        add(f"  removed in tierstack.yaml: {', '.join(data['removed'])}")
    if data["gaps"]:
        add(f"  gaps allowed by allow_gaps: {', '.join(data['gaps'])}")
    add("")
    add(f"Tier {data['tier']} because")
    for reason in data["tier_reasons"]:
        add(f"  - {reason}")
    if data["features"]:
        add("")
        add("Features")
        for feat, reasons in data["features"].items():
            add(f"  {feat}: {'; '.join(_reason_line(r, why=False) for r in reasons)}")
            where = data["feature_environments"].get(feat)
            if where is not None:
                add(f"    on in {', '.join(where['on']) or 'no environment'}")
                for off in where["off"]:
                    place = f" ({_where_text(off['set_at'])})" if off["set_at"] else ""
                    waived = f"; waived: {off['waived']}" if off["waived"] else ""
                    add(f"    off in {', '.join(off['environments'])}: {off['setting']}{place}{waived}")
    add("")
    add("Environments (one stack each)")
    for env in data["environments"]:
        add(f"  {env['stack']}: {env['role']}, project {env['project']}, {env['region']}, {env['resources']} resources")
        add(
            f"    serving class {env['serving_class']} ({env['serving_class_reason']}), "
            f"delete protection {answer_text(env['delete_protection'])}"
        )
        for waiver in env.get("waivers", []):
            add(f"    WAIVED {waiver['guarantee']}: {waiver['promise']}; because {waiver['reason']}")
        add(f"    budget {env['budget']}")
    if data["warnings"]:
        add("")
        add("Warnings")
        for warning in data["warnings"]:
            add(f"  ! {warning}")
    return "\n".join(out) + "\n"


def _reason_line(reason: dict[str, Any], why: bool = True) -> str:
    if reason["answer"] == "always":
        return f"always: {reason['why']}"
    if reason["answer"] == "requires":
        return f"{reason['value']} requires it"
    head = f"{reason['answer']} = {reason['value']}"
    if reason.get("at"):
        head += f" (line {reason['at']['line']})"
    return f"{head}: {reason['why']}" if why else head


def resolved_text(resolved: Resolved, provenance: bool) -> str:
    """The plan as YAML; with provenance, one line per value and where it was set (the edge that formats it)."""
    data = resolved.to_data()
    if not provenance:
        return dump(data)
    leaves = resolved.leaves()
    width = max((len(key) for key, _, _ in leaves), default=0)
    lines = [f"# {k}: {json.dumps(v)}" for k, v in data.items() if k != "environments"]
    for key, value, source in leaves:
        lines.append(f"{key:<{width}} = {json.dumps(value, ensure_ascii=False)}  # {source}")
    return "\n".join(lines) + "\n"
