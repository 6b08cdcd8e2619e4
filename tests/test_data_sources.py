"""Declared data sources (issue 22, item 1): granted exactly, watched, checked before training and by verify.

The judges are not ours where one exists: real Terraform (validate and plan against the stand-in) for every
resource type the capability emits, Terraform's own evaluation of the workflow's `jsonencode(...)` body (read
from the plan, so the workflow is read back as Workflows would receive it), and the real google-cloud-storage
and google-cloud-bigquery clients against a local Cloud Storage emulator and a local BigQuery REST fake
(tests/fakes/bigquery.py) for `tierstack verify`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from synth_support import read_stack
from tierstack.generator import grammars
from tierstack.generator.errors import UserError
from tierstack.generator.resolve import Resolved
from tierstack.generator.selection import select
from tierstack.generator.spec import LoadedSpec

SOURCES = """\
name: demo-case
team: ml-platform
use_case: {stage: production, retraining: scheduled, schedule: "0 3 * * 1"}
variables:
  alert_email: team@example.com
data_sources:
  - table: acme-data.sales.orders     # in another project: fine
    max_staleness: 26h
  - uri: gs://acme-raw/clicks/
    max_staleness: 2d
"""
TRAINING = "serviceAccount:${google_service_account.foundation_training_sa.email}"
PIPELINES = "serviceAccount:${google_service_account.foundation_pipelines_sa.email}"


# --- the grammar, parsed once --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("26h", 26 * 3600), ("2d", 2 * 86400), ("90m", 90 * 60), ("1d12h", 36 * 3600), ("1h30m", 5400), ("1m", 60)],
)
def test_a_staleness_is_days_hours_minutes(text: str, seconds: int) -> None:
    assert grammars.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "26", "h", "2 d", "2days", "12h1d", "0m", "30s", "-1h", "1.5h", "٢d", "400d", "2d\n"]
)
def test_a_staleness_that_cannot_be_parsed_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration|is outside"):
        grammars.parse_duration(text)


@pytest.mark.parametrize(
    "name",
    ["acme-data.sales.orders", "acme-data.sales_2024.orders-v2", "other-project-9.d.t"],
)
def test_a_table_is_project_dataset_table(name: str) -> None:
    assert grammars.check_table(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "sales.orders",
        "acme-data.sales.orders.x",
        "acme-data.sales.events_*",
        "Acme.sales.orders",
        "acme-data.sa-les.orders",
        "my-google-proj.sales.orders",
        "acme-data.sales.or ders",
        'acme-data.sales.o"rders',
        "acme-data.sales.orders\n",
    ],
)
def test_a_malformed_table_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="is not a BigQuery table"):
        grammars.check_table(name)


@pytest.mark.parametrize(
    "uri", ["gs://acme-raw/clicks/", "gs://acme-raw/", "gs://acme_raw/a/dt=2026-12-07/", "gs://a-b/x.y"]
)
def test_a_prefix_is_a_bucket_and_object_name_parts(uri: str) -> None:
    assert grammars.check_gcs_prefix(uri) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "gs://acme-raw",
        "s3://acme-raw/clicks/",
        "gs://acme-raw//clicks/",
        "gs://acme-raw/clicks/*",
        "gs://Acme/clicks/",
        "gs://goog-raw/clicks/",
        "gs://acme-raw/../secrets/",
        'gs://acme-raw/cl")||true||("/',
        "gs://acme-raw/clicks/\n",
    ],
)
def test_a_malformed_prefix_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="is not a Cloud Storage prefix"):
        grammars.check_gcs_prefix(uri)


# --- selection: a rule that says why -----------------------------------------------------------------


def test_declared_sources_select_the_capability_and_say_why(spec_of: Callable[..., LoadedSpec]) -> None:
    selection = select(spec_of(SOURCES))
    reasons = selection.capabilities["data_sources"]
    assert [r.field for r in reasons] == ["data_sources"]
    assert reasons[0].line == 6
    assert "table acme-data.sales.orders (max 26h)" in reasons[0].value
    assert "prefix gs://acme-raw/clicks/ (max 2d)" in reasons[0].value
    assert "training reads only what is declared" in reasons[0].text()


def test_no_sources_no_capability(spec_of: Callable[..., LoadedSpec]) -> None:
    assert not select(spec_of(SOURCES.split("data_sources:")[0])).has("data_sources")
    assert not select(spec_of(SOURCES.split("data_sources:")[0] + "data_sources: []\n")).has("data_sources")


def test_research_declares_sources_too(spec_of: Callable[..., LoadedSpec]) -> None:
    research = SOURCES.replace('{stage: production, retraining: scheduled, schedule: "0 3 * * 1"}', "{stage: research}")
    assert select(spec_of(research)).has("data_sources")


def test_a_source_listed_twice_is_an_error_at_its_repeat(spec_of: Callable[..., LoadedSpec]) -> None:
    twice = SOURCES + "  - table: acme-data.sales.orders\n    max_staleness: 1d\n"
    with pytest.raises(UserError) as error:
        select(spec_of(twice))
    assert error.value.line == 11 and error.value.field == "data_sources.2"
    assert "listed twice" in str(error.value)


def test_the_sources_are_the_capabilitys_settings_where_tierstack_yaml_lists_them(
    resolve_text: Callable[..., Resolved],
) -> None:
    resolved = resolve_text(SOURCES)
    for env in resolved.environments.values():
        settings = env.settings["capabilities"]["data_sources"]
        assert settings["sources"] == [
            {"table": "acme-data.sales.orders", "max_staleness": "26h"},
            {"uri": "gs://acme-raw/clicks/", "max_staleness": "2d"},
        ]
        assert settings["check_schedule"] == "0 * * * *"
        assert settings["notification_email"] == "team@example.com"
        where = env.provenance[("capabilities", "data_sources", "sources")]
        assert str(where).endswith("tierstack.yaml:6"), where


def test_bad_sources_exit_2_at_their_line(write: Callable[..., Path]) -> None:
    bad = SOURCES.replace("26h", "26 hours").replace("gs://acme-raw/clicks/", "gs://acme-raw/*")
    result = run("validate", str(write(bad)))
    assert result.exit_code == 2, result.output
    assert "tierstack.yaml:8, field 'data_sources.0.max_staleness'" in result.output
    assert "tierstack.yaml:9, field 'data_sources.1.uri'" in result.output
    assert "Traceback" not in result.output


def test_the_schema_has_the_field() -> None:
    from tierstack.generator.schema import schema

    body = schema("config")
    assert body["properties"]["data_sources"]["type"] == "array"
    source = body["$defs"]["DataSource"]
    assert set(source["properties"]) == {"table", "uri", "max_staleness"}
    assert source["required"] == ["max_staleness"] and source["additionalProperties"] is False


# --- the stacks -------------------------------------------------------------------------------------------


@pytest.fixture
def synth(write: Callable[..., Path], tmp_path: Path) -> Callable[[str], dict[str, dict[str, Any]]]:
    """synth(tierstack.yaml text) -> {stack: its cdk.tf.json}; the output is in tmp_path/out."""
    from tierstack.generator.generate import generate
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    def _synth(text: str) -> dict[str, dict[str, Any]]:
        out = tmp_path / "out"
        generate(resolve(load_spec(write(text))), out)
        return {p.name: read_stack(out, p.name) for p in sorted((out / "stacks").iterdir())}

    return _synth


def of_type(stack: dict[str, Any], terraform_type: str, prefix: str = "data_sources_") -> dict[str, Any]:
    return {n: b for n, b in (stack.get("resource", {}).get(terraform_type) or {}).items() if n.startswith(prefix)}


def test_each_source_is_granted_exactly_to_the_identities_that_read_training_data(
    synth: Callable[[str], dict[str, dict[str, Any]]], synthesizes: None
) -> None:
    for name, stack in synth(SOURCES).items():
        tables = of_type(stack, "google_bigquery_table_iam_member")
        assert sorted(
            (b["project"], b["dataset_id"], b["table_id"], b["role"], b["member"]) for b in tables.values()
        ) == [
            ("acme-data", "sales", "orders", "roles/bigquery.dataViewer", PIPELINES),
            ("acme-data", "sales", "orders", "roles/bigquery.dataViewer", TRAINING),
        ], name
        buckets = of_type(stack, "google_storage_bucket_iam_member")
        assert sorted(b["member"] for b in buckets.values()) == [PIPELINES, TRAINING], name
        for body in buckets.values():
            assert body["bucket"] == "acme-raw" and body["role"] == "roles/storage.objectViewer"
            assert body["condition"]["expression"] == (
                'resource.name.startsWith("projects/_/buckets/acme-raw/objects/clicks/") || '
                'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("clicks/")'
            )
        # nothing broader: no project-, dataset- or unconditioned bucket-wide read for them from this capability
        for broader in ("google_project_iam_member", "google_bigquery_dataset_iam_member"):
            roles = {b["role"] for b in of_type(stack, broader).values()}
            assert roles <= {"roles/workflows.invoker"}, (name, broader, roles)
        assert of_type(stack, "google_storage_bucket_iam_binding") == {}


def test_a_tier_0_stack_grants_training_only_and_checks_as_it(
    synth: Callable[[str], dict[str, dict[str, Any]]], synthesizes: None
) -> None:
    tier0 = SOURCES.replace('{stage: production, retraining: scheduled, schedule: "0 3 * * 1"}', "{stage: research}")
    for name, stack in synth(tier0).items():
        members = {
            b["member"]
            for t in ("google_bigquery_table_iam_member", "google_storage_bucket_iam_member")
            for b in of_type(stack, t).values()
        }
        assert members == {TRAINING}, name
        workflow = of_type(stack, "google_workflows_workflow")["data_sources_check"]
        assert workflow["service_account"] == "${google_service_account.foundation_training_sa.email}"


def test_addresses_stay_with_their_source_whatever_the_order(
    synth: Callable[[str], dict[str, dict[str, Any]]], synthesizes: None
) -> None:
    first = {
        n: set(of_type(s, "google_bigquery_table_iam_member")) | set(of_type(s, "google_storage_bucket_iam_member"))
        for n, s in synth(SOURCES).items()
    }
    head, rest = SOURCES.split("data_sources:\n")
    table, uri = rest[: rest.index("  - uri")], rest[rest.index("  - uri") :]
    second = {
        n: set(of_type(s, "google_bigquery_table_iam_member")) | set(of_type(s, "google_storage_bucket_iam_member"))
        for n, s in synth(head + "data_sources:\n" + uri + table).items()
    }
    assert first == second


def test_a_workflow_checks_the_sources_hourly_and_an_alert_watches_its_entries(
    synth: Callable[[str], dict[str, dict[str, Any]]], synthesizes: None
) -> None:
    for stack in synth(SOURCES).values():
        project = stack["provider"]["google"][0]["project"]
        job = of_type(stack, "google_cloud_scheduler_job")["data_sources_schedule"]
        assert job["schedule"] == "0 * * * *"
        assert job["http_target"]["uri"].endswith(
            "/workflows/${google_workflows_workflow.data_sources_check.name}/executions"
        )
        assert job["http_target"]["oauth_token"]["service_account_email"].endswith("foundation_training_sa.email}")
        invoker = of_type(stack, "google_project_iam_member")["data_sources_training_workflows_invoker"]
        assert invoker["role"] == "roles/workflows.invoker" and invoker["member"] == TRAINING
        metric = of_type(stack, "google_logging_metric")["data_sources_problems"]
        alert = of_type(stack, "google_monitoring_alert_policy")["data_sources_alert"]
        condition = alert["conditions"][0]["condition_matched_log"]
        assert condition["filter"] == metric["filter"]  # the same entries: counted, and alerted on
        assert f'logName = "projects/{project}/logs/Workflows"' in metric["filter"]
        assert 'jsonPayload.event = "data_source_problem"' in metric["filter"]
        assert metric["label_extractors"]["source"] == "EXTRACT(jsonPayload.source)"
        assert [label["key"] for label in metric["metric_descriptor"]["labels"]] == ["source", "problem"]
        assert condition["label_extractors"] == {"source": "EXTRACT(jsonPayload.source)"}
        channel = of_type(stack, "google_monitoring_notification_channel")["data_sources_email"]
        assert channel["labels"] == {"email_address": "team@example.com"}
        assert alert["notification_channels"] == ["${google_monitoring_notification_channel.data_sources_email.id}"]
        assert "acme-data.sales.orders`: at most 26h" in alert["documentation"]["content"]
        assert stack["//"]["tierstack_data_sources"][0]["name"] == "acme-data.sales.orders"


def test_an_alert_nobody_receives_is_said(write: Callable[..., Path], synthesizes: None) -> None:
    silent = SOURCES.replace("variables:\n  alert_email: team@example.com\n", "")
    result = run("explain", str(write(silent)))
    assert result.exit_code == 0, result.output
    assert "data_sources: the alert on missing or stale data sources in dev, prod notifies nobody" in result.output
