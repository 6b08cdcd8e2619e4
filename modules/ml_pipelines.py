"""ml_pipelines: pipeline root bucket, Artifact Registry (KFP and Docker), runner identity, retraining triggers.

Google provider 8.7 has no Vertex AI schedule resource, so a run is started the way the Vertex AI
REST API documents it: `POST https://{region}-aiplatform.googleapis.com/v1/{parent}/pipelineJobs`
with a PipelineJob body (google/cloud/aiplatform/v1/pipeline_job.proto: templateUri,
runtimeConfig.gcsOutputDirectory, serviceAccount, labels, encryptionSpec). The body names the
compiled template in the stack's KFP repository (`https://{region}-kfp.pkg.dev/{project}/{repo}/
{template}/{tag}`), so CI publishes the template and the triggers run whatever it last published.

- Continuous training (`schedule` set): a Cloud Scheduler job with an HTTP target and the pipelines
  identity's OAuth token makes that call. The Cloud Scheduler service agent mints the token through
  its own role (roles/cloudscheduler.serviceAgent holds iam.serviceAccounts.getAccessToken); nothing
  is granted to it here.
- Retraining on degradation (`retrain_on_degradation`): a Pub/Sub topic for model monitoring's alerts
  to publish to (a Cloud Monitoring notification channel of type `pubsub`), an Eventarc trigger that
  hands each message to a workflow, and the workflow, which makes the same call when the message is
  an incident that opened. Pub/Sub push cannot send a body of our choosing, hence the workflow.

Both call pipelineJobs.create as the pipelines identity with `serviceAccount` = that identity, and
"users starting the pipeline must have iam.serviceAccounts.actAs on this service account" (the
PipelineJob reference): the identity is granted roles/iam.serviceAccountUser on itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from tierstack.generator import naming
from tierstack.generator.errors import UserError
from tierstack.generator.settings import Cron, Settings, TimeZone, Unique, matching
from tierstack.modules.base import CapabilityModule, Upstream

if TYPE_CHECKING:
    from cdktn_provider_google.pubsub_topic import PubsubTopic


class MlPipelinesSettings(Settings):
    schedule: Cron | None = None
    time_zone: TimeZone
    repositories: Annotated[list[Literal["kfp", "docker"]], Unique]
    # the compiled template in the KFP repository: https://REGION-kfp.pkg.dev/PROJECT/REPO/TEMPLATE/TAG
    pipeline_template: Annotated[
        str,
        matching(
            r"^[a-z0-9][a-z0-9._-]{0,127}$",
            "a KFP template name in Artifact Registry: lowercase letters, digits, '.', '_', '-'",
        ),
    ]
    template_tag: Annotated[
        str,
        matching(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$", "an Artifact Registry tag: letters, digits, '.', '_', '-'"),
    ]
    retrain_on_degradation: bool = False


REPOSITORY_FORMATS = {"kfp": "KFP", "docker": "DOCKER"}
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
PUBSUB_MESSAGE = "google.cloud.pubsub.topic.v1.messagePublished"


def vertex_endpoint(project: str, region: str, collection: str) -> str:
    """The regional Vertex AI REST endpoint of a collection (pipelineJobs, batchPredictionJobs)."""
    return f"https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}/{collection}"


def hcl_json(value: Any) -> str:
    """`jsonencode(value)` in Terraform, so references (service accounts, buckets, keys) stay references.

    Literal strings go through Fn.raw_string: cdktn writes them into an HCL expression, where a quote
    or `${` would otherwise end the string or start an interpolation.
    """
    from cdktn import Fn, Token

    def literal(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: literal(v) for key, v in item.items()}
        if isinstance(item, list):
            return [literal(v) for v in item]
        if isinstance(item, str) and not Token.is_unresolved(item):
            return Fn.raw_string(item)
        return item

    return Fn.jsonencode(literal(value))


# Artifact Registry retention. "A keep policy only exempts matching artifacts from deletion" and "when an
# artifact matches the criteria for both a delete policy and a keep policy, the artifact is kept" (Google,
# Artifact Registry, "Cleanup policy overview", read 2026-12-07): a KEEP-only policy deletes nothing. So every
# repository deletes versions older than DELETE_OLDER_THAN and keeps the KEEP_RECENT newest whatever their age.
KEEP_RECENT = 20
DELETE_OLDER_THAN = "7776000s"  # 90 days, the provider's duration format (seconds with an `s`)


def cleanup_policies() -> dict[str, Any]:
    """The cleanup arguments of every Artifact Registry repository: DELETE old versions, KEEP the newest."""
    from cdktn_provider_google.artifact_registry_repository import (
        ArtifactRegistryRepositoryCleanupPolicies,
        ArtifactRegistryRepositoryCleanupPoliciesCondition,
        ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions,
    )

    return {
        "cleanup_policy_dry_run": False,  # the policies act; a dry run only logs what they would delete
        "cleanup_policies": [
            ArtifactRegistryRepositoryCleanupPolicies(
                id="delete-old",
                action="DELETE",
                condition=ArtifactRegistryRepositoryCleanupPoliciesCondition(
                    tag_state="ANY", older_than=DELETE_OLDER_THAN
                ),
            ),
            ArtifactRegistryRepositoryCleanupPolicies(
                id="keep-recent",
                action="KEEP",
                most_recent_versions=ArtifactRegistryRepositoryCleanupPoliciesMostRecentVersions(
                    keep_count=KEEP_RECENT
                ),
            ),
        ],
    }


def http_job_arguments(
    module: CapabilityModule,
    *,
    cron: str,
    cron_field: str,
    time_zone: str,
    uri: str,
    identity: str,
    body: dict[str, Any],
    description: str,
) -> dict[str, Any]:
    """The arguments of a Cloud Scheduler job that POSTs `body` to a Google API as `identity`.

    Retried on failure (a 5xx, a quota error, a deadline): at most 3 more attempts, 1 to 10 minutes
    apart. Creating a Vertex AI job returns at once, so one attempt gets 3 minutes.
    """
    from cdktn import Fn
    from cdktn_provider_google.cloud_scheduler_job import (
        CloudSchedulerJobHttpTarget,
        CloudSchedulerJobHttpTargetOauthToken,
        CloudSchedulerJobRetryConfig,
    )

    inputs = module.inputs
    return {
        "project": inputs.project,
        "region": inputs.region,
        "schedule": cron,
        "time_zone": time_zone,
        "description": description,
        "attempt_deadline": "180s",
        "retry_config": CloudSchedulerJobRetryConfig(
            retry_count=3, min_backoff_duration="60s", max_backoff_duration="600s", max_doublings=2
        ),
        "http_target": CloudSchedulerJobHttpTarget(
            uri=uri,
            http_method="POST",
            headers={"Content-Type": "application/json"},
            body=Fn.base64encode(hcl_json(body)),
            oauth_token=CloudSchedulerJobHttpTargetOauthToken(
                service_account_email=inputs.identities.emails[identity], scope=CLOUD_PLATFORM
            ),
        ),
    }


class MlPipelines(CapabilityModule):
    capability = "ml_pipelines"
    title = "ML pipelines"
    definition = "Orchestrated, repeatable training and deployment workflows, run on a schedule or on a trigger."
    process = "training operationalization, continuous training"
    provisions = (
        "pipeline root bucket",
        (
            "Artifact Registry repositories for KFP templates and Docker images, deleting versions older than 90 "
            "days and keeping the 20 newest"
        ),
        "pipeline runner service account",
        (
            "continuous training: where the environment has a schedule (staging and production; development runs by"
            " hand), a Cloud Scheduler job that starts a Vertex AI pipeline run (pipelineJobs.create) from the "
            "compiled template in the KFP repository, as the pipelines identity"
        ),
        (
            "retraining on degradation (staging and production): a Pub/Sub topic (output "
            "ml_pipelines_retraining_topic) whose messages start the same pipeline run through Eventarc and "
            "Workflows; model monitoring's retraining channel publishes to it"
        ),
    )
    min_tier = 1
    settings_model = MlPipelinesSettings
    apis: tuple[str, ...] = ("aiplatform.googleapis.com", "cloudscheduler.googleapis.com")
    identities = ("pipelines",)
    key_services = {"google_artifact_registry_repository": "artifactregistry", "google_pubsub_topic": "pubsub"}
    outputs = {
        "pipeline_root": "pipeline root (gs://...) for Vertex AI Pipelines",
        "{repo}_repository": "Artifact Registry {format} repository",
        "retraining_topic": (
            "Pub/Sub topic whose messages start a retraining run: point model monitoring's "
            "degradation alerts at it (a notification channel of type pubsub)"
        ),
    }

    def provide(self, upstream: Upstream) -> None:
        upstream.retraining_topic = self.retraining_topic  # model monitoring's retraining channel publishes to it

    def build(self) -> None:
        from cdktn_provider_google.artifact_registry_repository import ArtifactRegistryRepository
        from cdktn_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
        from cdktn_provider_google.cloud_scheduler_job import CloudSchedulerJob
        from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember

        inputs, settings = self.inputs, self.settings
        field = f"environments.{inputs.environment}.capabilities.ml_pipelines"
        self.retraining_topic: PubsubTopic | None = None  # for model monitoring's pubsub notification channel
        root = self.bucket("pipeline_root", writers=("pipelines", "training"), readers=("ci",))
        self.expose("pipeline_root", root.url)
        repositories = settings["repositories"]
        for repo in repositories:
            repository = self.add(
                ArtifactRegistryRepository,
                f"{repo}_repository",
                project=inputs.project,
                location=inputs.region,
                format=REPOSITORY_FORMATS[repo],
                repository_id=naming.resource_id(inputs.name, f"{repo}"),
                description=f"{inputs.name} {REPOSITORY_FORMATS[repo]} artifacts",
                kms_key_name=inputs.kms_key,
                **cleanup_policies(),
                labels=self.labels,
                deletion_policy=self.deletion_policy,
            )
            if inputs.identities.has("ci"):
                self.add(
                    ArtifactRegistryRepositoryIamMember,
                    f"{repo}_repository_ci_writer",
                    project=inputs.project,
                    location=inputs.region,
                    repository=repository.name,
                    role="roles/artifactregistry.writer",
                    member=inputs.identities.member("ci"),
                )
            self.expose("{repo}_repository", repository.id, repo=repo, format=REPOSITORY_FORMATS[repo])

        cron = settings.get("schedule")
        time_zone = settings.get("time_zone") or "Etc/UTC"
        on_degradation = bool(settings.get("retrain_on_degradation"))
        template, tag = settings["pipeline_template"], settings["template_tag"]
        if not (cron or on_degradation):
            return
        if "kfp" not in repositories:
            raise UserError(
                "a retraining trigger runs the pipeline template from the KFP repository, "
                "but ml_pipelines.repositories has no kfp",
                file=inputs.source,
                field=f"{field}.repositories",
                hint="add kfp to ml_pipelines.repositories",
            )
        job = self._pipeline_job(root.url, str(template), str(tag))
        # pipelineJobs.create with serviceAccount = the pipelines identity, called as that identity
        self.add(
            ServiceAccountIamMember,
            "pipelines_actas_itself",
            service_account_id=f"projects/{inputs.project}/serviceAccounts/{inputs.identities.emails['pipelines']}",
            role="roles/iam.serviceAccountUser",
            member=inputs.identities.member("pipelines"),
        )
        if cron:
            self.add(
                CloudSchedulerJob,
                "schedule",
                name=f"{inputs.name}-{inputs.environment}-continuous-training",
                **http_job_arguments(
                    self,
                    cron=str(cron),
                    cron_field="schedule",
                    time_zone=str(time_zone),
                    identity="pipelines",
                    body=job,
                    uri=vertex_endpoint(inputs.project, inputs.region, "pipelineJobs"),
                    description=f"continuous training of {inputs.name}: runs the {template}:{tag} "
                    "pipeline template on Vertex AI Pipelines",
                ),
            )
        if on_degradation:
            self._degradation_trigger(job)

    def _pipeline_job(self, pipeline_root: str, template: str, tag: str) -> dict[str, Any]:
        """The PipelineJob resource that pipelineJobs.create takes as its request body."""
        inputs = self.inputs
        repository = naming.resource_id(inputs.name, "kfp")
        job: dict[str, Any] = {
            "displayName": f"{inputs.name}-{inputs.environment}-{template}",
            "templateUri": f"https://{inputs.region}-kfp.pkg.dev/{inputs.project}/{repository}/{template}/{tag}",
            "runtimeConfig": {"gcsOutputDirectory": pipeline_root},
            "serviceAccount": inputs.identities.emails["pipelines"],
            "labels": self.labels,
        }
        if inputs.kms_key:
            job["encryptionSpec"] = {"kmsKeyName": inputs.kms_key}
        return job

    def _degradation_trigger(self, job: dict[str, Any]) -> None:
        """Topic -> Eventarc -> workflow -> pipelineJobs.create, for alerts that mean the model degraded."""
        from cdktn_provider_google.eventarc_trigger import (
            EventarcTrigger,
            EventarcTriggerDestination,
            EventarcTriggerMatchingCriteria,
            EventarcTriggerTransport,
            EventarcTriggerTransportPubsub,
        )
        from cdktn_provider_google.project_iam_member import ProjectIamMember
        from cdktn_provider_google.pubsub_topic import PubsubTopic
        from cdktn_provider_google.workflows_workflow import WorkflowsWorkflow

        inputs = self.inputs
        self.apis = (*type(self).apis, "eventarc.googleapis.com", "workflows.googleapis.com")
        topic = self.add(
            PubsubTopic,
            "retraining_topic",
            project=inputs.project,
            name=f"{inputs.name}-{inputs.environment}-retraining",
            labels=self.labels,
            kms_key_name=inputs.kms_key,
        )
        # A Cloud Monitoring notification sends one message when an incident opens and one when it
        # closes (payload: {"incident": {"state": "open" | "closed", ...}}); only an opening retrains.
        source = {
            "main": {
                "params": ["event"],
                "steps": [
                    {
                        "read_message": {
                            "assign": [{"message": "${json.decode(base64.decode(event.data.message.data))}"}]
                        }
                    },
                    {
                        "only_when_an_incident_opens": {
                            "switch": [
                                {
                                    "condition": '${map.get(message, "incident") == null}',
                                    "return": "not an incident: ignored",
                                },
                                {
                                    "condition": '${map.get(message.incident, "state") != "open"}',
                                    "return": "the incident did not open: no retraining",
                                },
                            ]
                        }
                    },
                    # a POST is retried only where the API did not process it (429, 503): never two runs for one alert
                    {
                        "start_pipeline_run": {
                            "try": {
                                "call": "http.post",
                                "args": {
                                    "url": vertex_endpoint(inputs.project, inputs.region, "pipelineJobs"),
                                    "auth": {"type": "OAuth2", "scopes": [CLOUD_PLATFORM]},
                                    "body": job,
                                },
                                "result": "created",
                            },
                            "retry": "${http.default_retry_non_idempotent}",
                        }
                    },
                    {"done": {"return": "${created.body.name}"}},
                ],
            }
        }
        workflow = self.add(
            WorkflowsWorkflow,
            "retraining",
            project=inputs.project,
            region=inputs.region,
            name=f"{inputs.name}-{inputs.environment}-retraining",
            description=f"starts a {inputs.name} training pipeline run when model monitoring reports a degradation",
            service_account=inputs.identities.emails["pipelines"],
            source_contents=hcl_json(source),
            call_log_level="LOG_ERRORS_ONLY",
            deletion_protection=False,
            labels=self.labels,
        )
        # the trigger's identity starts executions: Workflows Invoker (no resource-level IAM for workflows in
        # provider 8.7); Pub/Sub messages need no Eventarc Event Receiver role
        self.add(
            ProjectIamMember,
            "pipelines_workflows_invoker",
            project=inputs.project,
            role="roles/workflows.invoker",
            member=inputs.identities.member("pipelines"),
        )
        self.add(
            EventarcTrigger,
            "retraining_trigger",
            project=inputs.project,
            location=inputs.region,
            name=f"{inputs.name}-{inputs.environment}-retraining",
            matching_criteria=[EventarcTriggerMatchingCriteria(attribute="type", value=PUBSUB_MESSAGE)],
            transport=EventarcTriggerTransport(pubsub=EventarcTriggerTransportPubsub(topic=topic.id)),
            destination=EventarcTriggerDestination(workflow=workflow.id),
            service_account=inputs.identities.emails["pipelines"],
            labels=self.labels,
        )
        self.retraining_topic = topic
        self.expose("retraining_topic", topic.id)
