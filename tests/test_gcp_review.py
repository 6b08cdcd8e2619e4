"""The Google Cloud review's findings, each a check on every generated stack (issue: GCP review).

Ordering a fresh project needs (service agents before CMEK grants, grants
before the resources that use the key, the IAM API before identity pools),
budgets that Google accepts and that count everything, IAM the jobs need,
cost sanity outside production, and the production serving class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run, use_case
from synth_support import read_stack, resources
from tierstack.modules.foundation import API_OF_SERVICE


def every_stack(synthesized: dict[str, Path]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (stack.name, read_stack(out, stack.name))
        for out in synthesized.values()
        for stack in sorted((out / "stacks").iterdir())
    ]


def uses_key(body: dict[str, Any]) -> bool:
    text = str({k: v for k, v in body.items() if k not in ("depends_on", "//")})
    return "kms" in text and ("google_kms_crypto_key" in text or "cryptoKeys" in text)


# --- 4. budget currency -----------------------------------------------------------------------------


def test_budgets_leave_the_currency_to_the_billing_account(synthesized: dict[str, Path]) -> None:
    budgets = [
        (name, body)
        for name, stack in every_stack(synthesized)
        for body in stack.get("resource", {}).get("google_billing_budget", {}).values()
    ]
    assert budgets
    for name, body in budgets:
        assert "currency_code" not in body["amount"]["specified_amount"], name


def test_a_currency_the_user_gives_is_kept(write: Any, tmp_path: Path, synthesizes: None) -> None:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    config = write(
        use_case(serving="batch") + "budget:\n  amount: 100\n  currency: EUR\n  billing_account: 01A2B3-C4D5E6-F7A8B9\n"
    )
    generate(resolve(load_spec(config)), tmp_path / "out")
    stack = read_stack(tmp_path / "out", "demo-case-dev")
    assert (
        stack["resource"]["google_billing_budget"]["cost_controls_budget"]["amount"]["specified_amount"][
            "currency_code"
        ]
        == "EUR"
    )


# --- 5. CMEK on a fresh project ---------------------------------------------------------------------


def test_every_key_grant_waits_for_a_materialised_agent_and_cloud_kms(synthesized: dict[str, Path]) -> None:
    seen = 0
    for name, stack in every_stack(synthesized):
        for grant_id, grant in stack.get("resource", {}).get("google_kms_crypto_key_iam_member", {}).items():
            seen += 1
            waits = grant.get("depends_on", [])
            assert "google_project_service.foundation_api_cloudkms" in waits, f"{name} {grant_id}"
            agent = next((w for w in waits if "_agent" in w), None)
            assert agent, f"{name} {grant_id} waits for no service agent: {waits}"
            kind, *rest = agent.split(".")
            section = stack["data"] if kind == "data" else stack["resource"]
            agent_type, agent_name = rest if kind == "data" else [kind, *rest]
            assert agent_name in section[agent_type], f"{name}: {agent} is not in the stack"
            assert agent_name in grant["member"], f"{name} {grant_id}: the member is not the agent's email"
    assert seen, "no CMEK stack among the examples and cases"


# Whose service agent encrypts with the key, per resource type: Google's CMEK pages for each service
# (Cloud Storage, BigQuery, Vertex AI, Artifact Registry and Pub/Sub "use CMEK" guides: the key's
# Encrypter/Decrypter role goes to that service's agent). Kept here, not read from the modules'
# `key_services`, so a capability that forgets to declare a type fails this test.
KEY_SERVICE = {
    "google_storage_bucket": "storage",
    "google_bigquery_dataset": "bigquery",
    "google_bigquery_table": "bigquery",
    "google_vertex_ai_endpoint": "aiplatform",
    "google_vertex_ai_feature_online_store": "aiplatform",
    "google_vertex_ai_metadata_store": "aiplatform",
    "google_vertex_ai_persistent_resource": "aiplatform",
    "google_vertex_ai_tensorboard": "aiplatform",
    "google_artifact_registry_repository": "artifactregistry",
    "google_pubsub_topic": "pubsub",
    "google_workflows_workflow": "workflows",  # Workflows "Use customer-managed encryption keys"
}


# Jobs that pass the key to Vertex AI in a request body (encryptionSpec): not encrypted with it themselves.
KEY_IN_REQUEST_BODY = {"google_cloud_scheduler_job"}


def test_every_resource_using_the_key_waits_for_its_services_grant(synthesized: dict[str, Path]) -> None:
    checked = 0
    for name, stack in every_stack(synthesized):
        for address, body in resources(stack).items():
            rtype = address.split(".")[0]
            if not uses_key(body) or rtype.startswith("google_kms_") or rtype in KEY_IN_REQUEST_BODY:
                continue
            assert rtype in KEY_SERVICE, f"{name} {address} uses the key: whose agent encrypts a {rtype}?"
            grant = f"google_kms_crypto_key_iam_member.foundation_key_{KEY_SERVICE[rtype]}_agent"
            assert grant in body.get("depends_on", []), f"{name} {address}: {body.get('depends_on')}"
            checked += 1
    assert checked > 10


def test_agents_wait_for_their_api(synthesized: dict[str, Path]) -> None:
    for name, stack in every_stack(synthesized):
        agents = {
            **stack.get("data", {}).get("google_storage_project_service_account", {}),
            **stack.get("data", {}).get("google_bigquery_default_service_account", {}),
            **stack.get("resource", {}).get("google_project_service_identity", {}),
        }
        for agent_id, body in agents.items():
            if not agent_id.startswith("foundation_"):  # the key users'; monitoring's is tested below
                continue
            service = agent_id.removeprefix("foundation_").removesuffix("_agent")
            api = API_OF_SERVICE[service].split(".")[0]
            assert body["depends_on"] == [f"google_project_service.foundation_api_{api}"], f"{name} {agent_id}"


# --- 6. other ordering ------------------------------------------------------------------------------


def test_identity_pools_wait_for_the_iam_api(synthesized: dict[str, Path]) -> None:
    pools = [
        (n, b)
        for n, s in every_stack(synthesized)
        for t in ("google_iam_workload_identity_pool", "google_iam_workload_identity_pool_provider")
        for b in s.get("resource", {}).get(t, {}).values()
    ]
    assert pools
    for name, body in pools:
        assert body["depends_on"] == ["google_project_service.foundation_api_iam"], name


def test_providers_bill_the_stacks_project_for_quota_apis(synthesized: dict[str, Path]) -> None:
    for name, stack in every_stack(synthesized):
        for provider, configs in stack["provider"].items():
            for config in configs:
                assert config["billing_project"] == config["project"], f"{name} {provider}"
                assert config["user_project_override"] is True, f"{name} {provider}"


# --- 10. cost sanity --------------------------------------------------------------------------------


def test_no_always_on_training_pool_outside_production(synthesized: dict[str, Path]) -> None:
    pools = {
        name: bool(stack.get("resource", {}).get("google_vertex_ai_persistent_resource"))
        for name, stack in every_stack(synthesized)
    }
    assert pools["fraud-detection-prod"], "the GPU use case keeps its pool in production"
    assert [n for n, has in pools.items() if has and not n.endswith("-prod")] == []


def test_a_tpu_never_goes_on_a_persistent_pool(synthesized: dict[str, Path], write: Any) -> None:
    tier1 = read_stack(synthesized["tests/cases/tier1-online.yaml"], "tier1-online-prod")
    assert "google_vertex_ai_persistent_resource" not in tier1["resource"]
    config = write(
        use_case(
            retraining="on_degradation",
            retraining_trigger="automatic",
            serving="online",
            accelerator="tpu:TPU_V5_LITEPOD",
        )
        + "region: us-central1\noverrides:\n  capabilities:\n    model_training:\n"
        "      training_pool:\n        enabled: true\n"
    )
    result = run("generate", str(config), "--out", str(config.parent / "out"))
    assert result.exit_code == 2, result.output
    assert "cannot hold TPU_V5_LITEPOD" in result.output and "training_pool" in result.output


def test_budgets_count_the_whole_project_not_a_label(synthesized: dict[str, Path]) -> None:
    for name, stack in every_stack(synthesized):
        for body in stack.get("resource", {}).get("google_billing_budget", {}).values():
            assert "labels" not in body["budget_filter"], name
            assert body["budget_filter"]["projects"] == ["projects/${data.google_project.foundation_project.number}"]


def test_endpoint_replicas_follow_the_serving_class(synthesized: dict[str, Path]) -> None:
    for name, stack in every_stack(synthesized):
        for endpoint in stack.get("resource", {}).get("google_vertex_ai_endpoint", {}).values():
            pool = stack["resource"]["google_vertex_ai_deployment_resource_pool"]["model_serving_deployment_pool"]
            replicas = pool["dedicated_resources"]["min_replica_count"]
            if endpoint["labels"]["serving-class"] == "production":
                assert replicas >= 2, name
            else:
                assert replicas == 1, name


# --- 11. IAM the jobs need --------------------------------------------------------------------------


def project_roles(stack: dict[str, Any], who: str) -> set[str]:
    return {
        b["role"]
        for b in stack["resource"].get("google_project_iam_member", {}).values()
        if f"foundation_{who}_sa" in str(b["member"]) or f"data_processing_{who}_sa" in str(b["member"])
    }


def test_identities_that_query_bigquery_can_run_jobs(synthesized: dict[str, Path]) -> None:
    stack = read_stack(synthesized["examples/fraud-detection/tierstack.yaml"], "fraud-detection-prod")
    assert {"roles/bigquery.jobUser", "roles/bigquery.readSessionUser"} <= project_roles(stack, "pipelines")
    assert {"roles/bigquery.jobUser", "roles/bigquery.readSessionUser"} <= project_roles(stack, "training")
    assert {"roles/bigquery.jobUser", "roles/bigquery.readSessionUser", "roles/dataflow.worker"} <= project_roles(
        stack, "dataflow"
    )


def test_every_pipelines_identity_reads_bigquery_through_the_storage_read_api(synthesized: dict[str, Path]) -> None:
    """Google IAM, "BigQuery roles and permissions" (read 2026-12-07): BigQuery Read Session User
    (roles/bigquery.readSessionUser) is what creates and uses read sessions of the BigQuery Storage Read API,
    which the BigQuery client libraries read results and tables through (to_dataframe); pipeline components
    that read BigQuery need it beside jobUser (issue 20.6d), in every environment, dev included."""
    seen = 0
    for name, stack in every_stack(synthesized):
        if "foundation_pipelines_sa" not in stack["resource"].get("google_service_account", {}):
            continue
        assert {"roles/bigquery.jobUser", "roles/bigquery.readSessionUser"} <= project_roles(stack, "pipelines"), name
        seen += 1
    assert seen > 5


# Who reads which repository (issue 20.6c), restated from what runs, not read from the modules: the pipelines
# identity creates every run from the template in the KFP repository and its steps use the Docker repository's
# images; training code uses the Docker repository's images; serving deploys and batch-predicts with the model
# registry's serving containers. Artifact Registry Reader (roles/artifactregistry.reader) "on the repository"
# (Google, Artifact Registry "Download files" and "Artifact Registry roles and permissions", read 2026-12-07).
REPOSITORY_READERS = {
    "ml_pipelines_kfp_repository": {"pipelines"},
    "ml_pipelines_docker_repository": {"pipelines", "training"},
    "model_registry_containers": {"serving"},
}
RUNTIME_IDENTITIES = ("pipelines", "training", "serving")


def test_no_runtime_identity_reads_artifact_registry_project_wide(synthesized: dict[str, Path]) -> None:
    """A project-wide reader reads every repository of the project, other teams' included: the identities that
    run jobs get Artifact Registry roles on the stack's repositories only (CI's writer, likewise)."""
    seen = 0
    for name, stack in every_stack(synthesized):
        for grant_id, grant in stack["resource"].get("google_project_iam_member", {}).items():
            if not grant["role"].startswith("roles/artifactregistry."):
                continue
            if "_agent" in grant_id:  # a service agent's own role (roles/artifactregistry.serviceAgent)
                continue
            assert "planner_sa" in grant["member"], f"{name} {grant_id}: {grant['role']} for {grant['member']}"
        seen += 1
    assert seen > 10


def test_each_identity_reads_the_repositories_it_pulls_from(synthesized: dict[str, Path]) -> None:
    seen = 0
    for name, stack in every_stack(synthesized):
        found = stack["resource"]
        repositories = found.get("google_artifact_registry_repository", {})
        accounts = found.get("google_service_account", {})
        grants = found.get("google_artifact_registry_repository_iam_member", {}).values()
        for repository, readers in REPOSITORY_READERS.items():
            if repository not in repositories:
                continue
            reference = f"${{google_artifact_registry_repository.{repository}.name}}"
            on_it = [g for g in grants if g["repository"] == reference]
            for who in RUNTIME_IDENTITIES:
                member = f"serviceAccount:${{google_service_account.foundation_{who}_sa.email}}"
                roles = {g["role"] for g in on_it if g["member"] == member}
                if who in readers and f"foundation_{who}_sa" in accounts:
                    # a writer reads too (roles/artifactregistry.writer includes the reader's permissions)
                    assert roles & {"roles/artifactregistry.reader", "roles/artifactregistry.writer"}, (
                        f"{name}: {who} cannot read {repository}"
                    )
                    seen += 1
                else:
                    assert "roles/artifactregistry.reader" not in roles, f"{name}: {who} has no use for {repository}"
            for grant in on_it:
                assert grant["location"] == repositories[repository]["location"], f"{name} {repository}"
    assert seen > 20


def test_pipelines_can_launch_dataflow_as_its_worker(synthesized: dict[str, Path]) -> None:
    stack = read_stack(synthesized["examples/fraud-detection/tierstack.yaml"], "fraud-detection-prod")
    assert "roles/dataflow.developer" in project_roles(stack, "pipelines")
    act_as = stack["resource"]["google_service_account_iam_member"]["data_processing_pipelines_actas_dataflow"]
    assert act_as["role"] == "roles/iam.serviceAccountUser"
    assert "data_processing_dataflow_sa" in act_as["service_account_id"]
    assert "foundation_pipelines_sa" in act_as["member"]


def test_jobs_on_the_training_pool_must_run_as_a_user_managed_identity(synthesized: dict[str, Path]) -> None:
    stack = read_stack(synthesized["examples/fraud-detection/tierstack.yaml"], "fraud-detection-prod")
    pool = stack["resource"]["google_vertex_ai_persistent_resource"]["model_training_pool"]
    assert pool["resource_runtime_spec"]["service_account_spec"]["enable_custom_service_account"] is True


def test_ci_trust_is_scoped_to_the_environment(synthesized: dict[str, Path]) -> None:
    out = synthesized["examples/fraud-detection/tierstack.yaml"]
    for env in ("dev", "staging", "prod"):
        stack = read_stack(out, f"fraud-detection-{env}")
        provider = stack["resource"]["google_iam_workload_identity_pool_provider"]["foundation_ci_provider"]
        condition = provider["attribute_condition"]
        assert condition.startswith("assertion.repository_id == '812345678' && "), condition
        assert condition.endswith(f"|| assertion.sub == 'repo:acme/fraud-detection:environment:{env}')"), condition
        assert [e for e in ("dev", "staging", "prod") if f":environment:{e}'" in condition] == [env]


# --- 12. serving class ------------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["tests/cases/tier1-online.yaml", "examples/churn-emea/tierstack.yaml"])
def test_production_of_an_online_use_case_gets_the_production_class(config: str, synthesized: dict[str, Path]) -> None:
    out = synthesized[config]
    prod = next(p.name for p in (out / "stacks").iterdir() if p.name.endswith("-prod"))
    endpoint = read_stack(out, prod)["resource"]["google_vertex_ai_endpoint"]["model_serving_endpoint"]
    assert endpoint["labels"]["serving-class"] == "production"


def test_explain_says_which_serving_class_and_why(synthesizes: None) -> None:
    result = run("explain", str(REPO / "tests/cases/tier1-online.yaml"))
    assert "serving class production (a production environment serving online)" in result.output
    assert "serving class experimental (a development environment)" in result.output


def test_experimental_in_production_only_when_asked(write: Any, synthesizes: None) -> None:
    config = write(
        use_case(retraining="on_degradation", retraining_trigger="automatic", serving="online")
        + "environments:\n  dev:\n    project: acme-demo-dev\n  prod:\n    project: acme-demo-prod\n"
        "    overrides:\n      serving_class: experimental\n"
        "      capabilities:\n        model_serving:\n          min_replicas: 1\n"
    )
    result = run("explain", str(config))
    assert result.exit_code == 0, result.output
    assert "serving class experimental (asked for by" in result.output


# --- 7. retraining on degradation: monitoring reaches the trigger -------------------------------------


def test_anomalies_reach_the_retraining_trigger(write: Any, tmp_path: Path, synthesizes: None) -> None:
    """The pipeline's model monitoring job notifies a Pub/Sub channel on the topic whose messages retrain."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    config = write(
        use_case(retraining="on_degradation", retraining_trigger="automatic", serving="online")
        + "environments: {dev: {}, prod: {}}\nvariables: {alert_email: oncall@example.com}\n"
    )
    generate(resolve(load_spec(config)), tmp_path / "out")
    prod = read_stack(tmp_path / "out", "demo-case-prod")["resource"]
    channel = prod["google_monitoring_notification_channel"]["model_monitoring_retraining"]
    assert channel["type"] == "pubsub"
    assert channel["labels"] == {"topic": "${google_pubsub_topic.ml_pipelines_retraining_topic.id}"}
    grant = prod["google_pubsub_topic_iam_member"]["model_monitoring_retraining_publisher"]
    assert grant["role"] == "roles/pubsub.publisher"
    agent_email = "${google_project_service_identity.model_monitoring_notification_agent.email}"
    assert grant["member"] == f"serviceAccount:{agent_email}"
    assert "google_pubsub_topic_iam_member.model_monitoring_retraining_publisher" in channel["depends_on"]
    agent = prod["google_project_service_identity"]["model_monitoring_notification_agent"]
    assert agent["service"] == "monitoring.googleapis.com"
    assert agent["depends_on"] == ["google_project_service.foundation_api_monitoring"]
    dev = read_stack(tmp_path / "out", "demo-case-dev")["resource"]
    assert "model_monitoring_retraining" not in dev.get("google_monitoring_notification_channel", {})


def test_providers_are_built_before_the_modules_that_read_them() -> None:
    """Typed inputs between modules: a capability is built after those it declares in `after`, whatever
    the order it is listed in, and the catalog's order holds wherever it can."""
    from tierstack.generator.facts.catalog import load_catalog
    from tierstack.modules import build_order

    ids = list(load_catalog().ids)
    assert build_order(ids) == ids  # the catalog's order already builds providers first
    reordered = build_order(
        ["foundation", "model_monitoring", "feature_repository", "model_serving", "data_processing"]
    )
    assert reordered.index("model_serving") < reordered.index("model_monitoring")
    assert reordered.index("data_processing") < reordered.index("model_serving")
    assert reordered.index("data_processing") < reordered.index("feature_repository")
    assert reordered[0] == "foundation"


# --- issue 20, 1. CMEK on a feature online store needs Bigtable serving ---------------------------------


def test_every_feature_online_store_serves_from_bigtable(synthesized: dict[str, Path]) -> None:
    """Only Bigtable online serving supports CMEK, and Optimized is deprecated (Google, "Create an online
    store instance", read 2026-12-07; generator/data/feature_online_store.yaml): the serving type cannot
    change after creation, so every new store starts on Bigtable, autoscaled."""
    stores = [
        (name, body)
        for name, stack in every_stack(synthesized)
        for body in stack.get("resource", {}).get("google_vertex_ai_feature_online_store", {}).values()
    ]
    assert any("encryption_spec" in body for _, body in stores), "no CMEK feature store among the examples"
    for name, body in stores:
        assert "optimized" not in body, name
        scaling = body["bigtable"]["auto_scaling"]
        assert 1 <= scaling["min_node_count"] <= scaling["max_node_count"], name


def test_the_stand_in_refuses_cmek_on_optimized_serving_as_google_does() -> None:
    """tests/standin/data/api_rules.yaml: the rule is Google's, so a stack breaking it fails `plan`."""
    from standin.provider import ApiRuleError, StandIn

    standin = StandIn("google")
    store = {
        "name": "s",
        "region": "us-central1",
        "optimized": [{}],
        "bigtable": [],
        "encryption_spec": [{"kms_key_name": "k"}],
    }
    with pytest.raises(ApiRuleError, match="Only Bigtable online serving supports encryption using a CMEK"):
        standin.plan("google_vertex_ai_feature_online_store", None, store, store)
    allowed = {**store, "optimized": [], "bigtable": [{"auto_scaling": [{"min_node_count": 1, "max_node_count": 3}]}]}
    standin.plan("google_vertex_ai_feature_online_store", None, allowed, allowed)


def test_terraform_plan_fails_on_a_cmek_optimized_store(terraform: Any, tmp_path: Path) -> None:
    """The real terraform binary against the stand-in: the API's rule surfaces as a plan error."""
    from standin import mirror

    stack = {
        "terraform": {"required_providers": {"google": {"source": "hashicorp/google", "version": "8.7.0"}}},
        "provider": {"google": [{"project": "p-test-1", "region": "us-central1"}]},
        "resource": {
            "google_vertex_ai_feature_online_store": {
                "store": {
                    "name": "s",
                    "region": "us-central1",
                    "optimized": {},
                    "encryption_spec": {"kms_key_name": "k"},
                }
            }
        },
    }
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "cdk.tf.json").write_text(json.dumps(stack), encoding="utf-8")
    workdir = mirror.workdir_for(tmp_path / "stack", tmp_path / "work")
    with pytest.raises(mirror.TerraformFailed, match="Only Bigtable online serving supports encryption"):
        mirror.plan(terraform, workdir)


# --- issue 20, 2. the next apply must not drop the feature columns pipelines add ------------------------


def test_the_features_table_schema_is_managed_only_at_creation(synthesized: dict[str, Path]) -> None:
    """The pipelines add the feature columns; the provider plans a schema that only drops columns as an
    in-place update, so a managed schema would drop them on the next apply (issue 20, item 2)."""
    tables = [
        (name, body)
        for name, stack in every_stack(synthesized)
        for address, body in resources(stack).items()
        if address == "google_bigquery_table.feature_repository_features_table"
    ]
    assert tables
    for name, body in tables:
        assert "schema" in body["lifecycle"]["ignore_changes"], name
        assert {c["name"] for c in json.loads(body["schema"])} == {"entity_id", "feature_timestamp"}, name


# --- issue 20, 8. retention that retains (and deletes) -------------------------------------------------


def test_every_artifact_registry_repository_deletes_old_versions_and_keeps_recent_ones(
    synthesized: dict[str, Path],
) -> None:
    """Google, Artifact Registry "Cleanup policy overview" (read 2026-12-07): "A keep policy only exempts
    matching artifacts from deletion", so a KEEP-only policy deletes nothing; a DELETE beside it does."""
    repositories = [
        (f"{name} {rid}", body)
        for name, stack in every_stack(synthesized)
        for rid, body in stack.get("resource", {}).get("google_artifact_registry_repository", {}).items()
    ]
    assert len(repositories) > 5
    for where_, body in repositories:
        policies = {p["action"]: p for p in body.get("cleanup_policies", [])}
        assert set(policies) == {"DELETE", "KEEP"}, where_
        assert policies["DELETE"]["condition"]["older_than"].endswith("s"), where_
        assert policies["KEEP"]["most_recent_versions"]["keep_count"] >= 1, where_
        assert body.get("cleanup_policy_dry_run") is False, where_


# --- issue 20, 3. a service agent created on request gets its role --------------------------------------


def test_every_agent_created_on_request_is_granted_its_documented_role(synthesized: dict[str, Path]) -> None:
    """Google IAM, "Create and grant roles to service agents": google_project_service_identity does not
    grant the agent its role. The role of each comes from Fabric's service-agents.yaml, copied with its
    commit into generator/data/service_agents.yaml, and is granted to that agent's own email."""
    from ruamel.yaml import YAML

    table = YAML(typ="safe").load((REPO / "generator" / "data" / "service_agents.yaml").read_text(encoding="utf-8"))
    assert "cloud-foundation-fabric" in table["source"] and "11c1d248826f" in table["source"]
    seen = 0
    for name, stack in every_stack(synthesized):
        grants = stack.get("resource", {}).get("google_project_iam_member", {})
        for agent_id, agent in stack.get("resource", {}).get("google_project_service_identity", {}).items():
            expected = table["agents"][agent["service"]]["role"]
            email = f"serviceAccount:${{google_project_service_identity.{agent_id}.email}}"
            roles = {g["role"] for g in grants.values() if g["member"] == email}
            assert roles == ({expected} if expected else set()), f"{name} {agent_id}: {roles}"
            seen += 1
    assert seen > 5


def test_the_agent_table_matches_fabric_on_the_roles_we_grant() -> None:
    """The values Fabric's service-agents.yaml gives (read 2026-12-07), restated so a typo fails here."""
    from tierstack.modules.foundation import service_agent_roles

    assert {api: agent["role"] for api, agent in service_agent_roles().items()} == {
        "aiplatform.googleapis.com": "roles/aiplatform.serviceAgent",
        "artifactregistry.googleapis.com": "roles/artifactregistry.serviceAgent",
        "pubsub.googleapis.com": "roles/pubsub.serviceAgent",
        "monitoring.googleapis.com": "roles/monitoring.notificationServiceAgent",
        "workflows.googleapis.com": "roles/workflows.serviceAgent",
        "eventarc.googleapis.com": "roles/eventarc.serviceAgent",
        "secretmanager.googleapis.com": None,  # Fabric: role null
    }


# --- issue 20, 4. a fresh project's first apply ---------------------------------------------------------


def test_the_eventarc_trigger_waits_for_its_agent_and_its_role(write: Any, tmp_path: Path, synthesizes: None) -> None:
    """Eventarc creates its agent on first use and refuses triggers until it can act: the agent is made
    first, after its API, and granted roles/eventarc.serviceAgent, and the trigger waits for that grant."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    config = write(
        use_case(retraining="on_degradation", retraining_trigger="automatic", code_changes="frequent", serving="online")
        + "region: europe-west4\nvariables:\n  ci_repository: acme/demo\n"
        + "  ci_repository_id: 1\n  ci_repository_owner_id: 2\n"
    )
    generate(resolve(load_spec(config)), tmp_path / "out")
    prod = read_stack(tmp_path / "out", "demo-case-prod")["resource"]
    agent = prod["google_project_service_identity"]["ml_pipelines_eventarc_agent"]
    assert agent["service"] == "eventarc.googleapis.com"
    assert agent["depends_on"] == ["google_project_service.foundation_api_eventarc"]
    role = prod["google_project_iam_member"]["ml_pipelines_eventarc_agent_role"]
    assert role["role"] == "roles/eventarc.serviceAgent"
    trigger = prod["google_eventarc_trigger"]["ml_pipelines_retraining_trigger"]
    assert "google_project_iam_member.ml_pipelines_eventarc_agent_role" in trigger["depends_on"]
    assert "google_project_service.foundation_api_eventarc" in trigger["depends_on"]


# --- issue 20, 7. budget notifications that reach someone -----------------------------------------------


def test_budgets_notify_the_teams_channel_and_the_topic_is_read(synthesized: dict[str, Path]) -> None:
    """A budget notifies billing admins by default, often not the team; the team's email channel is one of
    its monitoring_notification_channels (Budget API: NotificationsRule, at most 5). A topic nobody
    subscribes to drops its messages (Pub/Sub), so the budget topic has a subscription that keeps them."""
    seen = 0
    for name, stack in every_stack(synthesized):
        found = stack.get("resource", {})
        for budget in found.get("google_billing_budget", {}).values():
            rule = budget["all_updates_rule"]
            channel = found.get("google_monitoring_notification_channel", {}).get("cost_controls_budget_email")
            if channel is None:  # the config gives no alert_email: the billing admins only
                assert "monitoring_notification_channels" not in rule, name
                continue
            assert channel["type"] == "email" and channel["labels"]["email_address"], name
            assert rule["monitoring_notification_channels"] == [
                "${google_monitoring_notification_channel.cost_controls_budget_email.id}"
            ], name
            assert len(rule["monitoring_notification_channels"]) <= 5
            assert rule["disable_default_iam_recipients"] is False, name
            if "pubsub_topic" in rule:
                (subscription,) = found["google_pubsub_subscription"].values()
                assert subscription["topic"] == rule["pubsub_topic"], name
                assert subscription["expiration_policy"] == {"ttl": ""}, name
            seen += 1
    assert seen


# --- issue 20, 10. outputs a job can use --------------------------------------------------------------


def test_the_training_pool_output_is_what_persistent_resource_id_takes(synthesized: dict[str, Path]) -> None:
    """Vertex AI CustomJobSpec.persistentResourceId is the pool's id, not its resource path (the Terraform
    id, projects/.../persistentResources/ID); a job must also match the pool's key and run as its identity."""
    stack = read_stack(synthesized["examples/fraud-detection/tierstack.yaml"], "fraud-detection-prod")
    outputs = stack["output"]
    assert outputs["model_training_training_pool"]["value"] == (
        "${google_vertex_ai_persistent_resource.model_training_pool.name}"
    )
    assert outputs["model_training_training_pool_service_account"]["value"] == (
        "${google_service_account.foundation_training_sa.email}"
    )
    pool = stack["resource"]["google_vertex_ai_persistent_resource"]["model_training_pool"]
    if "encryption_spec" in pool:
        assert outputs["model_training_training_pool_kms_key"]["value"] == pool["encryption_spec"]["kms_key_name"]


# --- issue 20, 9. audit what a mission-critical production holds -----------------------------------------


def test_cmek_production_audits_vertex_ai_and_kms_data_access(synthesized: dict[str, Path]) -> None:
    """A mission-critical CMEK production's data lives in Vertex AI as much as in Cloud Storage, and every use
    of its key is a Cloud KMS data access (Cloud Audit Logs: Data Access logs are off by default, BigQuery's
    excepted), so both are audited beside Cloud Storage."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

    seen = 0
    for config, out in sorted(synthesized.items()):
        resolved = resolve(load_spec(REPO / config))
        if not resolved.loaded.spec.use_case or not resolved.loaded.spec.use_case.mission_critical:
            continue
        for env in resolved.environments.values():
            stack = read_stack(out, env.stack).get("resource", {})
            if not env.settings.get("delete_protection") or "google_kms_crypto_key" not in stack:
                continue
            audited = {body["service"] for body in stack.get("google_project_iam_audit_config", {}).values()}
            wanted = {"aiplatform.googleapis.com", "cloudkms.googleapis.com", "storage.googleapis.com"}
            assert wanted <= audited, env.stack
            seen += 1
    assert seen


# --- issue 20, 9. residency: messages and workflows stay where the stack is ------------------------------


def test_every_topic_keeps_its_messages_in_the_stack_s_region(synthesized: dict[str, Path]) -> None:
    """Pub/Sub, "Restrict Pub/Sub resource locations": without a message storage policy a message may be
    stored in any region; every topic the stacks create allows only its stack's region."""
    seen = 0
    for name, stack in every_stack(synthesized):
        region = stack["provider"]["google"][0]["region"]
        for topic_id, topic in stack.get("resource", {}).get("google_pubsub_topic", {}).items():
            policy = topic.get("message_storage_policy") or {}
            assert policy.get("allowed_persistence_regions") == [region], f"{name} {topic_id}: {policy}"
            seen += 1
    assert seen > 5


def test_a_workflow_of_a_cmek_stack_is_encrypted_with_its_key(synthesized: dict[str, Path]) -> None:
    """Workflows CMEK: the workflow names the stack's key (the one its buckets use), after the Workflows agent
    is made, holds its role (service_agents.yaml) and may use the key; a stack without a key gives none."""
    keyed = plain = 0
    for name, stack in every_stack(synthesized):
        resources = stack.get("resource", {})
        buckets = resources.get("google_storage_bucket", {}).values()
        keys = {(b.get("encryption") or {}).get("default_kms_key_name") for b in buckets}
        for workflow_id, workflow in resources.get("google_workflows_workflow", {}).items():
            if keys == {None}:
                assert "crypto_key_name" not in workflow, name
                plain += 1
                continue
            assert {workflow["crypto_key_name"]} == keys, name
            grant = resources["google_kms_crypto_key_iam_member"]["foundation_key_workflows_agent"]
            member = "serviceAccount:${google_project_service_identity.foundation_workflows_agent.email}"
            assert grant["member"] == member
            assert "google_kms_crypto_key_iam_member.foundation_key_workflows_agent" in workflow["depends_on"]
            agent = resources["google_project_service_identity"]["foundation_workflows_agent"]
            assert agent["service"] == "workflows.googleapis.com"
            roles = {g["role"] for g in resources["google_project_iam_member"].values() if g["member"] == member}
            assert roles == {"roles/workflows.serviceAgent"}, f"{name} {workflow_id}: {roles}"
            keyed += 1
    assert keyed and plain
