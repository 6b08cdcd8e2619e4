"""model_monitoring: the monitoring dataset, a notification channel and alert policies."""

from __future__ import annotations

from cdktn_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyAlertStrategy,
    MonitoringAlertPolicyConditions,
    MonitoringAlertPolicyConditionsConditionThreshold,
    MonitoringAlertPolicyConditionsConditionThresholdAggregations,
    MonitoringAlertPolicyDocumentation,
)
from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel

from tierstack.modules.base import CapabilityModule

ENDPOINT = 'resource.type = "aiplatform.googleapis.com/Endpoint"'


class ModelMonitoring(CapabilityModule):
    capability = "model_monitoring"

    def build(self) -> None:
        inputs, settings = self.inputs, self.settings
        dataset = self.dataset(settings.get("dataset", "monitoring"), "model monitoring results (skew, drift)",
                               writers=("pipelines", "serving"), readers=("ci",))
        self.expose("dataset", dataset.dataset_id, "BigQuery dataset of monitoring results")
        channels = []
        email = settings.get("notification_email")
        if email:
            channel = self.add(MonitoringNotificationChannel, "email", project=inputs.project, type="email",
                               display_name=f"{inputs.name} {inputs.environment} alerts",
                               labels={"email_address": email}, user_labels=self.labels)
            channels = [channel.id]
            self.expose("notification_channel", channel.id, "alert notification channel")
        alerts = settings.get("alerts") or {}
        serving = inputs.shared.get("model_serving_online")
        if serving and alerts.get("endpoint_error_rate") is not None:
            self._policy("endpoint_errors", "endpoint error rate", channels,
                         f'{ENDPOINT} AND metric.type = "aiplatform.googleapis.com/prediction/online/error_count"',
                         float(alerts["endpoint_error_rate"]), "ALIGN_RATE")
        if serving and alerts.get("endpoint_latency_p99_ms") is not None:
            self._policy("endpoint_latency", "endpoint p99 latency", channels,
                         f'{ENDPOINT} AND metric.type = '
                         '"aiplatform.googleapis.com/prediction/online/prediction_latencies"',
                         float(alerts["endpoint_latency_p99_ms"]), "ALIGN_PERCENTILE_99")
        if inputs.shared.get("ml_pipelines") and alerts.get("pipeline_failures"):
            self._policy("pipeline_failures", "failed pipeline runs", channels,
                         'resource.type = "aiplatform.googleapis.com/PipelineJob" AND '
                         'metric.type = "aiplatform.googleapis.com/pipelinejob/completed_count" AND '
                         'metric.labels.state = "FAILED"', 0.0, "ALIGN_COUNT")

    def _policy(self, key: str, what: str, channels: list[str], metric_filter: str, threshold: float,
                aligner: str) -> None:
        inputs = self.inputs
        self.add(
            MonitoringAlertPolicy, f"{key}_alert",
            project=inputs.project,
            display_name=f"{inputs.name} {inputs.environment}: {what}",
            combiner="OR",
            conditions=[MonitoringAlertPolicyConditions(
                display_name=what,
                condition_threshold=MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=metric_filter,
                    comparison="COMPARISON_GT",
                    threshold_value=threshold,
                    duration="300s",
                    aggregations=[MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                        alignment_period="300s", per_series_aligner=aligner)],
                ),
            )],
            notification_channels=channels or None,
            alert_strategy=MonitoringAlertPolicyAlertStrategy(auto_close="1800s"),
            documentation=MonitoringAlertPolicyDocumentation(
                content=f"{what} of {inputs.name} in {inputs.environment} crossed {threshold:g}.",
                mime_type="text/markdown"),
            severity="ERROR" if inputs.serving_class == "production" else "WARNING",
            user_labels=self.labels,
        )
