"""ml_pipelines: pipeline root bucket, Artifact Registry (KFP and Docker), runner identity, schedule.

Continuous training runs on a Cloud Scheduler job that publishes to a Pub/Sub
topic; the pipeline trigger (a Cloud Function or CI) subscribes to it.
"""

from __future__ import annotations

import base64
import json

from cdktn_provider_google.artifact_registry_repository import (
    ArtifactRegistryRepository,
    ArtifactRegistryRepositoryCleanupPolicies,
    ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions,
)
from cdktn_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
from cdktn_provider_google.cloud_scheduler_job import CloudSchedulerJob, CloudSchedulerJobPubsubTarget
from cdktn_provider_google.pubsub_topic import PubsubTopic

from tierstack.generator import naming
from tierstack.modules.base import CapabilityModule

FORMATS = {"kfp": "KFP", "docker": "DOCKER"}


class MlPipelines(CapabilityModule):
    capability = "ml_pipelines"
    apis = ("aiplatform.googleapis.com", "cloudscheduler.googleapis.com")

    def build(self) -> None:
        inputs, settings = self.inputs, self.settings
        root = self.bucket("pipeline_root", writers=("pipelines", "training"), readers=("ci",))
        self.expose("pipeline_root", root.url, "pipeline root (gs://...) for Vertex AI Pipelines")
        for repo in settings.get("repositories", ["kfp", "docker"]):
            repository = self.add(
                ArtifactRegistryRepository, f"{repo}_repository",
                project=inputs.project, location=inputs.region, format=FORMATS[repo],
                repository_id=naming.resource_id(inputs.name, f"{repo}"),
                description=f"{inputs.name} {FORMATS[repo]} artifacts",
                kms_key_name=inputs.kms_key,
                cleanup_policies=[ArtifactRegistryRepositoryCleanupPolicies(
                    id="keep-recent", action="KEEP",
                    most_recent_versions=ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions(keep_count=20))],
                labels=self.labels,
                deletion_policy=self.deletion_policy,
            )
            if inputs.identities.has("ci"):
                self.add(ArtifactRegistryRepositoryIamMember, f"{repo}_repository_ci_writer", project=inputs.project,
                         location=inputs.region, repository=repository.name, role="roles/artifactregistry.writer",
                         member=inputs.identities.member("ci"))
            self.expose(f"{repo}_repository", repository.id, f"Artifact Registry {FORMATS[repo]} repository")
        if settings.get("schedule"):
            self._schedule(settings["schedule"], settings.get("time_zone", "Etc/UTC"))

    def _schedule(self, cron: str, time_zone: str) -> None:
        inputs = self.inputs
        topic = self.add(PubsubTopic, "trigger_topic", project=inputs.project,
                         name=f"{inputs.name}-{inputs.environment}-pipeline-trigger", labels=self.labels,
                         kms_key_name=inputs.kms_key)
        message = json.dumps({"use_case": inputs.name, "environment": inputs.environment, "pipeline": "training"},
                             sort_keys=True)
        self.add(CloudSchedulerJob, "schedule", project=inputs.project, region=inputs.region,
                 name=f"{inputs.name}-{inputs.environment}-continuous-training", schedule=cron, time_zone=time_zone,
                 description=f"continuous training of {inputs.name}",
                 pubsub_target=CloudSchedulerJobPubsubTarget(
                     topic_name=topic.id, data=base64.b64encode(message.encode()).decode()))
        self.expose("trigger_topic", topic.id, "Pub/Sub topic the training schedule publishes to")
