"""model_training: artifact and staging buckets, and a GPU/TPU training pool (persistent resource)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from tierstack.generator.config.settings import MachineType, Purpose, ReplicaRange, Replicas, Settings, Unique
from tierstack.generator.core import naming
from tierstack.generator.core.errors import UserError
from tierstack.generator.facts.catalog import load_catalog
from tierstack.modules.base import CapabilityModule


class TrainingPool(ReplicaRange):
    enabled: bool
    machine_type: MachineType | None = None
    accelerator_type: str | None = None
    accelerator_count: Annotated[int, Field(ge=1, le=16)] | None = None
    min_replicas: Replicas = 1
    max_replicas: Replicas = 1


class ModelTrainingSettings(Settings):
    buckets: Annotated[list[Purpose], Unique]
    noncurrent_version_days: Annotated[int, Field(ge=1, le=3650)]
    training_pool: TrainingPool


class ModelTraining(CapabilityModule):
    capability = "model_training"
    title = "Model training"
    definition = "Running training jobs on managed compute, with GPUs or TPUs where the model needs them."
    process = "training operationalization, continuous training"
    provisions = (
        "artifact and staging buckets",
        (
            "production with a GPU - an always-on GPU training pool (google_vertex_ai_persistent_resource); "
            "elsewhere, and for TPUs, on-demand jobs only"
        ),
    )
    settings_model = ModelTrainingSettings
    settings: ModelTrainingSettings
    apis = ("aiplatform.googleapis.com",)
    identities = ("training",)
    key_services = {"google_vertex_ai_persistent_resource": "aiplatform"}
    outputs = {
        "{purpose}_bucket": "{purpose} bucket for training",
        "training_pool": (
            "the training pool's bare id, what a CustomJob's persistentResourceId takes (not the resource path)"
        ),
        "training_pool_kms_key": "the key a job on the training pool must name in its encryptionSpec (CMEK pools)",
        "training_pool_service_account": "the identity a job on the training pool must run as (its serviceAccount)",
    }

    def build(self) -> None:
        days = int(self.settings.noncurrent_version_days)
        for purpose in self.settings.buckets:
            bucket = self.bucket(
                purpose, noncurrent_days=days, writers=("training", "pipelines"), readers=("serving", "ci")
            )
            self.expose("{purpose}_bucket", bucket.name, purpose=purpose)
        pool = self.settings.training_pool
        if pool.enabled or pool.machine_type:  # a wrong machine is wrong even while switched off
            check_pool(pool.model_dump(), self.inputs.region, self.inputs.source, self.inputs.environment)
        if pool.enabled:
            self._pool(pool)

    def _pool(self, pool: TrainingPool) -> None:
        from cdktn_provider_google.vertex_ai_persistent_resource import (
            VertexAiPersistentResource,
            VertexAiPersistentResourceEncryptionSpec,
            VertexAiPersistentResourceResourcePools,
            VertexAiPersistentResourceResourcePoolsAutoscalingSpec,
            VertexAiPersistentResourceResourcePoolsMachineSpec,
            VertexAiPersistentResourceResourceRuntimeSpec,
            VertexAiPersistentResourceResourceRuntimeSpecServiceAccountSpec,
        )

        inputs = self.inputs
        spec = VertexAiPersistentResourceResourcePoolsMachineSpec(
            machine_type=pool.machine_type,
            accelerator_type=pool.accelerator_type,
            accelerator_count=pool.accelerator_count,
        )
        resource = self.add(
            VertexAiPersistentResource,
            "pool",
            project=inputs.project,
            location=inputs.region,
            name=naming.resource_id(inputs.name, "training-pool"),
            display_name=f"{inputs.name} training pool ({inputs.environment})",
            resource_pools=[
                VertexAiPersistentResourceResourcePools(
                    machine_spec=spec,
                    # int64 in the API: the bindings take these as strings
                    replica_count=str(pool.min_replicas),
                    autoscaling_spec=VertexAiPersistentResourceResourcePoolsAutoscalingSpec(
                        min_replica_count=str(pool.min_replicas),
                        max_replica_count=str(pool.max_replicas),
                    ),
                )
            ],
            encryption_spec=VertexAiPersistentResourceEncryptionSpec(kms_key_name=inputs.kms_key)
            if inputs.kms_key
            else None,
            # jobs on the pool must run as a user-managed identity (the training one: only it is granted
            # the data, and only the pipelines identity may act as it), never as the Vertex AI service agent;
            # provider 8.7 takes no account here, each job names its own
            resource_runtime_spec=VertexAiPersistentResourceResourceRuntimeSpec(
                service_account_spec=VertexAiPersistentResourceResourceRuntimeSpecServiceAccountSpec(
                    enable_custom_service_account=True
                )
            ),
            deletion_policy=self.deletion_policy,
            **self.pinned_labels(),
        )
        # persistentResourceId takes the id alone (Vertex AI CustomJobSpec.persistent_resource_id); the
        # resource's Terraform id is its full path, projects/.../persistentResources/ID
        self.expose("training_pool", resource.name)
        if inputs.kms_key:  # a job on a CMEK pool must use the pool's key
            self.expose("training_pool_kms_key", inputs.kms_key)
        if inputs.identities.has("training"):
            self.expose("training_pool_service_account", inputs.identities.emails["training"])


def check_pool(pool: dict[str, Any], region: str, source: str, environment: str) -> None:
    """The machine type must be the one the accelerator needs, and the region must offer it."""
    field = f"environments.{environment}.capabilities.model_training.training_pool"
    acc_type = pool.get("accelerator_type")
    lo, hi = int(pool.get("min_replicas", 1)), int(pool.get("max_replicas", 1))
    if not 1 <= lo <= hi:
        raise UserError(
            f"training pool replicas must satisfy 1 <= min ({lo}) <= max ({hi})",
            file=source,
            field=f"{field}.min_replicas",
        )
    if not acc_type:
        return
    acc = load_catalog().accelerator(acc_type)
    if acc is None:
        raise UserError(f"'{acc_type}' is not a known accelerator", file=source, field=f"{field}.accelerator_type")
    if acc.kind == "tpu" and pool.get("enabled"):
        raise UserError(
            f"a persistent training pool cannot hold {acc_type}: Vertex AI documents persistent "
            "resources for VMs and GPUs, and google_vertex_ai_persistent_resource (provider 8.7) "
            "cannot set the TPU topology Vertex requires",
            file=source,
            field=f"{field}.enabled",
            hint="leave training_pool.enabled false: TPU training runs as on-demand custom jobs",
        )
    if region not in acc.regions:
        raise UserError(
            f"{acc_type} is not offered for Vertex AI training in {region}",
            file=source,
            field=f"environments.{environment}.region",
            hint="known in: " + ", ".join(acc.regions),
        )
    count, machine = int(pool.get("accelerator_count") or 0), pool.get("machine_type")
    if acc.machine_types.get(count) != machine:
        allowed = ", ".join(f"{n}×{acc_type} on {m}" for n, m in sorted(acc.machine_types.items()))
        raise UserError(
            f"{machine} with {count}×{acc_type} is not a valid machine for that accelerator",
            file=source,
            field=f"{field}.machine_type",
            hint=f"valid: {allowed}",
        )
