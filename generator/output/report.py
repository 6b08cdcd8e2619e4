"""What the commands print: plain text for people, JSON/YAML for scripts.

Text output is built here by hand (no terminal width, no colour) so that it is
byte-identical between runs and can be checked in next to each example.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from tierstack.generator.config import guarantees
from tierstack.generator.config.blueprint import display_path
from tierstack.generator.config.provenance import Provenance, Source
from tierstack.generator.core.errors import json_printable
from tierstack.generator.core.fsio import MAX_JSON_BYTES, read_bytes_bounded
from tierstack.generator.core.yamlio import dump
from tierstack.generator.facts.catalog import Catalog
from tierstack.generator.facts.monitoring import environment_alerts, unreceived_alerts
from tierstack.generator.plan.resolve import Resolved, ResolvedEnvironment
from tierstack.generator.plan.selection import Reason, answer_text
from tierstack.generator.synth.stacks import STACK_FILE
from tierstack.modules import base, serving_slos


def as_data(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json_printable(json.dumps(data, indent=2, ensure_ascii=False)) + "\n"  # C1 escaped, as C0 is
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

    silent = [*unreceived_alerts(environments), *serving_slos.unpaged(environments)]
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


# --- what the plan generates: explain synthesizes it ---------------------------------------------
#
# A capability's `provisions` declaration says what it *can* create; what a plan creates depends on
# its settings (no billing account, no budget; no alert_email, no channel). explain synthesizes the
# plan as generate does and reports, per capability and environment, the resources the stacks hold
# (counted by address, `<type>.<capability>_<name>`, see modules/base.py). For what a capability can
# provision and this plan does not, the table below says which resource shows it and how to read the
# reason from the resolved settings (never from the declared text).

NO_CAPABILITY = "(no capability)"


def synthesized_stacks(resolved: Resolved) -> dict[str, dict[str, Any]]:
    """Each environment's cdk.tf.json as generate writes it, synthesized into a temporary directory."""
    from tierstack.generator.synth.stacks import synthesize

    with tempfile.TemporaryDirectory(prefix="tierstack-explain-") as tmp:
        synthesize(resolved, Path(tmp))
        stacks = Path(tmp) / "stacks"
        return {
            env.name: json.loads(read_bytes_bounded(stacks / env.stack / STACK_FILE, STACK_FILE, MAX_JSON_BYTES))
            for env in resolved.environments.values()
        }


def owner(name: str, capability_ids: Iterable[str]) -> str | None:
    """The capability a resource belongs to, by its name (`<capability>_<construct id>`): the longest id."""
    return base.capability_of(name, capability_ids)


def resource_counts(stack: Mapping[str, Any], capability_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """capability -> Terraform resource type -> how many of them a stack manages (data sources left out)."""
    ids = tuple(capability_ids)
    counts: dict[str, dict[str, int]] = {}
    for tf_type, bodies in sorted((stack.get("resource") or {}).items()):
        for name in bodies:
            by_type = counts.setdefault(owner(name, ids) or NO_CAPABILITY, {})
            by_type[tf_type] = by_type.get(tf_type, 0) + 1
    return counts


def _provision_lines(generated: dict[str, dict[str, int]], envs: list[str]) -> list[str]:
    """One line per resource type: `google_billing_budget ×1 (prod), none in dev`."""
    types = sorted({t for by_type in generated.values() for t in by_type})
    if not types:
        return ["no Terraform resources in any environment"]
    lines = []
    for tf_type in types:
        groups: dict[int, list[str]] = {}
        for env in envs:
            groups.setdefault(generated[env].get(tf_type, 0), []).append(env)
        parts = [f"×{n} ({', '.join(names)})" for n, names in groups.items() if n]
        if 0 in groups:
            parts.append(f"none in {', '.join(groups[0])}")
        lines.append(f"{tf_type} {', '.join(parts)}")
    return lines


def _label_lines(stacks: Mapping[str, Mapping[str, Any]], envs: list[str]) -> list[str]:
    """cost_controls' labels are no resource: the google providers' default_labels put them on every resource."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for env in envs:
        providers = (stacks[env].get("provider") or {}).get("google") or [{}]
        groups.setdefault(tuple(sorted(providers[0].get("default_labels") or {})), []).append(env)
    what = "cost labels on every labelable resource (the providers' default_labels)"
    return [
        f"{what}: {', '.join(keys)} ({', '.join(names)})" if keys else f"no cost labels in {', '.join(names)}"
        for keys, names in groups.items()
    ]


def _no_lines(stacks: Mapping[str, Mapping[str, Any]], envs: list[str]) -> list[str]:
    return []


# What a capability provides that is not a resource, read from the stacks (the label set is the provider's)
STACK_LINES: dict[str, Callable[[Mapping[str, Mapping[str, Any]], list[str]], list[str]]] = {
    "cost_controls": _label_lines,
    "serving_slos": serving_slos.explain_lines,  # the objectives each stack carries, and who they page
}


def _data_source_lines(stacks: Mapping[str, Mapping[str, Any]], envs: list[str]) -> list[str]:
    """The declared data sources, who reads them and what watches them (modules/data_sources.py)."""
    from tierstack.modules import data_sources

    return data_sources.explain_lines(stacks, envs)


STACK_LINES["data_sources"] = _data_source_lines


def _golden_set_lines(stacks: Mapping[str, Mapping[str, Any]], envs: list[str]) -> list[str]:
    """The golden set, who reads and writes it, and where evaluations go (modules/golden_set.py)."""
    from tierstack.modules import golden_set

    return golden_set.explain_lines(stacks, envs)


STACK_LINES["golden_set"] = _golden_set_lines


@dataclass(frozen=True)
class Absence:
    """Why a plan does not generate something its capability can provision, and how to have it."""

    why: str
    fix: str | None = None
    set_at: Provenance | None = None  # where the setting that decided it was set


@dataclass(frozen=True)
class PlanView:
    """One environment's resolved settings, read the way the reasons quote them."""

    resolved: Resolved
    env: ResolvedEnvironment

    def value(self, *path: str) -> Any:
        node: Any = self.env.settings
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node

    def where(self, *path: str) -> Provenance | None:
        """Where the setting was set: itself, else the first value under it, else the nearest key above it."""
        provenance = self.env.provenance
        if path in provenance:
            return provenance[path]
        under = sorted(key for key in provenance if key[: len(path)] == path)
        if under:
            return provenance[under[0]]
        for end in range(len(path) - 1, 0, -1):
            if path[:end] in provenance:
                return provenance[path[:end]]
        return None

    def setting(self, *path: str) -> str:
        """`encryption.cmek = false`; where it was set goes beside the reason (`set_at`)."""
        return f"{'.'.join(path)} = {json.dumps(self.value(*path), ensure_ascii=False)}"

    def absence(self, why: str, fix: str | None, *path: str) -> Absence:
        return Absence(why, fix, self.where(*path))

    def capability(self, capability: str) -> dict[str, Any]:
        return dict((self.env.settings.get("capabilities") or {}).get(capability) or {})

    def selected(self, capability: str) -> bool:
        return capability in (self.env.settings.get("capabilities") or {})

    @property
    def online(self) -> bool:
        return self.selected("model_serving") and self.capability("model_serving").get("mode", "online") == "online"

    @property
    def batch(self) -> bool:
        return self.selected("model_serving") and self.capability("model_serving").get("mode") == "batch"

    def waiver(self, guarantee: str) -> str | None:
        """The reason of the waiver that weakens `guarantee` in this environment, if one does."""
        return next(
            (w["reason"] for w in guarantees.applied(self.resolved, self.env.name) if w["guarantee"] == guarantee),
            None,
        )

    def env_override(self, text: str) -> str:
        """A fix in the environment's own overrides (named once the environments it is for are grouped)."""
        return f"add {ENV_OVERRIDES}: {text} to tierstack.yaml"


ENV_OVERRIDES = "environments.<environment>.overrides"  # in a fix: each environment it is for


def _always(plan: PlanView) -> bool:
    return True


@dataclass(frozen=True)
class Provision:
    """Something a capability can provision that depends on the plan's settings.

    Generated when the capability's resource `<type>.<capability>_<name>` is in the stack (any name
    matching one of `names`), and, with `attribute`, sets that argument. `absent` reads the resolved
    settings: None when they ask for it, else why not; `applies` keeps it out where it has no sense
    (endpoint alerts without an online endpoint), as the declared lines do.
    """

    capability: str
    what: str
    resource_type: str
    names: tuple[str, ...]
    absent: Callable[[PlanView], Absence | None]
    attribute: str | None = None
    applies: Callable[[PlanView], bool] = _always

    def generated(self, stack: Mapping[str, Any]) -> bool:
        bodies = (stack.get("resource") or {}).get(self.resource_type) or {}
        patterns = [f"{self.capability}_{name}" for name in self.names]
        return any(
            any(fnmatchcase(name, pattern) for pattern in patterns)
            and (self.attribute is None or body.get(self.attribute) not in (None, {}, []))
            for name, body in bodies.items()
        )


FIX_BUDGET = (
    "add budget: {billing_account: ..., amount: ...} to tierstack.yaml "
    "(the billing account id, 012345-6789AB-CDEF01, and a monthly amount per environment)"
)
FIX_ALERT_EMAIL = "add variables: {alert_email: ...} to tierstack.yaml (who receives the alerts)"
FIX_CMEK = (
    "add overrides: {encryption: {cmek: true}} to tierstack.yaml (a key per stack), or "
    "variables: {kms_key: projects/P/locations/L/keyRings/R/cryptoKeys/K} (a key of your own)"
)


def _no_ci(plan: PlanView) -> Absence | None:
    if "ci" in (plan.capability("foundation").get("service_accounts") or []):
        return None
    return plan.absence(
        f"CI/CD comes with tier 2 (this plan is tier {plan.resolved.selection.tier}): "
        + plan.setting("capabilities", "foundation", "service_accounts"),
        "set use_case.code_changes: frequent (or tier: 2) in tierstack.yaml, "
        "with variables: {ci_repository: OWNER/NAME}",
        "capabilities",
        "foundation",
        "service_accounts",
    )


def _no_personas(plan: PlanView) -> Absence | None:
    if any((plan.capability("foundation").get("persona_groups") or {}).values()):
        return None
    return plan.absence(
        "no group is named in capabilities.foundation.persona_groups",
        "add variables: {data_scientists_group: ..., ml_engineers_group: ..., viewers_group: ...} to "
        "tierstack.yaml (Google group emails; any of them)",
        "capabilities",
        "foundation",
        "persona_groups",
    )


def _budget_off(plan: PlanView) -> Absence | None:
    if plan.value("budget", "enabled"):
        return None
    given = plan.resolved.loaded.spec.budget
    if given is None or given.billing_account is None:
        why = "budget.billing_account is not set in tierstack.yaml, so budgets are off"
        return plan.absence(f"{why}: {plan.setting('budget', 'enabled')}", FIX_BUDGET, "budget", "enabled")
    return plan.absence(
        f"budgets are off: {plan.setting('budget', 'enabled')}",
        "remove budget.enabled: false from tierstack.yaml",
        "budget",
        "enabled",
    )


def _budget_on(plan: PlanView) -> bool:
    return bool(plan.value("budget", "enabled"))


def _no_budget_topic(plan: PlanView) -> Absence | None:
    if plan.capability("cost_controls").get("budget_topic"):
        return None
    path = ("capabilities", "cost_controls", "budget_topic")
    fix = "add overrides: {capabilities: {cost_controls: {budget_topic: true}}} to tierstack.yaml"
    return plan.absence(plan.setting(*path), fix, *path)


def _own_network(plan: PlanView) -> Absence | None:
    path = ("capabilities", "experimentation", "workbench", "subnet")
    if plan.value(*path) is None:
        return None
    return plan.absence(f"the notebook uses an existing subnetwork: {plan.setting(*path)}", None, *path)


def _no_tensorboard(plan: PlanView) -> Absence | None:
    path = ("capabilities", "experimentation", "tensorboard")
    if plan.value(*path):
        return None
    fix = "add overrides: {capabilities: {experimentation: {tensorboard: true}}} to tierstack.yaml"
    return plan.absence(plan.setting(*path), fix, *path)


def _no_dataflow(plan: PlanView) -> Absence | None:
    path = ("capabilities", "data_processing", "dataflow")
    if plan.value(*path):
        return None
    fix = "add overrides: {capabilities: {data_processing: {dataflow: true}}} to tierstack.yaml"
    return plan.absence(plan.setting(*path), fix, *path)


def _no_pool(plan: PlanView) -> Absence | None:
    path = ("capabilities", "model_training", "training_pool", "enabled")
    if plan.value(*path):
        return None
    setting = plan.setting(*path)
    if plan.resolved.loaded.spec.use_case.accelerator.kind == "tpu":
        return plan.absence(f"TPUs train as on-demand jobs (a pool cannot hold a TPU slice): {setting}", None, *path)
    return plan.absence(
        f"training runs as on-demand jobs here: {setting}",
        plan.env_override("{capabilities: {model_training: {training_pool: {enabled: true}}}}")
        + " (an always-on pool bills every hour)",
        *path,
    )


def _no_request_logs(plan: PlanView) -> Absence | None:
    path = ("capabilities", "model_serving", "request_logging", "enabled")
    if plan.value(*path) or plan.value("serving_class") == "production":
        return None
    return plan.absence(
        f"the {plan.value('serving_class')} serving class does not ask for it, and {plan.setting(*path)}",
        "add overrides: {capabilities: {model_serving: {request_logging: {enabled: true}}}} to tierstack.yaml",
        *path,
    )


def _no_batch_schedule(plan: PlanView) -> Absence | None:
    path = ("capabilities", "model_serving", "batch_schedule")
    if plan.value(*path):
        return None
    return plan.absence(
        f"batch predictions run by hand: {plan.setting(*path)}",
        "add variables: {batch_schedule: CRON, batch_model: NAME@ALIAS} to tierstack.yaml",
        *path,
    )


def _alerts(plan: PlanView) -> list[str]:
    return environment_alerts(plan.env.settings.get("capabilities") or {})


def _no_alert_channel(plan: PlanView) -> Absence | None:
    path = ("capabilities", "model_monitoring", "notification_email")
    if plan.value(*path):
        return None
    alerts = len(_alerts(plan))
    who = f"its {alerts} alert {'policy notifies' if alerts == 1 else 'policies notify'} nobody" if alerts else "no one"
    return plan.absence(f"{who}: {plan.setting(*path)}", FIX_ALERT_EMAIL, *path)


def _no_alert(setting: str) -> Callable[[PlanView], Absence | None]:
    def absent(plan: PlanView) -> Absence | None:
        path = ("capabilities", "model_monitoring", "alerts", setting)
        value = plan.value(*path)
        if value is not None and value is not False:
            return None
        fix = f"add overrides: {{capabilities: {{model_monitoring: {{alerts: {{{setting}: ...}}}}}}}} to tierstack.yaml"
        return plan.absence(f"switched off: {plan.setting(*path)}", fix, *path)

    return absent


def _no_pipeline_alert(plan: PlanView) -> Absence | None:
    if not plan.selected("ml_pipelines"):
        return Absence("no pipeline runs to watch: ml_pipelines is not selected")
    return _no_alert("pipeline_failures")(plan)


def _no_retraining(plan: PlanView) -> Absence | None:
    if not plan.selected("ml_pipelines"):
        return Absence("no pipeline to start: ml_pipelines is not selected")
    path = ("capabilities", "ml_pipelines", "retrain_on_degradation")
    if plan.value(*path):
        return None
    fix = plan.env_override("{capabilities: {ml_pipelines: {retrain_on_degradation: true}}}")
    return plan.absence(f"this environment does not retrain on degradation: {plan.setting(*path)}", fix, *path)


def _no_schedule(plan: PlanView) -> Absence | None:
    path = ("capabilities", "ml_pipelines", "schedule")
    if plan.value(*path):
        return None
    cron = json.dumps(plan.resolved.loaded.spec.use_case.schedule or "CRON")
    fix = plan.env_override(f"{{capabilities: {{ml_pipelines: {{schedule: {cron}}}}}}}")
    return plan.absence(f"pipelines run by hand here: {plan.setting(*path)}", fix, *path)


def _not_encrypted(plan: PlanView) -> Absence | None:
    if plan.value("encryption", "cmek") or plan.value("encryption", "kms_key"):
        return None
    why = f"Google-managed keys: no encryption.kms_key, and {plan.setting('encryption', 'cmek')}"
    waived = plan.waiver("cmek")
    if waived:
        why = f"the cmek guarantee is waived ({waived}), so {why[0].lower()}{why[1:]}"
    return plan.absence(why, FIX_CMEK, "encryption", "cmek")


def _scheduled(plan: PlanView) -> bool:
    """Continuous training is the use case's way of retraining, or the environment asks for it anyway."""
    return plan.resolved.loaded.spec.use_case.retraining == "scheduled" or bool(
        plan.value("capabilities", "ml_pipelines", "schedule")
    )


def _on_degradation(plan: PlanView) -> bool:
    """Retraining on degradation is the use case's way of retraining, or the environment asks for it anyway."""
    use_case = plan.resolved.loaded.spec.use_case
    return (use_case.retraining == "on_degradation" and use_case.retraining_trigger == "automatic") or bool(
        plan.value("capabilities", "ml_pipelines", "retrain_on_degradation")
    )


def _not_private(plan: PlanView) -> Absence | None:
    """Why the endpoint is not reached through Private Service Connect, though the stack has a network."""
    path = ("capabilities", "model_serving", "private")
    if plan.value(*path) == "psc":
        return None
    if plan.value("capabilities", "model_serving", "network"):
        return plan.absence(
            "the endpoint is VPC-peered with capabilities.model_serving.network instead (one or the other)",
            None,
            "capabilities",
            "model_serving",
            "network",
        )
    return plan.absence(
        f"the endpoint is public ({plan.setting(*path)}), though private serving is available: the stack has "
        "a network (experimentation's) where a forwarding rule can reach it",
        "add variables: {serving_private: psc} to tierstack.yaml (Private Service Connect; the forwarding rule "
        "goes in that network once a model is deployed)",
        *path,
    )


def _online_with_network(plan: PlanView) -> bool:
    """An online endpoint in a stack that has a network: experimentation's (its own or the one it names)."""
    return plan.online and plan.selected("experimentation")


def _accelerated(plan: PlanView) -> bool:
    return plan.resolved.loaded.spec.use_case.accelerator.kind != "none"


def _online(plan: PlanView) -> bool:
    return plan.online


def _batch(plan: PlanView) -> bool:
    return plan.batch


PROVISIONS: tuple[Provision, ...] = (
    Provision(
        "foundation",
        "a CI identity signing in through Workload Identity Federation",
        "google_iam_workload_identity_pool",
        ("ci_pool",),
        _no_ci,
    ),
    Provision(
        "foundation",
        "project roles for persona groups",
        "google_project_iam_member",
        ("data_scientists_*", "ml_engineers_*", "viewers_*"),
        _no_personas,
    ),
    Provision("cost_controls", "a billing budget", "google_billing_budget", ("budget",), _budget_off),
    Provision(
        "cost_controls",
        "a Pub/Sub topic for budget notifications",
        "google_pubsub_topic",
        ("budget_topic",),
        _no_budget_topic,
        applies=_budget_on,
    ),
    Provision(
        "experimentation",
        "a VPC network and subnetwork for the notebook",
        "google_compute_network",
        ("network",),
        _own_network,
    ),
    Provision(
        "experimentation", "a Vertex AI TensorBoard", "google_vertex_ai_tensorboard", ("tensorboard",), _no_tensorboard
    ),
    Provision(
        "data_processing",
        "a Dataflow staging bucket and worker service account",
        "google_service_account",
        ("dataflow_sa",),
        _no_dataflow,
    ),
    Provision(
        "model_training",
        "an always-on training pool",
        "google_vertex_ai_persistent_resource",
        ("pool",),
        _no_pool,
        applies=_accelerated,
    ),
    Provision(
        "model_serving",
        "request/response logging to BigQuery",
        "google_bigquery_dataset",
        ("serving_logs_dataset",),
        _no_request_logs,
        applies=_online,
    ),
    Provision(
        "model_serving",
        "private serving: the endpoint through Private Service Connect",
        "google_vertex_ai_endpoint",
        ("endpoint",),
        _not_private,
        attribute="private_service_connect_config",
        applies=_online_with_network,
    ),
    Provision(
        "model_serving",
        "a Cloud Scheduler job that starts batch prediction",
        "google_cloud_scheduler_job",
        ("batch_prediction",),
        _no_batch_schedule,
        applies=_batch,
    ),
    Provision(
        "model_monitoring",
        "an email notification channel for the alerts",
        "google_monitoring_notification_channel",
        ("email",),
        _no_alert_channel,
    ),
    Provision(
        "model_monitoring",
        "an alert policy on the endpoint's error ratio",
        "google_monitoring_alert_policy",
        ("endpoint_errors_alert",),
        _no_alert("endpoint_error_rate"),
        applies=_online,
    ),
    Provision(
        "model_monitoring",
        "an alert policy on the model's p99 latency",
        "google_monitoring_alert_policy",
        ("endpoint_latency_alert",),
        _no_alert("endpoint_latency_p99_ms"),
        applies=_online,
    ),
    Provision(
        "model_monitoring",
        "an alert policy on failed pipeline runs",
        "google_monitoring_alert_policy",
        ("pipeline_failures_alert",),
        _no_pipeline_alert,
    ),
    Provision(
        "model_monitoring",
        "a Pub/Sub notification channel that starts retraining",
        "google_monitoring_notification_channel",
        ("retraining",),
        _no_retraining,
        applies=_on_degradation,
    ),
    Provision(
        "ml_pipelines",
        "a Cloud Scheduler job for continuous training",
        "google_cloud_scheduler_job",
        ("schedule",),
        _no_schedule,
        applies=_scheduled,
    ),
    Provision(
        "ml_pipelines",
        "a retraining topic, Eventarc trigger and workflow",
        "google_pubsub_topic",
        ("retraining_topic",),
        _no_retraining,
        applies=_on_degradation,
    ),
    Provision(
        "metadata_tracking",
        "a customer-managed encryption key on the metadata store",
        "google_vertex_ai_metadata_store",
        ("store",),
        _not_encrypted,
        attribute="encryption_spec",
    ),
)


def _no_source_channel(plan: PlanView) -> Absence | None:
    from tierstack.modules.data_sources import team_email

    if team_email(plan.env.settings.get("capabilities") or {}):
        return None
    path = ("capabilities", "data_sources", "notification_email")
    return plan.absence(f"the data source alert notifies nobody: {plan.setting(*path)}", FIX_ALERT_EMAIL, *path)


def _has_sources(plan: PlanView) -> bool:
    return bool(plan.capability("data_sources").get("sources"))


PROVISIONS += (
    Provision(
        "data_sources",
        "an email notification channel for the data source alert",
        "google_monitoring_notification_channel",
        ("email",),
        _no_source_channel,
        applies=_has_sources,
    ),
)

UNEXPLAINED = Absence(
    "not generated, though the settings ask for it",
    "this is a bug in tierstack: please report it with this tierstack.yaml",
)


@dataclass(frozen=True)
class ProvisionCheck:
    """One conditional provision in one environment: generated or not, and what the settings say."""

    provision: Provision
    environment: str
    generated: bool  # read from the synthesized stack
    absence: Absence | None  # read from the resolved settings: None when they ask for it

    @property
    def capability(self) -> str:
        return self.provision.capability


def provision_checks(resolved: Resolved, stacks: Mapping[str, Mapping[str, Any]]) -> list[ProvisionCheck]:
    """Every conditional provision of the selected capabilities that applies, per environment."""
    out = []
    for provision in PROVISIONS:
        for env in resolved.environments.values():
            plan = PlanView(resolved, env)
            if plan.selected(provision.capability) and provision.applies(plan):
                generated = provision.generated(stacks[env.name])
                out.append(ProvisionCheck(provision, env.name, generated, provision.absent(plan)))
    return out


def _not_provisioned(checks: list[ProvisionCheck], envs: list[str]) -> list[dict[str, Any]]:
    """What the capability can provision and this plan does not, one entry per reason across environments.

    `set_at` maps each environment to where its deciding setting was set (a role's line differs from another's).
    """
    grouped: dict[tuple[str, str, str | None], dict[str, Provenance | None]] = {}
    for check in checks:
        if not check.generated:
            absence = check.absence or UNEXPLAINED
            key = (check.provision.what, absence.why, absence.fix)
            grouped.setdefault(key, {})[check.environment] = absence.set_at
    out = []
    for (what, why, fix), where in grouped.items():
        names = sorted(where, key=envs.index)
        if fix is not None:
            fix = fix.replace(ENV_OVERRIDES, " and ".join(f"environments.{name}.overrides" for name in names))
        out.append(
            {
                "what": what,
                "environments": names,
                "why": why,
                "fix": fix,
                "set_at": {name: where[name].to_data() for name in names if where[name] is not None},  # type: ignore[union-attr]
            }
        )
    return out


def _where_text(set_at: Mapping[str, list[dict[str, Any]]]) -> str:
    """`tierstack:level-0-manual:13`, or `tierstack:level-1-pipeline-automation:61 (dev), ...:44 (prod)`."""
    places: dict[str, list[str]] = {}
    for env, data in set_at.items():
        places.setdefault(str(Provenance.from_data(data)), []).append(env)
    if len(places) == 1:
        return next(iter(places))
    return ", ".join(f"{place} ({', '.join(names)})" for place, names in places.items())


# --- features, per environment -------------------------------------------------------------------

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
