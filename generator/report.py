"""What the commands print: plain text for people, JSON/YAML for scripts.

Text output is built here by hand (no terminal width, no colour) so that it is
byte-identical between runs and can be checked in next to each example.
"""

from __future__ import annotations

import json
from typing import Any

from tierstack.generator import guarantees
from tierstack.generator.blueprint import display_path
from tierstack.generator.catalog import Catalog
from tierstack.generator.monitoring import unreceived_alerts
from tierstack.generator.provenance import Source
from tierstack.generator.resolve import Resolved
from tierstack.generator.selection import Reason, answer_text
from tierstack.generator.yamlio import dump


def as_data(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return dump(data)


# --- catalog -------------------------------------------------------------------------------------


def catalog_data(catalog: Catalog) -> list[dict[str, Any]]:
    return [c.model_dump() for c in catalog.capabilities]


def tiers_data(catalog: Catalog) -> list[dict[str, Any]]:
    return [t.model_dump() | {"capabilities": list(catalog.tier_capabilities(t.level))} for t in catalog.tiers]


# --- explain -------------------------------------------------------------------------------------


def _reason_data(reason: Reason, spec_file: str) -> dict[str, Any]:
    out: dict[str, Any] = {"answer": reason.field, "value": reason.value, "why": reason.why}
    if reason.line:
        out["at"] = Source.in_file(spec_file, reason.line).to_data()
    return out


def explain_data(resolved: Resolved, catalog: Catalog) -> dict[str, Any]:
    sel, spec = resolved.selection, resolved.loaded.spec
    spec_file = display_path(resolved.loaded.path)
    answers = spec.use_case.model_dump()
    answers["accelerator"] = str(spec.use_case.accelerator)
    return {
        "name": spec.name,
        "team": spec.team,
        "answers": {k: answer_text(v) if v is not None else None for k, v in answers.items()},
        "tier": sel.tier,
        "tier_name": catalog.tier(sel.tier).name,
        "recommended_tier": sel.recommended_tier,
        "tier_pinned": sel.pinned,
        "tier_reasons": sel.tier_reasons,
        "blueprint": resolved.blueprint.chain,
        "capabilities": [
            {
                "id": cap_id,
                "name": catalog.capability(cap_id).name,
                "reasons": [_reason_data(r, spec_file) for r in reasons],
                "provisions": _provisions(catalog, cap_id, spec.use_case.serving),
            }
            for cap_id, reasons in sel.capabilities.items()
        ],
        "features": {f: [_reason_data(r, spec_file) for r in rs] for f, rs in sorted(sel.features.items())},
        "not_selected": [c for c in catalog.ids if c not in sel.capabilities],
        "removed": list(sel.removed),
        "gaps": list(sel.gaps),
        "environments": [
            {
                "name": env.name,
                "stack": env.stack,
                "role": env.role,
                "project": env.project,
                "region": env.region,
                "serving_class": env.settings.get("serving_class"),
                "serving_class_reason": _serving_class_reason(env, spec.use_case.serving),
                "delete_protection": env.settings.get("delete_protection"),
                "budget": _budget_text(env.settings.get("budget") or {}),
                "waivers": guarantees.applied(resolved, env.name),
            }
            for env in resolved.environments.values()
        ],
        "warnings": [*sel.warnings, *delivery_warnings(resolved)],
    }


def delivery_warnings(resolved: Resolved) -> list[str]:
    """Warnings about what the stacks will create but nobody will see (alerts without a channel)."""
    return unreceived_alerts({env.name: env.settings for env in resolved.environments.values()})


def _serving_class_reason(env: Any, serving: str) -> str:
    """Why this environment's endpoint has its serving class (the ML-SRE rule, or who overrode it)."""
    chosen = env.settings.get("serving_class")
    if serving != "online":
        return "no online endpoint"
    if env.role == "production":
        if chosen == "production":
            return "a production environment serving online"
        source = env.provenance.get(("serving_class",))
        return f"asked for by {source if source is not None else 'an override'}"
    return f"a {env.role} environment"


def _provisions(catalog: Catalog, cap_id: str, serving: str) -> list[str]:
    """The catalog's list, keeping only the lines for the chosen serving mode ('online: ...')."""
    items = catalog.capability(cap_id).provisions
    modes = ("online:", "batch:")
    return [i for i in items if not i.startswith(modes) or i.startswith(f"{serving}:")]


def _budget_text(budget: dict[str, Any]) -> str:
    if not budget.get("enabled"):
        return "off (no budget in tierstack.yaml)"
    amount = budget.get("amount")
    thresholds = ", ".join(f"{t:.0%}" for t in budget.get("thresholds", []))
    forecast = ", ".join(f"{t:.0%}" for t in budget.get("forecast_thresholds", []))
    currency = budget.get("currency") or "in the billing account's currency"
    return f"{amount:g} {currency}/month; alerts at {thresholds} actual, {forecast} forecast"


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
        for item in cap["provisions"]:
            add(f"    provisions: {item}")
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
    add("")
    add("Environments (one stack each)")
    for env in data["environments"]:
        add(f"  {env['stack']}: {env['role']}, project {env['project']}, {env['region']}")
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


# --- show ----------------------------------------------------------------------------------------


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


def resolved_provenance_data(resolved: Resolved) -> dict[str, Any]:
    """The plan and, for every value, the places that set it as data: [{file, line}], [{blueprint, line}], ..."""
    return {
        "resolved": resolved.to_data(),
        "provenance": {key: source.to_data() for key, source in resolved.provenance().items()},
    }
