"""model_evaluation: the evaluation results dataset and its IAM."""

from __future__ import annotations

from typing import Annotated

from tierstack.generator.config.settings import Purpose, Settings, matching
from tierstack.modules.base import CapabilityModule


class ModelEvaluationSettings(Settings):
    dataset: Purpose
    bucket_prefix: Annotated[str, matching(r"^[a-z0-9_/-]+/$", "an object prefix ending in '/'")]


class ModelEvaluation(CapabilityModule):
    capability = "model_evaluation"
    title = "Model evaluation"
    definition = "Assessing model quality on evaluation data before and after deployment, and keeping the results."
    process = "continuous training, continuous monitoring"
    provisions = (
        "evaluation results dataset or bucket prefix",
        "IAM for the identities that write and read evaluations",
    )
    min_tier = 1
    settings_model = ModelEvaluationSettings
    settings: ModelEvaluationSettings
    apis = ("aiplatform.googleapis.com",)
    outputs = {
        "dataset": "BigQuery dataset of evaluation results",
        "bucket_prefix": "prefix in the artifacts bucket for evaluation artifacts",
    }

    def build(self) -> None:
        dataset = self.dataset(
            self.settings.dataset,
            "model evaluation results, one table per evaluated model version",
            writers=("pipelines", "training"),
            readers=("ci", "serving"),
        )
        self.expose("dataset", dataset.dataset_id)
        self.expose("bucket_prefix", self.settings.bucket_prefix)
