"""Golden sets gate promotion (issue 22, item 2): declared, granted, kept immutable, recorded, checked.

The judges: the real google-cloud-storage client against gcp-storage-emulator for the golden set's version, the
real google-cloud-bigquery client against a local server speaking BigQuery's REST API (tests/fakes/
bigquery_query.py: tables.get and jobs.query) for the results, real Terraform against the provider stand-in for the
resources, and actionlint, zizmor and shellcheck (tests/test_ci.py) for the workflow step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fakes.bigquery_query import FakeBigQueryQueries

from conftest import REPO, run
from synth_support import read_stack
from tierstack.generator.config.spec import LoadedSpec
from tierstack.generator.core.errors import UserError
from tierstack.generator.plan.selection import select

PREFIX = """\
name: demo-case
team: ml-platform
use_case: {stage: production, retraining: scheduled, schedule: "0 3 * * 1", code_changes: frequent}
environments:
  dev: {project: acme-demo-dev}
  staging: {project: acme-demo-stg}
  prod: {project: acme-demo-prod}
variables:
  ci_repository: acme/demo
  ci_repository_id: 812345678
  ci_repository_owner_id: 51234567
  golden_set_owners_group: model-team@example.com
golden_set:
  uri: gs://acme-golden/demand/   # owned by the model team
  max_difference: 0.02
  create_in: prod
"""
TABLE = """\
name: demo-case
team: ml-platform
use_case: {stage: production}
golden_set:
  table: acme-ml.golden.demand
  max_difference: 0.05
"""
PIPELINES = "serviceAccount:${google_service_account.foundation_pipelines_sa.email}"
CI = "serviceAccount:${google_service_account.foundation_ci_sa.email}"
TRAINING = "serviceAccount:${google_service_account.foundation_training_sa.email}"
OWNERS = "group:model-team@example.com"


@pytest.fixture
def spec_of(write: Callable[..., Path]) -> Callable[[str], LoadedSpec]:
    from tierstack.generator.config.spec import load_spec

    return lambda text: load_spec(write(text))


# --- the declaration ------------------------------------------------------------------------------------


def test_a_golden_set_selects_the_capability_and_says_why(spec_of: Callable[[str], LoadedSpec]) -> None:
    selection = select(spec_of(PREFIX))
    assert "golden_set" in selection.ids
    [reason] = selection.capabilities["golden_set"]
    assert reason.field == "golden_set" and reason.line == 13
    assert reason.value == "prefix gs://acme-golden/demand/ (max difference 0.02)"
    assert "promoted only after an evaluation on the current golden set" in reason.text()


def test_no_golden_set_no_capability(spec_of: Callable[[str], LoadedSpec]) -> None:
    assert "golden_set" not in select(spec_of(TABLE.split("golden_set:")[0])).ids


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  uri: gs://acme-golden/demand/\n  max_difference: 0\n", "is outside (0, 1]"),
        ("  uri: gs://acme-golden/demand/\n  max_difference: 1.5\n", "is outside (0, 1]"),
        ("  uri: gs://acme-golden/demand/\n  max_difference: true\n", "valid number"),
        ("  max_difference: 0.02\n", "neither table nor uri"),
        ("  table: acme-ml.golden\n  max_difference: 0.02\n", "is not a BigQuery table"),
        ("  uri: gs://acme-golden/demand/\n", "max_difference"),
    ],
)
def test_a_bad_golden_set_is_refused_at_its_line(spec_of: Callable[[str], LoadedSpec], body: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        spec_of(TABLE.split("golden_set:")[0] + "golden_set:\n" + body)
    assert message in str(caught.value)
    assert caught.value.line is not None and caught.value.line >= 4


def test_max_difference_one_is_allowed(spec_of: Callable[[str], LoadedSpec]) -> None:
    loaded = spec_of(TABLE.replace("0.05", "1"))
    assert loaded.spec.golden_set is not None and loaded.spec.golden_set.max_difference == 1


def test_the_golden_set_is_the_capabilitys_settings_with_its_owners(spec_of: Callable[[str], LoadedSpec]) -> None:
    from tierstack.generator.plan.resolve import resolve

    resolved = resolve(spec_of(PREFIX))
    for env in resolved.environments.values():
        settings = env.settings["capabilities"]["golden_set"]
        assert settings["uri"] == "gs://acme-golden/demand/" and settings["max_difference"] == 0.02
        assert settings["create_in"] == "prod" and settings["owners_group"] == "model-team@example.com"
        assert settings["retention_days"] == 365
        [where] = env.provenance.get(("capabilities", "golden_set", "max_difference")).sources
        assert where.line == 15


def test_the_schema_has_the_field() -> None:
    from tierstack.generator.output.schema import schema

    body = schema("config")
    assert "golden_set" in body["properties"]
    golden = body["$defs"]["GoldenSet"]
    assert set(golden["properties"]) == {"uri", "table", "max_difference", "create_in"}
    assert golden["required"] == ["max_difference"] and golden["additionalProperties"] is False


# --- the stacks -------------------------------------------------------------------------------------------


@pytest.fixture
def synth(write: Callable[..., Path], tmp_path: Path) -> Callable[[str], dict[str, dict[str, Any]]]:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    def _synth(text: str) -> dict[str, dict[str, Any]]:
        out = tmp_path / "out"
        generate(resolve(load_spec(write(text))), out)
        return {p.name: read_stack(out, p.name) for p in sorted((out / "stacks").iterdir())}

    return _synth


def mine(stack: dict[str, Any], terraform_type: str) -> dict[str, Any]:
    bodies = stack.get("resource", {}).get(terraform_type) or {}
    return {name: body for name, body in bodies.items() if name.startswith("golden_set_")}


def test_a_prefix_is_read_by_pipelines_and_ci_and_written_by_its_owners_only(
    synth: Callable[[str], dict[str, dict[str, Any]]], synthesizes: None
) -> None:
    stacks = synth(PREFIX)
    for name, stack in stacks.items():
        grants = mine(stack, "google_storage_bucket_iam_member")
        assert {g["member"]: g["role"] for g in grants.values()} == {
            PIPELINES: "roles/storage.objectViewer",
            CI: "roles/storage.objectViewer",
            OWNERS: "roles/storage.objectAdmin",
        }, name
        for grant in grants.values():
            expression = grant["condition"]["expression"]
            assert 'startsWith("projects/_/buckets/acme-golden/objects/demand/")' in expression
            assert 'objectListPrefix", "").startsWith("demand/")' in expression
        assert stack["//"]["tierstack_golden_set"]["name"] == "gs://acme-golden/demand/"
        assert stack["//"]["tierstack_golden_set"]["max_difference"] == 0.02


def test_the_bucket_tierstack_creates_keeps_every_object_for_its_retention(
    synth: Callable[[str], dict[str, dict[str, Any]]], synthesizes: None
) -> None:
    stacks = synth(PREFIX)
    assert mine(stacks["demo-case-dev"], "google_storage_bucket") == {}  # dev grants on prod's bucket only
    [bucket] = mine(stacks["demo-case-prod"], "google_storage_bucket").values()
    assert bucket["name"] == "acme-golden"
    assert bucket["retention_policy"] == {"retention_period": str(365 * 86400)}
    assert "versioning" not in bucket  # Object Versioning cannot be enabled with a retention policy
    assert bucket["force_destroy"] is False and bucket["deletion_policy"] == "PREVENT"
    assert bucket["uniform_bucket_level_access"] is True and bucket["public_access_prevention"] == "enforced"
    grants = mine(stacks["demo-case-prod"], "google_storage_bucket_iam_member")
    assert {g["bucket"] for g in grants.values()} == {"${google_storage_bucket.golden_set_bucket.name}"}


def test_evaluations_are_recorded_in_a_results_table_pipelines_write_and_ci_reads(
    synth: Callable[[str], dict[str, dict[str, Any]]], synthesizes: None
) -> None:
    import json

    stack = synth(PREFIX)["demo-case-prod"]
    [dataset] = mine(stack, "google_bigquery_dataset").values()
    assert dataset["dataset_id"] == "demo_case_golden_results" and dataset["project"] == "acme-demo-prod"
    [table] = mine(stack, "google_bigquery_table").values()
    assert table["table_id"] == "evaluations" and table["deletion_protection"] is True
    columns = {c["name"]: (c["type"], c["mode"]) for c in json.loads(table["schema"])}
    assert columns == {
        "model": ("STRING", "REQUIRED"),
        "model_version": ("STRING", "REQUIRED"),
        "golden_set_version": ("STRING", "REQUIRED"),
        "metric": ("STRING", "REQUIRED"),
        "difference": ("FLOAT64", "REQUIRED"),
        "passed": ("BOOL", "REQUIRED"),
        "evaluated_at": ("TIMESTAMP", "REQUIRED"),
    }
    dataset_grants = mine(stack, "google_bigquery_dataset_iam_member")
    assert {(g["member"], g["role"]) for g in dataset_grants.values()} == {
        (PIPELINES, "roles/bigquery.dataEditor"),
        (CI, "roles/bigquery.dataViewer"),
    }
    assert stack["//"]["tierstack_golden_set"]["results_table"] == "acme-demo-prod.demo_case_golden_results.evaluations"


def test_a_table_is_granted_on_the_table_and_nothing_is_created_for_it(
    synth: Callable[[str], dict[str, dict[str, Any]]], synthesizes: None
) -> None:
    for name, stack in synth(TABLE).items():
        grants = mine(stack, "google_bigquery_table_iam_member")
        members = {g["member"]: g["role"] for g in grants.values()}
        assert set(members.values()) == {"roles/bigquery.dataViewer"}, name  # no owners group: nobody writes
        assert all(g["table_id"] == "demand" and g["project"] == "acme-ml" for g in grants.values())
        assert mine(stack, "google_storage_bucket") == {} and mine(stack, "google_storage_bucket_iam_member") == {}


# --- the check, with the real clients against local servers -----------------------------------------------

SCHEMA = [  # as BigQuery describes the results table's columns in a query response (legacy type names)
    {"name": "model", "type": "STRING", "mode": "REQUIRED"},
    {"name": "model_version", "type": "STRING", "mode": "REQUIRED"},
    {"name": "golden_set_version", "type": "STRING", "mode": "REQUIRED"},
    {"name": "metric", "type": "STRING", "mode": "REQUIRED"},
    {"name": "difference", "type": "FLOAT", "mode": "REQUIRED"},
    {"name": "passed", "type": "BOOLEAN", "mode": "REQUIRED"},
    {"name": "evaluated_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
]
RESULTS = "acme-demo-prod.demo_case_golden_results.evaluations"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def bigquery(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBigQueryQueries]:
    from tierstack.generator.analysis import golden_set_check

    fake = FakeBigQueryQueries().start()
    monkeypatch.setenv(golden_set_check.BIGQUERY_ENDPOINT_ENV, fake.url)
    yield fake
    fake.stop()


def golden_objects(*names: str) -> int:
    """Put objects under the golden set prefix in the emulator; the newest generation (its version)."""
    from google.cloud import storage

    client = storage.Client()
    bucket = client.bucket("acme-golden")
    if not bucket.exists():
        client.create_bucket("acme-golden")
    for name in names:
        bucket.blob(f"demand/{name}").upload_from_string(b'{"question": 1, "answer": 2}')
    client.bucket("acme-golden").blob("elsewhere/newer.json").upload_from_string(b"{}")  # not the golden set
    return max(int(b.generation) for b in client.list_blobs("acme-golden", prefix="demand/"))


def evaluation(
    version: str, golden: int | str, metric: str, difference: float, passed: bool = True, at: int = 0
) -> dict[str, Any]:
    return {
        "model": "demand",
        "model_version": version,
        "golden_set_version": str(golden),
        "metric": metric,
        "difference": difference,
        "passed": passed,
        "evaluated_at": NOW + timedelta(minutes=at),
    }


def check(write: Callable[..., Path], *args: str) -> Any:
    config = write(PREFIX)
    return run("golden-set", "check", str(config), "--model", "demand", *args)


def test_a_candidate_within_max_difference_on_the_current_golden_set_may_be_promoted(
    write: Callable[..., Path], bigquery: FakeBigQueryQueries, storage_emulator: str
) -> None:
    current = golden_objects("a.json", "b.json")
    bigquery.put(RESULTS, SCHEMA, [evaluation("7", current, "accuracy", 0.011), evaluation("7", current, "mae", 0.02)])
    result = check(write, "--version", "7")
    assert result.exit_code == 0, result.output
    assert f"demand 7 on golden set gs://acme-golden/demand/@{current}: may be promoted" in result.output
    assert "accuracy: difference 0.011 <= max_difference 0.02" in result.output
    [request] = bigquery.queries
    assert {p["name"]: p["parameterValue"]["value"] for p in request["queryParameters"]} == {
        "model": "demand",
        "model_version": "7",
    }
    assert "demand" not in request["query"]  # values travel as parameters, never in the SQL


def test_a_difference_above_max_difference_exits_8_with_the_numbers(
    write: Callable[..., Path], bigquery: FakeBigQueryQueries, storage_emulator: str
) -> None:
    current = golden_objects("a.json")
    bigquery.put(RESULTS, SCHEMA, [evaluation("7", current, "accuracy", 0.034), evaluation("7", current, "mae", 0.01)])
    result = check(write, "--version", "7")
    assert result.exit_code == 8, result.output
    assert f"accuracy: difference 0.034 > max_difference 0.02 on golden set gs://acme-golden/demand/@{current}" in (
        result.output
    )
    assert "does not ship until the difference is understood" in result.output


def test_the_newest_evaluation_of_a_metric_counts(
    write: Callable[..., Path], bigquery: FakeBigQueryQueries, storage_emulator: str
) -> None:
    current = golden_objects("a.json")
    rows = [evaluation("7", current, "accuracy", 0.05, at=0), evaluation("7", current, "accuracy", 0.01, at=5)]
    bigquery.put(RESULTS, SCHEMA, rows)
    assert check(write, "--version", "7").exit_code == 0
    bigquery.put(RESULTS, SCHEMA, [dict(rows[0], evaluated_at=NOW + timedelta(minutes=9)), rows[1]])
    assert check(write, "--version", "7").exit_code == 8


def test_no_evaluation_on_the_current_golden_set_is_refused(
    write: Callable[..., Path], bigquery: FakeBigQueryQueries, storage_emulator: str
) -> None:
    before = golden_objects("a.json")
    bigquery.put(RESULTS, SCHEMA, [evaluation("7", before, "accuracy", 0.001), evaluation("6", before, "mae", 0.0)])
    current = golden_objects("c.json")  # the model team added questions: a new version
    assert current > before
    result = check(write, "--version", "7")
    assert result.exit_code == 8, result.output
    assert f"demand 7: no evaluation on the current golden set gs://acme-golden/demand/@{current}" in result.output
    assert f"it was evaluated on other versions only: {before}" in result.output
    other = check(write, "--version", "8")
    assert other.exit_code == 8 and "no evaluation on the current golden set" in other.output
    assert "other versions" not in other.output


def test_an_evaluation_the_model_team_failed_is_refused(
    write: Callable[..., Path], bigquery: FakeBigQueryQueries, storage_emulator: str
) -> None:
    current = golden_objects("a.json")
    bigquery.put(RESULTS, SCHEMA, [evaluation("7", current, "accuracy", 0.01, passed=False)])
    result = check(write, "--version", "7")
    assert result.exit_code == 8 and "recorded as not passed" in result.output


def test_a_missing_golden_set_or_results_table_is_exit_2_and_says_what_to_do(
    write: Callable[..., Path], bigquery: FakeBigQueryQueries, storage_emulator: str
) -> None:
    result = check(write, "--version", "7")
    assert result.exit_code == 2 and "the golden set gs://acme-golden/demand/ cannot be read" in result.output
    golden_objects("a.json")
    result = check(write, "--version", "7")
    assert result.exit_code == 2, result.output
    assert f"the results table {RESULTS} does not exist" in result.output
    assert "tierstack apply --env prod" in result.output


def test_the_version_command_prints_what_an_evaluation_records(
    write: Callable[..., Path], storage_emulator: str
) -> None:
    current = golden_objects("a.json", "b.json")
    result = run("golden-set", "version", str(write(PREFIX)))
    assert result.exit_code == 0 and result.output == f"{current}\n"


def test_a_table_golden_sets_version_is_its_last_modified_time(
    write: Callable[..., Path], bigquery: FakeBigQueryQueries
) -> None:
    modified = 1_765_000_000_000
    bigquery.tables["acme-ml.golden.demand"] = modified
    bigquery.put(
        "acme-demo-prod.demo_case_golden_results.evaluations",
        SCHEMA,
        [evaluation("3", modified, "accuracy", 0.049)],
    )
    config = write(
        TABLE.replace(
            "use_case: {stage: production}",
            "use_case: {stage: production}\nenvironments: {prod: {project: acme-demo-prod}}",
        )
    )
    assert run("golden-set", "version", str(config)).output == f"{modified}\n"
    result = run("golden-set", "check", str(config), "--model", "demand", "--version", "3")
    assert result.exit_code == 0, result.output
    assert f"on golden set acme-ml.golden.demand@{modified}: may be promoted" in result.output


def test_a_config_without_a_golden_set_has_nothing_to_check(write: Callable[..., Path]) -> None:
    config = write(TABLE.split("golden_set:")[0])
    result = run("golden-set", "check", str(config), "--model", "demand", "--version", "3")
    assert result.exit_code == 2 and "declares no golden set" in result.output


def test_an_unknown_environment_is_exit_2(write: Callable[..., Path]) -> None:
    result = check(write, "--version", "7", "--env", "qa")
    assert result.exit_code == 2 and "'qa' is not an environment of this config" in result.output


# --- real Terraform and checkov on the stacks ---------------------------------------------------------------


@pytest.fixture
def both(write: Callable[..., Path], tmp_path: Path, synthesizes: None) -> dict[str, Path]:
    """stack -> its folder, for the prefix config (the bucket created in prod) and the table config."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    out: dict[str, Path] = {}
    for name, text in (("prefix", PREFIX), ("table", TABLE.replace("demo-case", "demo-table"))):
        target = tmp_path / name / "cdktf.out"
        generate(resolve(load_spec(write(text, f"{name}/tierstack.yaml"))), target)
        out.update({p.name: p for p in sorted((target / "stacks").iterdir())})
    return out


def test_terraform_validates_and_plans_every_golden_set_resource(
    both: dict[str, Path], terraform: Any, tmp_path: Path
) -> None:
    from standin import mirror, plans

    created: set[str] = set()
    for stack, folder in both.items():
        workdir = mirror.workdir_for(folder, tmp_path / "tf" / stack)
        verdict = mirror.validate(terraform, workdir)
        assert verdict["valid"] is True and verdict["error_count"] == 0, (stack, verdict)
        mine = {a: acts for a, acts in plans.actions(mirror.plan(terraform, workdir)).items() if ".golden_set_" in a}
        assert set(map(tuple, mine.values())) == {("create",)}, stack
        created |= {address.split(".")[0] for address in mine}
    assert created == {
        "google_storage_bucket",
        "google_storage_bucket_iam_member",
        "google_bigquery_table_iam_member",
        "google_bigquery_dataset",
        "google_bigquery_dataset_iam_member",
        "google_bigquery_table",
    }


def test_checkov_finds_nothing_but_the_versioning_a_retention_policy_excludes(
    both: dict[str, Path], tmp_path: Path, spawns: None
) -> None:
    """checkov on the golden set's stacks, scoped as tests/test_checkov.py scopes its groups: nothing fails but
    CKV_GCP_78 (versioning) on the bucket tierstack creates, where a retention policy keeps every object and
    Cloud Storage refuses Object Versioning with a retention policy (Sonar RSPEC-6412 says so; read 2026-12-07)."""
    import json
    import shutil

    from test_checkov import scan, skips_for, unexplained, uses_cmek

    groups: dict[tuple[str, str], Path] = {}
    for stack, folder in both.items():
        data = json.loads((folder / "cdk.tf.json").read_text())
        group = (
            "cmek" if uses_cmek(data) else "google-managed",
            "production" if stack.endswith("-prod") else "non_production",
        )
        target = tmp_path / "checkov" / "-".join(group) / stack
        target.mkdir(parents=True)
        shutil.copy(folder / "cdk.tf.json", target / "cdk.tf.json")
        groups[group] = target.parent
    left = []
    for group, root in sorted(groups.items()):
        failed = unexplained(scan(root, skip=skips_for(group)), group)
        left += [(f["check_id"], f["resource"].split(".")[-1], f["file_path"]) for f in failed]
    assert left == [("CKV_GCP_78", "golden_set_bucket", "/demo-case-prod/cdk.tf.json")]


# --- the generated CI runs the check before the production apply -------------------------------------------

GOLDEN_CI = REPO / "tests" / "golden_set" / "tierstack.yaml"  # tier 2, create_in prod; tests/test_ci.py lints its files
GOLDEN_RESULTS = "acme-demand-prod.demand_forecast_golden_results.evaluations"
STEP = "The candidate passed the golden set"


def ci_files(config: Path, target: str) -> dict[str, Any]:
    import yaml

    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output import ci
    from tierstack.generator.plan.resolve import resolve

    install = "tierstack @ git+https://github.com/example-org/tierstack@" + "0123456789abcdef" * 2 + "01234567"
    plan = ci.plan_for(resolve(load_spec(config)), config, "main", install)
    files = ci.render(plan, target).items()  # Cloud Build's trigger files hold several documents: not builds
    return {name: yaml.safe_load(text) for name, text in files if "-triggers-" not in name}  # type: ignore[arg-type]


def step_index(job: dict[str, Any], prefix: str) -> int:
    names = [str(s.get("name") or s.get("uses") or s.get("id")) for s in job["steps"]]
    found = [i for i, name in enumerate(names) if name.startswith(prefix)]
    assert len(found) == 1, (prefix, names)
    return found[0]


def test_the_deploy_workflow_checks_the_candidate_after_sign_in_and_before_the_production_apply() -> None:
    workflow = ci_files(GOLDEN_CI, "github")["tierstack-demand-forecast-deploy.yml"]
    prod = workflow["jobs"]["deploy-prod"]
    check, apply = step_index(prod, STEP), step_index(prod, "tierstack apply")
    sign_in = step_index(prod, "google-github-actions/auth")
    assert sign_in < check < step_index(prod, "terraform init") < apply
    assert (
        'tierstack golden-set check "$TIERSTACK_CONFIG" --env "$TIERSTACK_ENVIRONMENT"' in prod["steps"][check]["run"]
    )
    assert "continue-on-error" not in prod["steps"][check] and "if" not in prod["steps"][check]
    for env in ("dev", "staging"):  # promotion to production is what the golden set gates
        assert not [s for s in workflow["jobs"][f"deploy-{env}"]["steps"] if str(s.get("name", "")).startswith(STEP)]
    inputs = workflow[True]["workflow_dispatch"]["inputs"]  # YAML 1.1 reads the key `on` as True
    assert {"candidate_model", "candidate_version"} <= set(inputs)
    assert "gs://acme-golden/demand/" in (REPO / "tests" / "golden_set" / "tierstack.yaml").read_text()


def test_without_a_golden_set_the_workflow_has_no_such_step_or_inputs() -> None:
    config = REPO / "tests" / "cases" / "tier2-cicd.yaml"  # tier 2, no golden set
    deploy = ci_files(config, "github")["tierstack-tier2-cicd-deploy.yml"]
    assert not [s for s in deploy["jobs"]["deploy-prod"]["steps"] if str(s.get("name", "")).startswith(STEP)]
    assert "candidate_model" not in deploy[True]["workflow_dispatch"]["inputs"]
    apply = ci_files(config, "cloudbuild")["tier2-cicd-apply-prod.yaml"]
    assert "golden-set" not in [s["id"] for s in apply["steps"]]


def test_the_cloud_build_apply_checks_the_candidate_before_it_applies() -> None:
    config = ci_files(GOLDEN_CI, "cloudbuild")["demand-forecast-apply-prod.yaml"]
    ids = [step["id"] for step in config["steps"]]
    assert ids.index("fetch-plan") < ids.index("golden-set") < ids.index("apply")
    [step] = [s for s in config["steps"] if s["id"] == "golden-set"]
    assert "MODEL=${_CANDIDATE_MODEL}" in step["env"] and "golden-set check" in step["script"]
    assert {"_CANDIDATE_MODEL", "_CANDIDATE_VERSION"} <= set(config["substitutions"])


def run_check_step(inputs: dict[str, str], variables: dict[str, str]) -> Any:
    """The production job's check step, run with bash as GitHub runs it: its env with `inputs.X || vars.Y`
    filled in from `inputs` and `variables`, the clients pointed at the local servers."""
    import os
    import subprocess
    import sys

    workflow = ci_files(GOLDEN_CI, "github")["tierstack-demand-forecast-deploy.yml"]
    job = workflow["jobs"]["deploy-prod"]
    step = job["steps"][step_index(job, STEP)]
    env = {**workflow["env"], **job["env"], **step["env"]}
    for key, value in env.items():
        if "${{" in str(value):
            terms = [t.strip() for t in str(value).strip()[3:-2].split("||")]
            known = {**{f"inputs.{k}": v for k, v in inputs.items()}, **{f"vars.{k}": v for k, v in variables.items()}}
            assert all(t.startswith(("inputs.", "vars.")) for t in terms), value
            env[key] = next((known[t] for t in terms if known.get(t)), "")
    passed = ("STORAGE_EMULATOR_HOST", "TIERSTACK_BIGQUERY_API_ENDPOINT", "HOME")
    env.update({k: os.environ[k] for k in passed if k in os.environ})
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=REPO,
        env={k: str(v) for k, v in env.items()},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_workflow_step_refuses_and_lets_through_as_the_command_does(
    bigquery: FakeBigQueryQueries, storage_emulator: str, spawns: None
) -> None:
    current = golden_objects("a.json")
    rows = [evaluation("7", current, "accuracy", 0.034), evaluation("8", current, "accuracy", 0.004)]
    bigquery.put(GOLDEN_RESULTS, SCHEMA, [dict(r, model="demand-forecast") for r in rows])
    refused = run_check_step({"candidate_model": "demand-forecast", "candidate_version": "7"}, {})
    assert refused.returncode == 8, refused.stdout + refused.stderr
    assert "accuracy: difference 0.034 > max_difference 0.02" in refused.stdout
    assert "::error::demand-forecast 7 may not be promoted to prod" in refused.stdout
    through = run_check_step({}, {"TIERSTACK_CANDIDATE_MODEL": "demand-forecast", "TIERSTACK_CANDIDATE_VERSION": "8"})
    assert through.returncode == 0, through.stdout + through.stderr
    unnamed = run_check_step({}, {})
    assert unnamed.returncode == 1 and "name the candidate" in unnamed.stdout


def test_explain_shows_who_reads_and_writes_it_and_where_evaluations_go(synthesizes: None) -> None:
    result = run("explain", str(GOLDEN_CI))
    assert result.exit_code == 0, result.output
    assert (
        "provisions: golden set prefix gs://acme-golden/demand/, max difference 0.02: read by ci, pipelines; "
        "written by demand-model-team@example.com (dev, staging, prod)"
    ) in result.output
    assert "golden set bucket acme-golden created here: no object deleted or replaced for 365d (prod)" in result.output
    assert f"evaluations recorded in {GOLDEN_RESULTS}; promotion: tierstack golden-set check (prod)" in result.output
