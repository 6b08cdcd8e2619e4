"""`tierstack verify` with the real google-cloud-aiplatform client (REST transport, anonymous
credentials) against a fake Vertex AI API on 127.0.0.1 (tests/fakes/vertex/, a FAKE: see its README).

The fake is filled from the checked-in example stacks by tests/fakes/vertex/world.py, which reads
cdk.tf.json on its own; each test then breaks one thing the way it breaks in Google Cloud.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.vertex.server import SHAPES, FakeVertex, shape
from fakes.vertex.world import fill

from conftest import REPO, run
from tierstack.generator.analysis import verify as checking

FRAUD = REPO / "examples" / "fraud-detection"
CHURN = REPO / "examples" / "churn-emea"
CONFIG = str(FRAUD / "tierstack.yaml")
PROD = ("acme-fraud-prod", "europe-west4")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVertex]:
    fake = FakeVertex().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeVertex, monkeypatch: pytest.MonkeyPatch) -> FakeVertex:
    """The fake with every fraud-detection and churn-emea stack applied as generated."""
    server.resources.clear()
    server.refuse.clear()
    server.requests.clear()
    server.latency = 0.0
    server.max_in_flight = 0
    for example in (FRAUD, CHURN):
        for stack in sorted((example / "cdktf.out" / "stacks").glob("*/cdk.tf.json")):
            fill(server, stack)
    monkeypatch.setenv(checking.ENDPOINT_ENV, server.url)
    return server


def verify_json(*args: str) -> tuple[int, dict]:
    result = run("verify", *args, "--format", "json")
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout) if result.exit_code in (0, 6) else {}


def findings(data: dict, kind: str | None = None) -> list[dict]:
    return [f for s in data["stacks"] for f in s["findings"] if kind is None or f["kind"] == kind]


def test_all_good_every_environment(fake: FakeVertex) -> None:
    code, data = verify_json(CONFIG)
    assert code == 0, data
    assert data["ok"] and data["differences"] == 0
    assert [s["stack"] for s in data["stacks"]] == [
        "fraud-detection-dev",
        "fraud-detection-staging",
        "fraud-detection-prod",
    ]
    prod = data["stacks"][2]
    assert prod["checked"] == [
        "endpoint fraud-detection-endpoint",
        "deployment resource pool fraud-detection-serving-pool",
        "metadata store default",
        "persistent resource fraud-detection-training-pool",
    ]
    assert findings(data) == []  # not even a note: a model is deployed everywhere


def test_all_good_text_and_a_feature_store(fake: FakeVertex) -> None:
    result = run("verify", str(CHURN / "tierstack.yaml"), "--env", "prod")
    assert result.exit_code == 0, result.output
    assert "churn-emea-prod (project acme-churn-prod, europe-west4): matches the stack" in result.stdout
    assert "feature online store churn_emea_features" in result.stdout
    assert "1 stack verified: no differences" in result.stdout


def test_a_bigtable_store_scaled_down_in_the_console(fake: FakeVertex) -> None:
    """churn-emea serves features from Bigtable: its autoscaling floor is read back through the client."""
    store = fake.get("acme-churn-prod", "europe-west4", "featureOnlineStores", "churn_emea_features")
    scaling = store["bigtable"]["autoScaling"]
    scaling["minNodeCount"] -= 1
    code, data = verify_json(str(CHURN / "tierstack.yaml"), "--env", "prod")
    assert code == 6
    (drift,) = findings(data)
    assert drift["field"] == "min_nodes" and drift["actual"] == scaling["minNodeCount"]
    assert drift["address"] == "google_vertex_ai_feature_online_store.feature_repository_online_store"
    store.pop("bigtable")
    store["optimized"] = {}
    (drift,) = findings(verify_json(str(CHURN / "tierstack.yaml"), "--env", "prod")[1])
    assert drift["message"] == "optimized serving, the stack sets bigtable"


def test_drifted_replica_count(fake: FakeVertex) -> None:
    endpoint = fake.get(*PROD, "endpoints", "fraud-detection-endpoint")
    endpoint["deployedModels"][0]["dedicatedResources"]["minReplicaCount"] = 1
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 6
    (drift,) = findings(data)
    assert drift["kind"] == "differs"
    assert drift["field"] == "deployed_models[5678901234567890123].min_replicas"
    assert (drift["expected"], drift["actual"]) == (2, 1)
    assert drift["address"] == "google_vertex_ai_endpoint.model_serving_endpoint"
    assert "min replicas 1, the stack's deployment pool sets 2" in drift["message"]


def test_a_model_on_the_stack_s_pool_and_on_another(fake: FakeVertex) -> None:
    model = fake.get(*PROD, "endpoints", "fraud-detection-endpoint")["deployedModels"][0]
    del model["dedicatedResources"]
    pools = "projects/{}/locations/europe-west4/deploymentResourcePools/{}"
    model["sharedResources"] = pools.format(fake.project("acme-fraud-prod"), "fraud-detection-serving-pool")
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 0, findings(data)
    model["sharedResources"] = pools.format(fake.project("acme-fraud-prod"), "someone-elses-pool")
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 6
    (other,) = findings(data, "differs")
    assert other["field"].endswith(".shared_resources") and other["actual"] == "someone-elses-pool"


def test_drifted_pool_replicas_and_text_output(fake: FakeVertex) -> None:
    fake.get(*PROD, "deploymentResourcePools", "fraud-detection-serving-pool")["dedicatedResources"][
        "maxReplicaCount"
    ] = 8
    result = run("verify", CONFIG, "--env", "prod")
    assert result.exit_code == 6
    assert (
        "differs   deployment resource pool fraud-detection-serving-pool: max replicas 8, the stack sets 4"
        in result.stdout
    )
    assert "1 stack verified: 1 difference" in result.stdout


def test_missing_endpoint(fake: FakeVertex) -> None:
    fake.delete("acme-fraud-dev", "europe-west4", "endpoints", "fraud-detection-endpoint")
    code, data = verify_json(CONFIG)
    assert code == 6
    (missing,) = findings(data, "missing")
    assert missing["address"] == "google_vertex_ai_endpoint.model_serving_endpoint"
    assert "not found in project acme-fraud-dev, region europe-west4" in missing["message"]
    assert data["stacks"][0]["stack"] == "fraud-detection-dev" and data["differences"] == 1


def test_a_stack_never_applied(fake: FakeVertex) -> None:
    for name in list(fake.resources):
        if name.startswith(f"projects/{fake.project('acme-fraud-stg')}/"):
            del fake.resources[name]
    code, data = verify_json(CONFIG, "--env", "staging")
    assert code == 6
    assert len(findings(data, "missing")) == 3
    (note,) = findings(data, "note")
    assert "has it been applied? `tierstack apply --env staging`" in note["message"]


def test_unmanaged_labelled_resource(fake: FakeVertex) -> None:
    stray = shape("endpoint")
    stray["labels"] = {"managed-by": "tierstack", "use-case": "fraud-detection", "environment": "prod"}
    fake.put(*PROD, "endpoints", "fraud-detection-endpoint-old", stray)
    other = shape("endpoint")
    other["labels"] = {"managed-by": "tierstack", "use-case": "another-team"}  # not ours: another use case
    fake.put(*PROD, "endpoints", "another-endpoint", other)
    dev = shape("endpoint")
    dev["labels"] = {"managed-by": "tierstack", "use-case": "fraud-detection", "environment": "dev"}  # another stack's
    fake.put(*PROD, "endpoints", "dev-endpoint", dev)
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 6
    (unmanaged,) = findings(data, "unmanaged")
    assert unmanaged["resource"] == "endpoint fraud-detection-endpoint-old"
    assert "no resource of this stack" in unmanaged["message"]


def test_unmanaged_on_a_later_page(fake: FakeVertex) -> None:
    """The listing follows nextPageToken: the fake serves two items a page."""
    for i in range(5):
        stray = shape("persistent_resource")
        stray["labels"] = {"managed-by": "tierstack", "use-case": "fraud-detection"}
        fake.put(*PROD, "persistentResources", f"zz-stray-{i}", stray)
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 6
    assert sorted(f["resource"] for f in findings(data, "unmanaged")) == [
        f"persistent resource zz-stray-{i}" for i in range(5)
    ]
    assert any("pageToken=" in path for path in fake.requests)


def test_wrong_region(fake: FakeVertex) -> None:
    moved = fake.get(*PROD, "endpoints", "fraud-detection-endpoint")
    fake.delete(*PROD, "endpoints", "fraud-detection-endpoint")
    fake.put("acme-fraud-prod", "europe-west1", "endpoints", "fraud-detection-endpoint", moved)
    code, data = verify_json(CONFIG, "--env", "prod", "--region", "europe-west1")
    assert code == 6
    (found,) = findings(data, "missing")
    assert found["field"] == "region"
    assert (found["expected"], found["actual"]) == ("europe-west4", "europe-west1")
    assert findings(data, "unmanaged") == []  # the same endpoint, reported once
    assert data["stacks"][0]["regions_scanned"] == ["europe-west1", "europe-west4"]


def test_wrong_labels(fake: FakeVertex) -> None:
    fake.get(*PROD, "endpoints", "fraud-detection-endpoint")["labels"]["team"] = "someone-else"
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 6
    (label,) = findings(data, "differs")
    assert label["field"] == "labels.team"
    assert (label["expected"], label["actual"]) == ("risk-ml", "someone-else")


def test_pinned_labels_are_a_note_but_ownership_labels_count(fake: FakeVertex) -> None:
    pool = fake.get(*PROD, "persistentResources", "fraud-detection-training-pool")
    pool["labels"]["cost-center"] = "cc-0001"  # the stack ignores label changes on the pool: kept as created
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 0
    (note,) = findings(data, "note")
    assert note["field"] == "labels.cost-center" and "kept as created" in note["message"]
    pool["labels"]["use-case"] = "something-else"
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 6
    assert [f["field"] for f in findings(data, "differs")] == ["labels.use-case"]


def test_wrong_accelerator(fake: FakeVertex) -> None:
    pool = fake.get(*PROD, "persistentResources", "fraud-detection-training-pool")
    pool["resourcePools"][0]["machineSpec"]["acceleratorType"] = "NVIDIA_TESLA_T4"
    pool["resourcePools"][0]["machineSpec"]["machineType"] = "n1-standard-8"
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 6
    by_field = {f["field"]: f for f in findings(data, "differs")}
    assert set(by_field) == {"resource_pools[0].accelerator_type", "resource_pools[0].machine_type"}
    assert (
        by_field["resource_pools[0].accelerator_type"]["expected"],
        by_field["resource_pools[0].accelerator_type"]["actual"],
    ) == (
        "NVIDIA_L4",
        "NVIDIA_TESLA_T4",
    )


def test_wrong_cmek_key(fake: FakeVertex) -> None:
    store = fake.get(*PROD, "metadataStores", "default")
    store["encryptionSpec"] = {
        "kmsKeyName": "projects/acme-fraud-prod/locations/europe-west4/keyRings/other/cryptoKeys/k"
    }
    del fake.get(*PROD, "endpoints", "fraud-detection-endpoint")["encryptionSpec"]
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 6
    by_resource = {f["resource"]: f for f in findings(data, "differs")}
    expected_key = "projects/acme-fraud-prod/locations/europe-west4/keyRings/fraud-detection-prod/cryptoKeys/stateful"
    assert by_resource["metadata store default"]["expected"] == expected_key
    assert by_resource["endpoint fraud-detection-endpoint"]["actual"] is None
    assert "Google-managed encryption" in by_resource["endpoint fraud-detection-endpoint"]["message"]


def test_permission_denied_project(fake: FakeVertex) -> None:
    fake.refuse["acme-fraud-prod"] = "forbidden"
    result = run("verify", CONFIG, "--env", "prod")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "permission denied in project 'acme-fraud-prod' (403)" in result.stderr
    assert "aiplatform.endpoints.get" in result.stderr or "aiplatform.endpoints.list" in result.stderr
    assert "roles/aiplatform.viewer" in result.stderr


def test_project_not_found(fake: FakeVertex) -> None:
    """Google APIs answer a project that does not exist (or is hidden) with 403 CONSUMER_INVALID, not 404."""
    del fake.projects["acme-fraud-stg"]
    result = run("verify", CONFIG, "--env", "staging")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "project 'acme-fraud-stg' does not exist or you cannot see it (403 CONSUMER_INVALID)" in result.stderr
    assert "Permission denied on resource project acme-fraud-stg." in result.stderr  # the API's own words
    assert "permission denied in project" not in result.stderr  # not mistaken for a missing role
    assert "environments.<env>.project" in result.stderr
    assert "gcloud projects describe acme-fraud-stg" in result.stderr


def test_quota_exceeded(fake: FakeVertex) -> None:
    fake.refuse["acme-fraud-prod"] = "quota"
    result = run("verify", CONFIG, "--env", "prod")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "a Vertex AI API quota or rate limit was hit in project 'acme-fraud-prod' (429 RESOURCE_EXHAUSTED)" in (
        result.stderr
    )
    assert "Quota exceeded for quota metric 'Resource management (CRUD) requests'" in result.stderr
    assert "wait a minute and run `tierstack verify` again" in result.stderr
    assert result.stdout == ""


def test_drifted_accelerator_count_of_a_deployed_model(fake: FakeVertex, tmp_path: Path) -> None:
    """A stack whose serving pool sets accelerators: the deployed model's count is compared too."""
    out = tmp_path / "cdktf.out"
    shutil.copytree(FRAUD / "cdktf.out", out)
    stack = out / "stacks/fraud-detection-prod/cdk.tf.json"
    data = json.loads(stack.read_text(encoding="utf-8"))
    (pool,) = data["resource"]["google_vertex_ai_deployment_resource_pool"].values()
    pool["dedicated_resources"]["machine_spec"].update(accelerator_type="NVIDIA_L4", accelerator_count=2)
    stack.write_text(json.dumps(data), encoding="utf-8")
    fill(fake, stack)
    code, data = verify_json(CONFIG, "--env", "prod", "--out", str(out))
    assert code == 0, findings(data)
    model = fake.get(*PROD, "endpoints", "fraud-detection-endpoint")["deployedModels"][0]
    assert model["dedicatedResources"]["machineSpec"]["acceleratorCount"] == 2
    model["dedicatedResources"]["machineSpec"]["acceleratorCount"] = 1
    code, data = verify_json(CONFIG, "--env", "prod", "--out", str(out))
    assert code == 6
    (drift,) = findings(data)
    assert drift["field"] == "deployed_models[5678901234567890123].accelerator_count"
    assert (drift["expected"], drift["actual"]) == (2, 1)
    assert "accelerator count 1, the stack's deployment pool sets 2" in drift["message"]


def test_the_accelerator_count_is_not_compared_when_the_stack_sets_none(fake: FakeVertex) -> None:
    model = fake.get(*PROD, "endpoints", "fraud-detection-endpoint")["deployedModels"][0]
    model["dedicatedResources"]["machineSpec"]["acceleratorCount"] = 0  # the example's pool sets no accelerator
    code, data = verify_json(CONFIG, "--env", "prod")
    assert code == 0, findings(data)


def test_api_not_enabled(fake: FakeVertex) -> None:
    fake.refuse["acme-fraud-dev"] = "disabled"
    result = run("verify", CONFIG, "--env", "dev")
    assert result.exit_code == 2
    assert "the Vertex AI API is not enabled in project 'acme-fraud-dev'" in result.stderr
    assert "tierstack apply" in result.stderr


def test_reads_run_concurrently(fake: FakeVertex) -> None:
    fake.latency = 0.05
    code, data = verify_json(CONFIG)
    assert code == 0, findings(data)
    assert fake.max_in_flight > 4


def test_never_generated(tmp_path: Path, fake: FakeVertex) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text((FRAUD / "tierstack.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    result = run("verify", str(config), "--env", "prod")
    assert result.exit_code == 2
    assert "never generated: fraud-detection-prod" in result.stderr
    assert "tierstack generate" in result.stderr
    assert fake.requests == []


def test_unknown_environment(fake: FakeVertex) -> None:
    result = run("verify", CONFIG, "--env", "prdo")
    assert result.exit_code == 2
    assert "no environment 'prdo'" in result.stderr and "did you mean 'prod'?" in result.stderr


def test_missing_credentials_names_gcloud_login(tmp_path: Path, spawns: None) -> None:
    """A fresh process without ADC: no file, no gcloud config, no metadata server looked for."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "TIERSTACK_"))}
    env.update(
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),  # an empty gcloud configuration
        NO_GCE_CHECK="true",  # never probe a metadata server (google-auth reads this at import)
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
    )
    command = [sys.executable, "-m", "tierstack.generator.cli", "verify", CONFIG, "--env", "prod"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "no Google Cloud credentials" in result.stderr
    assert "gcloud auth application-default login" in result.stderr
    assert result.stdout == ""


def test_credentials_file_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(checking.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    result = run("verify", CONFIG, "--env", "prod")
    assert result.exit_code == 2
    assert "gcloud auth application-default login" in result.stderr


def closed_port() -> int:
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable_token_endpoint(tmp_path: Path) -> Path:
    """Application Default Credentials (an authorized_user file) that must refresh at a closed local port."""
    key = tmp_path / "adc.json"
    key.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "tierstack-test.apps.googleusercontent.com",
                "client_secret": "not-a-secret",
                "refresh_token": "not-a-token",
                "token_uri": f"http://127.0.0.1:{closed_port()}/token",
            }
        ),
        encoding="utf-8",
    )
    return key


def test_an_unreachable_token_endpoint_is_a_network_failure_not_refused_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """google-auth raises TransportError, a GoogleAuthError, when the refresh cannot connect."""
    monkeypatch.delenv(checking.ENDPOINT_ENV, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(unreachable_token_endpoint(tmp_path)))
    result = run("verify", CONFIG, "--env", "prod")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "cannot reach Google to refresh the credentials" in result.stderr
    assert "were refused" not in result.stderr
    assert "check the network connection" in result.stderr


def test_a_refresh_that_cannot_connect_during_the_reads_is_a_network_failure(
    fake: FakeVertex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same failure when the client refreshes the token before a read: said once, per project."""
    import google.auth

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(unreachable_token_endpoint(tmp_path)))
    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    reader = checking.Reader(credentials, fake.url)
    with pytest.raises(checking.AccessError) as caught:
        reader.get("endpoint", *PROD, "fraud-detection-endpoint")
    assert caught.value.message.startswith(f"cannot reach the Vertex AI API at {fake.url}")
    assert caught.value.hint == checking.NETWORK_HINT
    assert fake.requests == []  # it never got as far as the API


def test_an_unreachable_api_is_named(fake: FakeVertex, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv(checking.ENDPOINT_ENV, closed)
    result = run("verify", CONFIG, "--env", "prod")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"cannot reach the Vertex AI API at {closed}" in result.stderr


def test_the_fake_shapes_are_vertex_ai_v1_messages() -> None:
    """Every recorded shape parses into the installed library's v1 message, unknown fields refused."""
    from google.cloud import aiplatform_v1 as v1
    from google.protobuf import json_format
    from google.rpc import error_details_pb2

    messages = {
        "endpoint": v1.Endpoint,
        "deployment_resource_pool": v1.DeploymentResourcePool,
        "metadata_store": v1.MetadataStore,
        "persistent_resource": v1.PersistentResource,
        "feature_online_store": v1.FeatureOnlineStore,
    }
    for name, message in messages.items():
        json_format.ParseDict(shape(name), message.pb()(), ignore_unknown_fields=False)
    for path in SHAPES.glob("error_*.json"):
        error = json.loads(path.read_text(encoding="utf-8"))["error"]
        assert {"code", "message", "status"} <= set(error)
        for detail in error.get("details", []):  # google.rpc types, as the client's error parser reads them
            kind = detail["@type"].rsplit(".", 1)[1]
            message = getattr(error_details_pb2, kind)()
            json_format.ParseDict({k: v for k, v in detail.items() if k != "@type"}, message)


def test_expectation_reads_the_stack_not_the_config() -> None:
    data = json.loads((FRAUD / "cdktf.out/stacks/fraud-detection-prod/cdk.tf.json").read_text(encoding="utf-8"))
    stack = checking.expectation("fraud-detection-prod", "prod", "fraud-detection", data, "prod.json")
    by_kind = {r.kind: r for r in stack.resources}
    assert by_kind["persistent_resource"].labels_pinned
    assert by_kind["persistent_resource"].spec["pools"] == [
        {
            "machine_type": "g2-standard-8",
            "accelerator_type": "NVIDIA_L4",
            "accelerator_count": 1,
            "replica_count": 1,
            "min_replicas": 1,
            "max_replicas": 2,
        }
    ]
    assert by_kind["endpoint"].spec["serving"]["min_replicas"] == 2
    assert by_kind["endpoint"].labels is not None and by_kind["endpoint"].labels["serving-class"] == "production"
    assert by_kind["metadata_store"].labels is None
    assert by_kind["metadata_store"].kms_key == (
        "projects/acme-fraud-prod/locations/europe-west4/keyRings/fraud-detection-prod/cryptoKeys/stateful"
    )


FLEET = REPO / "examples" / "churn-fleet" / "churn.fleet.yaml"


def test_a_fleet_verifies_every_member_and_one_by_member(fake: FakeVertex) -> None:
    """A fleet file's members' stacks, read from <member>/cdktf.out, in one concurrent verify."""
    for member in ("churn-us", "churn-de", "churn-br"):
        for stack in sorted((FLEET.parent / member / "cdktf.out" / "stacks").glob("*/cdk.tf.json")):
            fill(fake, stack)
    code, data = verify_json(str(FLEET))
    assert code == 0, data
    stacks = [s["stack"] for s in data["stacks"]]
    assert stacks == [f"churn-{m}-{e}" for m in ("us", "de", "br") for e in ("dev", "prod")]
    endpoint = fake.get("churn-de-prod", "europe-west3", "endpoints", "churn-de-endpoint")
    endpoint["deployedModels"][0]["dedicatedResources"]["minReplicaCount"] = 1
    code, data = verify_json(str(FLEET), "--env", "prod", "--member", "churn-de")
    assert code == 6
    assert [s["stack"] for s in data["stacks"]] == ["churn-de-prod"]
    (drift,) = findings(data)
    assert drift["kind"] == "differs" and (drift["expected"], drift["actual"]) == (2, 1)


def test_member_is_for_fleets_and_names_one(fake: FakeVertex) -> None:
    result = run("verify", str(FLEET), "--member", "churn-xx")
    assert result.exit_code == 2 and "no member named 'churn-xx'" in result.output
    assert "did you mean 'churn-us'?" in result.output
    result = run("verify", CONFIG, "--member", "churn-us")
    assert result.exit_code == 2 and "is one use case, not a fleet file" in result.output
