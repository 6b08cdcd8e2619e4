"""data_processing: BigQuery datasets, a Dataflow staging bucket and the Dataflow worker identity."""

from __future__ import annotations

from typing import Annotated

from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember

from tierstack.generator import naming
from tierstack.generator.settings import Purpose, Settings, Unique
from tierstack.modules.base import CapabilityModule, short_role


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
    apis = ("dataflow.googleapis.com",)

    def build(self) -> None:
        inputs = self.inputs
        if self.settings["dataflow"]:
            # the worker first, so the datasets and the staging bucket below grant it access
            worker = self.add(
                ServiceAccount,
                "dataflow_sa",
                project=inputs.project,
                account_id=naming.account_id(inputs.name, "dataflow", inputs.source),
                display_name=f"{inputs.name} Dataflow worker ({inputs.environment})",
            )
            inputs.identities.emails["dataflow"] = worker.email
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
            self.expose("dataflow_bucket", staging.name, "Dataflow staging and temp bucket")
            self.expose("dataflow_service_account", worker.email, "Dataflow worker service account")
        self.datasets = {}  # by purpose, for the modules that build on this one (feature_repository)
        for purpose in self.settings["datasets"]:
            dataset = self.dataset(
                purpose, f"{purpose} data of {inputs.name}", writers=("pipelines", "dataflow"), readers=("training",)
            )
            self.datasets[purpose] = dataset
            self.expose(f"{purpose}_dataset", dataset.dataset_id, f"BigQuery dataset: {purpose} data")
