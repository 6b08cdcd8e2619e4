"""feature_repository: a Vertex AI Feature Online Store serving a feature view, and a feature group over BigQuery."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tierstack.generator.config.settings import Cron, Purpose, Settings
from tierstack.generator.core import naming
from tierstack.generator.core.errors import UserError
from tierstack.modules.base import CapabilityModule


class BigtableNodes(Settings):
    min: Annotated[int, Field(ge=1)] = 1
    max: Annotated[int, Field(ge=1)] = 3


class FeatureRepositorySettings(Settings):
    online_store: Literal["optimized", "bigtable"]
    bigtable_nodes: BigtableNodes | None = None
    source_dataset: Purpose
    sync_cron: Cron


# The feature table every team writes to: one row per entity and timestamp. These are the columns the stack
# creates the table with; the feature columns are the pipelines' (they add them with ALTER TABLE ADD COLUMN or
# a load job's schema update). The Google provider reads the whole schema back and, on the next apply, plans
# the table's schema back to this one, dropping the added columns in place (google_bigquery_table: a schema
# change that only removes columns is an in-place update, not a replacement). So the schema is Terraform's
# only at creation: `lifecycle.ignore_changes = ["schema"]` (see docs/design-notes.md, "The features table").
FEATURE_SCHEMA = (
    '[{"name": "entity_id", "type": "STRING", "mode": "REQUIRED"},'
    ' {"name": "feature_timestamp", "type": "TIMESTAMP", "mode": "REQUIRED"}]'
)


class FeatureRepository(CapabilityModule):
    capability = "feature_repository"
    title = "Feature repository"
    definition = "Shared, consistent feature definitions served for both training and online prediction."
    process = "data and model management, prediction serving"
    provisions = (
        (
            "Vertex AI Feature Online Store (Bigtable online serving, autoscaled between bigtable_nodes; the only "
            "serving type that takes a customer-managed key, and Optimized serving is deprecated) with a feature "
            "view over the features table, synced on sync_cron"
        ),
        "feature group over a BigQuery source",
        (
            "the features table, created with entity_id and feature_timestamp; its schema is managed only at "
            "creation (lifecycle ignore_changes), so the feature columns pipelines add are never dropped by an apply"
        ),
    )
    min_tier = 1
    requires = ("data_processing",)
    settings_model = FeatureRepositorySettings
    settings: FeatureRepositorySettings
    key_services = {
        "google_bigquery_table": "bigquery",
        "google_vertex_ai_feature_online_store": "aiplatform",
    }
    after = ("data_processing",)  # the features table goes in one of its datasets (upstream.datasets)
    outputs = {
        "online_store": "Vertex AI Feature Online Store id",
        "feature_view": "feature view the online store serves, synced on sync_cron",
        "feature_group": "feature group over the BigQuery features table",
    }

    def _serving(self, kind: str) -> dict[str, object]:
        """`bigtable` (autoscaled nodes; the only type that takes CMEK) or `optimized` (deprecated by Google).

        The serving type cannot change after the store is created, so a CMEK stack on Optimized serving is
        refused here (and by `validate`, generator/plan/gcp_facts.py) rather than at the first apply.
        """
        from cdktn_provider_google.vertex_ai_feature_online_store import (
            VertexAiFeatureOnlineStoreBigtable,
            VertexAiFeatureOnlineStoreBigtableAutoScaling,
            VertexAiFeatureOnlineStoreOptimized,
        )

        from tierstack.generator.plan.gcp_facts import feature_store_problem

        problem = feature_store_problem(kind, cmek=bool(self.inputs.kms_key))
        if problem is not None:
            raise UserError(
                problem.message,
                file=self.inputs.source,
                field=f"environments.{self.inputs.environment}.capabilities.feature_repository.online_store",
                hint=problem.hint,
            )
        if kind == "optimized":
            return {"optimized": VertexAiFeatureOnlineStoreOptimized()}
        if kind == "bigtable":
            nodes = self.settings.bigtable_nodes or BigtableNodes()
            scaling = VertexAiFeatureOnlineStoreBigtableAutoScaling(min_node_count=nodes.min, max_node_count=nodes.max)
            return {"bigtable": VertexAiFeatureOnlineStoreBigtable(auto_scaling=scaling)}
        raise UserError(
            f"online_store '{kind}' is not a Vertex AI online serving type",
            file=self.inputs.source,
            field=f"environments.{self.inputs.environment}.capabilities.feature_repository.online_store",
            hint="optimized or bigtable",
        )

    def build(self) -> None:
        from cdktn import TerraformResourceLifecycle
        from cdktn_provider_google.bigquery_table import BigqueryTable, BigqueryTableEncryptionConfiguration
        from cdktn_provider_google.vertex_ai_feature_group import (
            VertexAiFeatureGroup,
            VertexAiFeatureGroupBigQuery,
            VertexAiFeatureGroupBigQueryBigQuerySource,
        )
        from cdktn_provider_google.vertex_ai_feature_online_store import (
            VertexAiFeatureOnlineStore,
            VertexAiFeatureOnlineStoreEncryptionSpec,
        )
        from cdktn_provider_google.vertex_ai_feature_online_store_featureview import (
            VertexAiFeatureOnlineStoreFeatureview,
            VertexAiFeatureOnlineStoreFeatureviewBigQuerySource,
            VertexAiFeatureOnlineStoreFeatureviewSyncConfig,
        )

        inputs, settings = self.inputs, self.settings
        source = settings.source_dataset
        datasets = inputs.upstream.datasets or {}
        if source not in datasets:
            raise UserError(
                f"the feature source dataset '{source}' is not one of data_processing's datasets",
                file=inputs.source,
                field=f"environments.{inputs.environment}.capabilities.feature_repository.source_dataset",
                hint="datasets: " + ", ".join(datasets),
            )
        # a reference, not the literal id, so Terraform creates the dataset before the table
        dataset_id = datasets[source].dataset_id
        table = self.add(
            BigqueryTable,
            "features_table",
            project=inputs.project,
            dataset_id=dataset_id,
            table_id="features",
            schema=FEATURE_SCHEMA,
            labels=self.labels,
            encryption_configuration=BigqueryTableEncryptionConfiguration(kms_key_name=inputs.kms_key)
            if inputs.kms_key
            else None,
            deletion_protection=inputs.delete_protection,
            deletion_policy=self.deletion_policy,
            # the feature columns are the pipelines': never dropped by a later apply (FEATURE_SCHEMA)
            lifecycle=TerraformResourceLifecycle(ignore_changes=["schema"]),
        )
        store_id = naming.dataset_id(inputs.name, "features")  # stores take underscores, like datasets
        store = self.add(
            VertexAiFeatureOnlineStore,
            "online_store",
            project=inputs.project,
            region=inputs.region,
            name=store_id,
            **self._serving(settings.online_store),
            encryption_spec=VertexAiFeatureOnlineStoreEncryptionSpec(kms_key_name=inputs.kms_key)
            if inputs.kms_key
            else None,
            force_destroy=not inputs.delete_protection,
            labels=self.labels,
            deletion_policy=self.deletion_policy,
        )
        group = self.add(
            VertexAiFeatureGroup,
            "feature_group",
            project=inputs.project,
            region=inputs.region,
            name=store_id,
            description=f"features of {inputs.name}",
            big_query=VertexAiFeatureGroupBigQuery(
                big_query_source=VertexAiFeatureGroupBigQueryBigQuerySource(
                    input_uri=f"bq://{inputs.project}.{dataset_id}.{table.table_id}"
                ),
                entity_id_columns=["entity_id"],
            ),
            labels=self.labels,
            deletion_policy=self.deletion_policy,
        )
        # what makes the store serve anything: a feature view over the features table, synced on a schedule
        view = self.add(
            VertexAiFeatureOnlineStoreFeatureview,
            "feature_view",
            project=inputs.project,
            region=inputs.region,
            feature_online_store=store.name,
            name=store_id,
            big_query_source=VertexAiFeatureOnlineStoreFeatureviewBigQuerySource(
                uri=f"bq://{inputs.project}.{dataset_id}.{table.table_id}", entity_id_columns=["entity_id"]
            ),
            sync_config=VertexAiFeatureOnlineStoreFeatureviewSyncConfig(cron=settings.sync_cron),
            labels=self.labels,
        )
        self.expose("online_store", store.id)
        self.expose("feature_view", view.id)
        self.expose("feature_group", group.id)
