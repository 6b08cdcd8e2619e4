"""Which Google resource types hold state that a delete or a replacement would lose.

One list for every check that guards state: the state-safety tests, and the
review of diffs and plans. Each entry says what is lost, so a warning can say it.
"""

from __future__ import annotations

STATEFUL_TYPES: dict[str, str] = {
    "google_storage_bucket": "the objects in the bucket (model artifacts, pipeline outputs)",
    "google_bigquery_dataset": "every table in the dataset",
    "google_bigquery_table": "the rows of the table",
    "google_vertex_ai_metadata_store": "the lineage of every run and artifact",
    "google_vertex_ai_feature_online_store": "the served feature values",
    "google_vertex_ai_feature_group": "the feature registry entries",
    # The view is where the online store keeps the feature values it serves (synced from BigQuery): a
    # replaced view serves nothing until its next sync has run, so review treats it as the store itself.
    "google_vertex_ai_feature_online_store_featureview": "the feature values it serves, until a sync rebuilds them",
    "google_vertex_ai_endpoint": "the deployed models and the endpoint's address clients call",
    "google_vertex_ai_deployment_resource_pool": "the models deployed on the pool",
    "google_vertex_ai_persistent_resource": "the running training pool and the jobs on it",
    "google_vertex_ai_tensorboard": "the experiment logs",
    "google_workbench_instance": "the notebook's disk",
    "google_artifact_registry_repository": "the pipeline templates and container images",
    "google_kms_key_ring": "nothing can be recreated with the same name: key rings cannot be deleted",
    "google_kms_crypto_key": "every byte encrypted with the key",
}


def is_stateful(resource_type: str) -> bool:
    return resource_type in STATEFUL_TYPES
