"""What verify compares and finds: the kinds of Vertex AI resource it reads, each as a stack expects it and
as the API gives it back, and the findings, per stack and in all.

Three kinds of finding, each a difference (exit code 6 in the CLI):
  missing    the stack manages it and the API says NOT_FOUND (or it sits in another region);
  differs    it exists and a field the stack sets has another value (a drifted replica count);
  unmanaged  it carries our labels (`managed-by: tierstack`, `use-case: <name>`) but no stack has it.
Notes (an endpoint with no model deployed yet, labels a stack pins at creation) are shown, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["endpoint", "deployment_resource_pool", "metadata_store", "persistent_resource", "feature_online_store"]
# Terraform type -> (kind, the API collection in resource names)
TYPES: dict[str, tuple[Kind, str]] = {
    "google_vertex_ai_endpoint": ("endpoint", "endpoints"),
    "google_vertex_ai_deployment_resource_pool": ("deployment_resource_pool", "deploymentResourcePools"),
    "google_vertex_ai_metadata_store": ("metadata_store", "metadataStores"),
    "google_vertex_ai_persistent_resource": ("persistent_resource", "persistentResources"),
    "google_vertex_ai_feature_online_store": ("feature_online_store", "featureOnlineStores"),
}
COLLECTIONS: dict[Kind, str] = {kind: collection for kind, collection in TYPES.values()}
TITLES: dict[Kind, str] = {
    "endpoint": "endpoint",
    "deployment_resource_pool": "deployment resource pool",
    "metadata_store": "metadata store",
    "persistent_resource": "persistent resource",
    "feature_online_store": "feature online store",
}
LABELLED: tuple[Kind, ...] = ("endpoint", "persistent_resource", "feature_online_store")  # the kinds with labels


# --- what the stacks say ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """One Vertex AI resource a stack manages, as its cdk.tf.json sets it."""

    kind: Kind
    address: str  # the Terraform address, google_vertex_ai_endpoint.model_serving_endpoint
    project: str
    region: str
    resource_id: str
    labels: dict[str, str] | None  # None: the type takes no labels
    labels_pinned: bool  # lifecycle.ignore_changes = [labels]: kept as created (modules/base.py pinned_labels)
    kms_key: str | None  # the resolved key name; "?" when the stack refers to a key it does not define
    spec: dict[str, Any]  # kind-specific: replicas, machine, accelerators, storage type

    @property
    def title(self) -> str:
        return f"{TITLES[self.kind]} {self.resource_id}"


@dataclass(frozen=True)
class StackExpectation:
    stack: str
    environment: str
    use_case: str
    project: str
    region: str
    source: str  # the cdk.tf.json, as shown
    resources: tuple[Expected, ...]
    data_sources: tuple[dict[str, Any], ...] = ()  # what training reads, as the stack records it (data_sources)


# --- what the API says ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """A Vertex AI resource as read back, reduced to what verify compares."""

    kind: Kind
    name: str  # projects/<number>/locations/<region>/<collection>/<id>
    resource_id: str
    region: str
    labels: dict[str, str]
    kms_key: str | None
    spec: dict[str, Any]
    state: str | None = None


# --- findings ---------------------------------------------------------------------------------------

FindingKind = Literal["missing", "differs", "unmanaged", "note"]


@dataclass(frozen=True)
class Finding:
    stack: str
    kind: FindingKind
    resource: str  # "endpoint fraud-detection-endpoint"
    message: str
    address: str | None = None
    field: str | None = None
    expected: Any = None
    actual: Any = None

    def to_data(self) -> dict[str, Any]:
        """None values left out, but a compared field keeps both sides (null: not set)."""
        compared = ("expected", "actual") if self.field else ()
        return {k: v for k, v in self.__dict__.items() if v is not None or k in compared}


@dataclass
class StackReport:
    stack: str
    environment: str
    project: str
    region: str
    checked: list[str] = field(default_factory=list)  # the resources read back
    findings: list[Finding] = field(default_factory=list)

    @property
    def differences(self) -> list[Finding]:
        return [f for f in self.findings if f.kind != "note"]


@dataclass
class Report:
    stacks: list[StackReport]
    regions_scanned: dict[str, list[str]]
    requests: int = 0

    @property
    def differences(self) -> list[Finding]:
        return [f for s in self.stacks for f in s.differences]
