"""Cloud Monitoring facts as data, and the one rule for which alerts an environment gets.

Imports no cdktn binding, so `explain` can use it. `metric()` reads
data/metric_types.yaml (real metric types with their kind, value type, unit,
monitored resource and labels, and the source they were read from): the
model_monitoring module builds its filters only from these entries, and the
tests check every generated alert against the same table. `planned_alerts()`
decides which alert policies model_monitoring creates, `retraining_alerts()`
the one ml_pipelines creates on its retraining workflow; `unreceived_alerts()`
turns environments whose policies have no notification channel into a warning
for `explain` and `generate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from tierstack.generator.core.yamlio import parse, to_plain
from tierstack.generator.facts import settings_shapes as shapes
from tierstack.generator.facts.settings_shapes import AlertsShape

TABLE = "metric_types.yaml"


@dataclass(frozen=True)
class MetricType:
    type: str
    kind: str  # GAUGE, DELTA, CUMULATIVE
    value_type: str  # INT64, DOUBLE, DISTRIBUTION, ...
    unit: str
    resource: str  # the monitored resource type the metric is written against
    labels: tuple[str, ...]
    label_values: dict[str, tuple[str, ...]]

    def label(self, key: str, value: str) -> str:
        """A filter term on one of the metric's labels, refused unless the table lists the label and value."""
        if key not in self.labels:
            raise KeyError(f"{self.type} has no label {key!r} in {TABLE} (it has {', '.join(self.labels)})")
        allowed = self.label_values.get(key)
        if allowed is not None and value not in allowed:
            raise KeyError(f"{self.type}: {key} is one of {', '.join(allowed)} in {TABLE}, not {value!r}")
        return f'metric.labels.{key} = "{value}"'

    def label_prefix(self, key: str, prefix: str) -> str:
        """A filter term matching a label's values that start with `prefix` (Monitoring's starts_with)."""
        if key not in self.labels:
            raise KeyError(f"{self.type} has no label {key!r} in {TABLE} (it has {', '.join(self.labels)})")
        return f'metric.labels.{key} = starts_with("{prefix}")'

    def filter(self, *terms: str) -> str:
        """A Monitoring filter selecting this metric on its own monitored resource, AND the given terms."""
        return " AND ".join((f'metric.type = "{self.type}"', f'resource.type = "{self.resource}"', *terms))


@cache
def _table() -> dict[str, Any]:
    text = resources.files("tierstack.generator").joinpath("data").joinpath(TABLE).read_text(encoding="utf-8")
    table: dict[str, Any] = to_plain(parse(text, f"tierstack/generator/data/{TABLE}"))
    return table


def metric(metric_type: str) -> MetricType:
    """The table's entry for a metric type; a KeyError names the table when the type is not a real one."""
    entry = _table()["metrics"].get(metric_type)
    if entry is None:
        raise KeyError(f"{metric_type} is not in {TABLE}: add it from Google's metric list, with its source")
    return MetricType(
        metric_type,
        entry["kind"],
        entry["value_type"],
        str(entry["unit"]),
        entry["resource"],
        tuple(entry["labels"]),
        {k: tuple(v) for k, v in (entry.get("label_values") or {}).items()},
    )


def resource_labels(resource_type: str) -> tuple[str, ...]:
    return tuple(_table()["resources"][resource_type]["labels"])


def log_metric_type(name: str) -> str:
    """The metric type of a log-based metric (a google_logging_metric) called `name`."""
    return f"{_table()['log_based']['prefix']}{name}"


# --- which alert policies, and who receives them ---------------------------------------------------


def planned_alerts(alerts: AlertsShape, online: bool, pipelines: bool) -> list[str]:
    """The alert policies model_monitoring creates, by key, from its `alerts` settings and what it watches."""
    out = []
    if online and alerts.endpoint_error_rate is not None:
        out.append("endpoint_errors")
    if online and alerts.endpoint_latency_p99_ms is not None:
        out.append("endpoint_latency")
    if pipelines and alerts.pipeline_failures:
        out.append("pipeline_failures")
    return out


def environment_alerts(capabilities: Mapping[str, object]) -> list[str]:
    """planned_alerts() for an environment's capabilities (the plan's typed settings, by id)."""
    monitoring = shapes.monitoring(capabilities)
    if monitoring is None:
        return []
    serving = shapes.serving(capabilities)
    online = serving is not None and serving.mode == "online"
    return planned_alerts(monitoring.alerts, online, "ml_pipelines" in capabilities)


def retraining_alerts(capabilities: Mapping[str, object]) -> list[str]:
    """The alert ml_pipelines makes on its retraining workflow's failed executions, where it makes the workflow
    (a schedule, or retraining on degradation)."""
    pipelines = shapes.pipelines(capabilities)
    if pipelines is None:
        return []
    return ["retraining_failures"] if pipelines.schedule or pipelines.retrain_on_degradation else []


def team_channel(capabilities: Mapping[str, object]) -> str | None:
    """Which capability's channel the team's alerts reach in an environment (its capabilities' typed settings),
    if any: model_monitoring's alert email, else cost_controls' team email (made with or without a budget). The
    order is modules/ml_pipelines.py's TEAM_CHANNELS."""
    for capability in ("model_monitoring", "cost_controls"):
        settings = shapes.team_email(capabilities, capability)
        if settings is not None and settings.notification_email:
            return capability
    return None


def unreceived_alerts(environments: Mapping[str, Mapping[str, object]]) -> list[str]:
    """A warning when alert policies would be created with no notification channel: nobody would hear them.

    `environments` maps an environment name to its capabilities' typed settings (the plan's `capabilities`).
    """
    silent = [
        name
        for name, capabilities in environments.items()
        if environment_alerts(capabilities) and not _monitoring_email(capabilities)
    ]
    unheard = [
        name
        for name, capabilities in environments.items()
        if retraining_alerts(capabilities) and team_channel(capabilities) is None
    ]
    warnings = []
    if silent:
        warnings.append(
            f"model_monitoring: the alert policies of {', '.join(silent)} notify nobody: no notification "
            "channel; set variables.alert_email (or overrides: capabilities.model_monitoring.notification_email)"
        )
    if unheard:
        warnings.append(
            f"ml_pipelines: the alert on failed retraining executions of {', '.join(unheard)} notifies nobody: "
            "the stack has no team channel (model_monitoring's alert email, or cost_controls' team email); "
            "set variables.alert_email"
        )
    return warnings


def _monitoring_email(capabilities: Mapping[str, object]) -> str | None:
    monitoring = shapes.monitoring(capabilities)
    return monitoring.notification_email if monitoring is not None else None
