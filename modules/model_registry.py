"""model_registry: registry access for the right identities and the serving-container repository."""

from __future__ import annotations

from typing import Annotated

from tierstack.generator.config.settings import Email, Settings, matching
from tierstack.generator.core import naming
from tierstack.modules.base import CapabilityModule


class ModelRegistrySettings(Settings):
    container_repository: Annotated[
        str,
        matching(
            r"^[a-z][a-z0-9-]{0,40}$",
            "a repository name: lowercase letters, digits and hyphens, starting with a letter",
        ),
    ]
    approvers: Email | None = None
    require_approval: bool = False


class ModelRegistry(CapabilityModule):
    capability = "model_registry"
    title = "Model registry"
    definition = "A versioned, governed record of trained models and their lineage, ready for review and deployment."
    process = "model management, model deployment"
    provisions = (
        "Vertex AI Model Registry access for the right identities",
        "Artifact Registry repository for model serving containers (versions over 90 days old deleted, 20 newest kept)",
    )
    min_tier = 1
    settings_model = ModelRegistrySettings
    settings: ModelRegistrySettings
    apis = ("aiplatform.googleapis.com",)
    key_services = {"google_artifact_registry_repository": "artifactregistry"}
    outputs = {
        "container_repository": "Artifact Registry repository for serving containers",
        "require_approval": "whether promotion to production needs an approval",
    }

    def build(self) -> None:
        from cdktn_provider_google.artifact_registry_repository import ArtifactRegistryRepository
        from cdktn_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
        from cdktn_provider_google.project_iam_member import ProjectIamMember

        from tierstack.modules.ml_pipelines import cleanup_policies

        inputs, settings = self.inputs, self.settings
        repository = self.add(
            ArtifactRegistryRepository,
            "containers",
            project=inputs.project,
            location=inputs.region,
            format="DOCKER",
            repository_id=naming.resource_id(
                inputs.name,
                settings.container_repository,
                source=inputs.source,
                field=f"environments.{inputs.environment}.capabilities.model_registry.container_repository",
            ),
            description=f"{inputs.name} model serving containers",
            kms_key_name=inputs.kms_key,
            **cleanup_policies(),  # a KEEP-only policy deletes nothing: DELETE old versions, KEEP the newest
            labels=self.labels,
            deletion_policy=self.deletion_policy,
        )
        self.expose("container_repository", repository.id)
        for who, role in (
            ("serving", "roles/artifactregistry.reader"),
            ("pipelines", "roles/artifactregistry.writer"),
            ("ci", "roles/artifactregistry.writer"),
        ):
            if inputs.identities.has(who):
                self.add(
                    ArtifactRegistryRepositoryIamMember,
                    f"containers_{who}",
                    project=inputs.project,
                    location=inputs.region,
                    repository=repository.name,
                    role=role,
                    member=inputs.identities.member(who),
                )
        approvers = settings.approvers
        if approvers:
            # governance: approvers may promote model versions; nobody else outside the pipeline identities
            self.add(
                ProjectIamMember,
                "approvers",
                project=inputs.project,
                role="roles/aiplatform.user",
                member=f"group:{approvers}",
            )
        self.expose("require_approval", bool(settings.require_approval))
