"""Declared data sources (issue 22, item 1): granted exactly, watched, checked before training and by verify.

The judges are not ours where one exists: real Terraform (validate and plan against the stand-in) for every
resource type the capability emits, Terraform's own evaluation of the workflow's `jsonencode(...)` body (read
from the plan, so the workflow is read back as Workflows would receive it), and the real google-cloud-storage
and google-cloud-bigquery clients against a local Cloud Storage emulator and a local BigQuery REST fake
(tests/fakes/bigquery.py) for `tierstack verify`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.bigquery import FakeBigQuery

from conftest import run
from synth_support import read_stack
from tierstack.generator.config.spec import LoadedSpec
from tierstack.generator.core import grammars
from tierstack.generator.core.errors import UserError
from tierstack.generator.plan.resolve import Resolved
from tierstack.generator.plan.selection import select

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
    from tierstack.generator.output.schema import schema

    body = schema("config")
    assert body["properties"]["data_sources"]["type"] == "array"
    source = body["$defs"]["DataSource"]
    assert set(source["properties"]) == {"table", "uri", "max_staleness"}
    assert source["required"] == ["max_staleness"] and source["additionalProperties"] is False


# --- the stacks -------------------------------------------------------------------------------------------


@pytest.fixture
def synth(write: Callable[..., Path], tmp_path: Path) -> Callable[[str], dict[str, dict[str, Any]]]:
    """synth(tierstack.yaml text) -> {stack: its cdk.tf.json}; the output is in tmp_path/out."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

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


# --- verify: the real clients against local servers ---------------------------------------------------

HOUR = 3600


@pytest.fixture
def bigquery(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBigQuery]:
    """The fake BigQuery REST API (tests/fakes/bigquery.py), with verify's BigQuery client pointed at it."""
    from tierstack.generator.analysis import data_sources_check

    fake = FakeBigQuery().start()
    monkeypatch.setenv(data_sources_check.BIGQUERY_ENDPOINT_ENV, fake.url)
    yield fake
    fake.stop()


def a_table(name: str, staleness: str) -> dict[str, Any]:
    from tierstack.generator.config.spec import DataSource
    from tierstack.modules.data_sources import Source

    return Source.of(DataSource(table=name, max_staleness=staleness)).data()


def a_prefix(uri: str, staleness: str) -> dict[str, Any]:
    from tierstack.generator.config.spec import DataSource
    from tierstack.modules.data_sources import Source

    return Source.of(DataSource(uri=uri, max_staleness=staleness)).data()


def put_objects(bucket: str, *names: str) -> None:
    from google.cloud import storage

    client = storage.Client()
    target = client.bucket(bucket)
    if not target.exists():
        client.create_bucket(bucket)
    for name in names:
        target.blob(name).upload_from_string(b"{}")


def test_a_table_is_read_with_the_bigquery_client(bigquery: FakeBigQuery) -> None:
    from tierstack.generator.analysis.data_sources_check import SourceReader

    now = time.time()
    bigquery.tables["acme-data.sales.orders"] = int((now - 2 * HOUR) * 1000)
    bigquery.tables["acme-data.sales.returns"] = int((now - 30 * HOUR) * 1000)
    reader = SourceReader(now=lambda: now)
    fresh = reader.state(a_table("acme-data.sales.orders", "26h"))
    assert (fresh.problem, fresh.age_seconds, fresh.detail) == (None, 2 * HOUR, "last changed 2h ago")
    stale = reader.state(a_table("acme-data.sales.returns", "26h"))
    assert stale.problem == "stale" and stale.detail == "last changed 1d 6h ago"
    gone = reader.state(a_table("acme-data.sales.refunds", "26h"))
    assert (gone.problem, gone.detail) == ("missing", "no such table")
    no_dataset = reader.state(a_table("acme-data.crm.accounts", "26h"))
    assert (no_dataset.problem, no_dataset.detail) == ("missing", "no such dataset")
    assert all(path.startswith("/bigquery/v2/projects/acme-data/datasets/") for path in bigquery.requests)
    reader.state(a_table("acme-data.sales.orders", "26h"))
    assert len(bigquery.requests) == 4  # each source read once


def test_a_table_verify_may_not_read_stops_with_the_roles_to_ask_for(bigquery: FakeBigQuery) -> None:
    from tierstack.generator.analysis.data_sources_check import SourceReader

    bigquery.refuse.add("acme-data")
    with pytest.raises(UserError) as error:
        SourceReader().state(a_table("acme-data.sales.orders", "26h"))
    assert "could not read the data source acme-data.sales.orders" in str(error.value)
    assert "roles/bigquery.metadataViewer" in (error.value.hint or "")


def _closed_port() -> str:
    """An address on 127.0.0.1 where nothing listens: a connection there is refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("kind", ["table", "prefix"])
def test_a_source_verify_cannot_reach_stops_at_once_with_what_to_check(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No network: the clients' default retry would try the connection again for up to ten minutes."""
    from conftest import hang_guard
    from tierstack.generator.analysis import data_sources_check
    from tierstack.generator.analysis.data_sources_check import SourceReader

    monkeypatch.setenv(data_sources_check.BIGQUERY_ENDPOINT_ENV, _closed_port())
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", _closed_port())
    source = a_table("acme-data.sales.orders", "26h") if kind == "table" else a_prefix("gs://acme-raw/clicks/", "2d")
    with hang_guard(50), pytest.raises(UserError) as error:
        SourceReader().state(source)
    assert f"verify could not reach the data source {source['name']}" in str(error.value)
    assert "check the network connection" in (error.value.hint or "")


def test_a_prefix_is_read_with_the_storage_client(storage_emulator: str) -> None:
    from tierstack.generator.analysis.data_sources_check import SourceReader

    put_objects("acme-raw", "clicks/2026-12-06.json", "clicks/2026-12-07.json", "views/2026-12-07.json")
    put_objects("acme-empty")
    now = time.time()
    fresh = SourceReader(now=lambda: now).state(a_prefix("gs://acme-raw/clicks/", "2d"))
    assert fresh.problem is None and fresh.age_seconds is not None and fresh.age_seconds < HOUR
    later = SourceReader(now=lambda: now + 3 * 86400)  # three days on, nothing new under the prefix
    stale = later.state(a_prefix("gs://acme-raw/clicks/", "2d"))
    assert stale.problem == "stale" and stale.detail.startswith("last changed 3d")
    empty = later.state(a_prefix("gs://acme-raw/carts/", "2d"))
    assert (empty.problem, empty.detail) == ("missing", "no object under the prefix")
    assert later.state(a_prefix("gs://acme-empty/", "2d")).detail == "no object under the prefix"
    assert later.state(a_prefix("gs://acme-gone/clicks/", "2d")).detail == "no such bucket"


def test_verify_reports_a_missing_and_a_stale_source(
    bigquery: FakeBigQuery,
    storage_emulator: str,
    write: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    synthesizes: None,
) -> None:
    """`tierstack verify` end to end: generate, then read the sources back (no Vertex AI resource in these stacks)."""
    from fakes.vertex.server import FakeVertex

    from tierstack.generator.analysis import verify as checking

    config = write(
        "name: demo-case\nteam: ml-platform\nuse_case: {stage: production}\n"
        "variables: {alert_email: team@example.com}\n"
        "data_sources:\n"
        "  - {table: acme-data.sales.orders, max_staleness: 26h}\n"
        "  - {table: acme-data.sales.returns, max_staleness: 26h}\n"
        "  - {uri: 'gs://acme-raw/clicks/', max_staleness: 2d}\n"
        "  - {uri: 'gs://acme-raw/carts/', max_staleness: 2d}\n"
    )
    assert run("generate", str(config)).exit_code == 0
    now = time.time()
    bigquery.tables["acme-data.sales.orders"] = int((now - HOUR) * 1000)
    bigquery.tables["acme-data.sales.returns"] = int((now - 40 * HOUR) * 1000)
    put_objects("acme-raw", "clicks/part-0.json")
    vertex = FakeVertex().start()
    try:
        for env in ("dev", "prod"):
            vertex.project(f"demo-case-{env}")
        monkeypatch.setenv(checking.ENDPOINT_ENV, vertex.url)
        result = run("verify", str(config), "--format", "json")
    finally:
        vertex.stop()
    assert result.exit_code == 6, result.output
    data = json.loads(result.stdout)
    for stack in data["stacks"]:
        assert stack["checked"] == ["data source acme-data.sales.orders", "data source gs://acme-raw/clicks/"]
        by_source = {f["resource"]: f for f in stack["findings"]}
        assert set(by_source) == {"data source acme-data.sales.returns", "data source gs://acme-raw/carts/"}
        stale = by_source["data source acme-data.sales.returns"]
        assert (stale["kind"], stale["field"], stale["expected"], stale["actual"]) == (
            "differs",
            "max_staleness",
            "26h",
            "1d 16h",
        )
        missing = by_source["data source gs://acme-raw/carts/"]
        assert (missing["kind"], missing["message"]) == ("missing", "no object under the prefix")
    table_reads = [p for p in bigquery.requests if "/tables/" in p]
    assert len(table_reads) == 2  # read once for both stacks


# --- real Terraform, and the workflow as Terraform evaluates it -------------------------------------


def workflow_steps(definition: dict[str, Any]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Per (sub)workflow, every step at any depth: (name, body)."""

    def walk(steps: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for step in steps:
            ((name, body),) = step.items()
            out.append((name, body))
            nested = [body.get("steps") or [], (body.get("for") or {}).get("steps") or []]
            nested += [(body.get("except") or {}).get("steps") or []]
            nested += [c.get("steps") or [] for c in body.get("switch") or []]
            for inner in nested:
                out += walk(inner)
        return out

    return {name: walk(sub["steps"]) for name, sub in definition.items()}


def problems_in(definition: dict[str, Any], known_calls: set[str]) -> list[str]:
    """What Workflows would refuse or run wrong: a jump to no step, a call to nothing, a bad expression."""
    problems = []
    for sub, steps in workflow_steps(definition).items():
        names = [name for name, _ in steps]
        problems += [f"{sub}: step {n} twice" for n in sorted(set(names)) if names.count(n) > 1]
        jumps = [body.get("next") for _, body in steps] + [
            c.get("next") for _, body in steps for c in body.get("switch") or []
        ]
        problems += [
            f"{sub}: next {j} names no step" for j in jumps if j and j not in {*names, "continue", "break", "end"}
        ]
        calls = [body.get("call") for _, body in steps] + [(body.get("try") or {}).get("call") for _, body in steps]
        problems += [f"{sub}: calls {c}" for c in calls if c and c not in {*definition, *known_calls}]
    problems += [f"expression {e!r}" for e in expressions(definition) if not balanced(e)]
    return problems


def expressions(data: Any) -> list[str]:
    """Every `${...}` string in a workflow definition, keys included."""
    if isinstance(data, dict):
        return [e for k, v in data.items() for e in (*expressions(k), *expressions(v))]
    if isinstance(data, list):
        return [e for item in data for e in expressions(item)]
    return [data] if isinstance(data, str) and data.startswith("${") else []


def balanced(expression: str) -> bool:
    """A whole expression: `${` ... `}`, its brackets and quotes closed (strings skipped)."""
    if not expression.endswith("}"):
        return False
    depth, quoted = 0, False
    for i, char in enumerate(expression[2:-1]):
        if quoted:
            quoted = char != '"' or expression[1 + i] == "\\"
        elif char == '"':
            quoted = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


@pytest.fixture
def planned(
    synth: Callable[[str], dict[str, dict[str, Any]]], terraform: Any, tmp_path: Path, synthesizes: None
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """stack -> (terraform validate's verdict, terraform plan's JSON) for SOURCES' stacks."""
    from standin import mirror

    synth(SOURCES)
    out: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for stack_dir in sorted((tmp_path / "out" / "stacks").iterdir()):
        workdir = mirror.workdir_for(stack_dir, tmp_path / "tf" / stack_dir.name)
        verdict = mirror.validate(terraform, workdir)
        out[stack_dir.name] = (verdict, mirror.plan(terraform, workdir) if verdict.get("valid") else {})
    return out


def planned_resources(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["address"]: r["values"] for r in plan["planned_values"]["root_module"]["resources"]}


def test_terraform_validates_and_plans_every_new_resource(planned: dict[str, Any]) -> None:
    from standin import plans

    for stack, (verdict, plan) in planned.items():
        assert verdict["valid"] is True and verdict["error_count"] == 0, (stack, verdict)
        mine = {a: acts for a, acts in plans.actions(plan).items() if ".data_sources_" in a}
        types = {address.split(".")[0] for address in mine}
        assert types == {
            "google_bigquery_table_iam_member",
            "google_storage_bucket_iam_member",
            "google_workflows_workflow",
            "google_cloud_scheduler_job",
            "google_project_iam_member",
            "google_logging_metric",
            "google_monitoring_alert_policy",
            "google_monitoring_notification_channel",
        }, stack
        assert set(map(tuple, mine.values())) == {("create",)}, stack


def test_the_check_workflow_as_terraform_evaluates_it(planned: dict[str, Any]) -> None:
    from tierstack.modules.data_sources import EVENT, RUN_CHECK

    for stack, (_, plan) in planned.items():
        workflow = planned_resources(plan)["google_workflows_workflow.data_sources_check"]
        definition = json.loads(workflow["source_contents"])  # a string Workflows parses as JSON or YAML
        assert problems_in(definition, {"sys.log", "http.get", RUN_CHECK}) == [], stack
        init = dict(next(iter(a.items())) for a in definition["main"]["steps"][0]["init"]["assign"])
        assert init["sources"] == [
            {
                "name": "acme-data.sales.orders",
                "kind": "table",
                "max_staleness": "26h",
                "max_staleness_seconds": 93600,
                "project": "acme-data",
                "dataset": "sales",
                "table": "orders",
            },
            {
                "name": "gs://acme-raw/clicks/",
                "kind": "prefix",
                "max_staleness": "2d",
                "max_staleness_seconds": 172800,
                "bucket": "acme-raw",
                "prefix": "clicks/",
            },
        ]
        steps = dict(workflow_steps(definition)["main"])
        entry = dict(next(iter(a.items())) for a in steps["report"]["assign"])["entry"]
        metric = planned_resources(plan)["google_logging_metric.data_sources_problems"]
        # what the entry carries is what the metric and the alert match
        assert f'jsonPayload.event = "{entry["event"]}"' in metric["filter"] and entry["event"] == EVENT
        assert f'jsonPayload.check = "{entry["check"]}"' in metric["filter"] and entry["check"] == workflow["name"]
        assert steps["log"] == {"call": "sys.log", "args": {"severity": "ERROR", "json": "${entry}"}}
        reads = dict(workflow_steps(definition)["read_table"])
        assert reads["get"]["try"]["args"]["url"].startswith(
            '${"https://bigquery.googleapis.com/bigquery/v2/projects/"'
        )
        lists = dict(workflow_steps(definition)["read_prefix"])
        assert (
            lists["list_page"]["try"]["args"]["url"]
            == '${"https://storage.googleapis.com/storage/v1/b/" + source.bucket + "/o"}'
        )


def test_the_workflow_judge_can_fail() -> None:
    broken = {"main": {"steps": [{"a": {"next": "b"}}, {"a": {"call": "nothing"}}, {"c": {"return": "${len(x}"}}]}}
    assert len(problems_in(broken, set())) == 4


def test_continuous_training_checks_the_sources_first(planned: dict[str, Any], tmp_path: Path) -> None:
    """The retraining workflow (the schedule and the degradation trigger) runs the check, then starts a run only
    when every source is fresh; the check's own ERROR entries raise the alert. Its body holds references (the
    pipelines identity, the pipeline root), unknown until apply, so it is read from the stack with the HCL
    literal reader of tests/test_continuous_training.py."""
    from test_continuous_training import encoded

    from tierstack.modules.data_sources import RUN_CHECK

    stacks = {p.name: read_stack(tmp_path / "out", p.name) for p in (tmp_path / "out" / "stacks").iterdir()}
    workflows = {s: data["resource"]["google_workflows_workflow"] for s, data in stacks.items()}
    assert "ml_pipelines_retraining" not in workflows["demo-case-dev"]  # development runs by hand: nothing to gate
    definition = encoded(workflows["demo-case-prod"]["ml_pipelines_retraining"]["source_contents"])
    assert problems_in(definition, {"http.post", RUN_CHECK}) == []
    names = [next(iter(step)) for step in definition["main"]["steps"]]
    assert names.index("check_data_sources") < names.index("only_on_fresh_sources") < names.index("start_pipeline_run")
    steps = dict(workflow_steps(definition)["main"])
    assert steps["what_started_it"]["switch"][0]["next"] == "check_data_sources"  # the schedule goes through it too
    check = steps["check_data_sources"]
    assert check["call"] == RUN_CHECK
    assert check["args"] == {
        "workflow_id": "demo-case-prod-data-sources",
        "location": "us-central1",
        "project_id": "demo-case-prod",
        "argument": {"trigger": "training"},
    }
    gate = steps["only_on_fresh_sources"]["switch"][0]
    assert gate["condition"] == "${not sources.ok}" and "return" in gate["steps"][0]["no_run_on_stale_sources"]
    check_workflow = planned_resources(planned["demo-case-prod"][1])["google_workflows_workflow.data_sources_check"]
    assert check_workflow["name"] == check["args"]["workflow_id"]
    done = dict(workflow_steps(json.loads(check_workflow["source_contents"]))["main"])["done"]
    assert set(done["return"]) == {"ok", "checked", "problems"}  # what the gate reads


def test_without_sources_the_retraining_workflow_is_unchanged(
    synth: Callable[[str], dict[str, dict[str, Any]]], synthesizes: None
) -> None:
    stacks = synth(SOURCES.split("data_sources:")[0])
    text = json.dumps(stacks["demo-case-prod"]["resource"]["google_workflows_workflow"])
    assert "check_data_sources" not in text and "data_sources_check" not in text
