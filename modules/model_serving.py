"""model_serving: an online endpoint with a deployment pool and request logging, or batch outputs.

Serving classes: `experimental` (cheap, minimal replicas) and `production`
(at least two replicas, request logging, delete protection); the class is
checked here so a blueprint cannot ask for production with one replica.
"""

from __future__ import annotations

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

from tierstack.generator import naming
from tierstack.generator.errors import UserError
from tierstack.modules.base import CapabilityModule


class ModelServing(CapabilityModule):
    capability = "model_serving"

    def build(self) -> None:
        if self.settings.get("mode", "online") == "batch":
            self._batch()
        else:
            self._online()

    def _batch(self) -> None:
        bucket = self.bucket("predictions", writers=("serving", "pipelines"), readers=("ci",))
        dataset = self.dataset("predictions", "batch prediction outputs", writers=("serving", "pipelines"))
        self.expose("predictions_bucket", bucket.name, "batch prediction output bucket")
        self.expose("predictions_dataset", dataset.dataset_id, "batch prediction output dataset")

    def _online(self) -> None:
        inputs, settings = self.inputs, self.settings
        lo, hi = int(settings.get("min_replicas", 1)), int(settings.get("max_replicas", 1))
        field = f"environments.{inputs.environment}.capabilities.model_serving"
        if inputs.serving_class == "production" and lo < 2:
            raise UserError(f"the production serving class needs at least 2 replicas, not {lo}",
                            file=inputs.source, field=f"{field}.min_replicas",
                            hint="raise min_replicas, or use serving_class: experimental")
        if not 1 <= lo <= hi:
            raise UserError(f"replicas must satisfy 1 <= min ({lo}) <= max ({hi})", file=inputs.source,
                            field=f"{field}.max_replicas")
        logging = settings.get("request_logging") or {}
        log_config = None
        if logging.get("enabled") or inputs.serving_class == "production":
            logs = self.dataset("serving_logs", "online prediction request/response log", writers=("serving",),
                                readers=("pipelines",))
            log_config = VertexAiEndpointPredictRequestResponseLoggingConfig(
                enabled=True,
                sampling_rate=float(logging.get("sampling_rate", 0.1)),
                bigquery_destination=VertexAiEndpointPredictRequestResponseLoggingConfigBigqueryDestination(
                    output_uri=f"bq://{inputs.project}.{logs.dataset_id}.request_response_logging"),
            )
        endpoint = self.add(
            VertexAiEndpoint, "endpoint",
            project=inputs.project,
            location=inputs.region,
            region=inputs.region,
            name=naming.resource_id(inputs.name, "endpoint"),
            display_name=f"{inputs.name}-{inputs.environment}",
            description=f"{inputs.name} online predictions ({inputs.serving_class} serving class)",
            predict_request_response_logging_config=log_config,
            # a VPC-peered private endpoint when the blueprint names the network (projects/N/global/networks/X)
            network=settings.get("network"),
            encryption_spec=VertexAiEndpointEncryptionSpec(kms_key_name=inputs.kms_key) if inputs.kms_key else None,
            labels={**self.labels, "serving-class": inputs.serving_class},
            deletion_policy=self.deletion_policy,
        )
        pool = self.add(
            VertexAiDeploymentResourcePool, "deployment_pool",
            project=inputs.project,
            region=inputs.region,
            name=naming.resource_id(inputs.name, "serving-pool"),
            dedicated_resources=VertexAiDeploymentResourcePoolDedicatedResources(
                machine_spec=VertexAiDeploymentResourcePoolDedicatedResourcesMachineSpec(
                    machine_type=settings.get("machine_type", "n1-standard-4")),
                min_replica_count=lo,
                max_replica_count=hi,
                autoscaling_metric_specs=[VertexAiDeploymentResourcePoolDedicatedResourcesAutoscalingMetricSpecs(
                    metric_name="aiplatform.googleapis.com/prediction/online/cpu/utilization", target=60)],
            ),
            deletion_policy=self.deletion_policy,
        )
        self.endpoint = endpoint
        self.expose("endpoint", endpoint.id, "Vertex AI endpoint id")
        self.expose("deployment_pool", pool.id, "deployment resource pool id")
