"""metadata_tracking: the Vertex AI ML metadata store (google-beta only), CMEK when asked."""

from __future__ import annotations

from typing import Annotated

from tierstack.generator.config.settings import Settings, matching
from tierstack.modules.base import CapabilityModule


class MetadataTrackingSettings(Settings):
    store: Annotated[str, matching(r"^[a-z][a-z0-9-]{0,62}$", "a store id: lowercase letters, digits, hyphens")]


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
    title = "ML metadata and artifact tracking"
    definition = "Recording lineage of datasets, runs, models and artifacts so results can be traced and reproduced."
    process = "all processes"
    provisions = (
        "Vertex AI ML metadata store (google-beta)",
        "customer-managed encryption key when asked",
    )
    min_tier = 1
    settings_model = MetadataTrackingSettings
    settings: MetadataTrackingSettings
    apis = ("aiplatform.googleapis.com",)
    key_services = {RESOURCE_TYPE: "aiplatform"}
    outputs = {"metadata_store": "Vertex AI metadata store id"}

    def build(self) -> None:
        inputs = self.inputs
        attributes = store_attributes(
            inputs.project,
            inputs.region,
            self.settings.store,
            f"lineage of {inputs.name} ({inputs.environment})",
            inputs.kms_key,
            self.deletion_policy,
        )
        store = self.add_beta("store", RESOURCE_TYPE, attributes)
        self.expose("metadata_store", store.get_string_attribute("id"))
