"""ml_pipelines: pipeline root bucket, Artifact Registry (KFP and Docker), runner identity, retraining triggers.

Google provider 8.7 has no Vertex AI schedule resource, so a run is started the way the Vertex AI
REST API documents it: `POST https://{region}-aiplatform.googleapis.com/v1/{parent}/pipelineJobs`
with a PipelineJob body (google/cloud/aiplatform/v1/pipeline_job.proto: templateUri,
runtimeConfig.gcsOutputDirectory, serviceAccount, labels, encryptionSpec). The body names the
compiled template in the stack's KFP repository (`https://{region}-kfp.pkg.dev/{project}/{repo}/
{template}/{tag}`), so CI publishes the template and the triggers run whatever it last published.

- One workflow (Workflows) makes the call, because a run needs what a static request body cannot give:
  its date and data window as pipeline parameters (runtimeConfig.parameterValues: run_date,
  data_window_start, data_window_end, over `data_window_days`) and a job id of its own
  (`pipelineJobId`, from the workflow execution's id). Without them, every run of a template compiled
  with caching on is a cache hit that "succeeds" and retrains nothing. Caching is the template's
  compile-time setting, `enable_caching` (off by default), exposed for the CI step that compiles it.
- Continuous training (`schedule` set): a Cloud Scheduler job with an HTTP target and the pipelines
  identity's OAuth token starts the workflow (Workflow Executions API, executions.create, with the
  argument {"trigger": "schedule"}). The Cloud Scheduler service agent mints the token through its own
  role (roles/cloudscheduler.serviceAgent holds iam.serviceAccounts.getAccessToken); nothing is
  granted to it here.
- Retraining on degradation (`retrain_on_degradation`): a Pub/Sub topic for model monitoring's alerts
  to publish to (a Cloud Monitoring notification channel of type `pubsub`) and an Eventarc trigger that
  hands each message to the workflow, which starts a run when the message is an incident that opened.

Both call pipelineJobs.create as the pipelines identity with `serviceAccount` = that identity, and
"users starting the pipeline must have iam.serviceAccounts.actAs on this service account" (the
PipelineJob reference): the identity is granted roles/iam.serviceAccountUser on itself, in every
environment, so development tests the grant production runs with.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from tierstack.generator.config.settings import Cron, Settings, TimeZone, Unique, matching
from tierstack.generator.core import naming
from tierstack.generator.core.errors import UserError
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
    # the data window each run reads, ending at the run: data_window_start/_end (RUN_PARAMETERS)
    data_window_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # KFP step caching, a compile-time setting of the template (CI compiles it with this): off, as in
    # Google's end-to-end sample (GoogleCloudPlatform/vertex-pipelines-end-to-end-samples: its trigger and
    # schedule helpers take enable_caching: bool = False; read 2026-12-07), so a retraining run retrains
    enable_caching: bool = False


REPOSITORY_FORMATS = {"kfp": "KFP", "docker": "DOCKER"}
# Who reads and writes each repository, granted on the repository itself, never project-wide (issue 20.6c).
# Roles (Google IAM, "Artifact Registry roles and permissions", https://cloud.google.com/iam/docs/roles-
# permissions/artifactregistry, read 2026-12-07): Artifact Registry Reader (roles/artifactregistry.reader)
# reads and downloads a repository's artifacts; Writer (roles/artifactregistry.writer) also uploads them.
# - kfp: CI publishes the compiled template; the pipelines identity reads it, since every run is created as
#   that identity (pipelineJobs.create with templateUri in this repository, from the retraining workflow
#   or by hand).
# - docker: CI pushes the component and training images; the pipelines and training identities read what
#   their own code pulls or inspects there. Vertex AI itself pulls a job's container with its service agent,
#   not the job's service account (Vertex AI, "Use a custom service account", read 2026-12-07: a custom
#   service account cannot be configured to pull images from Artifact Registry; Vertex AI pulls them with
#   its default service account), so none of these grants is what lets a job start.
REPOSITORY_GRANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "kfp": (("ci", "roles/artifactregistry.writer"), ("pipelines", "roles/artifactregistry.reader")),
    "docker": (
        ("ci", "roles/artifactregistry.writer"),
        ("pipelines", "roles/artifactregistry.reader"),
        ("training", "roles/artifactregistry.reader"),
    ),
}
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
PUBSUB_MESSAGE = "google.cloud.pubsub.topic.v1.messagePublished"
WORKFLOW_EXECUTIONS = "https://workflowexecutions.googleapis.com/v1"
# The pipeline parameters every run gets (runtimeConfig.parameterValues), from the workflow's variables: the
# compiled template declares them (KFP pipeline inputs of type str) and reads its data window from them.
RUN_PARAMETERS = {"run_date": "run_date", "data_window_start": "window_start", "data_window_end": "window_end"}


# Cloud Monitoring's count of a workflow's finished executions, labelled by the state they finished in
FINISHED_EXECUTIONS = "workflows.googleapis.com/finished_execution_count"
# Whose channel a failed retraining execution notifies, first found: the team's alert channel, else its budget's
TEAM_CHANNELS = ("model_monitoring", "cost_controls")


def team_channel(upstream: Upstream) -> str | None:
    """The notification channel the team reads (TEAM_CHANNELS): None where the stack has none, and then
    `explain` and `generate` warn (tierstack.generator.facts.monitoring.unreceived_alerts)."""
    return next((upstream.team_channels[c] for c in TEAM_CHANNELS if c in upstream.team_channels), None)


def vertex_endpoint(project: str, region: str, collection: str) -> str:
    """The regional Vertex AI REST endpoint of a collection (pipelineJobs, batchPredictionJobs)."""
    return f"https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}/{collection}"


def hcl_json(value: Any) -> str:
    """`jsonencode(value)` in Terraform, so references (service accounts, buckets, keys) stay references.

    Literal strings go through Fn.raw_string: cdktn writes them into an HCL expression, where a quote
    or `${` would otherwise end the string or start an interpolation.
    """
    from cdktn import Fn

    from tierstack.modules import references

    def literal(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: literal(v) for key, v in item.items()}
        if isinstance(item, list):
            return [literal(v) for v in item]
        if isinstance(item, str):
            item = references.as_tokens(item)  # a reference written in Python is a token again here
            if not references.is_unresolved(item):
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
            " hand), a Cloud Scheduler job that starts the retraining workflow, which starts a Vertex AI pipeline "
            "run (pipelineJobs.create) from the compiled template in the KFP repository, as the pipelines identity,"
            " with the run's date and data window as parameters and a job id of its own; step caching off "
            "unless enable_caching"
        ),
        (
            "retraining on degradation (staging and production): a Pub/Sub topic (output "
            "ml_pipelines_retraining_topic) whose messages start the same pipeline run through Eventarc and "
            "the retraining workflow; model monitoring's retraining channel publishes to it"
        ),
        (
            "with a schedule or retraining on degradation, an alert policy on the retraining workflow's failed "
            "executions, notifying the team's channel (model monitoring's alerts, else the budget's)"
        ),
    )
    min_tier = 1
    settings_model = MlPipelinesSettings
    settings: MlPipelinesSettings
    apis: tuple[str, ...] = ("aiplatform.googleapis.com", "cloudscheduler.googleapis.com")
    identities = ("pipelines",)
    key_services = {
        "google_artifact_registry_repository": "artifactregistry",
        "google_pubsub_topic": "pubsub",
        "google_workflows_workflow": "workflows",  # Workflows CMEK encrypts the workflow and its executions' data
    }
    outputs = {
        "pipeline_root": "pipeline root (gs://...) for Vertex AI Pipelines",
        "{repo}_repository": "Artifact Registry {format} repository",
        "retraining_topic": (
            "Pub/Sub topic whose messages start a retraining run: point model monitoring's "
            "degradation alerts at it (a notification channel of type pubsub)"
        ),
        "enable_caching": (
            "whether CI compiles the pipeline template with KFP step caching (off: a retraining run re-runs every "
            "step); the template must declare the run parameters run_date, data_window_start and data_window_end"
        ),
    }

    def provide(self, upstream: Upstream) -> None:
        upstream.retraining_topic = self.retraining_topic  # model monitoring's retraining channel publishes to it

    def connect(self, upstream: Upstream) -> None:
        """The retraining workflow's failed executions alert the team, once every module made its channels."""
        if self.workflow is not None:
            self._failed_retraining_alert(self.workflow, team_channel(upstream))

    def build(self) -> None:
        from cdktn_provider_google.artifact_registry_repository import ArtifactRegistryRepository
        from cdktn_provider_google.artifact_registry_repository_iam_member import ArtifactRegistryRepositoryIamMember
        from cdktn_provider_google.cloud_scheduler_job import CloudSchedulerJob

        inputs, settings = self.inputs, self.settings
        field = f"environments.{inputs.environment}.capabilities.ml_pipelines"
        self.retraining_topic: PubsubTopic | None = None  # for model monitoring's pubsub notification channel
        self.workflow: Any = None  # the retraining workflow, once made: connect() alerts on its failures
        root = self.bucket("pipeline_root", writers=("pipelines", "training"), readers=("ci",))
        self.expose("pipeline_root", root.url)
        repositories = settings.repositories
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
            for who, role in REPOSITORY_GRANTS[repo]:
                if inputs.identities.has(who):
                    self.add(
                        ArtifactRegistryRepositoryIamMember,
                        f"{repo}_repository_{who}_{role.rsplit('.', 1)[-1]}",
                        project=inputs.project,
                        location=inputs.region,
                        repository=repository.name,
                        role=role,
                        member=inputs.identities.member(who),
                    )
            self.expose("{repo}_repository", repository.id, repo=repo, format=REPOSITORY_FORMATS[repo])

        if inputs.identities.has("pipelines"):
            self._act_as_itself()
        cron = settings.schedule
        time_zone = settings.time_zone or "Etc/UTC"
        on_degradation = bool(settings.retrain_on_degradation)
        template, tag = settings.pipeline_template, settings.template_tag
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
        workflow = self.workflow = self._run_workflow(job, str(template), on_degradation)
        if cron:
            # Cloud Scheduler sends the same body every time, so it starts the workflow, which gives each run
            # its own date, data window and job id (Workflow Executions API: executions.create)
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
                    body={"argument": json.dumps({"trigger": "schedule"}, sort_keys=True)},
                    uri=f"{WORKFLOW_EXECUTIONS}/projects/{inputs.project}/locations/{inputs.region}/workflows/"
                    f"{workflow.name}/executions",
                    description=f"continuous training of {inputs.name}: runs the {template}:{tag} "
                    "pipeline template on Vertex AI Pipelines, through the retraining workflow",
                ),
            )
        if on_degradation:
            self._degradation_trigger(workflow)

    def _act_as_itself(self) -> None:
        """The pipelines identity may act as itself, in every environment (issue 20.6e).

        pipelineJobs.create with serviceAccount = the pipelines identity, called as that identity (the
        retraining workflow, or a person or CI step running the identity's runs), needs
        iam.serviceAccounts.actAs on it. Not only where a trigger exists: a development environment, which
        runs its pipelines by hand, tests the grants production runs with. Its address is the one it had
        when only triggers made it, so deployed stacks keep the binding untouched.
        """
        from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember

        inputs = self.inputs
        self.add(
            ServiceAccountIamMember,
            "pipelines_actas_itself",
            service_account_id=f"projects/{inputs.project}/serviceAccounts/{inputs.identities.emails['pipelines']}",
            role="roles/iam.serviceAccountUser",
            member=inputs.identities.member("pipelines"),
        )

    def _pipeline_job(self, pipeline_root: str, template: str, tag: str) -> dict[str, Any]:
        """The PipelineJob resource that pipelineJobs.create takes as its request body."""
        inputs = self.inputs
        repository = naming.resource_id(inputs.name, "kfp")
        job: dict[str, Any] = {
            # the workflow's variables (RUN_PARAMETERS): each run is named for its date and gets its own window
            "displayName": f'${{"{inputs.name}-{inputs.environment}-{template}-" + run_date}}',
            "templateUri": f"https://{inputs.region}-kfp.pkg.dev/{inputs.project}/{repository}/{template}/{tag}",
            "runtimeConfig": {
                "gcsOutputDirectory": pipeline_root,
                "parameterValues": {name: f"${{{variable}}}" for name, variable in RUN_PARAMETERS.items()},
            },
            "serviceAccount": inputs.identities.emails["pipelines"],
            "labels": self.labels,
        }
        if inputs.kms_key:
            job["encryptionSpec"] = {"kmsKeyName": inputs.kms_key}
        return job

    def _run_workflow(self, job: dict[str, Any], template: str, on_degradation: bool) -> Any:
        """The workflow that starts one pipeline run: from the schedule, or from a degradation alert.

        It gives each run what a static request body cannot: the run's date and data window as pipeline
        parameters (RUN_PARAMETERS) and a job id of its own (`pipelineJobId`, from the execution's id, so
        a retried request cannot start a second run). With per-run parameters, a template compiled with
        caching still re-runs every step that reads them; caching itself is the template's compile-time
        setting (`enable_caching`, off by default, exposed for the CI step that compiles the template).
        """
        from cdktn_provider_google.project_iam_member import ProjectIamMember
        from cdktn_provider_google.workflows_workflow import WorkflowsWorkflow

        from tierstack.modules import data_sources

        inputs = self.inputs
        self.apis = (*self.apis, "workflows.googleapis.com", "workflowexecutions.googleapis.com")
        window = int(self.settings.data_window_days or 30) * 86400
        prefix = f"{inputs.name}-{inputs.environment}"[:60].rstrip("-")
        gate = data_sources.gate_steps(inputs)  # the source check, where tierstack.yaml declares data sources
        start = next(iter(gate[0])) if gate else "start_pipeline_run"
        steps: list[dict[str, Any]] = [
            {
                "per_run": {
                    "assign": [
                        {"now": "${sys.now()}"},
                        {"run_date": "${text.substring(time.format(now), 0, 10)}"},
                        {"window_start": f"${{time.format(now - {window})}}"},
                        {"window_end": "${time.format(now)}"},
                        {"job_id": f'${{"{prefix}-" + sys.get_env("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID")}}'},
                    ]
                }
            },
            {
                "what_started_it": {
                    "switch": [{"condition": '${map.get(args, "trigger") == "schedule"}', "next": start}]
                }
            },
        ]
        if on_degradation:
            # A Cloud Monitoring notification sends one message when an incident opens and one when it
            # closes (payload: {"incident": {"state": "open" | "closed", ...}}); only an opening retrains.
            steps += [
                {"read_message": {"assign": [{"message": "${json.decode(base64.decode(args.data.message.data))}"}]}},
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
            ]
        else:
            steps.append({"not_a_schedule": {"return": "started by neither the schedule nor an alert: ignored"}})
        steps += gate  # the declared data sources first: no run on a missing or stale one (data_sources)
        steps += [
            # retried only where the API did not process it (429, 503); the job id makes a repeat a 409, not a run
            {
                "start_pipeline_run": {
                    "try": {
                        "call": "http.post",
                        "args": {
                            "url": vertex_endpoint(inputs.project, inputs.region, "pipelineJobs"),
                            "query": {"pipelineJobId": "${job_id}"},
                            "auth": {"type": "OAuth2", "scopes": [CLOUD_PLATFORM]},
                            "body": job,
                        },
                        "result": "created",
                    },
                    "retry": "${http.default_retry_non_idempotent}",
                }
            },
            {"done": {"return": "${created.body.name}"}},
        ]
        workflow = self.add(
            WorkflowsWorkflow,
            "retraining",
            project=inputs.project,
            region=inputs.region,
            name=f"{inputs.name}-{inputs.environment}-retraining",
            description=f"starts a {inputs.name} {template} pipeline run with its date and data window "
            "(the schedule, or model monitoring reporting a degradation)",
            service_account=inputs.identities.emails["pipelines"],
            source_contents=hcl_json({"main": {"params": ["args"], "steps": steps}}),
            call_log_level="LOG_ERRORS_ONLY",
            crypto_key_name=inputs.kms_key,
            deletion_protection=False,
            labels=self.labels,
        )
        # the schedule and the trigger start executions as the pipelines identity: Workflows Invoker (no
        # resource-level IAM for workflows in provider 8.7); Pub/Sub messages need no Eventarc Event Receiver role
        self.add(
            ProjectIamMember,
            "pipelines_workflows_invoker",
            project=inputs.project,
            role="roles/workflows.invoker",
            member=inputs.identities.member("pipelines"),
        )
        self.expose("enable_caching", bool(self.settings.enable_caching))
        return workflow

    def _failed_retraining_alert(self, workflow: Any, channel: str | None) -> None:
        """Alert on the retraining workflow's failed executions: a run that was due and never started.

        The workflow retries its pipelineJobs.create call where the API did not process it, and then fails
        the execution: nothing else would tell anyone that no run started. The count of finished executions
        by state (FAILED_EXECUTIONS, generator/data/metric_types.yaml) over 5 minutes, for this workflow;
        any failure opens an incident, notifying the team's channel (team_channel()).
        """
        from cdktn_provider_google.monitoring_alert_policy import (
            MonitoringAlertPolicyConditionsConditionThreshold,
            MonitoringAlertPolicyConditionsConditionThresholdAggregations,
        )

        from tierstack.generator.facts.monitoring import metric, resource_labels
        from tierstack.modules.model_monitoring import WINDOW, alert_policy

        executions = metric(FINISHED_EXECUTIONS)
        assert "workflow_id" in resource_labels(executions.resource)
        inputs = self.inputs
        alert_policy(
            self,
            "retraining_failures",
            "failed retraining executions",
            [channel] if channel else [],
            f"An execution of the retraining workflow ({inputs.name}-{inputs.environment}-retraining, "
            f"{inputs.region}) failed, so no pipeline run started: see its error with `gcloud workflows "
            f"executions list {inputs.name}-{inputs.environment}-retraining --location {inputs.region}`.",
            threshold=MonitoringAlertPolicyConditionsConditionThreshold(
                filter=executions.filter(
                    f'resource.labels.workflow_id = "{workflow.name}"', executions.label("status", "FAILED")
                ),
                aggregations=[
                    MonitoringAlertPolicyConditionsConditionThresholdAggregations(
                        alignment_period=WINDOW,
                        per_series_aligner="ALIGN_DELTA",
                        cross_series_reducer="REDUCE_SUM",
                        group_by_fields=["resource.label.workflow_id"],
                    )
                ],
                comparison="COMPARISON_GT",
                threshold_value=0,
                duration="0s",
            ),
        )

    def _degradation_trigger(self, workflow: Any) -> None:
        """Topic -> Eventarc -> the retraining workflow, for alerts that mean the model degraded."""
        from cdktn_provider_google.eventarc_trigger import (
            EventarcTrigger,
            EventarcTriggerDestination,
            EventarcTriggerMatchingCriteria,
            EventarcTriggerTransport,
            EventarcTriggerTransportPubsub,
        )
        from cdktn_provider_google.project_iam_member import ProjectIamMember

        from tierstack.modules.foundation import grant_agent_role

        inputs = self.inputs
        self.apis = (*self.apis, "eventarc.googleapis.com")
        topic = self.topic("retraining")
        # Eventarc creates its service agent on first use and refuses triggers until the agent exists and
        # holds its role: materialise it and grant roles/eventarc.serviceAgent first (service_agents.yaml)
        _, email = self.service_agent("eventarc_agent", "eventarc.googleapis.com")
        grant_agent_role(self, "eventarc_agent", "eventarc.googleapis.com", email)
        trigger = self.add(
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
        self.wait_for(trigger, self.address(ProjectIamMember, "eventarc_agent_role"))
        self.retraining_topic = topic
        self.expose("retraining_topic", topic.id)
