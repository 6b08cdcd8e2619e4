"""metadata_tracking: the Vertex AI ML metadata store (google-beta only), CMEK when asked."""

from __future__ import annotations

from tierstack.modules import beta
from tierstack.modules.base import CapabilityModule

RESOURCE_TYPE = "google_vertex_ai_metadata_store"


def store_attributes(
    project: str, region: str, name: str, description: str, kms_key: str | None, deletion_policy: str
) -> dict[str, object]:
    """The store's attributes, by the provider's names (checked against the typed binding in the tests)."""
    return {
        "deletion_policy": deletion_policy,
        "description": description,
        "encryption_spec": {"kms_key_name": kms_key} if kms_key else None,
        "name": name,
        "project": project,
        "region": region,
    }


class MetadataTracking(CapabilityModule):
    capability = "metadata_tracking"
    apis = ("aiplatform.googleapis.com",)

    def build(self) -> None:
        inputs = self.inputs
        attributes = store_attributes(
            inputs.project,
            inputs.region,
            self.settings["store"],
            f"lineage of {inputs.name} ({inputs.environment})",
            inputs.kms_key,
            self.deletion_policy,
        )
        store = self.track(beta.resource(self, "store", RESOURCE_TYPE, attributes), RESOURCE_TYPE)
        store.override_logical_id(f"{self.capability}_store")
        self.expose("metadata_store", store.get_string_attribute("id"), "Vertex AI metadata store id")
