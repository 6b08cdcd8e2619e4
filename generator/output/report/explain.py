"""What `tierstack explain` says, as data (`explain_data`): the answers, the tier and why, each selected
capability with the answers that selected it, what it can provision, what the synthesized stacks hold
and what they do not; the features per environment, each environment's serving class, protection,
budget and waivers; and the warnings about alerts nobody receives (`delivery_warnings`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tierstack.generator.config import guarantees
from tierstack.generator.config.blueprint import display_path
from tierstack.generator.config.provenance import Source
from tierstack.generator.facts.catalog import Catalog
from tierstack.generator.facts.monitoring import unreceived_alerts
from tierstack.generator.output.report.generated import (
    STACK_LINES,
    _no_lines,
    _provision_lines,
    resource_counts,
    synthesized_stacks,
)
from tierstack.generator.output.report.model import PlanView
from tierstack.generator.output.report.provisions import _not_provisioned, provision_checks
from tierstack.generator.plan.resolve import Resolved
from tierstack.generator.plan.selection import Reason, answer_text
from tierstack.modules import serving_slos


def _reason_data(reason: Reason, spec_file: str) -> dict[str, Any]:
    out: dict[str, Any] = {"answer": reason.field, "value": reason.value, "why": reason.why}
    if reason.line:
        out["at"] = Source.in_file(spec_file, reason.line).to_data()
    return out


def explain_data(
    resolved: Resolved, catalog: Catalog, stacks: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """What explain prints, as data. `stacks` maps each environment to its cdk.tf.json; by default the plan
    is synthesized here (seconds: the cdktn bindings load), so "provisions" says what the stacks really hold.
    """
    sel, spec = resolved.selection, resolved.loaded.spec
    spec_file = display_path(resolved.loaded.path)
    answers = spec.use_case.model_dump()
    answers["accelerator"] = str(spec.use_case.accelerator)
    if stacks is None:
        stacks = synthesized_stacks(resolved)
    envs = list(resolved.environments)
    counts = {env: resource_counts(stacks[env], catalog.ids) for env in envs}
    checks = provision_checks(resolved, stacks)
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
                "declared": _declared(catalog, cap_id, spec.use_case.serving),
                "provisions": [
                    *STACK_LINES.get(cap_id, _no_lines)(stacks, envs),
                    *_provision_lines({env: counts[env].get(cap_id, {}) for env in envs}, envs),
                ],
                "generated": {env: counts[env].get(cap_id, {}) for env in envs},
                "not_provisioned": _not_provisioned([c for c in checks if c.capability == cap_id], envs),
            }
            for cap_id, reasons in sel.capabilities.items()
        ],
        "features": {f: [_reason_data(r, spec_file) for r in rs] for f, rs in sorted(sel.features.items())},
        "feature_environments": _feature_environments(resolved),
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
                "resources": sum(n for by_type in counts[env.name].values() for n in by_type.values()),
            }
            for env in resolved.environments.values()
        ],
        "warnings": [*sel.warnings, *delivery_warnings(resolved)],
    }


def delivery_warnings(resolved: Resolved) -> list[str]:
    """Warnings about what the stacks will create but nobody will see (alerts without a channel)."""
    environments = {env.name: env.settings for env in resolved.environments.values()}
    from tierstack.modules import data_sources

    typed = {env.name: env.capabilities for env in resolved.environments.values()}
    silent = [*unreceived_alerts(typed), *serving_slos.unpaged(resolved.environments)]
    return [*silent, *data_sources.unreceived(environments)]


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


def _declared(catalog: Catalog, cap_id: str, serving: str) -> list[str]:
    """What the capability can provision, as its class declares it: the lines for the chosen serving mode."""
    items = catalog.capability(cap_id).provisions
    modes = ("online:", "batch:")
    return [i for i in items if not i.startswith(modes) or i.startswith(f"{serving}:")]


def _budget_text(budget: dict[str, Any]) -> str:
    if not budget.get("enabled"):
        return "off (no budget in tierstack.yaml)"
    amount = budget.get("amount")
    thresholds = ", ".join(f"{t:.0%}" for t in budget.get("thresholds", []))
    forecast = ", ".join(f"{t:.0%}" for t in budget.get("forecast_thresholds", []))
    currency = budget.get("currency")
    per_month = (
        f"{currency} {amount:g} a month" if currency else f"{amount:g} a month in the billing account's currency"
    )
    return f"{per_month}; alerts at {thresholds} actual, {forecast} forecast"


FEATURE_SETTINGS: dict[str, tuple[tuple[str, ...], Callable[[PlanView], bool]]] = {
    "cmek": (("encryption", "cmek"), lambda p: bool(p.value("encryption", "cmek") or p.value("encryption", "kms_key"))),
    "delete_protection": (("delete_protection",), lambda p: p.value("delete_protection") is True),
    "production_serving": (("serving_class",), lambda p: p.value("serving_class") == "production"),
    "training_pool": (
        ("capabilities", "model_training", "training_pool", "enabled"),
        lambda p: bool(p.value("capabilities", "model_training", "training_pool", "enabled")),
    ),
    "continuous_training": (
        ("capabilities", "ml_pipelines", "schedule"),
        lambda p: bool(p.value("capabilities", "ml_pipelines", "schedule")),
    ),
}


def _feature_environments(resolved: Resolved) -> dict[str, dict[str, Any]]:
    """For the features an environment's settings carry out: where they are on, and where not and why."""
    out: dict[str, dict[str, Any]] = {}
    for feature in sorted(resolved.selection.features):
        if feature not in FEATURE_SETTINGS:
            continue
        path, holds = FEATURE_SETTINGS[feature]
        on: list[str] = []
        off: dict[tuple[str, str | None], dict[str, list[dict[str, Any]]]] = {}
        for env in resolved.environments.values():
            plan = PlanView(resolved, env)
            if holds(plan):
                on.append(env.name)
                continue
            where = plan.where(*path)
            places = off.setdefault((plan.setting(*path), plan.waiver(feature)), {})
            places[env.name] = where.to_data() if where is not None else []
        out[feature] = {
            "on": on,
            "off": [
                {
                    "environments": list(places),
                    "setting": setting,
                    "set_at": {env: data for env, data in places.items() if data},
                    "waived": waived,
                }
                for (setting, waived), places in off.items()
            ],
        }
    return out
