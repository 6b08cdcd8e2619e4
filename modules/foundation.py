"""foundation: APIs, one service account per role, least-privilege IAM, persona groups, CI identity, CMEK key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from tierstack.generator.config.settings import ApiName, Email, Identity, Settings, Unique, check
from tierstack.generator.core import grammars, naming
from tierstack.generator.core.errors import UserError
from tierstack.generator.output import ci as ci_names
from tierstack.modules import beta
from tierstack.modules.base import SERVICE_AGENTS, CapabilityModule, Identities, short_role

if TYPE_CHECKING:
    from tierstack.modules.base import Upstream


class PersonaGroups(Settings):
    data_scientists: Email | None = None
    ml_engineers: Email | None = None
    viewers: Email | None = None


class Ci(Settings):
    provider: Literal["github"] = "github"
    repository: Annotated[str, check(grammars.check_repository)] | None = None
    # GitHub's immutable numbers for the repository and its owner: a name can be renamed and taken again
    repository_id: Annotated[int, Field(gt=0)] | None = None
    repository_owner_id: Annotated[int, Field(gt=0)] | None = None
    branch: Annotated[str, check(ci_names.check_branch)] = "main"  # the only ref the deployer runs from
    # the workflow file the deployer runs in; None: tierstack-NAME-deploy.yml, what `tierstack ci` writes
    deploy_workflow: Annotated[str, check(grammars.check_workflow_file)] | None = None
    subject: Annotated[str, check(grammars.check_subject)] | None = None


class FoundationSettings(Settings):
    apis: list[ApiName]
    service_accounts: Annotated[list[Identity], Unique]
    data_access_logs: list[ApiName]
    persona_groups: PersonaGroups
    ci: Ci | None = None


@dataclass(frozen=True)
class KeyGrant:
    """A service agent, materialised, and its grant on the key: what resources using the key wait for."""

    agent: Any
    agent_address: str
    grant: Any
    address: str
    api: str  # the API whose service agent it is


# What the pull-request planner reads: viewer-class roles covering the resource types the stacks manage
# (IAM policies through securityReviewer). None writes, none lets it act as another account.
PLANNER_ROLES: tuple[str, ...] = (
    "roles/aiplatform.viewer",
    "roles/artifactregistry.reader",
    "roles/bigquery.metadataViewer",
    "roles/cloudkms.viewer",
    "roles/iam.securityReviewer",
    "roles/iam.serviceAccountViewer",
    "roles/logging.viewer",
    "roles/monitoring.viewer",
    "roles/pubsub.viewer",
    "roles/serviceusage.serviceUsageViewer",
    "roles/storage.bucketViewer",
)
# Project roles per identity: what each needs and nothing broader; resource-level
# grants (buckets, datasets, repositories) are made by the module owning the resource.
# BigQuery: jobUser to run the queries and loads pipelines and training jobs issue (dataset access alone
# cannot start a job); readSessionUser (BigQuery Read Session User, "create and use read sessions", Google
# IAM "BigQuery roles and permissions", https://cloud.google.com/iam/docs/roles-permissions/bigquery, read
# 2026-12-07) for the BigQuery Storage Read API, which the BigQuery client libraries read query results and
# tables through (to_dataframe, to_arrow) in pipeline components and training code alike (issue 20.6d).
# Artifact Registry: no project-wide reader for anyone (issue 20.6c). Artifact Registry Reader
# (roles/artifactregistry.reader) is granted on each repository an identity reads, by the module that owns the
# repository (ml_pipelines: KFP and Docker, model_registry: the serving containers); Google's Artifact Registry
# pages ask for it "on the repository" (e.g. "Download files", read 2026-12-07).
ROLE_GRANTS: dict[str, tuple[str, ...]] = {
    "pipelines": (
        "roles/aiplatform.user",
        "roles/logging.logWriter",
        "roles/bigquery.jobUser",
        "roles/bigquery.readSessionUser",
    ),
    "training": (
        "roles/aiplatform.user",
        "roles/logging.logWriter",
        "roles/bigquery.jobUser",
        "roles/bigquery.readSessionUser",
    ),
    "serving": ("roles/logging.logWriter", "roles/monitoring.metricWriter"),
    # the deployer: Vertex AI for the pipelines it deploys; its Artifact Registry writes are granted on the
    # stack's own repositories by the module owning them, never project-wide (issue 20.6)
    "ci": ("roles/aiplatform.user", "roles/bigquery.jobUser"),
}
PERSONA_GRANTS: dict[str, tuple[str, ...]] = {
    "data_scientists": ("roles/aiplatform.user", "roles/bigquery.user", "roles/notebooks.runner"),
    "ml_engineers": ("roles/aiplatform.user", "roles/bigquery.user", "roles/artifactregistry.writer"),
    "viewers": ("roles/aiplatform.viewer", "roles/bigquery.dataViewer"),
}
# Who may run as whom: the pipeline runner launches training jobs; CI deploys pipelines.
# CI deploys what runs as pipelines and serving (scheduled batch prediction jobs carry the serving identity).
# (The pipelines identity acting as itself, which its pipeline runs need, is ml_pipelines' grant: see there.)
ACT_AS = (("pipelines", "training"), ("pipelines", "serving"), ("ci", "pipelines"), ("ci", "serving"))
# The Google service agents that encrypt with the CMEK key: whichever services the capabilities' classes
# name (`key_services`, `service_agents`). On a fresh project none of them exists until something asks
# for it, and a grant to an agent that does not exist fails. So each is materialised first, the way
# Cloud Foundation Fabric's project module does: Cloud Storage and BigQuery through their own data
# sources (reading them creates the agent), any other through google_project_service_identity (google-beta).
AGENT_DATA_SOURCES = ("storage", "bigquery")  # their data sources: _agent_data_source()
API_OF_SERVICE = SERVICE_AGENTS  # the services tierstack's own capabilities give the key
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class Foundation(CapabilityModule):
    capability = "foundation"
    title = "Foundation"
    definition = (
        "Enabled APIs, one service account per role and least-privilege IAM that every other capability builds on."
    )
    process = "all processes"
    provisions = (
        "google_project_service for each API the selection needs",
        "one service account per role (pipelines, training, serving, CI)",
        "least-privilege project IAM bindings, no basic roles",
        "optional persona groups (data scientists, ML engineers, viewers)",
    )
    always = "every stack needs its APIs, identities and IAM"
    settings_model = FoundationSettings
    settings: FoundationSettings
    outputs = {
        "{role}_service_account": "email of the {role} service account",
        "ci_workload_identity_pool": "workload identity pool for CI",
        "ci_workload_identity_provider": "the pool's GitHub provider, for google-github-actions/auth",
        "ci_planner_service_account": "email of the read-only planner pull requests sign in as",
        "kms_key": "customer-managed encryption key of the stateful resources",
    }

    def build(self) -> None:
        from cdktn_provider_google.data_google_project import DataGoogleProject
        from cdktn_provider_google.project_iam_audit_config import (
            ProjectIamAuditConfig,
            ProjectIamAuditConfigAuditLogConfig,
        )
        from cdktn_provider_google.project_iam_member import ProjectIamMember
        from cdktn_provider_google.service_account import ServiceAccount
        from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember

        inputs = self.inputs
        # the identities this module makes: the assembler hands them to every capability built after it
        self.accounts = identities = Identities()
        self.project_data = self.add(DataGoogleProject, "project", project_id=inputs.project)
        for role in self.settings.service_accounts:
            account = self.add(
                ServiceAccount,
                f"{role}_sa",
                project=inputs.project,
                account_id=naming.account_id(inputs.name, role, inputs.source),
                display_name=f"{inputs.name} {role} ({inputs.environment})",
                description=f"tierstack: {role} identity of {inputs.name} in {inputs.environment}",
            )
            identities.emails[role] = account.email
            self.expose("{role}_service_account", account.email, role=role)
            for grant in ROLE_GRANTS.get(role, ()):
                self.add(
                    ProjectIamMember,
                    f"{role}_{short_role(grant)}",
                    project=inputs.project,
                    role=grant,
                    member=identities.member(role),
                )
        for runner, target in ACT_AS:
            if identities.has(runner) and identities.has(target):
                self.add(
                    ServiceAccountIamMember,
                    f"{runner}_actas_{target}",
                    service_account_id=f"projects/{inputs.project}/serviceAccounts/{identities.emails[target]}",
                    role="roles/iam.serviceAccountUser",
                    member=identities.member(runner),
                )
        for persona, group in sorted(self.settings.persona_groups.model_dump().items()):
            for grant in PERSONA_GRANTS.get(persona, ()) if group else ():
                self.add(
                    ProjectIamMember,
                    f"{persona}_{short_role(grant)}",
                    project=inputs.project,
                    role=grant,
                    member=f"group:{group}",
                )
        if "ci" in self.settings.service_accounts:
            self._ci_federation(self.settings.ci.model_dump() if self.settings.ci else {})
        for service in sorted(self.settings.data_access_logs or []):
            # who read and wrote data, through Cloud Audit Logs (what Google recommends over bucket usage logs)
            self.add(
                ProjectIamAuditConfig,
                f"audit_{service.split('.')[0]}",
                project=inputs.project,
                service=service,
                audit_log_config=[ProjectIamAuditConfigAuditLogConfig(log_type=t) for t in ("DATA_READ", "DATA_WRITE")],
            )

    def provide(self, upstream: Upstream) -> None:
        upstream.project_number = self.project_data.number

    def _ci_federation(self, ci: dict[str, Any]) -> None:
        """Two CI identities, through Workload Identity Federation (no keys anywhere).

        The provider admits only tokens of one repository, by GitHub's immutable `repository_id` and
        `repository_owner_id` (a name can be renamed and taken by someone else), and with GitHub's default
        subject only a pull request's or a job in this environment's GitHub environment. Its `attribute.job`
        mapping says which identity a token may become: `deploy` for a push or manual run of the deploy
        workflow on the default branch (the `ref` and the exact `job_workflow_ref`), `plan` for a pull
        request, nothing otherwise. The deployer (the `ci` account) is bound to `deploy` only, the planner
        to `plan` only, so a branch's workflow edit can plan with read-only rights and never deploy.
        """
        from cdktn_provider_google.iam_workload_identity_pool import IamWorkloadIdentityPool
        from cdktn_provider_google.iam_workload_identity_pool_provider import (
            IamWorkloadIdentityPoolProvider,
            IamWorkloadIdentityPoolProviderOidc,
        )
        from cdktn_provider_google.project_iam_member import ProjectIamMember
        from cdktn_provider_google.service_account import ServiceAccount
        from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
        from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember

        inputs = self.inputs
        repository, ids = _ci_repository(ci, inputs.source)
        branch = str(ci.get("branch") or "main")
        pool = self.add(
            IamWorkloadIdentityPool,
            "ci_pool",
            project=inputs.project,
            workload_identity_pool_id=naming.resource_id(inputs.name, "ci", 32),
            display_name=f"{inputs.name} CI",
            description="tierstack: CI/CD federation",
        )
        workflow_file = ci.get("deploy_workflow") or ci_names.deploy_workflow_file(inputs.name)
        workflow = f"{repository}/.github/workflows/{workflow_file}@refs/heads/{branch}"
        deploying = (
            f"assertion.ref == 'refs/heads/{branch}' && assertion.job_workflow_ref == '{workflow}' && "
            "assertion.event_name in ['push', 'workflow_dispatch']"
        )
        self.add(
            IamWorkloadIdentityPoolProvider,
            "ci_provider",
            project=inputs.project,
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github",
            attribute_mapping={
                "google.subject": "assertion.sub",
                "attribute.repository_id": "assertion.repository_id",
                "attribute.repository_owner_id": "assertion.repository_owner_id",
                "attribute.ref": "assertion.ref",
                "attribute.event_name": "assertion.event_name",
                "attribute.job": f"{deploying} ? 'deploy' : (assertion.event_name == 'pull_request' ? 'plan' : 'none')",
            },
            # the ids survive a rename; the subject (GitHub's default template) admits only pull requests and
            # jobs in this environment's GitHub environment, so no other environment's token is exchanged here
            attribute_condition=(
                f"assertion.repository_id == '{ids[0]}' && assertion.repository_owner_id == '{ids[1]}' && "
                f"(assertion.sub == 'repo:{repository}:pull_request' || "
                f"assertion.sub == 'repo:{repository}:environment:{inputs.environment}')"
            ),
            oidc=IamWorkloadIdentityPoolProviderOidc(issuer_uri=GITHUB_ISSUER),
        )
        members = f"principalSet://iam.googleapis.com/${{{pool.fqn}.name}}/attribute.job"
        self.add(
            ServiceAccountIamMember,
            "ci_workload_identity_user",
            service_account_id=f"projects/{inputs.project}/serviceAccounts/{self.accounts.emails['ci']}",
            role="roles/iam.workloadIdentityUser",
            member=f"{members}/deploy",
        )
        planner = self.add(
            ServiceAccount,
            "planner_sa",
            project=inputs.project,
            account_id=naming.account_id(inputs.name, "planner", inputs.source),
            display_name=f"{inputs.name} planner ({inputs.environment})",
            description=f"tierstack: read-only pull-request planner of {inputs.name} in {inputs.environment}",
        )
        for grant in PLANNER_ROLES:
            self.add(
                ProjectIamMember,
                f"planner_{short_role(grant)}",
                project=inputs.project,
                role=grant,
                member=f"serviceAccount:{planner.email}",
            )
        if inputs.upstream.state_bucket:  # the state: read, never written (plans run with -lock=false)
            self.add(
                StorageBucketIamMember,
                "planner_state_reader",
                bucket=inputs.upstream.state_bucket,
                role="roles/storage.objectViewer",
                member=f"serviceAccount:{planner.email}",
            )
        self.add(
            ServiceAccountIamMember,
            "planner_workload_identity_user",
            service_account_id=f"projects/{inputs.project}/serviceAccounts/${{{planner.fqn}.email}}",
            role="roles/iam.workloadIdentityUser",
            member=f"{members}/plan",
        )
        self.expose("ci_workload_identity_pool", pool.name)
        self.expose("ci_workload_identity_provider", f"${{{pool.fqn}.name}}/providers/github")
        self.expose("ci_planner_service_account", planner.email)

    def cmek_key(self) -> str:
        """Create this stack's key ring and key; the grants follow in grant_key(), once the users are known."""
        from cdktn import TerraformResourceLifecycle
        from cdktn_provider_google.kms_crypto_key import KmsCryptoKey
        from cdktn_provider_google.kms_key_ring import KmsKeyRing

        inputs = self.inputs
        ring = self.add(
            KmsKeyRing,
            "keyring",
            project=inputs.project,
            location=inputs.region,
            name=f"{inputs.name}-{inputs.environment}",
        )
        # destroying a key destroys every byte encrypted with it: never from Terraform
        key = self.add(
            KmsCryptoKey,
            "key",
            key_ring=ring.id,
            name="stateful",
            rotation_period="7776000s",
            deletion_policy="PREVENT",
            labels=self.labels,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True),
        )
        self.expose("kms_key", key.id)
        return str(key.id)

    def grant_key(self, key_id: str, services: Mapping[str, str]) -> dict[str, KeyGrant]:
        """Materialise each service's agent and let it use the key; by service, what a key user must wait for.

        `services`: service -> the API whose agent it is (the capabilities' `service_agents`), so a
        capability's new service needs nothing here.
        """
        from cdktn_provider_google.kms_crypto_key_iam_member import KmsCryptoKeyIamMember

        grants = {}
        for service, api in sorted(services.items()):
            agent_id = f"{service}_agent"
            if service in AGENT_DATA_SOURCES:
                data_source = _agent_data_source(service)
                agent = self.add(data_source, agent_id, project=self.inputs.project)
                email = agent.email_address if service == "storage" else agent.email
                agent_address = "data." + self.address(data_source, agent_id)
            else:
                agent, email = self.service_agent(agent_id, api)
                agent_address = self.address(beta.SERVICE_IDENTITY, agent_id)
                grant_agent_role(self, agent_id, api, email)  # created on request: its role is ours to grant
            grant = self.add(
                KmsCryptoKeyIamMember,
                f"key_{service}_agent",
                crypto_key_id=key_id,
                role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                member=f"serviceAccount:{email}",
            )
            grants[service] = KeyGrant(
                agent, agent_address, grant, self.address(KmsCryptoKeyIamMember, f"key_{service}_agent"), api
            )
        return grants

    def enable_apis(self, apis: list[str]) -> dict[str, str]:
        """Enable each API; return the static address of each one's google_project_service, by API."""
        from cdktn_provider_google.project_service import ProjectService

        addresses = {}
        for api in sorted(set(apis)):
            construct_id = f"api_{api.split('.')[0]}"
            self.add(ProjectService, construct_id, project=self.inputs.project, service=api, disable_on_destroy=False)
            addresses[api] = self.address(ProjectService, construct_id)
        return addresses


_IDS_HINT = (
    "add variables: {ci_repository_id: N, ci_repository_owner_id: M} to tierstack.yaml; GitHub's numbers for "
    "the repository and its owner, which a rename does not change: gh api repos/OWNER/NAME --jq .id,.owner.id"
)


def _ci_repository(ci: dict[str, Any], source: str) -> tuple[str, tuple[int, int]]:
    """The repository CI deploys from, by name (for the workflow ref) and by its immutable ids."""
    repository = ci.get("repository")
    if not repository or "/" not in str(repository):
        raise UserError(
            "tier 2 deploys through CI, which needs the repository allowed to deploy (owner/name)",
            file=source,
            field="variables.ci_repository",
            hint="add variables: {ci_repository: your-org/your-repo} to tierstack.yaml",
        )
    if ci.get("provider", "github") != "github":
        raise UserError(
            f"CI provider '{ci.get('provider')}' is not supported yet; use github",
            file=source,
            field="variables.ci_provider",
        )
    for key in ("repository_id", "repository_owner_id"):
        if not ci.get(key):
            raise UserError(
                f"CI signs in by the repository's immutable ids, and {key} is not set",
                file=source,
                field=f"variables.ci_{key}",
                hint=_IDS_HINT,
            )
    return str(repository), (int(ci["repository_id"]), int(ci["repository_owner_id"]))


def _agent_data_source(service: str) -> type:
    """The data source whose read materialises a service's agent (for AGENT_DATA_SOURCES)."""
    from cdktn_provider_google.data_google_bigquery_default_service_account import (
        DataGoogleBigqueryDefaultServiceAccount,
    )
    from cdktn_provider_google.data_google_storage_project_service_account import (
        DataGoogleStorageProjectServiceAccount,
    )

    by_service: dict[str, type] = {
        "storage": DataGoogleStorageProjectServiceAccount,
        "bigquery": DataGoogleBigqueryDefaultServiceAccount,
    }
    return by_service[service]


def service_agent_roles() -> Mapping[str, Mapping[str, str | None]]:
    """generator/data/service_agents.yaml: by API, its primary agent's name, email domain and role."""
    from tierstack.generator.facts.catalog import _data

    agents: Mapping[str, Mapping[str, str | None]] = _data("service_agents.yaml")["agents"]
    return agents


def grant_agent_role(module: CapabilityModule, construct_id: str, api: str, email: str) -> Any:
    """Grant an agent made by google_project_service_identity its documented service-agent role.

    Google IAM ("Create and grant roles to service agents"): an agent created on request is not granted
    its role, so the service cannot act in the project; Cloud Foundation Fabric's project module grants
    each one (generator/data/service_agents.yaml). An API missing from that table is the author's to add.
    """
    from cdktn_provider_google.project_iam_member import ProjectIamMember

    agents = service_agent_roles()
    if api not in agents:
        raise TypeError(
            f"{type(module).__name__} creates the service agent of {api}, whose role generator/data/"
            "service_agents.yaml does not give; add it from Fabric's modules/project/service-agents.yaml"
        )
    role = agents[api]["role"]
    if role is None:
        return None  # Fabric gives this agent no project role: it acts only through what it is granted
    return module.add(
        ProjectIamMember,
        f"{construct_id}_role",
        project=module.inputs.project,
        role=role,
        member=f"serviceAccount:{email}",
    )
