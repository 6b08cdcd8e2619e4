"""data_processing: BigQuery datasets, a Dataflow staging bucket and the Dataflow worker identity."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

from tierstack.generator.config.settings import Purpose, Settings, Unique
from tierstack.generator.core import naming
from tierstack.modules.base import CapabilityModule, Identities, short_role

if TYPE_CHECKING:
    from tierstack.modules.base import Upstream


class DataProcessingSettings(Settings):
    datasets: Annotated[list[Purpose], Unique]
    dataflow: bool


class DataProcessing(CapabilityModule):
    capability = "data_processing"
    title = "Data processing"
    definition = "Batch and streaming data preparation and transformation at scale."
    process = "ML development, continuous training, prediction serving"
    provisions = (
        "BigQuery dataset(s) for prepared training data",
        "Dataflow staging bucket",
        "Dataflow worker service account",
    )
    settings_model = DataProcessingSettings
    settings: DataProcessingSettings
    apis = ("dataflow.googleapis.com",)
    outputs = {
        "dataflow_bucket": "Dataflow staging and temp bucket",
        "dataflow_service_account": "Dataflow worker service account",
        "{purpose}_dataset": "BigQuery dataset: {purpose} data",
    }

    def build(self) -> None:
        from cdktn_provider_google.project_iam_member import ProjectIamMember
        from cdktn_provider_google.service_account import ServiceAccount
        from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember

        inputs = self.inputs
        if self.settings.dataflow:
            # the worker first, so the datasets and the staging bucket below grant it access
            worker = self.add(
                ServiceAccount,
                "dataflow_sa",
                project=inputs.project,
                account_id=naming.account_id(inputs.name, "dataflow", inputs.source),
                display_name=f"{inputs.name} Dataflow worker ({inputs.environment})",
            )
            # the worker is this module's own identity: no other capability uses it, so it is added to
            # this module's view of the identities (for the grants below), not to the stack's shared one
            identities = Identities({**inputs.identities.emails, "dataflow": worker.email})
            self.inputs = inputs = replace(inputs, identities=identities)
            # the worker runs BigQuery jobs and reads through the Storage Read API (BigQueryIO)
            for role in ("roles/dataflow.worker", "roles/bigquery.jobUser", "roles/bigquery.readSessionUser"):
                construct_id = "dataflow_worker" if role == "roles/dataflow.worker" else f"dataflow_{short_role(role)}"
                self.add(
                    ProjectIamMember,
                    construct_id,
                    project=inputs.project,
                    role=role,
                    member=inputs.identities.member("dataflow"),
                )
            if inputs.identities.has("pipelines"):
                # pipelines launch Dataflow jobs that run as the worker: launch rights, and act-as on the worker
                self.add(
                    ProjectIamMember,
                    "pipelines_dataflow_developer",
                    project=inputs.project,
                    role="roles/dataflow.developer",
                    member=inputs.identities.member("pipelines"),
                )
                self.add(
                    ServiceAccountIamMember,
                    "pipelines_actas_dataflow",
                    service_account_id=worker.name,
                    role="roles/iam.serviceAccountUser",
                    member=inputs.identities.member("pipelines"),
                )
            staging = self.bucket("dataflow", noncurrent_days=7, writers=("dataflow", "pipelines"))
            self.expose("dataflow_bucket", staging.name)
            self.expose("dataflow_service_account", worker.email)
        self.datasets: dict[str, Any] = {}  # by purpose, for the modules that build on this one (provide())
        for purpose in self.settings.datasets:
            dataset = self.dataset(
                purpose, f"{purpose} data of {inputs.name}", writers=("pipelines", "dataflow"), readers=("training",)
            )
            self.datasets[purpose] = dataset
            self.expose("{purpose}_dataset", dataset.dataset_id, purpose=purpose)

    def provide(self, upstream: Upstream) -> None:
        upstream.datasets = self.datasets
