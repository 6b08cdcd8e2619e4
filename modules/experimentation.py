"""experimentation: a Workbench instance (no public IP, idle shutdown) and a Vertex AI TensorBoard."""

from __future__ import annotations

from cdktn_provider_google.vertex_ai_tensorboard import VertexAiTensorboard, VertexAiTensorboardEncryptionSpec
from cdktn_provider_google.workbench_instance import (
    WorkbenchInstance,
    WorkbenchInstanceGceSetup,
    WorkbenchInstanceGceSetupAcceleratorConfigs,
    WorkbenchInstanceGceSetupServiceAccounts,
    WorkbenchInstanceGceSetupShieldedInstanceConfig,
)

from tierstack.generator import naming
from tierstack.modules.base import CapabilityModule


class Experimentation(CapabilityModule):
    capability = "experimentation"
    apis = ("notebooks.googleapis.com", "aiplatform.googleapis.com")

    def build(self) -> None:
        inputs, workbench = self.inputs, self.settings.get("workbench", {})
        accelerators = []
        if workbench.get("accelerator_type"):
            accelerators = [WorkbenchInstanceGceSetupAcceleratorConfigs(
                type=workbench["accelerator_type"], core_count=str(workbench.get("accelerator_count", 1)))]
        identity = "training" if inputs.identities.has("training") else None
        instance = self.add(
            WorkbenchInstance, "workbench",
            project=inputs.project,
            location=f"{inputs.region}-a",
            name=naming.resource_id(inputs.name, "workbench"),
            gce_setup=WorkbenchInstanceGceSetup(
                machine_type=workbench.get("machine_type", "e2-standard-4"),
                disable_public_ip=not workbench.get("public_ip", False),
                accelerator_configs=accelerators or None,
                metadata={"idle-timeout-seconds": str(int(workbench.get("idle_shutdown_minutes", 60)) * 60)},
                shielded_instance_config=WorkbenchInstanceGceSetupShieldedInstanceConfig(
                    enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True),
                service_accounts=[WorkbenchInstanceGceSetupServiceAccounts(email=inputs.identities.emails[identity])]
                if identity else None,
            ),
            disable_proxy_access=False,
            labels=self.labels,
            deletion_policy=self.deletion_policy,
        )
        self.expose("workbench_instance", instance.name, "Workbench instance name")
        if self.settings.get("tensorboard", True):
            board = self.add(
                VertexAiTensorboard, "tensorboard",
                project=inputs.project, region=inputs.region,
                display_name=f"{inputs.name}-{inputs.environment}",
                encryption_spec=VertexAiTensorboardEncryptionSpec(kms_key_name=inputs.kms_key)
                if inputs.kms_key else None,
                labels=self.labels,
                deletion_policy=self.deletion_policy,
            )
            self.expose("tensorboard", board.id, "Vertex AI TensorBoard id for experiment tracking")
