"""feature_repository: a Vertex AI Feature Online Store and a feature group over BigQuery."""

from __future__ import annotations

from cdktn_provider_google.bigquery_table import BigqueryTable, BigqueryTableEncryptionConfiguration
from cdktn_provider_google.vertex_ai_feature_group import (
    VertexAiFeatureGroup,
    VertexAiFeatureGroupBigQuery,
    VertexAiFeatureGroupBigQueryBigQuerySource,
)
from cdktn_provider_google.vertex_ai_feature_online_store import (
    VertexAiFeatureOnlineStore,
    VertexAiFeatureOnlineStoreEncryptionSpec,
    VertexAiFeatureOnlineStoreOptimized,
)

from tierstack.generator import naming
from tierstack.generator.errors import UserError
from tierstack.modules.base import CapabilityModule

# The feature table every team writes to: one row per entity and timestamp.
FEATURE_SCHEMA = (
    '[{"name": "entity_id", "type": "STRING", "mode": "REQUIRED"},'
    ' {"name": "feature_timestamp", "type": "TIMESTAMP", "mode": "REQUIRED"}]'
)


class FeatureRepository(CapabilityModule):
    capability = "feature_repository"

    def build(self) -> None:
        inputs, settings = self.inputs, self.settings
        source = settings.get("source_dataset", "prepared")
        datasets = inputs.shared["data_processing"].datasets
        if source not in datasets:
            raise UserError(
                f"the feature source dataset '{source}' is not one of data_processing's datasets",
                file=inputs.source, field=f"environments.{inputs.environment}.capabilities.feature_repository"
                ".source_dataset", hint="datasets: " + ", ".join(datasets))
        # a reference, not the literal id, so Terraform creates the dataset before the table
        dataset_id = datasets[source].dataset_id
        table = self.add(BigqueryTable, "features_table", project=inputs.project, dataset_id=dataset_id,
                         table_id="features", schema=FEATURE_SCHEMA, labels=self.labels,
                         encryption_configuration=BigqueryTableEncryptionConfiguration(kms_key_name=inputs.kms_key)
                         if inputs.kms_key else None,
                         deletion_protection=inputs.delete_protection, deletion_policy=self.deletion_policy)
        store_id = naming.dataset_id(inputs.name, "features")  # stores take underscores, like datasets
        store = self.add(
            VertexAiFeatureOnlineStore, "online_store",
            project=inputs.project, region=inputs.region, name=store_id,
            optimized=VertexAiFeatureOnlineStoreOptimized(),
            encryption_spec=VertexAiFeatureOnlineStoreEncryptionSpec(kms_key_name=inputs.kms_key)
            if inputs.kms_key else None,
            force_destroy=not inputs.delete_protection,
            labels=self.labels, deletion_policy=self.deletion_policy,
        )
        group = self.add(
            VertexAiFeatureGroup, "feature_group",
            project=inputs.project, region=inputs.region, name=store_id,
            description=f"features of {inputs.name}",
            big_query=VertexAiFeatureGroupBigQuery(
                big_query_source=VertexAiFeatureGroupBigQueryBigQuerySource(
                    input_uri=f"bq://{inputs.project}.{dataset_id}.{table.table_id}"),
                entity_id_columns=["entity_id"],
            ),
            labels=self.labels, deletion_policy=self.deletion_policy,
        )
        self.expose("online_store", store.id, "Vertex AI Feature Online Store id")
        self.expose("feature_group", group.id, "feature group over the BigQuery features table")
