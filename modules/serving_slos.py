"""serving_slos: service-level objectives on what model_serving serves, paged on in production only.

Google's ML SREs serve in tiers with different SLOs: "experimental: available now, no paging;
production: never drop a request" (issue 22; generator/data/serving_classes.yaml has the sources).
So the environment's serving class decides what its objectives do:

- online, production: a Cloud Monitoring custom service for the endpoint and two request-based SLOs,
  availability (responses answered 2xx over all responses, `prediction/online/response_count` by
  `response_code`) and latency (the share of requests whose model latency, `prediction_latencies`
  with `latency_type = "model"`, is under the threshold: a distribution cut). Each SLO gets a fast and a
  slow burn-rate alert policy (`select_slo_burn_rate`), each the SRE workbook's multiwindow pair: the
  long window AND a short one, so the page stops soon after the burning does. They page the team.
- online, experimental: the same service and SLOs, and a dashboard of the same burn rates and the
  remaining error budget. No alert policy: nobody is paged.
- batch, production: a freshness objective on the predictions dataset: an alert when no batch
  prediction delivered rows to a predictions table within the window (Vertex AI has no metric and no
  documented log for a finished BatchPredictionJob; BigQuery counts the rows it writes).
- batch, experimental: that row count on a dashboard, no alert.

Targets come from the serving class (serving_classes.yaml); each is overridable per use case or per
environment (`capabilities: serving_slos: {availability: 0.995}`), and `tierstack explain` prints the
ones each stack carries, read back from the stack. The pages go to a channel of their own on
`page_email` (an on-call address), else to the team's channel the stack already has (model_monitoring's
alert email, else cost_controls' budget email); without any, the alert policies notify nobody and
explain, validate and generate say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from tierstack.generator.config.settings import Email, Settings
from tierstack.generator.core import naming
from tierstack.generator.core.yamlio import parse, to_plain
from tierstack.generator.facts.monitoring import metric, team_channel
from tierstack.modules.base import CapabilityModule

if TYPE_CHECKING:
    from tierstack.generator.plan.plan import ResolvedEnvironment

TABLE = "serving_classes.yaml"
Goal = Annotated[float, Field(gt=0, le=0.999)]  # google_monitoring_slo.goal: 0 < goal <= 0.999


class ServingSlosSettings(Settings):
    # every target: None takes the serving class's (generator/data/serving_classes.yaml)
    availability: Goal | None = None  # the share of requests answered 2xx
    latency_threshold_ms: Annotated[float, Field(gt=0)] | None = None  # the model's own latency
    latency_goal: Goal | None = None  # the share of requests answered within latency_threshold_ms
    freshness_window_hours: Annotated[int, Field(ge=1, le=25)] | None = None  # batch: at most 25 h
    page_email: Email | None = None  # who is paged; None: the team's alert address


RESPONSES = metric("aiplatform.googleapis.com/prediction/online/response_count")
LATENCY = metric("aiplatform.googleapis.com/prediction/online/prediction_latencies")
UPLOADED_ROWS = metric("bigquery.googleapis.com/storage/uploaded_row_count")
# whose channel the pages reach without page_email, first found (generator.monitoring.team_channel's order)
TEAM_CHANNELS = ("model_monitoring", "cost_controls")
PREDICTIONS_TABLES = "predictions"  # Vertex AI writes predictions_<time> (and errors_<time>) tables


@cache
def table() -> dict[str, Any]:
    """serving_classes.yaml: the targets of each serving class and the burn-rate alert windows."""
    text = resources.files("tierstack.generator").joinpath("data").joinpath(TABLE).read_text(encoding="utf-8")
    data: dict[str, Any] = to_plain(parse(text, f"tierstack/generator/data/{TABLE}"))
    return data


@dataclass(frozen=True)
class BurnAlert:
    """One burn-rate alert: the budget share it pages at, over a long window checked by a short one."""

    name: str  # fast, slow
    budget_consumed: float
    long_window_minutes: int
    short_window_minutes: int

    def threshold(self, period_days: int) -> float:
        """The burn rate that spends `budget_consumed` of the budget in the long window (SRE workbook)."""
        return round(self.budget_consumed * period_days * 24 * 60 / self.long_window_minutes, 6)


@dataclass(frozen=True)
class Targets:
    """What one environment's objectives are: its class's, with the use case's overrides."""

    serving_class: str
    pages: bool
    availability: float
    latency_threshold_ms: float
    latency_goal: float
    freshness_window_hours: int
    period_days: int
    burn_alerts: tuple[BurnAlert, ...]


def targets(serving_class: str, settings: ServingSlosSettings) -> Targets:
    """The class's targets (serving_classes.yaml), each replaced by the setting that overrides it."""
    data = table()
    base = data["classes"][serving_class]
    return Targets(
        serving_class=serving_class,
        pages=bool(base["pages"]),
        availability=settings.availability if settings.availability is not None else base["availability"],
        latency_threshold_ms=(
            settings.latency_threshold_ms if settings.latency_threshold_ms is not None else base["latency_threshold_ms"]
        ),
        latency_goal=settings.latency_goal if settings.latency_goal is not None else base["latency_goal"],
        freshness_window_hours=(
            settings.freshness_window_hours
            if settings.freshness_window_hours is not None
            else base["freshness_window_hours"]
        ),
        period_days=int(data["rolling_period_days"]),
        burn_alerts=tuple(BurnAlert(name, **values) for name, values in data["burn_rate_alerts"].items()),
    )


def serving_mode(capabilities: Mapping[str, Any]) -> str | None:
    """online or batch, as model_serving serves; None without model_serving."""
    if "model_serving" not in capabilities:
        return None
    return str((capabilities.get("model_serving") or {}).get("mode", "online"))


def unpaged(environments: Mapping[str, ResolvedEnvironment]) -> list[str]:
    """A warning for the environments whose SLO alerts would page nobody (the plan's environments by name)."""
    silent = []
    for name, env in environments.items():
        own = env.capabilities.get("serving_slos")
        if not isinstance(own, ServingSlosSettings) or "model_serving" not in env.capabilities:
            continue
        paged = own.page_email or team_channel(env.capabilities)
        if targets(str(env.settings.get("serving_class")), own).pages and not paged:
            silent.append(name)
    if not silent:
        return []
    return [
        f"serving_slos: the SLO alerts of {', '.join(silent)} page nobody: no page_email and no team channel "
        "(model_monitoring's alert email, or cost_controls' budget email); set variables.alert_email (or "
        "overrides: capabilities.serving_slos.page_email)"
    ]


def percent(fraction: float) -> str:
    """0.999 -> '99.9%': a target as people write it."""
    return f"{round(fraction * 100, 4):g}%"


def slo_name(project: str, service_id: str, slo_id: str) -> str:
    """An SLO's resource name, what select_slo_burn_rate takes (Cloud Monitoring "Retrieving SLO data")."""
    return f"projects/{project}/services/{service_id}/serviceLevelObjectives/{slo_id}"


def burn_rate(slo: str, minutes: int) -> str:
    """The time-series selector of an SLO's burn rate over a lookback period."""
    return f'select_slo_burn_rate("{slo}", "{minutes * 60}s")'


class ServingSlos(CapabilityModule):
    capability = "serving_slos"
    title = "Serving SLOs"
    definition = (
        "Service-level objectives on model serving, in tiers: production pages on its error budget, "
        "experimental shows the same numbers and pages nobody."
    )
    process = "prediction serving"
    provisions = (
        (
            "online: a Cloud Monitoring service for the endpoint with availability (2xx responses) and latency "
            "(model latency under a threshold) SLOs, targets from the serving class"
        ),
        (
            "online: production class: fast and slow burn-rate alert policies (select_slo_burn_rate) on each SLO "
            "that page the team; experimental class: a dashboard of the same burn rates, no paging"
        ),
        (
            "batch: production class: a freshness alert when no batch prediction wrote rows to the predictions "
            "dataset within the window; experimental class: those rows on a dashboard"
        ),
        "the pages reach the team's channel (model_monitoring's alert email, else the budget's), or an email channel "
        "of their own on page_email",
    )
    settings_model = ServingSlosSettings
    settings: ServingSlosSettings
    # model_serving: the SLIs are scoped to its endpoint (upstream.endpoint); model_monitoring and cost_controls:
    # the team's channel they made (upstream.team_channels) is the one the pages go to
    after = ("model_serving", "model_monitoring", "cost_controls")

    def build(self) -> None:
        inputs = self.inputs
        self.targets = targets(inputs.serving_class, self.settings)
        mode = serving_mode(inputs.upstream.selected)
        channels = self._channels() if self.targets.pages and mode is not None else []
        if mode == "online" and inputs.upstream.endpoint is not None:
            slos = self._slos(inputs.upstream.endpoint)
            if self.targets.pages:
                for key, slo in slos.items():
                    for alert in self.targets.burn_alerts:
                        self._burn_alert(key, slo, alert, channels)
            else:
                self._slo_dashboard(slos)
        elif mode == "batch":
            if self.targets.pages:
                self._freshness_alert(channels)
            else:
                self._rows_dashboard()

    # --- who is paged ----------------------------------------------------------------------------

    def _channels(self) -> list[str]:
        """page_email's own channel, else the team's (model_monitoring's alerts, else the budget's), else none."""
        from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel

        inputs = self.inputs
        email = self.settings.page_email
        if not email:
            channels = inputs.upstream.team_channels
            team = next((channels[c] for c in TEAM_CHANNELS if c in channels), None)
            return [team] if team is not None else []  # none: explain, validate and generate warn (unpaged)
        channel = self.add(
            MonitoringNotificationChannel,
            "email",
            project=inputs.project,
            type="email",
            display_name=f"{inputs.name} {inputs.environment} SLO pages",
            labels={"email_address": email},
            user_labels=self.labels,
        )
        return [channel.id]

    # --- online: the service and its objectives ---------------------------------------------------

    def _slos(self, endpoint: Any) -> dict[str, str]:
        """The endpoint's Monitoring service and its two SLOs: key -> the SLO's resource name."""
        from cdktn_provider_google.monitoring_custom_service import MonitoringCustomService
        from cdktn_provider_google.monitoring_slo import (
            MonitoringSlo,
            MonitoringSloRequestBasedSli,
            MonitoringSloRequestBasedSliDistributionCut,
            MonitoringSloRequestBasedSliDistributionCutRange,
            MonitoringSloRequestBasedSliGoodTotalRatio,
        )

        inputs, goals = self.inputs, self.targets
        if LATENCY.unit != "ms":  # latency_threshold_ms is in ms; a table that says otherwise must change both
            raise RuntimeError(f"{LATENCY.type} is in {LATENCY.unit}, latency_threshold_ms in ms")
        service_id = naming.resource_id(f"{inputs.name}-{inputs.environment}", "serving")
        self.add(
            MonitoringCustomService,
            "service",
            project=inputs.project,
            service_id=service_id,
            display_name=f"{inputs.name} {inputs.environment} online predictions ({inputs.serving_class})",
            user_labels=self.labels,
        )
        scope = f'resource.labels.endpoint_id = "{endpoint.name}"'
        days = goals.period_days
        slis = {
            "availability": (
                goals.availability,
                f"{percent(goals.availability)} of prediction requests answered 2xx over {days} days",
                MonitoringSloRequestBasedSli(
                    good_total_ratio=MonitoringSloRequestBasedSliGoodTotalRatio(
                        good_service_filter=RESPONSES.filter(RESPONSES.label_prefix("response_code", "2"), scope),
                        total_service_filter=RESPONSES.filter(scope),
                    )
                ),
            ),
            "latency": (
                goals.latency_goal,
                f"{percent(goals.latency_goal)} of prediction requests within {goals.latency_threshold_ms:g} ms of "
                f"model latency over {days} days",
                MonitoringSloRequestBasedSli(
                    distribution_cut=MonitoringSloRequestBasedSliDistributionCut(
                        distribution_filter=LATENCY.filter(LATENCY.label("latency_type", "model"), scope),
                        range=MonitoringSloRequestBasedSliDistributionCutRange(max=goals.latency_threshold_ms),
                    )
                ),
            ),
        }
        names = {}
        for key, (goal, what, sli) in slis.items():
            resource = self.add(
                MonitoringSlo,
                key,
                project=inputs.project,
                service=service_id,
                slo_id=key,
                display_name=what,
                goal=goal,
                rolling_period_days=days,
                request_based_sli=sli,
                user_labels=self.labels,
            )
            self.wait_for(resource, self.address(MonitoringCustomService, "service"))
            names[key] = slo_name(inputs.project, service_id, key)
        return names

    def _burn_alert(self, key: str, slo: str, alert: BurnAlert, channels: list[str]) -> None:
        """Google's multiwindow burn-rate policy: the long window AND the short one over the threshold."""
        from cdktn_provider_google.monitoring_alert_policy import (
            MonitoringAlertPolicyConditions,
            MonitoringAlertPolicyConditionsConditionThreshold,
        )
        from cdktn_provider_google.monitoring_slo import MonitoringSlo

        threshold = alert.threshold(self.targets.period_days)
        conditions = [
            MonitoringAlertPolicyConditions(
                display_name=f"{key} burn rate over {minutes} minutes above {threshold:g}",
                condition_threshold=MonitoringAlertPolicyConditionsConditionThreshold(
                    filter=burn_rate(slo, minutes),
                    comparison="COMPARISON_GT",
                    threshold_value=threshold,
                    duration="0s",
                ),
            )
            for minutes in (alert.long_window_minutes, alert.short_window_minutes)
        ]
        policy = self._policy(
            f"{key}_{alert.name}_burn",
            f"{key} SLO {alert.name} burn",
            conditions,
            channels,
            f"The {key} SLO ({slo}) is spending its error budget at {threshold:g} times the sustainable rate: "
            f"{alert.budget_consumed:.0%} of the {self.targets.period_days}-day budget in "
            f"{alert.long_window_minutes} minutes, and still over the last {alert.short_window_minutes}.",
            "CRITICAL" if alert.name == "fast" else "ERROR",
        )
        self.wait_for(policy, self.address(MonitoringSlo, key))

    def _slo_dashboard(self, slos: dict[str, str]) -> None:
        """Experimental: the burn rates production would page on, and the budget left; nobody is paged."""
        from cdktn_provider_google.monitoring_slo import MonitoringSlo

        widgets = []
        for key, slo in slos.items():
            for alert in self.targets.burn_alerts:
                threshold = alert.threshold(self.targets.period_days)
                widgets.append(
                    _chart(
                        f"{key} burn rate over {alert.long_window_minutes} minutes (production pages above "
                        f"{threshold:g})",
                        burn_rate(slo, alert.long_window_minutes),
                        threshold,
                    )
                )
            widgets.append(_chart(f"{key} error budget left", f'select_slo_budget_fraction("{slo}")', None))
        dashboard = self._dashboard(widgets)
        self.wait_for(dashboard, *(self.address(MonitoringSlo, key) for key in slos))

    # --- batch: freshness -------------------------------------------------------------------------

    def _rows_filter(self) -> str:
        dataset = naming.dataset_id(self.inputs.name, "predictions")  # model_serving's batch output dataset
        return UPLOADED_ROWS.filter(
            f'resource.labels.dataset_id = "{dataset}"', UPLOADED_ROWS.label_prefix("table", PREDICTIONS_TABLES)
        )

    def _freshness_alert(self, channels: list[str]) -> None:
        """No rows reached a predictions table within the window: no batch prediction delivered.

        A threshold on the rows summed over the window, with missing data counted as a violation: a
        metric-absence condition waits at most 23.5 hours, less than a daily job's gap (serving_classes.yaml).
        Before the first batch prediction the incident is open: nothing has been delivered yet.
        """
        from cdktn_provider_google.monitoring_alert_policy import (
            MonitoringAlertPolicyConditions,
            MonitoringAlertPolicyConditionsConditionThreshold,
            MonitoringAlertPolicyConditionsConditionThresholdAggregations,
        )

        hours = self.targets.freshness_window_hours
        condition = MonitoringAlertPolicyConditions(
            display_name=f"no predictions written in {hours} hours",
            condition_threshold=MonitoringAlertPolicyConditionsConditionThreshold(
                filter=self._rows_filter(),
                aggregations=[
                    MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                        alignment_period=f"{hours * 3600}s",
                        per_series_aligner="ALIGN_SUM",
                        cross_series_reducer="REDUCE_SUM",
                    )
                ],
                comparison="COMPARISON_LT",
                threshold_value=1,
                duration="0s",
                evaluation_missing_data="EVALUATION_MISSING_DATA_ACTIVE",
            ),
        )
        self._policy(
            "freshness",
            "batch predictions freshness",
            [condition],
            channels,
            f"No batch prediction wrote rows to a predictions table of the predictions dataset in the last {hours} "
            "hours (BigQuery's uploaded rows, visible up to 6 hours late): the scheduled job did not run or failed.",
            "ERROR",
        )

    def _rows_dashboard(self) -> None:
        hours = self.targets.freshness_window_hours
        self._dashboard(
            [
                _chart(
                    f"rows written to predictions tables per hour (production alerts after {hours} hours without)",
                    self._rows_filter(),
                    None,
                    aggregation={"alignmentPeriod": "3600s", "perSeriesAligner": "ALIGN_SUM"},
                )
            ]
        )

    # --- shared ----------------------------------------------------------------------------------

    def _policy(self, key: str, what: str, conditions: list[Any], channels: list[str], doc: str, severity: str) -> Any:
        from cdktn_provider_google.monitoring_alert_policy import (
            MonitoringAlertPolicy,
            MonitoringAlertPolicyAlertStrategy,
            MonitoringAlertPolicyDocumentation,
        )

        inputs = self.inputs
        return self.add(
            MonitoringAlertPolicy,
            f"{key}_alert",
            project=inputs.project,
            display_name=f"{inputs.name} {inputs.environment}: {what}",
            combiner="AND",
            conditions=conditions,
            notification_channels=channels or None,
            alert_strategy=MonitoringAlertPolicyAlertStrategy(auto_close="1800s"),
            documentation=MonitoringAlertPolicyDocumentation(
                content=f"{inputs.name} in {inputs.environment} ({inputs.serving_class} serving class): {doc}",
                mime_type="text/markdown",
            ),
            severity=severity,
            user_labels=self.labels,
        )

    def _dashboard(self, widgets: list[dict[str, Any]]) -> Any:
        from cdktn_provider_google.monitoring_dashboard import MonitoringDashboard

        inputs = self.inputs
        layout = {
            "displayName": f"{inputs.name} {inputs.environment} serving objectives ({inputs.serving_class})",
            "gridLayout": {"columns": "2", "widgets": widgets},
        }
        return self.add(
            MonitoringDashboard,
            "dashboard",
            project=inputs.project,
            dashboard_json=json.dumps(layout, sort_keys=True),
        )


def _chart(
    title: str, series: str, threshold: float | None, aggregation: dict[str, str] | None = None
) -> dict[str, Any]:
    """A line chart of one time series (a filter or an SLO selector), with the line production pages above."""
    query: dict[str, Any] = {"filter": series}
    if aggregation:
        query["aggregation"] = aggregation
    chart: dict[str, Any] = {"dataSets": [{"plotType": "LINE", "timeSeriesQuery": {"timeSeriesFilter": query}}]}
    if threshold is not None:
        chart["thresholds"] = [{"value": threshold}]
    return {"title": title, "xyChart": chart}


# --- what explain says: the objectives each stack carries, read back from it ------------------------


def explain_lines(stacks: Mapping[str, Mapping[str, Any]], envs: list[str]) -> list[str]:
    """One line per set of environments whose stacks carry the same objectives (their cdk.tf.json)."""
    groups: dict[str, list[str]] = {}
    for env in envs:
        text = _objectives(stacks[env].get("resource") or {})
        if text:
            groups.setdefault(text, []).append(env)
    return [f"{text} ({', '.join(names)})" for text, names in groups.items()]


def _objectives(resources: Mapping[str, Mapping[str, Any]]) -> str:
    """What one stack's serving_slos resources promise and who they page, in words; '' when none."""

    def own(resource_type: str) -> dict[str, Any]:
        return {n: b for n, b in (resources.get(resource_type) or {}).items() if n.startswith("serving_slos_")}

    slos, policies = own("google_monitoring_slo"), own("google_monitoring_alert_policy")
    parts = []
    if slos:
        availability, latency = slos.get("serving_slos_availability", {}), slos.get("serving_slos_latency", {})
        days = availability.get("rolling_period_days", latency.get("rolling_period_days"))
        cut = ((latency.get("request_based_sli") or {}).get("distribution_cut") or {}).get("range") or {}
        parts.append(
            f"objectives: availability {percent(availability.get('goal', 0))} of requests answered 2xx, latency "
            f"{percent(latency.get('goal', 0))} within {cut.get('max', 0):g} ms, over {days} days"
        )
        burns = sorted(
            {
                (c["condition_threshold"]["threshold_value"], _minutes(c["condition_threshold"]["filter"]))
                for name, body in policies.items()
                if name.endswith("_burn_alert")
                for c in body["conditions"][:1]
            },
            reverse=True,
        )
        if burns:
            rates = " and ".join(f"{rate:g} over {minutes // 60} h" for rate, minutes in burns)
            parts.append(f"pages on burn rates {rates} (each checked over a short window too){_to(policies)}")
        elif own("google_monitoring_dashboard"):
            parts.append("on a dashboard, no paging")
    fresh = policies.get("serving_slos_freshness_alert")
    if fresh:
        period = fresh["conditions"][0]["condition_threshold"]["aggregations"][0]["alignment_period"]
        parts.append(
            f"freshness: alert when no predictions were written for {int(period[:-1]) // 3600} h{_to(policies)}"
        )
    elif not slos and own("google_monitoring_dashboard"):
        parts.append("freshness: predictions written, on a dashboard, no paging")
    return "; ".join(parts)


def _minutes(selector: str) -> int:
    return int(selector.rsplit('"', 2)[-2].removesuffix("s")) // 60


def _to(policies: Mapping[str, Mapping[str, Any]]) -> str:
    channels = {c for body in policies.values() for c in body.get("notification_channels") or []}
    return (
        f", to {len(channels)} channel{'s' if len(channels) != 1 else ''}" if channels else ", to NOBODY (no channel)"
    )
