"""model_evaluation: the evaluation results dataset and its IAM."""

from __future__ import annotations

from tierstack.modules.base import CapabilityModule


class ModelEvaluation(CapabilityModule):
    capability = "model_evaluation"
    apis = ("aiplatform.googleapis.com",)

    def build(self) -> None:
        dataset = self.dataset(
            self.settings["dataset"],
            "model evaluation results, one table per evaluated model version",
            writers=("pipelines", "training"),
            readers=("ci", "serving"),
        )
        self.expose("dataset", dataset.dataset_id, "BigQuery dataset of evaluation results")
        self.expose(
            "bucket_prefix", self.settings["bucket_prefix"], "prefix in the artifacts bucket for evaluation artifacts"
        )
