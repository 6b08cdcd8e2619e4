"""experimentation: a Workbench instance (no public IP, idle shutdown) on a network with Private Google Access,
and a Vertex AI TensorBoard.

The notebook's zone and machine type come from Google Cloud facts (generator/data/zones.yaml and
machine_families.yaml, through generator/plan/gcp_facts.py): a real zone of the region that offers the machine,
and a machine type that takes the GPU. Without a public IP the VM reaches Google APIs through Private Google
Access on its subnetwork: an existing one from the settings, or a network and subnetwork created here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from tierstack.generator.config.settings import MachineType, Settings, check, cidr
from tierstack.generator.core import naming
from tierstack.generator.core.errors import UserError
from tierstack.generator.plan import gcp_facts
from tierstack.modules.base import CapabilityModule

if TYPE_CHECKING:
    from cdktn_provider_google.workbench_instance import WorkbenchInstanceGceSetupNetworkInterfaces


class Workbench(Settings):
    machine_type: MachineType
    accelerator_type: str | None = None
    accelerator_count: Annotated[int, Field(ge=1, le=8)] | None = None
    zone: str | None = None
    idle_shutdown_minutes: Annotated[int, Field(ge=10, le=1440)]
    public_ip: bool
    network: str | None = None
    subnet: str | None = None
    subnet_range: Annotated[str, check(cidr)]


class ExperimentationSettings(Settings):
    workbench: Workbench
    tensorboard: bool


class Experimentation(CapabilityModule):
    capability = "experimentation"
    title = "Experimentation"
    definition = (
        "Notebook environments and experiment tracking for data scientists to explore data and prototype models."
    )
    process = "ML development"
    provisions = (
        (
            "Vertex AI Workbench instance (no public IP, idle shutdown) in a real zone of the region, on a machine "
            "type that takes its GPU"
        ),
        (
            "a VPC network and subnetwork with Private Google Access (deny-all ingress firewall), unless "
            "workbench.network/subnet name existing ones"
        ),
        "Vertex AI TensorBoard for experiment tracking",
    )
    settings_model = ExperimentationSettings
    settings: ExperimentationSettings
    # compute: the notebook is a Compute Engine VM on a VPC network, also when the network is not created
    # here (the stack assembler makes google_compute_* resources wait for it; the Notebooks API does not)
    apis = ("notebooks.googleapis.com", "aiplatform.googleapis.com", "compute.googleapis.com")
    key_services = {"google_vertex_ai_tensorboard": "aiplatform"}
    outputs = {
        "workbench_instance": "Workbench instance name",
        "tensorboard": "Vertex AI TensorBoard id for experiment tracking",
    }

    def build(self) -> None:
        from cdktn_provider_google.vertex_ai_tensorboard import VertexAiTensorboard, VertexAiTensorboardEncryptionSpec
        from cdktn_provider_google.workbench_instance import (
            WorkbenchInstance,
            WorkbenchInstanceGceSetup,
            WorkbenchInstanceGceSetupAcceleratorConfigs,
            WorkbenchInstanceGceSetupServiceAccounts,
            WorkbenchInstanceGceSetupShieldedInstanceConfig,
        )

        inputs, workbench = self.inputs, self.settings.workbench
        placement = self._placement(workbench.model_dump())
        accelerators = []
        if workbench.accelerator_type:
            accelerators = [
                WorkbenchInstanceGceSetupAcceleratorConfigs(
                    type=workbench.accelerator_type, core_count=str(workbench.accelerator_count or 1)
                )
            ]
        identity = "training" if inputs.identities.has("training") else None
        instance = self.add(
            WorkbenchInstance,
            "workbench",
            project=inputs.project,
            location=placement.zone,
            name=naming.resource_id(inputs.name, "workbench"),
            gce_setup=WorkbenchInstanceGceSetup(
                machine_type=workbench.machine_type,
                disable_public_ip=not workbench.public_ip,
                accelerator_configs=accelerators or None,
                network_interfaces=[self._network_interface(placement)],
                metadata={"idle-timeout-seconds": str(workbench.idle_shutdown_minutes * 60)},
                shielded_instance_config=WorkbenchInstanceGceSetupShieldedInstanceConfig(
                    enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True
                ),
                service_accounts=[WorkbenchInstanceGceSetupServiceAccounts(email=inputs.identities.emails[identity])]
                if identity
                else None,
            ),
            disable_proxy_access=False,
            labels=self.labels,
            deletion_policy=self.deletion_policy,
        )
        self.expose("workbench_instance", instance.name)
        if self.settings.tensorboard:
            board = self.add(
                VertexAiTensorboard,
                "tensorboard",
                project=inputs.project,
                region=inputs.region,
                display_name=f"{inputs.name}-{inputs.environment}",
                encryption_spec=VertexAiTensorboardEncryptionSpec(kms_key_name=inputs.kms_key)
                if inputs.kms_key
                else None,
                labels=self.labels,
                deletion_policy=self.deletion_policy,
            )
            self.expose("tensorboard", board.id)

    def _placement(self, workbench: Any) -> gcp_facts.Placement:
        """Zone and network from the facts; resolve() has checked them, so an error here is a last line."""
        try:
            return gcp_facts.place_workbench(self.inputs.region, workbench)
        except gcp_facts.FactError as err:
            field = (
                "region"
                if err.key == "region"
                else f"environments.{self.inputs.environment}.capabilities.experimentation.workbench.{err.key}"
            )
            raise UserError(err.message, file=self.inputs.source, field=field, hint=err.hint) from None

    def _network_interface(self, placement: gcp_facts.Placement) -> WorkbenchInstanceGceSetupNetworkInterfaces:
        """The given subnetwork, or a network and subnetwork in the region with Private Google Access."""
        from cdktn_provider_google.compute_firewall import (
            ComputeFirewall,
            ComputeFirewallDeny,
            ComputeFirewallLogConfig,
        )
        from cdktn_provider_google.compute_network import ComputeNetwork
        from cdktn_provider_google.compute_subnetwork import ComputeSubnetwork, ComputeSubnetworkLogConfig
        from cdktn_provider_google.workbench_instance import WorkbenchInstanceGceSetupNetworkInterfaces

        if placement.subnet is not None:
            return WorkbenchInstanceGceSetupNetworkInterfaces(network=placement.network, subnet=placement.subnet)
        inputs = self.inputs
        name = naming.resource_id(inputs.name, "notebooks")
        network = self.add(
            ComputeNetwork,
            "network",
            project=inputs.project,
            name=name,
            description=f"{inputs.name} notebooks ({inputs.environment}); managed by tierstack",
            auto_create_subnetworks=False,
            deletion_policy=self.deletion_policy,
        )
        subnet = self.add(
            ComputeSubnetwork,
            "subnet",
            project=inputs.project,
            region=inputs.region,
            name=name,
            network=network.id,
            ip_cidr_range=placement.subnet_range,
            private_ip_google_access=True,  # Google APIs without a public IP
            log_config=ComputeSubnetworkLogConfig(
                aggregation_interval="INTERVAL_10_MIN", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"
            ),
            deletion_policy=self.deletion_policy,
        )
        # nothing reaches the notebook from outside (its proxy and Google APIs are outbound): the implied
        # deny made explicit and logged, so the network never falls back on permissive defaults
        self.add(
            ComputeFirewall,
            "deny_ingress",
            project=inputs.project,
            name=naming.resource_id(inputs.name, "notebooks-deny-ingress"),
            network=network.id,
            description="deny all ingress to the notebooks network; managed by tierstack",
            direction="INGRESS",
            priority=65534,
            source_ranges=["0.0.0.0/0"],
            deny=[ComputeFirewallDeny(protocol="all")],
            log_config=ComputeFirewallLogConfig(metadata="INCLUDE_ALL_METADATA"),
            deletion_policy=self.deletion_policy,
        )  # none of the three types takes labels
        return WorkbenchInstanceGceSetupNetworkInterfaces(network=network.id, subnet=subnet.id)
