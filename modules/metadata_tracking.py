"""metadata_tracking: the Vertex AI ML metadata store (google-beta only), CMEK when asked."""

from __future__ import annotations

from cdktn_provider_google_beta.google_vertex_ai_metadata_store import (
    GoogleVertexAiMetadataStore,
    GoogleVertexAiMetadataStoreEncryptionSpec,
)

from tierstack.modules.base import CapabilityModule


class MetadataTracking(CapabilityModule):
    capability = "metadata_tracking"

    def build(self) -> None:
        inputs = self.inputs
        store = self.add(
            GoogleVertexAiMetadataStore, "store",
            provider=inputs.shared["beta_provider"],
            project=inputs.project, region=inputs.region,
            name=self.settings.get("store", "default"),
            description=f"lineage of {inputs.name} ({inputs.environment})",
            encryption_spec=GoogleVertexAiMetadataStoreEncryptionSpec(kms_key_name=inputs.kms_key)
            if inputs.kms_key else None,
            deletion_policy=self.deletion_policy,
        )
        self.expose("metadata_store", store.id, "Vertex AI metadata store id")
