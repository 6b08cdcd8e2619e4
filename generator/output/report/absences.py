"""Why a plan does not generate what its capability can provision: one function per reason, reading the
resolved settings (never the declared text) through a PlanView and returning None when they ask for it,
else an Absence with the fix; and the predicates that keep a provision out where it has no sense."""

from __future__ import annotations

import json
from collections.abc import Callable

from tierstack.generator.facts.monitoring import environment_alerts
from tierstack.generator.output.report.model import Absence, PlanView

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
    return environment_alerts(plan.env.capabilities)


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


def _no_source_channel(plan: PlanView) -> Absence | None:
    from tierstack.modules.data_sources import team_email

    if team_email(plan.env.settings.get("capabilities") or {}):
        return None
    path = ("capabilities", "data_sources", "notification_email")
    return plan.absence(f"the data source alert notifies nobody: {plan.setting(*path)}", FIX_ALERT_EMAIL, *path)


def _has_sources(plan: PlanView) -> bool:
    return bool(plan.capability("data_sources").get("sources"))
