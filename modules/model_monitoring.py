"""model_monitoring: the monitoring dataset, alert policies that Cloud Monitoring can evaluate, a channel.

Every metric an alert reads comes from generator/data/metric_types.yaml (real
Cloud Monitoring metric types, with their source), through
`tierstack.generator.facts.monitoring.metric()`, so a filter cannot name a metric,
label or resource type that does not exist. What each alert means:

- endpoint errors: a ratio, errors over responses, per endpoint
  (`prediction/online/error_count` / `prediction/online/response_count`, both
  summed per endpoint over five minutes); `endpoint_error_rate` is a fraction
  (0.05 = 5 % of requests fail). Shaped like Google's ratio example:
  https://cloud.google.com/monitoring/alerts/policies-in-json (ratio policies).
- endpoint latency: the 99th percentile of the model's own latency
  (`prediction_latencies` with `latency_type = "model"`; the other value,
  `overhead`, is Vertex AI's share), per deployed model, in ms, the metric's unit.
- pipeline failures: Vertex AI has no metric that counts failed PipelineJobs
  (only `pipelinejob/duration` and the task count). Google's documented way is a
  log-based metric on the PipelineJob's state-change log entries:
  `resource.type="aiplatform.googleapis.com/PipelineJob"` and
  `jsonPayload.state="PIPELINE_STATE_FAILED"`
  (https://cloud.google.com/vertex-ai/docs/pipelines/metrics, "custom metrics",
  read 2026-11-25). The module alerts on those entries with a log-match
  condition (no `google_logging_metric`: an alert on a log-based metric created
  in the same apply answers 404 for up to 10 minutes, provider issue 11102),
  one incident per run (label pipeline_job_id), at most one notification per
  run every 5 minutes.

Drift and skew: the Google provider 8.7 has no resource for Vertex AI Model
Monitoring (no ModelMonitor, no ModelDeploymentMonitoringJob, in google or
google-beta), and a monitoring job needs a deployed model, which a pipeline
creates, not Terraform. So the stack provisions what such a job writes to (the
monitoring dataset) and hands the job its threshold: `drift_threshold` becomes
the Terraform output `model_monitoring_drift_threshold`, the default
per-feature drift threshold (Vertex AI's distance score, 0 to 1; Vertex's own
default is 0.3) that the pipeline reads with `terraform output` when it creates
the monitoring job for the model it deploys. One reviewed value per
environment, instead of a constant in pipeline code.

Without `notification_email` (the blueprints set it from `alert_email`) the
policies have no channel: `explain` and `generate` warn, see
`tierstack.generator.facts.monitoring.unreceived_alerts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from tierstack.generator.config.settings import Email, Purpose, Settings
from tierstack.generator.facts.monitoring import metric, planned_alerts, resource_labels
from tierstack.modules.base import CapabilityModule, Upstream

if TYPE_CHECKING:
    from cdktn_provider_google.monitoring_alert_policy import MonitoringAlertPolicyConditionsConditionThreshold


class Alerts(Settings):
    endpoint_error_rate: Annotated[float, Field(gt=0, lt=1)] | None = None  # a fraction of requests
    endpoint_latency_p99_ms: Annotated[float, Field(gt=0)] | None = None
    pipeline_failures: bool = False


class ModelMonitoringSettings(Settings):
    dataset: Purpose
    notification_email: Email | None = None
    alerts: Alerts
    drift_threshold: Annotated[float, Field(gt=0, le=1)]


ERRORS = metric("aiplatform.googleapis.com/prediction/online/error_count")
RESPONSES = metric("aiplatform.googleapis.com/prediction/online/response_count")
LATENCY = metric("aiplatform.googleapis.com/prediction/online/prediction_latencies")
PIPELINE_JOB = "aiplatform.googleapis.com/PipelineJob"
FAILED_RUNS = f'resource.type = "{PIPELINE_JOB}" AND jsonPayload.state = "PIPELINE_STATE_FAILED"'
WINDOW = "300s"


class ModelMonitoring(CapabilityModule):
    capability = "model_monitoring"
    title = "Model monitoring"
    definition = "Watching deployed models for skew, drift and operational health, and alerting when they degrade."
    process = "continuous monitoring"
    provisions = (
        (
            "monitoring results dataset, for the drift and skew monitoring job the pipeline creates (Google "
            "provider 8.7 has no Terraform resource for Vertex AI Model Monitoring)"
        ),
        "drift_threshold as a Terraform output, the threshold that job reads",
        (
            "with retraining on degradation: a Pub/Sub notification channel on the retraining topic (output "
            "model_monitoring_retraining_channel) for that job's anomalies"
        ),
        "online: alert policies on the endpoint's error ratio (errors / responses) and the model's p99 latency",
        "alert policy on failed pipeline runs, matching their log entries, when ml_pipelines runs them",
        "email notification channel, when alert_email is set (without it, explain and generate warn)",
    )
    min_tier = 1
    settings_model = ModelMonitoringSettings
    settings: ModelMonitoringSettings
    apis = ("logging.googleapis.com",)  # the failed runs' log entries the pipeline alert matches
    after = ("model_serving",)  # the endpoint alerts are scoped to its endpoint (upstream.endpoint)
    outputs = {
        "dataset": "BigQuery dataset of monitoring results",
        "drift_threshold": (
            "default per-feature drift threshold for the Vertex AI model monitoring job the pipeline "
            "creates (no Terraform resource exists for one)"
        ),
        "notification_channel": "alert notification channel",
        "retraining_channel": (
            "notification channel that starts a retraining run: give it to the model monitoring job "
            "(modelMonitoringAlertConfig.notificationChannels) with drift_threshold"
        ),
    }

    def build(self) -> None:
        from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel

        inputs, settings = self.inputs, self.settings
        dataset = self.dataset(
            settings.dataset,
            "model monitoring results: what the monitoring jobs the pipeline creates write",
            writers=("pipelines", "serving"),
            readers=("ci",),
        )
        self.expose("dataset", dataset.dataset_id)
        if settings.drift_threshold is not None:
            # validated: 0 < x <= 1 (ModelMonitoringSettings)
            self.expose("drift_threshold", settings.drift_threshold)
        channels = []
        email = settings.notification_email
        if email:
            channel = self.add(
                MonitoringNotificationChannel,
                "email",
                project=inputs.project,
                type="email",
                display_name=f"{inputs.name} {inputs.environment} alerts",
                labels={"email_address": email},
                user_labels=self.labels,
            )
            channels = [channel.id]
            self.expose("notification_channel", channel.id)
        self.channels = channels
        alerts = settings.alerts
        online, pipelines = inputs.upstream.serving_online, "ml_pipelines" in inputs.upstream.selected
        planned = planned_alerts(alerts, online, pipelines)
        if "endpoint_errors" in planned and alerts.endpoint_error_rate is not None:
            self._endpoint_errors(channels, alerts.endpoint_error_rate)
        if "endpoint_latency" in planned and alerts.endpoint_latency_p99_ms is not None:
            self._endpoint_latency(channels, alerts.endpoint_latency_p99_ms)
        if "pipeline_failures" in planned:
            self._pipeline_failures(channels)

    def provide(self, upstream: Upstream) -> None:
        """The team's alert channel, for other capabilities' alerts (ml_pipelines' failed retraining runs)."""
        if self.channels:
            upstream.team_channels["model_monitoring"] = self.channels[0]

    def connect(self, upstream: Upstream) -> None:
        """Retraining on degradation: the anomalies reach ml_pipelines' trigger topic, when it made one.

        Wired here, once every module exists: ml_pipelines may be built after this module.
        """
        topic = upstream.retraining_topic
        if topic is not None:
            self.retraining_channel(topic)

    # --- the alerts ------------------------------------------------------------------------------

    def retraining_channel(self, topic: Any) -> None:
        """A Pub/Sub notification channel on the retraining topic, for drift and skew anomalies.

        Drift and skew are watched by the Vertex AI model monitoring job the pipeline creates with the
        model it deploys (provider 8.7 has no resource for it); that job notifies the channel output
        here, and the message starts a retraining run (ml_pipelines' trigger). Cloud Monitoring publishes
        as its notification service agent, materialised and granted publisher on the topic first.
        """
        from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
        from cdktn_provider_google.pubsub_topic_iam_member import PubsubTopicIamMember

        from tierstack.modules.foundation import grant_agent_role

        inputs = self.inputs
        _, email = self.service_agent("notification_agent", "monitoring.googleapis.com")
        grant_agent_role(self, "notification_agent", "monitoring.googleapis.com", email)
        self.add(
            PubsubTopicIamMember,
            "retraining_publisher",
            project=inputs.project,
            topic=topic.name,
            role="roles/pubsub.publisher",
            member=f"serviceAccount:{email}",
        )
        channel = self.add(
            MonitoringNotificationChannel,
            "retraining",
            project=inputs.project,
            type="pubsub",
            display_name=f"{inputs.name} {inputs.environment} retraining trigger",
            labels={"topic": topic.id},
            user_labels=self.labels,
        )
        self.wait_for(channel, self.address(PubsubTopicIamMember, "retraining_publisher"))
        self.expose("retraining_channel", channel.id)

    def _endpoint_scope(self) -> list[str]:
        """Restrict endpoint alerts to this use case's endpoint, when model_serving made one."""
        endpoint = self.inputs.upstream.endpoint
        if endpoint is None:
            return []
        assert "endpoint_id" in resource_labels(ERRORS.resource)
        return [f'resource.labels.endpoint_id = "{endpoint.name}"']

    def _endpoint_errors(self, channels: list[str], ratio: float) -> None:
        from cdktn_provider_google.monitoring_alert_policy import (
            MonitoringAlertPolicyConditionsConditionThreshold,
            MonitoringAlertPolicyConditionsConditionThresholdAggregations,
            MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations,
        )

        scope = self._endpoint_scope()
        per_endpoint: dict[str, Any] = {
            "alignment_period": WINDOW,
            "per_series_aligner": "ALIGN_DELTA",
            "cross_series_reducer": "REDUCE_SUM",
            "group_by_fields": ["resource.label.endpoint_id"],
        }
        self._policy(
            "endpoint_errors",
            "endpoint error ratio",
            channels,
            MonitoringAlertPolicyConditionsConditionThreshold(
                filter=ERRORS.filter(*scope),
                denominator_filter=RESPONSES.filter(*scope),
                aggregations=[MonitoringAlertPolicyConditionsConditionThresholdAggregations(**per_endpoint)],
                denominator_aggregations=[
                    MonitoringAlertPolicyConditionsConditionThresholdDenominatorAggregations(**per_endpoint)
                ],
                comparison="COMPARISON_GT",
                threshold_value=ratio,
                duration=WINDOW,
            ),
            f"More than {ratio:.1%} of the requests to the endpoint failed over five minutes "
            "(prediction errors / responses).",
        )

    def _endpoint_latency(self, channels: list[str], milliseconds: float) -> None:
        from cdktn_provider_google.monitoring_alert_policy import (
            MonitoringAlertPolicyConditionsConditionThreshold,
            MonitoringAlertPolicyConditionsConditionThresholdAggregations,
        )

        if LATENCY.unit != "ms":  # the setting is in ms; a table that says otherwise must change both
            raise RuntimeError(f"{LATENCY.type} is in {LATENCY.unit}, endpoint_latency_p99_ms in ms")
        self._policy(
            "endpoint_latency",
            "model p99 latency",
            channels,
            MonitoringAlertPolicyConditionsConditionThreshold(
                filter=LATENCY.filter(LATENCY.label("latency_type", "model"), *self._endpoint_scope()),
                aggregations=[
                    MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                        alignment_period=WINDOW, per_series_aligner="ALIGN_PERCENTILE_99"
                    )
                ],
                comparison="COMPARISON_GT",
                threshold_value=milliseconds,
                duration=WINDOW,
            ),
            f"The 99th percentile of the model's own latency (Vertex AI's overhead excluded) stayed above "
            f"{milliseconds:g} ms for five minutes, for a deployed model of the endpoint.",
        )

    def _pipeline_failures(self, channels: list[str]) -> None:
        """Alert on each failed run's log entry itself: a log-match condition, no log-based metric.

        An alert policy on a log-based metric created in the same apply fails with 404 "Cannot find
        metric(s) ... it could take up to 10 minutes to become available" (provider issue 11102, open), so
        a fresh project's first apply would fail. A log-match condition (condition_matched_log) reads the
        log entries directly, with nothing to wait for; Google requires it to be the policy's only
        condition and the policy to limit its notifications (alert_strategy.notification_rate_limit).
        """
        from cdktn_provider_google.monitoring_alert_policy import MonitoringAlertPolicyConditionsConditionMatchedLog

        self._policy(
            "pipeline_failures",
            "failed pipeline runs",
            channels,
            None,
            "A Vertex AI pipeline run failed; the incident names its pipeline_job_id.",
            matched_log=MonitoringAlertPolicyConditionsConditionMatchedLog(
                filter=FAILED_RUNS,
                label_extractors={"pipeline_job_id": "EXTRACT(resource.labels.pipeline_job_id)"},
            ),
        )

    def _policy(
        self,
        key: str,
        what: str,
        channels: list[str],
        threshold: MonitoringAlertPolicyConditionsConditionThreshold | None,
        doc: str,
        matched_log: Any = None,
    ) -> None:
        alert_policy(self, key, what, channels, doc, threshold=threshold, matched_log=matched_log)


def alert_policy(
    module: CapabilityModule,
    key: str,
    what: str,
    channels: list[str],
    doc: str,
    *,
    threshold: MonitoringAlertPolicyConditionsConditionThreshold | None = None,
    matched_log: Any = None,
) -> Any:
    """One alert policy the way every tierstack alert is made: one condition (a threshold, or a log match),
    the team's channels, closed after 30 minutes without the condition, ERROR in a production serving class.

    Shared with the capabilities whose own resources are watched (ml_pipelines' retraining workflow), so an
    alert reads the same wherever it is made; `key` names it: `<capability>_<key>_alert`.
    """
    from cdktn_provider_google.monitoring_alert_policy import (
        MonitoringAlertPolicy,
        MonitoringAlertPolicyAlertStrategy,
        MonitoringAlertPolicyAlertStrategyNotificationRateLimit,
        MonitoringAlertPolicyConditions,
        MonitoringAlertPolicyDocumentation,
    )

    inputs = module.inputs
    condition = (
        MonitoringAlertPolicyConditions(display_name=what, condition_matched_log=matched_log)
        if matched_log is not None
        else MonitoringAlertPolicyConditions(display_name=what, condition_threshold=threshold)
    )
    # a log-match policy must limit its notifications: at most one per failed run every 5 minutes
    rate_limit = (
        MonitoringAlertPolicyAlertStrategyNotificationRateLimit(period=WINDOW) if matched_log is not None else None
    )
    return module.add(
        MonitoringAlertPolicy,
        f"{key}_alert",
        project=inputs.project,
        display_name=f"{inputs.name} {inputs.environment}: {what}",
        combiner="OR",
        conditions=[condition],
        notification_channels=channels or None,
        alert_strategy=MonitoringAlertPolicyAlertStrategy(auto_close="1800s", notification_rate_limit=rate_limit),
        documentation=MonitoringAlertPolicyDocumentation(
            content=f"{inputs.name} in {inputs.environment}: {doc}", mime_type="text/markdown"
        ),
        severity="ERROR" if inputs.serving_class == "production" else "WARNING",
        user_labels=module.labels,
    )
