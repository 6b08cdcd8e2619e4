"""Alerts that Cloud Monitoring can evaluate and that mean what they say (issue 6, items 3 and 8).

Every alert policy in every generated stack is checked against the table of real Cloud
Monitoring metric types (generator/data/metric_types.yaml, read here as plain data so the
judge does not share code with what it judges): the metric type exists, the labels the filter
names exist for it, the resource.type is the metric's monitored resource, and the aligners
suit the metric's kind and value type. Then the semantics: the error alert is a ratio of
errors to requests, the latency alert reads the model's latency at a percentile in the
metric's unit, the pipeline alert counts failed runs, the drift threshold reaches the
stack, and alerts that nobody receives are a warning in explain and generate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import REPO, run
from synth_support import read_stack, resources

TABLE_FILE = REPO / "generator" / "data" / "metric_types.yaml"
ALIGNERS_FOR_COUNTS = {
    "ALIGN_DELTA",
    "ALIGN_RATE",
    "ALIGN_SUM",
    "ALIGN_COUNT",
    "ALIGN_MEAN",
    "ALIGN_MAX",
    "ALIGN_MIN",
    "ALIGN_NONE",
}
PERCENTILE = re.compile(r"^ALIGN_PERCENTILE_\d\d$")
INTERPOLATION = re.compile(r"^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)\}$")


def table() -> dict[str, Any]:
    return YAML(typ="safe").load(TABLE_FILE.read_text(encoding="utf-8"))


def stacks(synthesized: dict[str, Path]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for _, target in sorted(synthesized.items()):
        for stack in json.loads((target / "manifest.json").read_text())["stacks"]:
            out.append((stack, read_stack(target, stack)))
    return out


def monitoring_settings(synthesized: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """Stack name -> the resolved model_monitoring settings of its environment (what the stack must carry)."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

    out = {}
    for config in synthesized:
        for env in resolve(load_spec(REPO / config)).environments.values():
            if "model_monitoring" in env.settings["capabilities"]:
                out[env.stack] = env.settings["capabilities"]["model_monitoring"] or {}
    return out


def policies(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return data.get("resource", {}).get("google_monitoring_alert_policy", {})


def conditions(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return policy["conditions"] if isinstance(policy["conditions"], list) else [policy["conditions"]]


# --- Monitoring filter terms -----------------------------------------------------------------------

TERM = re.compile(
    r'\b(metric|resource)\.(type|labels?\.(?:"([\w-]+)"|([\w-]+)))'
    r'\s*(=|!=|:)\s*("(?:[^"\\]|\\.)*"|\w+\([^)]*\))'
)


def terms(metric_filter: str) -> list[tuple[str, str, str]]:
    """(metric|resource, 'type' or a label key, the value as written) for each term of a filter."""
    out = []
    for scope, selector, quoted, bare, _, value in TERM.findall(metric_filter):
        key = "type" if selector == "type" else (quoted or bare)
        out.append((scope, key, value.strip('"') if value.startswith('"') else value))
    return out


def test_filter_terms_are_read_the_way_monitoring_reads_them() -> None:
    got = terms(
        'metric.type = "a.googleapis.com/x" AND resource.type="a.googleapis.com/R" '
        'AND metric.labels.latency_type = "model" AND resource.label."endpoint_id"="1" '
        'AND metric.label.response_code = starts_with("5")'
    )
    assert got == [
        ("metric", "type", "a.googleapis.com/x"),
        ("resource", "type", "a.googleapis.com/R"),
        ("metric", "latency_type", "model"),
        ("resource", "endpoint_id", "1"),
        ("metric", "response_code", 'starts_with("5")'),
    ]


# --- the table -------------------------------------------------------------------------------------


def test_metric_table_cites_its_source_and_date() -> None:
    header = TABLE_FILE.read_text(encoding="utf-8").split("\n\n", 1)[0]
    assert "https://cloud.google.com/monitoring/api/metrics_gcp_a_b#gcp-aiplatform" in header
    assert re.search(r"read 20\d\d-\d\d-\d\d", header)
    data = table()
    for name, metric in data["metrics"].items():
        assert metric["kind"] in {"GAUGE", "DELTA", "CUMULATIVE"}, name
        assert metric["value_type"] in {"BOOL", "INT64", "DOUBLE", "STRING", "DISTRIBUTION", "MONEY"}, name
        assert metric["resource"] in data["resources"], name
        assert isinstance(metric["labels"], list) and metric.get("unit"), name
        assert set(metric.get("label_values", {})) <= set(metric["labels"]), name


# --- every alert of every stack --------------------------------------------------------------------


def _check_series(
    where: str, metric_filter: str, aggregations: list[dict[str, Any]], data: dict[str, Any], problems: list[str]
) -> dict[str, Any] | None:
    """The table entry a filter selects (None if it selects nothing real), with each problem recorded."""
    known = table()
    found = terms(metric_filter)
    types = [v for s, k, v in found if s == "metric" and k == "type"]
    kinds = [v for s, k, v in found if s == "resource" and k == "type"]
    if len(types) != 1 or len(kinds) != 1:
        problems.append(f"{where}: a filter names exactly one metric.type and one resource.type: {metric_filter}")
        return None
    metric_type, resource_type = types[0], kinds[0]
    if metric_type.startswith(known["log_based"]["prefix"]):
        entry = _log_metric(metric_type.removeprefix(known["log_based"]["prefix"]), data, where, problems)
    else:
        entry = known["metrics"].get(metric_type)
        if entry is None:
            problems.append(f"{where}: {metric_type} is not a Cloud Monitoring metric type in {TABLE_FILE.name}")
    if entry is None:
        return None
    if resource_type != entry["resource"]:
        problems.append(f"{where}: {metric_type} is written against {entry['resource']}, not {resource_type}")
    resource_labels = known["resources"].get(entry["resource"], {}).get("labels", [])
    for scope, key, value in found:
        if key == "type":
            continue
        allowed = entry["labels"] if scope == "metric" else resource_labels
        if key not in allowed:
            problems.append(f"{where}: {metric_type} has no {scope} label {key!r} (it has {allowed})")
        elif scope == "metric" and key in entry.get("label_values", {}) and value not in entry["label_values"][key]:
            problems.append(f"{where}: {key} is one of {entry['label_values'][key]}, not {value!r}")
    for agg in aggregations:
        aligner = agg.get("per_series_aligner", "ALIGN_NONE")
        if PERCENTILE.match(aligner) and entry["value_type"] != "DISTRIBUTION":
            problems.append(f"{where}: {aligner} needs a DISTRIBUTION, {metric_type} is {entry['value_type']}")
        if aligner in {"ALIGN_DELTA", "ALIGN_RATE"} and entry["kind"] == "GAUGE":
            problems.append(f"{where}: {aligner} needs a DELTA or CUMULATIVE metric, {metric_type} is a GAUGE")
        if entry["value_type"] == "DISTRIBUTION" and aligner not in {"ALIGN_DELTA"} and not PERCENTILE.match(aligner):
            problems.append(f"{where}: {aligner} on the distribution {metric_type}")
        if entry["value_type"] != "DISTRIBUTION" and aligner not in ALIGNERS_FOR_COUNTS:
            problems.append(f"{where}: {aligner} on {metric_type}")
    return entry


def _log_metric(name: str, data: dict[str, Any], where: str, problems: list[str]) -> dict[str, Any] | None:
    """The table entry of a log-based metric: its google_logging_metric in the same stack."""
    metrics = data.get("resource", {}).get("google_logging_metric", {})
    match = INTERPOLATION.match(name)
    if match and match.group(1) == "google_logging_metric" and match.group(3) == "name":
        body = metrics.get(match.group(2))
    else:
        body = next((b for b in metrics.values() if b["name"] == name), None)
    if body is None:
        problems.append(f"{where}: logging.googleapis.com/user/{name} has no google_logging_metric in the stack")
        return None
    kinds = [v for s, k, v in terms(body["filter"]) if s == "resource" and k == "type"]
    if len(kinds) != 1:
        problems.append(f"{where}: the log-based metric {body['name']} must select one resource.type")
        return None
    descriptor = body.get("metric_descriptor", {})
    return {
        "kind": descriptor.get("metric_kind"),
        "value_type": descriptor.get("value_type"),
        "resource": kinds[0],
        "labels": sorted(body.get("label_extractors", {})),
    }


def test_every_alert_names_a_real_metric_with_its_labels_and_resource(synthesized: dict[str, Path]) -> None:
    problems: list[str] = []
    seen = 0
    for stack, data in stacks(synthesized):
        for name, policy in policies(data).items():
            for i, condition in enumerate(conditions(policy)):
                where = f"{stack}: {name} condition {i}"
                other = set(condition) - {"display_name", "condition_threshold"}
                if other == {"condition_matched_log"}:  # a log-match condition: its own test below
                    continue
                if other:
                    problems.append(f"{where}: only threshold conditions are checked against the table: {other}")
                    continue
                threshold = condition["condition_threshold"]
                if threshold["filter"].startswith("select_slo_"):  # an SLO's burn rate: test_serving_slos.py
                    continue
                seen += 1
                _check_series(where, threshold["filter"], threshold.get("aggregations", []), data, problems)
                if "denominator_filter" in threshold:
                    _check_series(
                        f"{where} (denominator)",
                        threshold["denominator_filter"],
                        threshold.get("denominator_aggregations", []),
                        data,
                        problems,
                    )
    assert seen, "no alert policy in any generated stack"
    assert not problems, "\n".join(problems)


# --- semantics -------------------------------------------------------------------------------------


def _threshold(data: dict[str, Any], key: str) -> dict[str, Any]:
    (condition,) = conditions(policies(data)[f"model_monitoring_{key}_alert"])
    return condition["condition_threshold"]


def _with(synthesized: dict[str, Path], key: str) -> list[tuple[str, dict[str, Any]]]:
    found = [(stack, data) for stack, data in stacks(synthesized) if f"model_monitoring_{key}_alert" in policies(data)]
    assert found, f"no stack has the {key} alert"
    return found


def test_error_alert_is_a_ratio_of_errors_to_requests(synthesized: dict[str, Path]) -> None:
    for stack, data in _with(synthesized, "endpoint_errors"):
        cond = _threshold(data, "endpoint_errors")
        numerator = {v for s, k, v in terms(cond["filter"]) if s == "metric" and k == "type"}
        denominator = {v for s, k, v in terms(cond.get("denominator_filter", "")) if s == "metric" and k == "type"}
        assert numerator == {"aiplatform.googleapis.com/prediction/online/error_count"}, stack
        assert denominator == {"aiplatform.googleapis.com/prediction/online/response_count"}, stack
        # both sides aligned and reduced alike, so the ratio divides matching series
        assert cond["denominator_aggregations"] == cond["aggregations"], stack
        (agg,) = cond["aggregations"]
        assert agg["cross_series_reducer"] == "REDUCE_SUM" and agg["per_series_aligner"] in {"ALIGN_DELTA", "ALIGN_SUM"}
        assert 0 < cond["threshold_value"] < 1 and cond["comparison"] == "COMPARISON_GT", stack


def test_latency_alert_reads_the_model_latency_at_p99_in_milliseconds(synthesized: dict[str, Path]) -> None:
    unit = table()["metrics"]["aiplatform.googleapis.com/prediction/online/prediction_latencies"]["unit"]
    assert unit == "ms"
    settings = monitoring_settings(synthesized)
    for stack, data in _with(synthesized, "endpoint_latency"):
        cond = _threshold(data, "endpoint_latency")
        assert ("metric", "latency_type", "model") in terms(cond["filter"]), stack
        (agg,) = cond["aggregations"]
        assert agg["per_series_aligner"] == "ALIGN_PERCENTILE_99", stack
        expected = settings[stack]["alerts"]["endpoint_latency_p99_ms"]
        assert cond["threshold_value"] == expected, f"{stack}: the resolved endpoint_latency_p99_ms, in ms"


def test_pipeline_alert_matches_the_failed_runs_log_entries(synthesized: dict[str, Path]) -> None:
    """Google's documented signal of a failed run is its PipelineJob state-change log entry; matched directly
    (condition_matched_log), not through a log-based metric, whose alert policy answers 404 for up to 10
    minutes after the metric is created (hashicorp/terraform-provider-google issue 11102): a fresh project's
    first apply would fail. Google requires a log-match condition to be alone and rate-limited."""
    seen = 0
    for stack, data in _with(synthesized, "pipeline_failures"):
        policy = policies(data)["model_monitoring_pipeline_failures_alert"]
        (condition,) = conditions(policy)
        matched = condition["condition_matched_log"]
        log_terms = terms(matched["filter"])
        assert ("resource", "type", "aiplatform.googleapis.com/PipelineJob") in log_terms, stack
        assert 'jsonPayload.state="PIPELINE_STATE_FAILED"' in matched["filter"].replace(" ", ""), stack
        # one incident per run: the label is the PipelineJob resource's (generator/data/metric_types.yaml)
        assert matched["label_extractors"] == {"pipeline_job_id": "EXTRACT(resource.labels.pipeline_job_id)"}
        assert policy["alert_strategy"]["notification_rate_limit"]["period"].endswith("s"), stack
        assert "google_logging_metric" not in data.get("resource", {}), stack
        seen += 1
    assert seen


def test_drift_threshold_reaches_the_stack_as_an_output(synthesized: dict[str, Path]) -> None:
    settings = monitoring_settings(synthesized)
    assert settings
    data = dict(stacks(synthesized))
    for stack, monitoring in settings.items():
        assert any(a.startswith("google_bigquery_dataset.model_monitoring_") for a in resources(data[stack]))
        output = data[stack].get("output", {}).get("model_monitoring_drift_threshold")
        assert output and output["value"] == monitoring["drift_threshold"], (
            f"{stack}: the resolved drift_threshold is read by nothing"
        )


def test_explain_promises_only_what_model_monitoring_provisions(spawns: None) -> None:
    from tierstack.generator.facts.catalog import load_catalog

    bindings = Path(__import__("cdktn_provider_google").__file__).parent
    monitors = [p.name for p in bindings.iterdir() if "model_monitor" in p.name or "monitoring_job" in p.name]
    assert monitors == [], "the provider has a model monitoring resource now: provision drift and skew with it"
    provisions = [line.lower() for line in load_catalog().capability("model_monitoring").provisions]
    for line in provisions:  # drift and skew are the pipeline's job; the stack holds its dataset and threshold
        if "drift" in line or "skew" in line:
            assert "pipeline creates" in line or "output" in line, line
    assert any("drift_threshold" in line and "output" in line for line in provisions)
    assert any("notification channel, when alert_email" in line for line in provisions)


# --- alerts nobody receives ------------------------------------------------------------------------

NO_EMAIL = """\
name: quiet-case
team: ml-platform
use_case:
  stage: production
  serving: online
  retraining: on_degradation
environments:
  dev: {project: acme-quiet-dev}
  prod: {project: acme-quiet-prod}
"""


def test_explain_warns_when_alerts_reach_nobody(tmp_path: Path, synthesizes: None) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(NO_EMAIL, encoding="utf-8")
    result = run("explain", str(config))
    assert result.exit_code == 0, result.output
    warnings = result.output.split("\nWarnings\n", 1)[-1]
    assert "notify nobody" in warnings and "dev, prod" in warnings and "alert_email" in warnings
    data = json.loads(run("explain", str(config), "--format", "json").output)
    assert any("notify nobody" in w for w in data["warnings"])

    config.write_text(NO_EMAIL + "variables:\n  alert_email: oncall@example.com\n", encoding="utf-8")
    assert "notify nobody" not in run("explain", str(config)).output


def test_generate_warns_when_alerts_reach_nobody(tmp_path: Path, synthesized: dict[str, Path]) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(NO_EMAIL, encoding="utf-8")
    result = run("generate", str(config), "--env", "dev", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "notify nobody" in result.output


@pytest.mark.parametrize("threshold", ["0", "1.5", "'high'"])
def test_a_drift_threshold_outside_zero_to_one_is_an_error(tmp_path: Path, threshold: str) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(
        NO_EMAIL + f"overrides:\n  capabilities:\n    model_monitoring:\n      drift_threshold: {threshold}\n",
        encoding="utf-8",
    )
    result = run("generate", str(config), "--env", "dev", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "drift_threshold" in result.output


# --- issue 20, 9: a failed retraining execution alerts the team ----------------------------------------

WORKFLOW_METRIC = "workflows.googleapis.com/finished_execution_count"


def test_the_workflows_metric_is_in_the_table_with_its_source() -> None:
    """The metric and label names come from Google's metrics list (section "workflows"), cited in the table
    beside the entry, with the states a finished execution ends in (Workflow Executions API, Execution.State)."""
    text = TABLE_FILE.read_text(encoding="utf-8")
    assert "https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-workflows" in text
    entry = table()["metrics"][WORKFLOW_METRIC]
    assert (entry["kind"], entry["value_type"], entry["resource"]) == (
        "DELTA",
        "INT64",
        "workflows.googleapis.com/Workflow",
    )
    assert "FAILED" in entry["label_values"]["status"]
    assert "workflow_id" in table()["resources"]["workflows.googleapis.com/Workflow"]["labels"]


def _team_channel(data: dict[str, Any]) -> str | None:
    """The team's email channel in a stack: model monitoring's alerts, else the budget's; None without one."""
    channels = data.get("resource", {}).get("google_monitoring_notification_channel", {})
    for name in ("model_monitoring_email", "cost_controls_budget_email"):
        if name in channels and channels[name]["type"] == "email":
            return f"${{google_monitoring_notification_channel.{name}.id}}"
    return None


def test_every_retraining_workflow_alerts_on_its_failed_executions(synthesized: dict[str, Path]) -> None:
    """The workflow retries its call, then fails the execution: without this alert nobody learns that a due
    run never started (issue 20, item 9). One threshold condition on the workflow's FAILED executions, any
    one of them an incident, to the team's channel wherever the stack has one."""
    seen = notified = 0
    for stack, data in stacks(synthesized):
        workflows = data.get("resource", {}).get("google_workflows_workflow", {})
        if "ml_pipelines_retraining" not in workflows:
            assert "ml_pipelines_retraining_failures_alert" not in policies(data), stack
            continue
        policy = policies(data)["ml_pipelines_retraining_failures_alert"]
        (condition,) = conditions(policy)
        threshold = condition["condition_threshold"]
        found = terms(threshold["filter"])
        assert ("metric", "type", WORKFLOW_METRIC) in found, stack
        assert ("metric", "status", "FAILED") in found, stack
        assert ("resource", "workflow_id", "${google_workflows_workflow.ml_pipelines_retraining.name}") in found
        assert threshold["comparison"] == "COMPARISON_GT" and threshold.get("threshold_value", 0) == 0, stack
        (agg,) = threshold["aggregations"]
        assert agg["per_series_aligner"] in {"ALIGN_DELTA", "ALIGN_SUM"} and agg["alignment_period"] == "300s"
        channel = _team_channel(data)
        assert policy.get("notification_channels") == ([channel] if channel else None), stack
        seen += 1
        notified += bool(channel)
    assert seen and notified, f"{seen} retraining workflows, {notified} alerting a channel"


def test_the_weekly_recommender_hears_of_a_failed_retraining(synthesized: dict[str, Path]) -> None:
    """recommender-prod retrains weekly through the workflow and selects no model_monitoring: its failed
    executions reach the team through the budget's email channel, the only channel it has."""
    data = read_stack(synthesized["examples/recommender/tierstack.yaml"], "recommender-prod")
    policy = policies(data)["ml_pipelines_retraining_failures_alert"]
    assert policy["notification_channels"] == [
        "${google_monitoring_notification_channel.cost_controls_budget_email.id}"
    ]
    channel = data["resource"]["google_monitoring_notification_channel"]["cost_controls_budget_email"]
    assert channel["labels"] == {"email_address": "personalization@example.com"}


SCHEDULED_NO_EMAIL = """\
name: quiet-batch
team: ml-platform
use_case:
  stage: production
  serving: batch
  retraining: scheduled
  schedule: "0 4 * * 1"
environments:
  dev: {project: acme-quietb-dev}
  prod: {project: acme-quietb-prod}
"""


def test_explain_warns_when_a_failed_retraining_reaches_nobody(tmp_path: Path, synthesizes: None) -> None:
    """Where no team channel exists, the alert is still made (as model_monitoring's are) and explain says so."""
    config = tmp_path / "tierstack.yaml"
    config.write_text(SCHEDULED_NO_EMAIL, encoding="utf-8")
    result = run("explain", str(config))
    assert result.exit_code == 0, result.output
    warnings = result.output.split("\nWarnings\n", 1)[-1]
    assert "failed retraining executions of prod notifies nobody" in warnings, warnings
    assert "alert_email" in warnings

    # an address is the team's channel with or without a budget: batch serving selects no model_monitoring,
    # and cost_controls (in every stack) makes the email channel the alert notifies
    email = "variables:\n  alert_email: oncall@example.com\n"
    config.write_text(SCHEDULED_NO_EMAIL + email, encoding="utf-8")
    assert "failed retraining" not in run("explain", str(config)).output
