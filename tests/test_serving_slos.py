"""Serving in tiers with SLOs (issue 22, item 3): production pages on its error budget, experimental does not.

The judges: the burn rates are the SRE workbook's, recomputed here from the budget shares and windows
with the formula Google's own Terraform uses; every SLI filter names a real metric, label and resource
(generator/data/metric_types.yaml, read by test_monitoring's own checker); each burn-rate alert names an
SLO the same stack defines; the freshness alert watches the dataset model_serving writes batch
predictions to; and real Terraform validates a stack with every new type (test_terraform.py runs the
examples; the batch-production stack, which no example has, is validated here).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_monitoring import _check_series, conditions, terms

from conftest import REPO, run, use_case
from synth_support import read_stack
from tierstack.generator.core.errors import UserError
from tierstack.modules.serving_slos import ServingSlosSettings, table, targets, unpaged

FRAUD = "examples/fraud-detection/tierstack.yaml"  # online, production class in prod, experimental elsewhere
TEAM_CHANNEL = "${google_monitoring_notification_channel.model_monitoring_email.id}"
SELECTOR = re.compile(r'^select_slo_burn_rate\("(projects/[^"]+)", "(\d+)s"\)$')
BATCH = use_case(mission_critical=True, serving="batch") + (
    "environments:\n  dev:\n    project: acme-batch-dev\n  prod:\n    project: acme-batch-prod\n"
    "variables:\n  alert_email: oncall@example.com\n"
)


def own(stack: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """serving_slos' resources of one type in a stack, by name."""
    bodies = (stack.get("resource") or {}).get(resource_type) or {}
    return {name: body for name, body in bodies.items() if name.startswith("serving_slos_")}


def slo_names(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each SLO of the stack by its resource name, as select_slo_burn_rate names it."""
    return {
        f"projects/{body['project']}/services/{body['service']}/serviceLevelObjectives/{body['slo_id']}": body
        for body in own(stack, "google_monitoring_slo").values()
    }


# --- the numbers, without synthesis -------------------------------------------------------------------


def test_burn_rates_are_the_sre_workbooks_for_a_30_day_slo() -> None:
    """Budget consumed x period / long window (Google's Terraform) gives the workbook's 14.4 and 6."""
    production = targets("production", ServingSlosSettings())
    assert production.period_days == 30
    alerts = {a.name: a for a in production.burn_alerts}
    assert (alerts["fast"].budget_consumed, alerts["fast"].long_window_minutes) == (0.02, 60)
    assert (alerts["slow"].budget_consumed, alerts["slow"].long_window_minutes) == (0.05, 360)
    assert alerts["fast"].threshold(30) == pytest.approx(14.4)
    assert alerts["slow"].threshold(30) == pytest.approx(6)
    # the short window is a twelfth of the long one, as the workbook pairs them (1 h / 5 min, 6 h / 30 min)
    assert all(a.long_window_minutes == 12 * a.short_window_minutes for a in alerts.values())
    # Google's own example: 2% of a 7-day budget in an hour is a burn rate of 3.36
    assert alerts["fast"].threshold(7) == pytest.approx(3.36)


def test_the_classes_differ_in_paging_and_targets() -> None:
    production, experimental = (targets(c, ServingSlosSettings()) for c in ("production", "experimental"))
    assert production.pages and not experimental.pages
    assert production.availability == 0.999 > experimental.availability
    assert production.latency_goal > experimental.latency_goal
    assert 0 < experimental.availability < 1 and table()["freshness_window_hours"]["max"] == 25


def test_a_setting_overrides_only_its_own_target() -> None:
    mine = targets("production", ServingSlosSettings(availability=0.995, freshness_window_hours=12))
    default = targets("production", ServingSlosSettings())
    assert (mine.availability, mine.freshness_window_hours) == (0.995, 12)
    assert (mine.latency_goal, mine.latency_threshold_ms, mine.pages) == (
        default.latency_goal,
        default.latency_threshold_ms,
        True,
    )


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("availability", "1.0", "0.999"),  # google_monitoring_slo.goal: 0 < goal <= 0.999
        ("freshness_window_hours", "26", "25"),  # an alerting policy aligns over at most 25 hours
        ("latency_threshold_ms", "0", "greater than 0"),
    ],
)
def test_a_target_google_would_refuse_is_an_error_at_its_line(
    setting: str, value: str, says: str, resolve_text: Any
) -> None:
    text = BATCH + f"overrides:\n  capabilities:\n    serving_slos:\n      {setting}: {value}\n"
    with pytest.raises(UserError) as error:
        resolve_text(text)
    message = str(error.value)
    assert setting in message and says in message, message
    assert error.value.line == text.splitlines().index(f"      {setting}: {value}") + 1


def test_production_without_anyone_to_page_is_a_warning() -> None:
    from types import SimpleNamespace

    from tierstack.modules.model_monitoring import ModelMonitoringSettings
    from tierstack.modules.model_serving import ModelServingSettings

    online = ModelServingSettings.model_construct(mode="online")  # the plan's typed settings, only what is read

    def env(serving_class: str, **capabilities: Any) -> Any:
        given = {"model_serving": online, "serving_slos": ServingSlosSettings(), **capabilities}
        return SimpleNamespace(settings={"serving_class": serving_class}, capabilities=given)

    environments = {"prod": env("production"), "dev": env("experimental")}
    (warning,) = unpaged(environments)
    assert "prod" in warning and "dev" not in warning and "alert_email" in warning
    environments["prod"] = env("production", serving_slos=ServingSlosSettings(page_email="oncall@example.com"))
    assert unpaged(environments) == []
    team = ModelMonitoringSettings.model_construct(notification_email="team@example.com")
    environments["prod"] = env("production", model_monitoring=team)
    assert unpaged(environments) == [], "the team's alert address is the pager's default"


# --- online: what the stacks hold ---------------------------------------------------------------------


def test_production_online_pages_on_fast_and_slow_burn_of_both_slos(synthesized: dict[str, Path]) -> None:
    stack = read_stack(synthesized[FRAUD], "fraud-detection-prod")
    slos = slo_names(stack)
    assert sorted(body["slo_id"] for body in slos.values()) == ["availability", "latency"]
    assert {body["goal"] for body in slos.values()} == {0.999, 0.99}
    # the team's alert channel, which model_monitoring made on the example's alert_email: no second one
    assert not own(stack, "google_monitoring_notification_channel")
    team = stack["resource"]["google_monitoring_notification_channel"]["model_monitoring_email"]
    assert team["labels"] == {"email_address": "risk-ml-oncall@example.com"}
    policies = own(stack, "google_monitoring_alert_policy")
    assert len(policies) == 4, sorted(policies)
    paged: dict[str, set[float]] = {}
    for name, policy in policies.items():
        assert policy["combiner"] == "AND", f"{name}: the long window AND the short one (multiwindow)"
        assert policy["notification_channels"] == [TEAM_CHANNEL], name
        windows, rates, names = [], set(), set()
        for condition in conditions(policy):
            threshold = condition["condition_threshold"]
            match = SELECTOR.match(threshold["filter"])
            assert match, f"{name}: {threshold['filter']}"
            names.add(match.group(1))
            windows.append(int(match.group(2)))
            rates.add(threshold["threshold_value"])
            assert threshold["comparison"] == "COMPARISON_GT" and threshold["duration"] == "0s"
            assert set(threshold) == {"filter", "comparison", "threshold_value", "duration"}, name
        (slo,) = names
        assert slo in slos, f"{name} names {slo}, which the stack does not define"
        assert f"google_monitoring_slo.serving_slos_{slos[slo]['slo_id']}" in policy["depends_on"]
        assert windows[0] == 12 * windows[1], f"{name}: a long window and its short one: {windows}"
        (rate,) = rates
        paged.setdefault(slos[slo]["slo_id"], set()).add(rate)
        assert rate == pytest.approx(0.02 * 30 * 24 * 3600 / windows[0]) or rate == pytest.approx(
            0.05 * 30 * 24 * 3600 / windows[0]
        )
    assert paged == {"availability": {14.4, 6}, "latency": {14.4, 6}}
    assert not own(stack, "google_monitoring_dashboard"), "production pages; its numbers need no dashboard"


def test_experimental_online_has_the_same_numbers_on_a_dashboard_and_pages_nobody(
    synthesized: dict[str, Path],
) -> None:
    for stack_name in ("fraud-detection-dev", "fraud-detection-staging"):
        stack = read_stack(synthesized[FRAUD], stack_name)
        assert not own(stack, "google_monitoring_alert_policy"), stack_name
        assert not own(stack, "google_monitoring_notification_channel"), stack_name
        slos = slo_names(stack)
        assert len(slos) == 2
        (dashboard,) = own(stack, "google_monitoring_dashboard").values()
        layout = json.loads(dashboard["dashboard_json"])
        charts = [w["xyChart"] for w in layout["gridLayout"]["widgets"]]
        selectors = [c["dataSets"][0]["timeSeriesQuery"]["timeSeriesFilter"]["filter"] for c in charts]
        burn = [SELECTOR.match(s) for s in selectors if s.startswith("select_slo_burn_rate")]
        assert {m.group(1) for m in burn if m} == set(slos)  # every SLO's burn rates, and nothing else
        assert sorted({float(c["thresholds"][0]["value"]) for c in charts if "thresholds" in c}) == [6, 14.4]
        for slo in slos:
            assert f'select_slo_budget_fraction("{slo}")' in selectors


def test_every_sli_reads_a_real_metric_of_this_endpoint(synthesized: dict[str, Path]) -> None:
    """Good and total requests are counts (INT64), the latency a distribution, as an SLO requires."""
    problems: list[str] = []
    checked = 0
    for config, out in synthesized.items():
        for stack_dir in sorted((out / "stacks").iterdir()):
            stack = read_stack(out, stack_dir.name)
            for name, slo in own(stack, "google_monitoring_slo").items():
                sli = slo["request_based_sli"]
                ratio, cut = sli.get("good_total_ratio"), sli.get("distribution_cut")
                series = (
                    [(ratio["good_service_filter"], "INT64"), (ratio["total_service_filter"], "INT64")]
                    if ratio
                    else [(cut["distribution_filter"], "DISTRIBUTION")]
                )
                for metric_filter, value_type in series:
                    checked += 1
                    entry = _check_series(f"{config} {name}", metric_filter, [], stack, problems)
                    assert entry is not None and entry["value_type"] == value_type, metric_filter
                    assert entry["kind"] in {"DELTA", "CUMULATIVE"}, metric_filter
                    endpoint = [v for s, k, v in terms(metric_filter) if s == "resource" and k == "endpoint_id"]
                    assert endpoint == ["${google_vertex_ai_endpoint.model_serving_endpoint.name}"], metric_filter
                if ratio:
                    good = dict((k, v) for s, k, v in terms(ratio["good_service_filter"]) if s == "metric")
                    assert good["response_code"] == 'starts_with("2")', name
                else:
                    assert ("metric", "latency_type", "model") in terms(cut["distribution_filter"]), name
    assert checked and not problems, "\n".join(problems)


# --- batch, and overrides: stacks of their own --------------------------------------------------------


@pytest.fixture(scope="module")
def batch_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    root = tmp_path_factory.mktemp("batch")
    config = root / "tierstack.yaml"
    config.write_text(BATCH, encoding="utf-8")
    generate(resolve(load_spec(config)), root / "out")
    return root / "out"


def test_production_batch_alerts_when_no_prediction_was_written_in_its_window(
    batch_out: Path, synthesizes: None
) -> None:
    stack = read_stack(batch_out, "demo-case-prod")
    (policy,) = own(stack, "google_monitoring_alert_policy").values()
    (condition,) = conditions(policy)
    threshold = condition["condition_threshold"]
    # the dataset model_serving writes the batch predictions to, in this same stack
    (dataset,) = [
        body["dataset_id"]
        for name, body in stack["resource"]["google_bigquery_dataset"].items()
        if name.startswith("model_serving_predictions")
    ]
    found = terms(threshold["filter"])
    assert ("resource", "dataset_id", dataset) in found
    assert ("metric", "table", 'starts_with("predictions")') in found
    problems: list[str] = []
    _check_series("freshness", threshold["filter"], threshold["aggregations"], stack, problems)
    assert not problems, problems
    (aggregation,) = threshold["aggregations"]
    assert aggregation["alignment_period"] == "90000s"  # 25 hours: the production class's window, the maximum
    assert aggregation["per_series_aligner"] == "ALIGN_SUM" and aggregation["cross_series_reducer"] == "REDUCE_SUM"
    assert (threshold["comparison"], threshold["threshold_value"]) == ("COMPARISON_LT", 1)
    # no data at all (no job ran) is the violation itself; a metric-absence condition waits at most 23.5 h
    assert threshold["evaluation_missing_data"] == "EVALUATION_MISSING_DATA_ACTIVE"
    assert policy["notification_channels"] == [TEAM_CHANNEL]
    assert not own(stack, "google_monitoring_slo"), "batch has no endpoint to hold to request SLOs"


def test_experimental_batch_shows_the_rows_and_pages_nobody(batch_out: Path, synthesizes: None) -> None:
    stack = read_stack(batch_out, "demo-case-dev")
    assert not own(stack, "google_monitoring_alert_policy")
    assert not own(stack, "google_monitoring_notification_channel")
    (dashboard,) = own(stack, "google_monitoring_dashboard").values()
    (widget,) = json.loads(dashboard["dashboard_json"])["gridLayout"]["widgets"]
    query = widget["xyChart"]["dataSets"][0]["timeSeriesQuery"]["timeSeriesFilter"]
    assert "bigquery.googleapis.com/storage/uploaded_row_count" in query["filter"]


def test_overrides_change_the_targets_per_use_case_and_per_environment(
    write: Any, tmp_path: Path, synthesizes: None
) -> None:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    config = write(
        use_case(serving="online") + "environments:\n  dev: {}\n  prod:\n    overrides:\n      capabilities:\n"
        "        serving_slos: {latency_threshold_ms: 250}\n"
        "overrides:\n  capabilities:\n    serving_slos: {availability: 0.995, latency_goal: 0.98}\n"
        "variables: {alert_email: oncall@example.com}\n"
    )
    generate(resolve(load_spec(config)), tmp_path / "out")
    prod = own(read_stack(tmp_path / "out", "demo-case-prod"), "google_monitoring_slo")
    assert prod["serving_slos_availability"]["goal"] == 0.995
    assert prod["serving_slos_latency"]["goal"] == 0.98
    assert prod["serving_slos_latency"]["request_based_sli"]["distribution_cut"]["range"]["max"] == 250
    dev = own(read_stack(tmp_path / "out", "demo-case-dev"), "google_monitoring_slo")
    assert dev["serving_slos_availability"]["goal"] == 0.995  # the use case's, in every environment
    assert dev["serving_slos_latency"]["request_based_sli"]["distribution_cut"]["range"]["max"] == 2000  # class's


def test_a_page_email_pages_an_on_call_address_of_its_own(write: Any, tmp_path: Path, synthesizes: None) -> None:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    config = write(
        use_case(serving="online")
        + "environments:\n  dev: {}\n  prod: {}\nvariables: {alert_email: team@example.com}\n"
        + "overrides:\n  capabilities:\n    serving_slos: {page_email: pager@example.com}\n"
    )
    generate(resolve(load_spec(config)), tmp_path / "out")
    stack = read_stack(tmp_path / "out", "demo-case-prod")
    (channel,) = own(stack, "google_monitoring_notification_channel").values()
    assert (channel["type"], channel["labels"]) == ("email", {"email_address": "pager@example.com"})
    policies = own(stack, "google_monitoring_alert_policy")
    assert len(policies) == 4
    for policy in policies.values():
        assert policy["notification_channels"] == ["${google_monitoring_notification_channel.serving_slos_email.id}"]


def test_explain_shows_each_stacks_targets_and_who_they_page(spawns: None) -> None:
    result = run("explain", str(REPO / FRAUD))
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert (
        "provisions: objectives: availability 99.9% of requests answered 2xx, latency 99% within 1000 ms, over 30 "
        "days; pages on burn rates 14.4 over 1 h and 6 over 6 h (each checked over a short window too), to 1 "
        "channel (prod)"
    ) in lines
    assert (
        "provisions: objectives: availability 99% of requests answered 2xx, latency 95% within 2000 ms, over 30 "
        "days; on a dashboard, no paging (dev, staging)"
    ) in lines


def test_terraform_validates_the_batch_stacks(batch_out: Path, terraform: Any, tmp_path: Path) -> None:
    from standin import mirror

    for stack in ("demo-case-dev", "demo-case-prod"):
        workdir = mirror.workdir_for(batch_out / "stacks" / stack, tmp_path / stack)
        verdict = mirror.validate(terraform, workdir)
        assert verdict["valid"] is True and verdict["error_count"] == 0, json.dumps(verdict, indent=1)
