"""vector_search: a toy capability whose one resource is of a type tierstack's own table does not list.

It creates a Vertex AI index endpoint (google_vertex_ai_index_endpoint), a type that neither
generator/data/resource_types.yaml nor any built-in capability knows. Its class declares the type's row
of the resource-type table (`resource_types`), and nothing else in the repository names the type:
tests/test_resource_types.py shows that review, diff, cost, docs and the assembler then know what it
holds, how it is billed, its part in the diagram and its API from this file alone.

The row's facts: an index endpoint holds the indexes deployed on it and the address clients query
(Vertex AI "Vector Search: deploy and manage indexes"); it is billed through the node hours of the
indexes deployed on it (Vertex AI pricing, "Vector Search"), which this toy does not estimate.
"""

from __future__ import annotations

from tierstack.generator.config.settings import Settings
from tierstack.generator.facts.resource_types import ResourceType
from tierstack.modules.base import CapabilityModule

TYPE = "google_vertex_ai_index_endpoint"
LOSES = "the indexes deployed on it and the address clients query"
NOT_PRICED = "billed through the node hours of the indexes deployed on it; not estimated"


class VectorSearchSettings(Settings):
    public: bool = True


class VectorSearch(CapabilityModule):
    capability = "vector_search"
    title = "Vector search"
    definition = "An index endpoint that serves nearest-neighbour queries over the model's embeddings."
    process = "model serving"
    provisions = ("a Vertex AI index endpoint",)
    settings_model = VectorSearchSettings
    settings: VectorSearchSettings
    resource_types = {
        TYPE: ResourceType(holds="data", loses=LOSES, billing="not_priced", not_priced=NOT_PRICED, diagram="store")
    }

    def build(self) -> None:
        from cdktn_provider_google.vertex_ai_index_endpoint import VertexAiIndexEndpoint

        self.add(
            VertexAiIndexEndpoint,
            "queries",
            display_name=f"{self.inputs.name}-vector-search",
            project=self.inputs.project,
            region=self.inputs.region,
            public_endpoint_enabled=self.settings.public,
            labels=self.labels,
        )
