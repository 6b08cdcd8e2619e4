"""Fill the fake Vertex AI with what a synthesized stack says exists: the "all good" world.

Written apart from generator/analysis/verify/ (it reads cdk.tf.json its own way and writes API shapes from
shapes/), so a test that verifies against it compares two independent readings of the stack.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from fakes.vertex.server import FakeVertex, shape

TYPES = {
    "google_vertex_ai_endpoint": "endpoints",
    "google_vertex_ai_deployment_resource_pool": "deploymentResourcePools",
    "google_vertex_ai_metadata_store": "metadataStores",
    "google_vertex_ai_persistent_resource": "persistentResources",
    "google_vertex_ai_feature_online_store": "featureOnlineStores",
}


def _one(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return value[0] if value else {}
    return value or {}


def _key(value: str | None, resources: dict[str, Any]) -> str | None:
    """${google_kms_crypto_key.X.id} -> projects/P/locations/L/keyRings/R/cryptoKeys/K."""
    if not value:
        return None
    if not value.startswith("${google_kms_crypto_key."):
        return value
    key = resources["google_kms_crypto_key"][value.split(".")[1]]
    ring = resources["google_kms_key_ring"][key["key_ring"].split(".")[1]]
    return f"projects/{ring['project']}/locations/{ring['location']}/keyRings/{ring['name']}/cryptoKeys/{key['name']}"


def _machine(machine: dict[str, Any]) -> dict[str, Any]:
    """A Terraform machine_spec block as the API's MachineSpec (accelerators only when set)."""
    return {
        "machineType": machine["machine_type"],
        **({"acceleratorType": machine["accelerator_type"]} if machine.get("accelerator_type") else {}),
        **({"acceleratorCount": int(machine["accelerator_count"])} if machine.get("accelerator_count") else {}),
    }


def fill(fake: FakeVertex, stack: Path | dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Create every Vertex AI resource of the stack in the fake; returns (project, region, collection, id)."""
    data = json.loads(stack.read_text(encoding="utf-8")) if isinstance(stack, Path) else stack
    providers = {}
    for name, blocks in data.get("provider", {}).items():
        for block in blocks:
            providers[f"{name}.{block['alias']}" if "alias" in block else name] = block
    resources = data.get("resource", {})
    fake.project(providers["google"]["project"])  # the project exists, with or without Vertex AI resources
    made = []
    pools = resources.get("google_vertex_ai_deployment_resource_pool", {})
    pool = _one(next(iter(pools.values()), {}).get("dedicated_resources")) if pools else {}
    for tf_type, collection in TYPES.items():
        for body in resources.get(tf_type, {}).values():
            provider = providers[body.get("provider", "google")]
            project = body.get("project", provider["project"])
            region = body.get("region") or body.get("location") or provider["region"]
            labels = {
                **provider.get("default_labels", {}),
                **body.get("labels", {}),
                "goog-terraform-provisioned": "true",
            }
            key = _key(_one(body.get("encryption_spec")).get("kms_key_name"), resources)
            if tf_type == "google_vertex_ai_endpoint":
                api = shape("endpoint")
                api["displayName"] = body["display_name"]
                api["labels"] = labels
                logging = _one(body.get("predict_request_response_logging_config"))
                if logging:
                    api["predictRequestResponseLoggingConfig"]["samplingRate"] = logging["sampling_rate"]
                else:
                    del api["predictRequestResponseLoggingConfig"]
                model = api["deployedModels"][0]
                if pool:
                    model["dedicatedResources"]["minReplicaCount"] = pool["min_replica_count"]
                    model["dedicatedResources"]["maxReplicaCount"] = pool["max_replica_count"]
                    model["dedicatedResources"]["machineSpec"] = _machine(_one(pool["machine_spec"]))
            elif tf_type == "google_vertex_ai_deployment_resource_pool":
                api = shape("deployment_resource_pool")
                dedicated = _one(body["dedicated_resources"])
                api["dedicatedResources"]["minReplicaCount"] = dedicated["min_replica_count"]
                api["dedicatedResources"]["maxReplicaCount"] = dedicated["max_replica_count"]
                api["dedicatedResources"]["machineSpec"] = _machine(_one(dedicated["machine_spec"]))
            elif tf_type == "google_vertex_ai_metadata_store":
                api = shape("metadata_store")
                api["description"] = body.get("description", "")
            elif tf_type == "google_vertex_ai_persistent_resource":
                api = shape("persistent_resource")
                api["labels"] = labels
                template = api["resourcePools"][0]
                api["resourcePools"] = []
                for spec in body["resource_pools"]:
                    entry = copy.deepcopy(template)
                    machine = _one(spec["machine_spec"])
                    entry["machineSpec"] = _machine(machine)
                    entry["replicaCount"] = str(spec["replica_count"])
                    scaling = _one(spec.get("autoscaling_spec"))
                    entry["autoscalingSpec"] = {
                        "minReplicaCount": str(scaling["min_replica_count"]),
                        "maxReplicaCount": str(scaling["max_replica_count"]),
                    }
                    api["resourcePools"].append(entry)
            else:
                api = shape("feature_online_store")
                api["labels"] = labels
                scaling = _one(_one(body.get("bigtable")).get("auto_scaling")) if body.get("bigtable") else None
                if scaling:  # Bigtable online serving: its nodes, and no dedicated serving endpoint
                    del api["optimized"], api["dedicatedServingEndpoint"]
                    api["bigtable"] = {
                        "autoScaling": {
                            "minNodeCount": scaling["min_node_count"],
                            "maxNodeCount": scaling["max_node_count"],
                            "cpuUtilizationTarget": scaling.get("cpu_utilization_target", 50),
                        }
                    }
            if key:
                api["encryptionSpec"] = {"kmsKeyName": key}
            else:
                api.pop("encryptionSpec", None)
            fake.put(project, region, collection, body["name"], api)
            made.append((project, region, collection, body["name"]))
    return made
