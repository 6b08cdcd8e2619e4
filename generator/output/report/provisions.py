"""The provision rows per capability (PROVISIONS), each with its reason from absences.py; the checks of a
plan's stacks against them per environment (`provision_checks`); and what explain lists as not
provisioned, one entry per reason across environments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tierstack.generator.config.provenance import Provenance
from tierstack.generator.output.report.absences import (
    _accelerated,
    _batch,
    _budget_off,
    _budget_on,
    _has_sources,
    _no_alert,
    _no_alert_channel,
    _no_batch_schedule,
    _no_budget_topic,
    _no_ci,
    _no_dataflow,
    _no_personas,
    _no_pipeline_alert,
    _no_pool,
    _no_request_logs,
    _no_retraining,
    _no_schedule,
    _no_source_channel,
    _no_tensorboard,
    _not_encrypted,
    _not_private,
    _on_degradation,
    _online,
    _online_with_network,
    _own_network,
    _scheduled,
)
from tierstack.generator.output.report.model import ENV_OVERRIDES, UNEXPLAINED, PlanView, Provision, ProvisionCheck
from tierstack.generator.plan.resolve import Resolved

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
