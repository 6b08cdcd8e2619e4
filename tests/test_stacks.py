"""Synthesized stacks: security defaults, labels, protection, layout, and the checked-in examples."""

from __future__ import annotations

import inspect
import json
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from synth_support import example_configs, read_stack, resources
from tierstack.generator.facts.providers import GOOGLE_PROVIDER_VERSION, PROVIDER_NAMES
from tierstack.generator.facts.stateful import is_stateful

BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
COST_LABELS = {"use-case", "team", "environment", "tier", "managed-by", "capability"}


def all_stacks(synthesized: dict[str, Path]) -> list[tuple[str, str, dict[str, Any]]]:
    """(config, stack name, stack json) for everything the suite synthesized."""
    out = []
    for config, target in sorted(synthesized.items()):
        manifest = json.loads((target / "manifest.json").read_text())
        for stack in manifest["stacks"]:
            out.append((config, stack, read_stack(target, stack)))
    return out


def binding_params(resource_type: str) -> set[str]:
    """Constructor arguments of the binding class for a resource type (what the provider accepts)."""
    if resource_type in ("google_vertex_ai_metadata_store", "google_project_service_identity"):
        # beta-only; their bindings keep the prefix
        name = resource_type
        module = import_module(f"cdktn_provider_google_beta.{name}")
    else:
        name = resource_type.removeprefix("google_")
        module = import_module(f"cdktn_provider_google.{name}")
    cls_name = "".join(part.capitalize() for part in name.split("_"))
    cls = getattr(module, cls_name)
    return set(inspect.signature(cls.__init__).parameters)


def test_every_stack_has_pinned_providers_and_its_own_state_prefix(synthesized: dict[str, Path]) -> None:
    for _, stack, data in all_stacks(synthesized):
        providers = data["terraform"]["required_providers"]
        for name in PROVIDER_NAMES:
            assert providers[name] == {"source": f"hashicorp/{name}", "version": GOOGLE_PROVIDER_VERSION}
        assert data["terraform"]["backend"]["gcs"]["prefix"] == stack
        assert set(data["provider"]) == {"google", "google-beta"}


def test_every_address_is_readable_and_names_its_capability(synthesized: dict[str, Path]) -> None:
    from tierstack.generator.facts.catalog import load_catalog

    ids = load_catalog().ids
    for _, stack, data in all_stacks(synthesized):
        for address, body in resources(data).items():
            logical = address.split(".", 1)[1]
            capability = body["//"]["metadata"]["path"].split("/")[1]
            assert capability in ids, address
            assert logical.startswith(f"{capability}_"), f"{stack}: {address}"


def test_every_labelable_resource_carries_the_cost_labels(synthesized: dict[str, Path]) -> None:
    checked = 0
    for config, stack, data in all_stacks(synthesized):
        for address, body in resources(data).items():
            params = binding_params(address.split(".")[0])
            key = "labels" if "labels" in params else "user_labels" if "user_labels" in params else None
            if key is None or address.startswith("google_monitoring_notification_channel"):
                continue  # a notification channel's `labels` are its address fields; it gets user_labels
            labels = body.get(key) or {}
            missing = COST_LABELS - set(labels)
            assert not missing, f"{config} {stack} {address}: missing labels {sorted(missing)}"
            assert labels["capability"] == body["//"]["metadata"]["path"].split("/")[1]
            checked += 1
    assert checked > 100


def test_provider_default_labels_keep_their_keys(synthesized: dict[str, Path]) -> None:
    data = read_stack(synthesized["examples/fraud-detection/tierstack.yaml"], "fraud-detection-prod")
    labels = data["provider"]["google"][0]["default_labels"]
    assert labels["cost-center"] == "cc-4410" and "cost_center" not in labels


def test_buckets_are_secure_by_default(synthesized: dict[str, Path]) -> None:
    for _, _, data in all_stacks(synthesized):
        for address, body in resources(data).items():
            if not address.startswith("google_storage_bucket."):
                continue
            assert body["uniform_bucket_level_access"] is True, address
            assert body["public_access_prevention"] == "enforced", address
            assert body["versioning"] == {"enabled": True}, address
            [rule] = body["lifecycle_rule"]
            assert rule["condition"]["with_state"] == "ARCHIVED" and rule["condition"]["days_since_noncurrent_time"]


def test_no_basic_roles_anywhere(synthesized: dict[str, Path]) -> None:
    for _, _, data in all_stacks(synthesized):
        for address, body in resources(data).items():
            assert body.get("role") not in BASIC_ROLES, address


def test_delete_protection_follows_the_environment(synthesized: dict[str, Path]) -> None:
    fraud = synthesized["examples/fraud-detection/tierstack.yaml"]
    for stack, policy in (("fraud-detection-prod", "PREVENT"), ("fraud-detection-dev", "DELETE")):
        for address, body in resources(read_stack(fraud, stack)).items():
            # key rings cannot be deleted at all, so they have no deletion_policy
            if is_stateful(address.split(".")[0]) and not address.startswith("google_kms_key_ring."):
                assert body["deletion_policy"] == policy, f"{stack} {address}"


def test_cmek_reaches_every_stateful_resource_when_on(synthesized: dict[str, Path]) -> None:
    prod = resources(read_stack(synthesized["examples/fraud-detection/tierstack.yaml"], "fraud-detection-prod"))
    key = "${google_kms_crypto_key.foundation_key.id}"
    assert prod["google_storage_bucket.model_training_artifacts_bucket"]["encryption"]["default_kms_key_name"] == key
    assert (
        prod["google_bigquery_dataset.model_monitoring_monitoring_dataset"]["default_encryption_configuration"][
            "kms_key_name"
        ]
        == key
    )
    assert prod["google_vertex_ai_metadata_store.metadata_tracking_store"]["encryption_spec"]["kms_key_name"] == key
    dev = resources(read_stack(synthesized["examples/fraud-detection/tierstack.yaml"], "fraud-detection-dev"))
    assert "encryption" not in dev["google_storage_bucket.model_training_artifacts_bucket"]
    assert not any(a.startswith("google_kms_") for a in dev)


def test_every_resource_waits_for_its_api(synthesized: dict[str, Path]) -> None:
    from tierstack.generator.synth.stacks import api_for

    for _, stack, data in all_stacks(synthesized):
        apis = {body["service"] for a, body in resources(data).items() if a.startswith("google_project_service.")}
        for address, body in resources(data).items():
            api = api_for(address.split(".")[0])
            if api and not address.startswith("google_project_service."):
                assert api in apis, f"{stack}: {api} not enabled"
                assert any(api.split(".")[0] in d for d in body["depends_on"]), address


@pytest.mark.change_detector
@pytest.mark.parametrize(
    "example", [p.parent.relative_to(REPO / "examples").as_posix() for p in example_configs(REPO / "examples")]
)
def test_checked_in_example_stacks_are_current_and_byte_identical(example: str, synthesized: dict[str, Path]) -> None:
    """A change detector: examples/*/cdktf.out is written by the generate it is compared with (`make refresh`).

    The truth about the stacks is in the independent checks: inventories, rules, terraform, checkov.
    """
    fresh = synthesized[f"examples/{example}/tierstack.yaml"]
    checked_in = REPO / "examples" / example / "cdktf.out"
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert fresh_files == sorted(p.relative_to(checked_in) for p in checked_in.rglob("*") if p.is_file())
    for rel in fresh_files:
        fresh_bytes, kept = (fresh / rel).read_bytes(), (checked_in / rel).read_bytes()
        if rel.name == ".tierstack-manifest.json":
            # the hash of cdktf.json beside the output depends on where the output is (its `app` path)
            fresh_bytes, kept = (json.dumps({**json.loads(b), "beside": None}).encode() for b in (fresh_bytes, kept))
        assert fresh_bytes == kept, (
            f"examples/{example}/cdktf.out/{rel} is stale: run `make refresh` and review the diff"
        )


def test_layout_is_the_one_atlantis_and_the_cdk_cli_expect(synthesized: dict[str, Path]) -> None:
    target = synthesized["examples/recommender/tierstack.yaml"]
    manifest = json.loads((target / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == ["recommender-dev", "recommender-prod"]
    for name, entry in manifest["stacks"].items():
        assert entry["synthesizedStackPath"] == f"stacks/{name}/cdk.tf.json"
        assert (target / entry["synthesizedStackPath"]).is_file()
    cdktf = json.loads((target.parent / "cdktf.json").read_text())
    assert cdktf["output"] == target.name and cdktf["language"] == "python"
    assert f"hashicorp/google-beta@{GOOGLE_PROVIDER_VERSION}" in cdktf["terraformProviders"]
