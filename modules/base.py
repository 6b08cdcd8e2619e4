"""What every capability shares: one class per capability, which registers itself, and the same inputs
for the same concerns.

A capability is one file in this folder: a subclass of CapabilityModule that declares, as class
attributes, what it is (its catalog entry), what it accepts (its settings model), what it needs from
the project (APIs, identities, which of its resource types take the CMEK key and whose service agent
uses it) and what it gives (its outputs), and whose build() creates its resources. Defining the class
registers it (`__init_subclass__`) after checking those declarations, so a mistake is a TypeError that
names the class, the attribute and the fix, not a stack that silently lacks an API or a key grant; the
catalog, the settings checks and the stack assembler read the registry.

Like Cloud Foundation Fabric's modules, each construct takes labels, an encryption key, region,
environment and delete protection in one shape (ModuleInputs), and builds its resources through the
helpers here, so a bucket is secure by default in every module and every resource gets a readable,
stable Terraform address: `<resource type>.<capability>_<name>`.

Importing a capability is cheap: the cdktn bindings (seconds to load) are imported where resources
are made, so `explain` and the settings checks read the registry without them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, get_args

from tierstack.generator.config.settings import Identity
from tierstack.generator.core import naming
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.paths import display_path
from tierstack.generator.facts import resource_types as type_table
from tierstack.generator.facts.resource_types import ResourceType

if TYPE_CHECKING:
    from cdktn_provider_google.bigquery_dataset import BigqueryDataset
    from cdktn_provider_google.pubsub_topic import PubsubTopic
    from cdktn_provider_google.storage_bucket import StorageBucket
    from constructs import Construct

    from tierstack.generator.config.settings import Settings


@dataclass
class Identities:
    """Service account emails by role (pipelines, training, serving, ci, ...), filled by foundation."""

    emails: dict[str, str] = field(default_factory=dict)

    def member(self, role: str) -> str:
        return f"serviceAccount:{self.emails[role]}"

    def has(self, role: str) -> bool:
        return role in self.emails


@dataclass
class Upstream:
    """What a module takes from the stack and from the modules built before it: explicit and typed,
    the way Cloud Foundation Fabric passes one module's outputs as another's variables.

    The assembler fills the stack's fields; a module fills its own in provide(), and a module that reads
    one declares its provider in `after`, so the provider is built first.
    """

    budget: dict[str, Any] = field(default_factory=dict)  # the environment's resolved budget settings
    # every selected capability's resolved settings, by id: what another capability may depend on
    selected: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    state_bucket: str = ""  # the bucket of the stack's GCS backend (CI's planner reads its objects)
    project_number: Any = None  # foundation's data.google_project number (a reference)
    datasets: dict[str, Any] | None = None  # data_processing's BigQuery datasets by purpose, once built
    endpoint: Any = None  # model_serving's Vertex AI endpoint, once built (online serving only)
    retraining_topic: Any = None  # ml_pipelines' topic whose messages start a retraining run, once built
    # the team's notification channels by capability (model_monitoring's alerts, cost_controls' budget), once
    # built: where an alert of another capability notifies (ml_pipelines' failed retraining executions)
    team_channels: dict[str, Any] = field(default_factory=dict)

    @property
    def serving_online(self) -> bool:
        """model_serving is selected and serves online."""
        serving = self.selected.get("model_serving")
        return serving is not None and (serving or {}).get("mode", "online") == "online"


@dataclass
class ModuleInputs:
    """The same inputs, for the same concerns, in every capability module."""

    name: str  # the use case
    environment: str
    project: str
    region: str
    labels: dict[str, str]  # the common cost labels; each module adds `capability`
    kms_key: str | None  # CMEK key id (or a reference to one); None for Google-managed keys
    delete_protection: bool
    serving_class: str
    settings: Settings  # this capability's resolved settings: an instance of its model, validated in resolve
    identities: Identities
    source: str = "tierstack.yaml"  # for error messages
    upstream: Upstream = field(default_factory=lambda: Upstream())  # what the stack and earlier modules provide
    # The google provider without default_labels, for resources whose labels Google cannot change in
    # place (see CapabilityModule.pinned_labels); made on first use, so other stacks do not carry it.
    pinned_labels_provider: Callable[[], Any] | None = None
    # Made for edits after synthesis (generator/synth/stacks.py): each resource in the stack itself, named by
    # its logical id (no overrideLogicalId round trip), its construct path written into the file afterwards
    late: bool = False


@dataclass(frozen=True)
class Output:
    value: Any
    description: str


# --- what a capability needs from the project --------------------------------------------------------

# Which API a resource type needs enabled before it can be created, and which need none: the resource-type
# table's `api` and `api_by_prefix` (generator/data/resource_types.yaml); a capability whose types are not
# there declares them in its class's `resource_types` (or `resource_apis`, by prefix).
NO_API = type_table.Having(type_table.needs_no_api, "no API of their own")
# The Google service agents that use the CMEK key, by service: the API each belongs to (foundation
# materialises the agent through it). A capability whose `key_services` name another service declares
# that service's API in its class's `service_agents`.
SERVICE_AGENTS: Mapping[str, str] = MappingProxyType(
    {
        "storage": "storage.googleapis.com",
        "bigquery": "bigquery.googleapis.com",
        "aiplatform": "aiplatform.googleapis.com",
        "artifactregistry": "artifactregistry.googleapis.com",
        "pubsub": "pubsub.googleapis.com",
        "workflows": "workflows.googleapis.com",
    }
)
IDENTITIES: tuple[str, ...] = get_args(Identity)  # the service accounts foundation can make
_API = re.compile(r"^[a-z0-9-]+\.googleapis\.com$")
_RESOURCE_TYPE = re.compile(r"^google_[a-z0-9_]+$")


def api_for(resource_type: str, declared: Mapping[str, str] | None = None) -> str | None:
    """The API a resource type needs: a capability's own declaration (`resource_apis`), else the table."""
    for prefix, api in (declared or {}).items():
        if resource_type.startswith(prefix):
            return api
    return type_table.api_of(resource_type)


class CapabilityError(UserError):
    """A capability class that cannot be loaded or assembled: its author's to fix, not the config's.

    Raised for a plugin (an installed package's capability, a file added to modules/) at load time, and
    for any capability whose resources the assembler cannot provide for; the CLI exits 2 with it.
    """


def class_file(cls: type) -> str | None:
    """The file a class is defined in, for messages that blame it."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    return display_path(path) if path else None


# --- the registry ---------------------------------------------------------------------------------

_REGISTRY: dict[str, type[CapabilityModule]] = {}
_ID = re.compile(r"^[a-z][a-z_]*[a-z]$")
# what every capability must declare (the rest have defaults)
_REQUIRED = ("title", "definition", "process", "provisions", "settings_model")


def registered() -> Mapping[str, type[CapabilityModule]]:
    """Every capability class defined so far, in the order they were defined (a read-only view)."""
    return MappingProxyType(_REGISTRY)


def unregister(capability: str) -> None:
    """Forget a capability and the resource types it added (tests that define a throwaway one clean up
    with this)."""
    cls = _REGISTRY.pop(capability, None)
    if cls is not None:
        type_table.retract(f"{cls.__module__}.{cls.__qualname__}")


def _register(cls: type[CapabilityModule]) -> None:
    name = f"{cls.__module__}.{cls.__qualname__}"
    if not _ID.fullmatch(cls.capability):
        raise TypeError(f"{name}: capability id '{cls.capability}' must be lowercase letters and '_'")
    missing = [attribute for attribute in _REQUIRED if not hasattr(cls, attribute)]
    if missing:
        raise TypeError(f"{name} must declare {', '.join(missing)} (see CapabilityModule)")
    _check_needs(cls, name)
    cls.key_services = {**CapabilityModule.key_services, **cls.key_services}
    cls.service_agents = {**CapabilityModule.service_agents, **cls.service_agents}
    existing = _REGISTRY.get(cls.capability)
    if existing is not None and f"{existing.__module__}.{existing.__qualname__}" != name:
        raise TypeError(f"capability '{cls.capability}' is defined twice: {existing.__module__} and {cls.__module__}")
    if not isinstance(cls.resource_types, Mapping):
        raise TypeError(f"{name}.resource_types must be a mapping {{type: ResourceType(...)}}: {cls.resource_types!r}")
    type_table.extend(cls.resource_types, by=name)  # first: its key_services may name a type it adds
    try:
        _check_key_services(cls, name)
    except TypeError:
        type_table.retract(name)
        raise
    _REGISTRY[cls.capability] = cls


def _check_needs(cls: type[CapabilityModule], name: str) -> None:
    """What the class needs from the project is declared in the shapes the assembler reads."""
    for attribute, valid, example in (
        ("after", _ID.fullmatch, "('data_processing',): capability ids"),
        ("identities", IDENTITIES.__contains__, f"('pipelines',): any of {', '.join(IDENTITIES)}"),
        ("apis", _API.fullmatch, "('dataflow.googleapis.com',): API names"),
        ("requires", _ID.fullmatch, "('model_registry',): capability ids"),
    ):
        value = getattr(cls, attribute)
        if not isinstance(value, tuple) or not all(isinstance(v, str) and valid(v) for v in value):
            raise TypeError(f"{name}.{attribute} must be a tuple such as {example}; it is {value!r}")
    if cls.capability in cls.after:
        raise TypeError(f"{name}.after names the capability itself ('{cls.capability}'); list those it reads from")
    for attribute, example in (
        ("resource_apis", "{'google_secret_manager_': 'secretmanager.googleapis.com'}: type prefix -> API"),
        ("service_agents", "{'secretmanager': 'secretmanager.googleapis.com'}: service -> API"),
        ("key_services", "{'google_pubsub_topic': 'pubsub'}: resource type -> service"),
    ):
        value = getattr(cls, attribute)
        strings = isinstance(value, Mapping) and all(isinstance(i, str) for pair in value.items() for i in pair)
        if not strings:
            raise TypeError(f"{name}.{attribute} must be a mapping such as {example}; it is {value!r}")
    for attribute in ("resource_apis", "service_agents"):
        wrong = {k: v for k, v in getattr(cls, attribute).items() if not _API.fullmatch(v)}
        if wrong:
            raise TypeError(f"{name}.{attribute}: {wrong} is not an API name such as secretmanager.googleapis.com")


def _check_key_services(cls: type[CapabilityModule], name: str) -> None:
    """Every resource type given the key has an API, and its service an agent foundation can grant."""
    for resource_type, service in cls.key_services.items():
        if not _RESOURCE_TYPE.fullmatch(resource_type):
            raise TypeError(f"{name}.key_services: '{resource_type}' is not a Terraform resource type of Google's")
        if service not in cls.service_agents:
            raise TypeError(
                f"{name}.key_services gives {resource_type} the key, and '{service}' is no service whose agent "
                f"tierstack knows ({', '.join(sorted(cls.service_agents))}), so its agent would get no grant "
                f"on the key: declare service_agents = {{'{service}': '{service}.googleapis.com'}} (the API "
                "whose service agent encrypts it; Google's CMEK page for the service names it)"
            )
        if api_for(resource_type, cls.resource_apis) is None:
            raise TypeError(
                f"{name}.key_services names {resource_type}, whose API tierstack does not know: declare "
                f"resource_apis = {{'{resource_type}': 'SERVICE.googleapis.com'}}"
            )
    for service, api in cls.service_agents.items():  # one API per agent, whichever class declares it
        known = [("tierstack", SERVICE_AGENTS)] + [
            (f"{o.__module__}.{o.__qualname__}", o.service_agents)
            for o in _REGISTRY.values()
            if o.capability != cls.capability
        ]
        for who, agents in known:
            if agents.get(service, api) != api:
                raise TypeError(
                    f"{name}.service_agents: the '{service}' agent belongs to {api}, but {who} says {agents[service]}"
                )


class CapabilityModule:
    """One capability: declared by class attributes, built by build(). Subclasses register themselves."""

    # --- what it is: its catalog entry (`tierstack capabilities`, explain, docs/capabilities.md) ----
    capability: ClassVar[str]  # the id, used in tierstack.yaml, blueprints, addresses and labels
    title: ClassVar[str]
    definition: ClassVar[str]
    process: ClassVar[str]  # the ML lifecycle processes it serves
    provisions: ClassVar[tuple[str, ...]]  # what it creates on Google Cloud, for people
    min_tier: ClassVar[int] = 0  # the lowest maturity tier whose blueprint provisions it
    # why every use case gets it ('' = the rules choose it): the one place that says a capability is always on
    always: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()  # capabilities selected with it

    # --- what it accepts --------------------------------------------------------------------------
    # Its settings (blueprint defaults and overrides), checked when the plan is resolved. A blueprint
    # need not configure a capability whose settings all have defaults.
    settings_model: ClassVar[type[Settings]]

    # --- what it needs ----------------------------------------------------------------------------
    # APIs it needs at run time beyond those its resource types imply (jobs, not resources); an
    # instance may add what its settings need
    apis: tuple[str, ...] = ()
    # the API of each resource type it creates that the resource-type table lacks: {type or type
    # prefix: API}; assembling a resource of a type with no API is an error
    resource_apis: ClassVar[Mapping[str, str]] = {}
    # The entries of the resource-type table (generator/facts/resource_types.py) for the types it creates that
    # generator/data/resource_types.yaml does not list: {type: ResourceType(holds=..., billing=...,
    # diagram=..., api=...)}. Registering the class adds them, so review, diff, cost, docs and the
    # assembler learn the types from the capability alone.
    resource_types: ClassVar[Mapping[str, ResourceType]] = {}
    identities: ClassVar[tuple[str, ...]] = ()  # service accounts it runs as or grants to (foundation makes them)
    # The resource types it gives the CMEK key, and the service whose agent then uses the key: the
    # assembler grants those agents on the key and makes the resources wait for the grant. Buckets and
    # datasets (the helpers below) are declared here for every capability.
    key_services: ClassVar[Mapping[str, str]] = {
        "google_storage_bucket": "storage",
        "google_bigquery_dataset": "bigquery",
    }
    # The API of each service in `key_services` whose agent tierstack does not know (SERVICE_AGENTS):
    # {service: API}; foundation materialises the agent through it and grants it the key.
    service_agents: ClassVar[Mapping[str, str]] = SERVICE_AGENTS
    # capabilities whose values it reads from Upstream (they provide() them): built before it
    after: ClassVar[tuple[str, ...]] = ()

    # --- what it gives ----------------------------------------------------------------------------
    # Terraform outputs it may expose: {key: description}; `{field}`s are filled by expose()
    outputs: ClassVar[Mapping[str, str]] = {}
    # Renames: {current construct id: the id it had before}. Each becomes a `moved` block, so Terraform
    # moves the resource in state instead of destroying it and creating a new one. Keep entries for
    # as long as any deployed stack may still carry the old address.
    moved_from: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "capability" in cls.__dict__:  # a class without its own id is a base for others
            _register(cls)

    @classmethod
    def catalog_entry(cls) -> dict[str, Any]:
        """The fields of the catalog's Capability model (generator/facts/catalog.py validates them)."""
        return {
            "id": cls.capability,
            "name": cls.title,
            "definition": cls.definition,
            "process": cls.process,
            "provisions": tuple(cls.provisions),
            "min_tier": cls.min_tier,
            "always": bool(cls.always),
            "always_because": cls.always,
            "requires": tuple(cls.requires),
        }

    def __init__(self, scope: Construct, inputs: ModuleInputs) -> None:
        # its settings as its model reads them: attributes mypy checks, defaults filled; validated once, in resolve
        if not isinstance(inputs.settings, self.settings_model):
            raise TypeError(
                f"{type(self).__name__} takes its settings as a {self.settings_model.__name__} (the plan's "
                f"env.capabilities['{self.capability}']), not a {type(inputs.settings).__name__}"
            )
        from constructs import Construct

        # the construct the resources are made in: the capability's own, or with `late` the stack
        self.scope = scope if inputs.late else Construct(scope, self.capability)
        self.inputs = inputs
        self.settings: Settings = inputs.settings
        self.exposed: dict[str, Output] = {}
        self.created: list[tuple[Any, str]] = []  # (resource, Terraform type), kept here to spare jsii calls
        self.logical_ids: dict[int, str] = {}  # id(resource) -> its overridden logical id (add, add_beta)
        self.paths: dict[str, str] = {}  # with `late`: logical id -> the construct path below the stack
        self.moves: list[tuple[str, str]] = []  # (previous address, address), from moved_from
        self.waits: dict[int, list[str]] = {}  # id(resource) -> addresses it waits for beyond its API
        self.api_waits: dict[int, str] = {}  # id(resource) -> an API its type does not imply (service agents)
        self.build()

    def build(self) -> None:
        """Create the capability's resources; every capability module defines it."""
        raise TypeError(f"{type(self).__name__} must define build()")

    def provide(self, upstream: Upstream) -> None:
        """Fill the Upstream fields this module provides to those built after it (see `after`)."""

    def connect(self, upstream: Upstream) -> None:
        """Wire to what modules built after this one provided, once every module of the stack exists."""

    # --- the shared concerns ---------------------------------------------------------------------

    @property
    def labels(self) -> dict[str, str]:
        return {**self.inputs.labels, "capability": self.capability}

    @property
    def deletion_policy(self) -> str:
        """Provider 8's delete protection: PREVENT keeps `terraform destroy` from deleting it."""
        return "PREVENT" if self.inputs.delete_protection else "DELETE"

    def add(self, resource_type: type, construct_id: str, /, **kwargs: Any) -> Any:
        """Create a resource whose Terraform address is `<type>.<capability>_<construct_id>`, stable and readable."""
        from cdktn import TerraformDataSource

        data = issubclass(resource_type, TerraformDataSource)
        terraform_type = _terraform_type(resource_type)
        resource = self.place(
            construct_id, lambda scope, name: resource_type(scope, name, **kwargs), terraform_type, data
        )
        if construct_id in self.moved_from:
            self.moves.append(
                (self.address(resource_type, self.moved_from[construct_id]), self.address(resource_type, construct_id))
            )
        if not data:  # reads must not wait for apply
            self.track(resource, terraform_type)
        return resource

    def add_beta(self, construct_id: str, resource_type: str, attributes: dict[str, Any]) -> Any:
        """A google-beta resource (modules/beta.py), addressed and tracked like add()'s."""
        from tierstack.modules import beta

        resource = self.place(
            construct_id, lambda scope, name: beta.resource(scope, name, resource_type, attributes), resource_type
        )
        return self.track(resource, resource_type)

    def place(self, construct_id: str, make: Callable[[Any, str], Any], terraform_type: str, data: bool = False) -> Any:
        """Make a resource addressed `<capability>_<construct_id>` under the construct path `<capability>/<id>`.

        cdktn names a construct made directly in the stack by its id, so with `late` the resource is made
        there under its logical id and its path is written into the stack file after synthesis, saving
        the overrideLogicalId round trip (a third of a stack's); otherwise it is made in the capability's
        construct and renamed through jsii.
        """
        from tierstack.modules import references

        name = self.logical_id(construct_id)
        if self.inputs.late:
            resource = make(self.scope, name)
            self.paths[name] = f"{self.capability}/{construct_id}"
            references.address(resource, f"{'data.' if data else ''}{terraform_type}.{name}")
        else:
            resource = make(self.scope, construct_id)
            resource.override_logical_id(name)
        self.logical_ids[id(resource)] = name
        return resource

    def pinned_labels(self) -> dict[str, Any]:
        """Arguments for a resource whose labels cannot change without replacing it.

        Vertex AI persistent resources take labels only at creation: the provider replaces the resource
        when its labels or the provider's default_labels change (ForceNew `effective_labels`). Such a
        resource keeps the labels it was created with: it is planned through a provider without
        default_labels, and later label changes are ignored, so changing a cost label (`tier` when
        `code_changes` changes, `team`, `cost-center`) never destroys it.
        """
        if self.inputs.pinned_labels_provider is None:
            return {"labels": self.labels}
        from cdktn import TerraformResourceLifecycle

        return {
            "labels": self.labels,
            "provider": self.inputs.pinned_labels_provider(),
            "lifecycle": TerraformResourceLifecycle(ignore_changes=["labels"]),
        }

    def service_agent(self, construct_id: str, service: str) -> tuple[Any, str]:
        """Materialise a Google service agent (google_project_service_identity, google-beta) after its API.

        Returns the resource and its email (a reference). Grants to an agent fail until it exists.
        """
        from tierstack.modules import beta, references

        agent = self.add_beta(construct_id, beta.SERVICE_IDENTITY, {"project": self.inputs.project, "service": service})
        self.api_waits[id(agent)] = service
        return agent, references.string_attribute(agent, "email")

    def wait_for(self, resource: Any, *addresses: str) -> None:
        """Make a resource wait for others (static addresses); the assembler adds its API and key grant."""
        self.waits.setdefault(id(resource), []).extend(addresses)

    def logical_id(self, construct_id: str) -> str:
        return f"{self.capability}_{construct_id}"

    def address(self, resource_type: type | str, construct_id: str) -> str:
        """The static Terraform address (`type.name`) of a resource made by add(), for meta-arguments.

        `resource_type` is a binding class, or the Terraform type of one declared through modules/beta.py.
        `depends_on` takes a static reference; a token such as `resource.fqn` would render
        `${type.name}`, which Terraform rejects there.
        """
        terraform_type = resource_type if isinstance(resource_type, str) else _terraform_type(resource_type)
        return f"{terraform_type}.{self.logical_id(construct_id)}"

    def track(self, resource: Any, terraform_type: str) -> Any:
        self.created.append((resource, terraform_type))
        return resource

    def expose(self, key: str, value: Any, **fields: str) -> None:
        """Expose a declared output (`outputs`), its `{field}`s filled from `fields`."""
        if key not in self.outputs:
            raise TypeError(f"{type(self).__name__} exposes '{key}', which its `outputs` do not declare")
        self.exposed[key.format(**fields)] = Output(value, self.outputs[key].format(**fields))

    # --- building blocks used by several modules -------------------------------------------------

    def bucket(
        self, purpose: str, noncurrent_days: int = 30, readers: tuple[str, ...] = (), writers: tuple[str, ...] = ()
    ) -> StorageBucket:
        """A bucket that is secure by default: uniform access, no public access, versioned, CMEK on request."""
        from cdktn_provider_google.storage_bucket import (
            StorageBucket,
            StorageBucketEncryption,
            StorageBucketLifecycleRule,
            StorageBucketLifecycleRuleAction,
            StorageBucketLifecycleRuleCondition,
            StorageBucketVersioning,
        )
        from cdktn_provider_google.storage_bucket_iam_member import StorageBucketIamMember

        inputs = self.inputs
        name = naming.bucket_name(
            inputs.project, inputs.name, purpose, inputs.source, field=f"environments.{inputs.environment}.project"
        )
        bucket: StorageBucket = self.add(
            StorageBucket,
            f"{purpose}_bucket",
            name=name,
            project=inputs.project,
            location=inputs.region.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=StorageBucketVersioning(enabled=True),
            lifecycle_rule=[
                StorageBucketLifecycleRule(
                    action=StorageBucketLifecycleRuleAction(type="Delete"),
                    condition=StorageBucketLifecycleRuleCondition(
                        days_since_noncurrent_time=noncurrent_days, with_state="ARCHIVED"
                    ),
                )
            ],
            encryption=StorageBucketEncryption(default_kms_key_name=inputs.kms_key) if inputs.kms_key else None,
            force_destroy=not inputs.delete_protection,
            deletion_policy=self.deletion_policy,
            labels={**self.labels, "purpose": purpose.replace("_", "-")},
        )
        for role, members in (("roles/storage.objectViewer", readers), ("roles/storage.objectAdmin", writers)):
            for who in members:
                if inputs.identities.has(who):
                    short = role.rsplit(".", 1)[-1].lower()
                    self.add(
                        StorageBucketIamMember,
                        f"{purpose}_bucket_{who}_{short}",
                        bucket=bucket.name,
                        role=role,
                        member=inputs.identities.member(who),
                    )
        return bucket

    def topic(self, purpose: str) -> PubsubTopic:
        """A Pub/Sub topic that keeps its messages in the stack's region, CMEK on request, protected like data.

        Without a message storage policy Pub/Sub may store a message in any region it allows, so a stack
        kept in one region for residency would not keep its messages there (Pub/Sub: "Restrict Pub/Sub
        resource locations"). A topic holds its backlog, so it keeps delete protection where data does.
        The capability declares `google_pubsub_topic` in its key_services for the CMEK grant.
        """
        from cdktn_provider_google.pubsub_topic import PubsubTopic, PubsubTopicMessageStoragePolicy

        inputs = self.inputs
        topic: PubsubTopic = self.add(
            PubsubTopic,
            f"{purpose}_topic",
            project=inputs.project,
            name=f"{inputs.name}-{inputs.environment}-{purpose}",
            labels=self.labels,
            kms_key_name=inputs.kms_key,
            message_storage_policy=PubsubTopicMessageStoragePolicy(allowed_persistence_regions=[inputs.region]),
            deletion_policy=self.deletion_policy,
        )
        return topic

    def dataset(
        self, purpose: str, description: str, writers: tuple[str, ...] = (), readers: tuple[str, ...] = ()
    ) -> BigqueryDataset:
        """A BigQuery dataset in the region, CMEK on request, contents kept when protected."""
        from cdktn_provider_google.bigquery_dataset import (
            BigqueryDataset,
            BigqueryDatasetDefaultEncryptionConfiguration,
        )
        from cdktn_provider_google.bigquery_dataset_iam_member import BigqueryDatasetIamMember

        inputs = self.inputs
        dataset: BigqueryDataset = self.add(
            BigqueryDataset,
            f"{purpose}_dataset",
            dataset_id=naming.dataset_id(inputs.name, purpose),
            project=inputs.project,
            location=inputs.region,
            description=description,
            delete_contents_on_destroy=not inputs.delete_protection,
            deletion_policy=self.deletion_policy,
            default_encryption_configuration=(
                BigqueryDatasetDefaultEncryptionConfiguration(kms_key_name=inputs.kms_key) if inputs.kms_key else None
            ),
            labels=self.labels,
        )
        for role, members in (("roles/bigquery.dataEditor", writers), ("roles/bigquery.dataViewer", readers)):
            for who in members:
                if inputs.identities.has(who):
                    short = role.rsplit(".", 1)[-1].lower()
                    self.add(
                        BigqueryDatasetIamMember,
                        f"{purpose}_dataset_{who}_{short}",
                        project=inputs.project,
                        dataset_id=dataset.dataset_id,
                        role=role,
                        member=inputs.identities.member(who),
                    )
        return dataset


def capability_of(name: str, known: Iterable[str] | None = None) -> str | None:
    """The capability a resource belongs to, from its name `<capability>_<construct id>` (logical_id's
    inverse): the longest id that prefixes it, or None. `known`: the ids to consider (default: every
    registered capability)."""
    if known is None:
        from tierstack.modules import registry  # the package loads every built-in capability

        known = registry()
    ids = frozenset(known)
    match = _prefixes(ids).match(name)
    return match.group(1) if match else None


@lru_cache(maxsize=16)
def _prefixes(known: frozenset[str]) -> re.Pattern[str]:
    """`<capability>` or `<capability>_...`, the longest id first (one match per name, not one per id)."""
    ids = sorted(known, key=lambda cap: (-len(cap), cap))
    return re.compile("(" + "|".join(re.escape(cap) for cap in ids) + r")(?:_|\Z)") if ids else re.compile("(?!)")


def short_role(role: str) -> str:
    """`roles/bigquery.jobUser` -> `bigquery_jobuser`, for construct ids."""
    return role.removeprefix("roles/").replace(".", "_").lower()


_TERRAFORM_TYPES: dict[type, str] = {}


def _terraform_type(resource_type: type) -> str:
    """The binding class's Terraform type: a static property read through jsii (a round trip to Node),
    so read once per class, not once per resource."""
    known = _TERRAFORM_TYPES.get(resource_type)
    if known is None:
        known = _TERRAFORM_TYPES[resource_type] = str(resource_type.TF_RESOURCE_TYPE)  # type: ignore[attr-defined]
    return known


@dataclass
class StackOutputs:
    """The outputs add_outputs leaves for the stack file (written after synthesis, as cdktn writes them)."""

    written: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {"description", "value"}
    renamed: dict[str, str] = field(default_factory=dict)  # construct id -> output name


def add_outputs(scope: Construct, module: CapabilityModule, taken: Mapping[str, Any], into: StackOutputs) -> None:
    """One Terraform output per exposed attribute: `<capability>_<key>`.

    With late edits (`module.inputs.late`), an output whose value is plain text (a reference written in
    Python, modules/references.py) is left in `into.written` for the stack file, a round trip to Node
    spared. Any other is a TerraformOutput. Outputs have their own namespace in Terraform but not in the
    construct tree, so one named like a construct of the stack (`taken`: the resources `late` makes there)
    is made as `output_<name>` and renamed in the file (`into.renamed`).
    """
    from cdktn import TerraformOutput

    for key, out in module.exposed.items():
        name = f"{module.capability}_{key}"
        if module.inputs.late and isinstance(out.value, str) and "TfToken[" not in out.value:
            into.written[name] = {"description": out.description, "value": out.value}
            continue
        construct_id = f"output_{name}" if name in taken else name
        TerraformOutput(scope, construct_id, value=out.value, description=out.description)
        if construct_id != name:
            into.renamed[construct_id] = name
