"""model_serving: an online endpoint with a deployment pool and request logging, or batch outputs.

Batch serving with a `batch_schedule` (cron) also gets a Cloud Scheduler job that starts a Vertex AI
batch prediction job on that schedule; without one, batch prediction jobs are started by hand or by a
pipeline.

Serving classes: `experimental` (cheap, minimal replicas) and `production`
(at least two replicas, request logging, delete protection); the class is
checked here so a blueprint cannot ask for production with one replica.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from tierstack.generator.config.settings import Cron, MachineType, Network, ReplicaRange, Replicas, Settings, TimeZone
from tierstack.generator.core import naming
from tierstack.generator.core.errors import UserError
from tierstack.generator.plan.gcp_facts import FactError
from tierstack.modules.base import CapabilityModule, Upstream


class RequestLogging(Settings):
    enabled: bool
    sampling_rate: Annotated[float, Field(gt=0, le=1)]


# How an online endpoint is reached (Vertex AI, "Use dedicated private endpoints based on Private Service
# Connect for online inference"; the provider's google_vertex_ai_endpoint.network):
# - none: the public endpoint (IAM-authenticated), as before;
# - psc: Private Service Connect, `private_service_connect_config` with the stack's project allowed; after a
#   model is deployed, a forwarding rule in a network of that project (experimentation's, when the stack has
#   one) reaches its service attachment. Google recommends it for private, low-latency serving, and it needs
#   nothing set up first;
# - vpc: VPC Network Peering with `network` (projects/NUMBER/global/networks/NAME), whose private services
#   access "must already be configured" (the provider); a network the blueprint names, never one made here.
# Unset: vpc when `network` is set (what a blueprint naming one always meant), else none. The provider: "Only
# one of the fields, 'network' or 'privateServiceConnectConfig', can be set."
Private = Literal["none", "psc", "vpc"]


class ModelServingSettings(ReplicaRange):
    mode: Literal["online", "batch"]
    network: Network | None = None
    private: Private | None = None
    machine_type: MachineType
    min_replicas: Replicas
    max_replicas: Replicas
    request_logging: RequestLogging
    batch_schedule: Cron | None = None
    time_zone: TimeZone = "Etc/UTC"
    batch_model: str | None = None
    batch_input: str | None = None

    @field_validator("private")
    @classmethod
    def _private(cls, private: Private | None, info: ValidationInfo) -> Private | None:
        """Checked at `private` (network comes first), so the error names the line that set it."""
        network = info.data.get("network")
        if private == "psc" and network:
            raise ValueError(
                "private: psc and network exclude each other (the provider sets one of network or "
                "private_service_connect_config): remove network, or use private: vpc"
            )
        if private == "vpc" and not network:
            raise ValueError(
                "private: vpc needs network: the VPC-peered network, projects/NUMBER/global/networks/NAME, "
                "with private services access configured; or use private: psc, which needs none"
            )
        if private == "none" and network:
            raise ValueError("private: none and a network: remove network, or use private: vpc")
        return private

    @property
    def access(self) -> Private:
        """How the endpoint is reached: the setting, or vpc when only network is given."""
        return self.private or ("vpc" if self.network else "none")


# a Vertex AI model id (custom ids: [a-z0-9_-], up to 63; or the numeric id), with a version id or alias
_MODEL = r"[A-Za-z0-9_-]{1,63}(@[A-Za-z0-9_-]{1,128})?"
SHORT_MODEL_RE = re.compile(rf"^{_MODEL}$")
FULL_MODEL_RE = re.compile(rf"^projects/[a-z0-9-]+/locations/(?P<location>[a-z0-9-]+)/models/{_MODEL}$")
BQ_TABLE_RE = re.compile(r"^bq://[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_$-]{1,1024}$")


# --- the batch schedule's rules: one function each, called by validate (gcp_facts), init and build ---------


def batch_model_name(model: object, project: str, region: str) -> str:
    """The model's resource name, from a full name in the stack's region or a short NAME[@VERSION].

    A batch prediction job runs in its model's region, so a model elsewhere is refused here, not by
    Vertex AI at 02:00. A FactError on `batch_model` says what is wrong.
    """
    if not model:
        raise FactError(
            "a batch_schedule needs the model to score with",
            "batch_model",
            f"set batch_model to a model registered in {region}: NAME@ALIAS (in the stack's project), or "
            f"projects/PROJECT/locations/{region}/models/NAME@ALIAS; or remove batch_schedule",
        )
    name = str(model)
    if SHORT_MODEL_RE.fullmatch(name):
        return f"projects/{project}/locations/{region}/models/{name}"
    full = FULL_MODEL_RE.fullmatch(name)
    if not full:
        raise FactError(
            f"'{name}' is not a Vertex AI model",
            "batch_model",
            "NAME@ALIAS (a model registered in the stack's project and region), or "
            "projects/PROJECT/locations/REGION/models/NAME[@VERSION_OR_ALIAS]",
        )
    if full.group("location") != region:
        raise FactError(
            f"the model is in {full.group('location')}, but a batch prediction job must run in the "
            f"model's region and this environment is in {region}",
            "batch_model",
            f"use a model registered in {region}",
        )
    return name


def batch_input_table(source: object, project: str, name: str, prepared: bool) -> str:
    """The BigQuery table to score: given, or (`prepared`: data_processing makes one) the prepared dataset's
    batch_input table. A FactError on `batch_input` says what is wrong."""
    if source:
        if not BQ_TABLE_RE.fullmatch(str(source)):
            raise FactError(f"'{source}' is not a BigQuery table URI", "batch_input", "bq://PROJECT.DATASET.TABLE")
        return str(source)
    if not prepared:
        raise FactError(
            "a batch_schedule needs the table to score, and this stack has no prepared dataset "
            "(data_processing is not selected)",
            "batch_input",
            "set batch_input to bq://PROJECT.DATASET.TABLE, or add data_processing to capabilities.add",
        )
    return f"bq://{project}.{naming.dataset_id(name, 'prepared')}.batch_input"


def batch_problems(
    settings: Mapping[str, Any], project: str, region: str, name: str, prepared: bool
) -> list[FactError]:
    """Every broken rule of a batch schedule, before synthesis: what build() would refuse, found by validate."""
    if settings.get("mode") != "batch" or not settings.get("batch_schedule"):
        return []
    found: list[FactError] = []
    try:
        batch_model_name(settings.get("batch_model"), project, region)
    except FactError as err:
        found.append(err)
    try:
        batch_input_table(settings.get("batch_input"), project, name, prepared)
    except FactError as err:
        found.append(err)
    return found


class ModelServing(CapabilityModule):
    capability = "model_serving"
    title = "Model serving"
    definition = "Serving models in production for online (endpoint) or batch prediction."
    process = "prediction serving"
    provisions = (
        "online: Vertex AI endpoint, deployment resource pool, request/response logging to BigQuery",
        (
            "online: private serving on request (private): through Private Service Connect (psc), or "
            "VPC-peered with a network the blueprint names (vpc)"
        ),
        "batch: output bucket and dataset, batch prediction identity",
        (
            "batch: with batch_schedule (cron), a Cloud Scheduler job that starts a Vertex AI batch prediction job "
            "(batchPredictionJobs.create) on batch_model, reading BigQuery (batch_input, by default the prepared "
            "dataset's batch_input table) and writing to the output dataset"
        ),
    )
    settings_model = ModelServingSettings
    settings: ModelServingSettings
    apis = ("aiplatform.googleapis.com",)  # batch prediction jobs are created at run time, not by Terraform
    identities = ("serving",)
    key_services = {"google_vertex_ai_endpoint": "aiplatform"}
    after = ("data_processing",)  # the batch schedule reads the prepared dataset (upstream.datasets)
    outputs = {
        "predictions_bucket": "batch prediction output bucket",
        "predictions_dataset": "batch prediction output dataset",
        "endpoint": "Vertex AI endpoint id",
        "deployment_pool": "deployment resource pool id",
        "endpoint_access": "how the private endpoint is reached: psc (a forwarding rule) or vpc (peering)",
    }

    def build(self) -> None:
        self.endpoint: Any = None  # online only: model monitoring scopes its alerts to it
        if self.settings.mode == "batch":
            self._batch()
        else:
            self._online()

    def provide(self, upstream: Upstream) -> None:
        upstream.endpoint = self.endpoint

    def _batch(self) -> None:
        bucket = self.bucket("predictions", writers=("serving", "pipelines"), readers=("ci",))
        dataset = self.dataset("predictions", "batch prediction outputs", writers=("serving", "pipelines"))
        self.expose("predictions_bucket", bucket.name)
        self.expose("predictions_dataset", dataset.dataset_id)
        cron = self.settings.batch_schedule
        if cron:
            self._batch_schedule(str(cron), naming.dataset_id(self.inputs.name, "predictions"))

    def _batch_schedule(self, cron: str, output_dataset: str) -> None:
        """A Cloud Scheduler job that starts a Vertex AI batch prediction job (batchPredictionJobs.create).

        Body: the BatchPredictionJob resource (google/cloud/aiplatform/v1/batch_prediction_job.proto):
        BigQuery in and out (`bq://PROJECT.DATASET.TABLE` in; `bq://PROJECT.DATASET` out, where Vertex AI
        writes a predictions_<time> and an errors_<time> table), dedicated resources (custom-trained models
        support no automatic resources), and `serviceAccount`, the serving identity the model's container
        runs as. The call is made as that same identity: it is granted Vertex AI User (to create the job)
        and Service Account User on itself ("users deploying the Model must have iam.serviceAccounts.actAs
        on this service account").
        """
        from cdktn_provider_google.cloud_scheduler_job import CloudSchedulerJob
        from cdktn_provider_google.project_iam_member import ProjectIamMember
        from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember

        from tierstack.modules.ml_pipelines import http_job_arguments, vertex_endpoint

        inputs, settings = self.inputs, self.settings
        field = f"environments.{inputs.environment}.capabilities.model_serving"
        model = self._batch_model(settings.batch_model, f"{field}.batch_model")
        source = self._batch_input(settings.batch_input, f"{field}.batch_input")
        job: dict[str, Any] = {
            "displayName": f"{inputs.name}-{inputs.environment}-batch-prediction",
            "model": model,
            "inputConfig": {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": source}},
            "outputConfig": {
                "predictionsFormat": "bigquery",
                "bigqueryDestination": {"outputUri": f"bq://{inputs.project}.{output_dataset}"},
            },
            "dedicatedResources": {
                "machineSpec": {"machineType": settings.machine_type},
                "startingReplicaCount": 1,
                "maxReplicaCount": max(1, int(settings.max_replicas)),
            },
            "serviceAccount": inputs.identities.emails["serving"],
            "labels": self.labels,
        }
        if inputs.kms_key:
            job["encryptionSpec"] = {"kmsKeyName": inputs.kms_key}
        self.add(
            ProjectIamMember,
            "serving_aiplatform_user",
            project=inputs.project,
            role="roles/aiplatform.user",
            member=inputs.identities.member("serving"),
        )
        self.add(
            ServiceAccountIamMember,
            "serving_actas_itself",
            service_account_id=f"projects/{inputs.project}/serviceAccounts/{inputs.identities.emails['serving']}",
            role="roles/iam.serviceAccountUser",
            member=inputs.identities.member("serving"),
        )
        self.add(
            CloudSchedulerJob,
            "batch_prediction",
            name=f"{inputs.name}-{inputs.environment}-batch-prediction",
            **http_job_arguments(
                self,
                cron=cron,
                cron_field="batch_schedule",
                time_zone=str(settings.time_zone or "Etc/UTC"),
                uri=vertex_endpoint(inputs.project, inputs.region, "batchPredictionJobs"),
                identity="serving",
                body=job,
                description=f"scheduled batch prediction of {inputs.name} with {model}",
            ),
        )

    def _batch_model(self, model: Any, field: str) -> str:
        """batch_model_name, as an error at the setting (the last line: validate checks it first)."""
        try:
            return batch_model_name(model, self.inputs.project, self.inputs.region)
        except FactError as err:
            raise UserError(err.message, file=self.inputs.source, field=field, hint=err.hint) from None

    def _batch_input(self, source: Any, field: str) -> str:
        """batch_input_table, as an error at the setting (the last line: validate checks it first)."""
        inputs = self.inputs
        try:
            return batch_input_table(
                source, inputs.project, inputs.name, "prepared" in (inputs.upstream.datasets or {})
            )
        except FactError as err:
            raise UserError(err.message, file=inputs.source, field=field, hint=err.hint) from None

    def _online(self) -> None:
        from cdktn_provider_google.vertex_ai_deployment_resource_pool import (
            VertexAiDeploymentResourcePool,
            VertexAiDeploymentResourcePoolDedicatedResources,
            VertexAiDeploymentResourcePoolDedicatedResourcesAutoscalingMetricSpecs,
            VertexAiDeploymentResourcePoolDedicatedResourcesMachineSpec,
        )
        from cdktn_provider_google.vertex_ai_endpoint import (
            VertexAiEndpoint,
            VertexAiEndpointEncryptionSpec,
            VertexAiEndpointPredictRequestResponseLoggingConfig,
            VertexAiEndpointPredictRequestResponseLoggingConfigBigqueryDestination,
        )

        inputs, settings = self.inputs, self.settings
        lo, hi = int(settings.min_replicas), int(settings.max_replicas)
        field = f"environments.{inputs.environment}.capabilities.model_serving"
        if inputs.serving_class == "production" and lo < 2:
            raise UserError(
                f"the production serving class needs at least 2 replicas, not {lo}",
                file=inputs.source,
                field=f"{field}.min_replicas",
                hint="raise min_replicas, or use serving_class: experimental",
            )
        if not 1 <= lo <= hi:
            raise UserError(
                f"replicas must satisfy 1 <= min ({lo}) <= max ({hi})",
                file=inputs.source,
                field=f"{field}.max_replicas",
            )
        logging = settings.request_logging
        log_config = None
        if (logging is not None and logging.enabled) or inputs.serving_class == "production":
            logs = self.dataset(
                "serving_logs", "online prediction request/response log", writers=("serving",), readers=("pipelines",)
            )
            log_config = VertexAiEndpointPredictRequestResponseLoggingConfig(
                enabled=True,
                sampling_rate=logging.sampling_rate if logging is not None else 0.1,
                bigquery_destination=VertexAiEndpointPredictRequestResponseLoggingConfigBigqueryDestination(
                    output_uri=f"bq://{inputs.project}.{logs.dataset_id}.request_response_logging"
                ),
            )
        endpoint = self.add(
            VertexAiEndpoint,
            "endpoint",
            project=inputs.project,
            location=inputs.region,
            region=inputs.region,
            name=naming.resource_id(inputs.name, "endpoint"),
            display_name=f"{inputs.name}-{inputs.environment}",
            description=f"{inputs.name} online predictions ({inputs.serving_class} serving class)",
            predict_request_response_logging_config=log_config,
            # private serving (ModelServingSettings.private): VPC-peered with the blueprint's network, or PSC
            network=settings.network if settings.access == "vpc" else None,
            private_service_connect_config=self._psc() if settings.access == "psc" else None,
            encryption_spec=VertexAiEndpointEncryptionSpec(kms_key_name=inputs.kms_key) if inputs.kms_key else None,
            labels={**self.labels, "serving-class": inputs.serving_class},
            deletion_policy=self.deletion_policy,
        )
        pool = self.add(
            VertexAiDeploymentResourcePool,
            "deployment_pool",
            project=inputs.project,
            region=inputs.region,
            name=naming.resource_id(inputs.name, "serving-pool"),
            dedicated_resources=VertexAiDeploymentResourcePoolDedicatedResources(
                machine_spec=VertexAiDeploymentResourcePoolDedicatedResourcesMachineSpec(
                    machine_type=settings.machine_type
                ),
                min_replica_count=lo,
                max_replica_count=hi,
                autoscaling_metric_specs=[
                    VertexAiDeploymentResourcePoolDedicatedResourcesAutoscalingMetricSpecs(
                        metric_name="aiplatform.googleapis.com/prediction/online/cpu/utilization", target=60
                    )
                ],
            ),
            deletion_policy=self.deletion_policy,
        )
        self.endpoint = endpoint
        self.expose("endpoint", endpoint.id)
        if settings.access != "none":
            self.expose("endpoint_access", settings.access)
        self.expose("deployment_pool", pool.id)

    def _psc(self) -> Any:
        """Private Service Connect for the endpoint: forwarding rules of the stack's own project may reach it.

        The forwarding rule itself is made after a model is deployed (the service attachment exists only
        then), in the network the caller uses: experimentation's, when the stack has one.
        """
        from cdktn_provider_google.vertex_ai_endpoint import VertexAiEndpointPrivateServiceConnectConfig

        return VertexAiEndpointPrivateServiceConnectConfig(
            enable_private_service_connect=True, project_allowlist=[self.inputs.project]
        )
