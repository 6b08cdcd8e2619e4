"""online_experimentation: the comparison dataset and the traffic-split policy for A/B tests and canaries.

Vertex AI splits traffic between models deployed to one endpoint; the split is
set when a challenger is deployed (by CI or a pipeline), so this module
provisions where the comparison lands and exposes the agreed split.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tierstack.generator.config.settings import Purpose, Settings
from tierstack.generator.core.errors import UserError
from tierstack.modules.base import CapabilityModule


class OnlineExperimentationSettings(Settings):
    challenger_traffic_percent: Annotated[int, Field(ge=1, le=50)]
    comparison_dataset: Purpose


class OnlineExperimentation(CapabilityModule):
    capability = "online_experimentation"
    title = "Online experimentation"
    definition = "Comparing a new model against the current one on live traffic (canary, A/B) before full roll-out."
    process = "model deployment"
    provisions = (
        "traffic-split-ready endpoint configuration",
        "request logging and a comparison dataset",
    )
    min_tier = 1
    requires = (
        "model_serving",
        "model_registry",
    )
    settings_model = OnlineExperimentationSettings
    settings: OnlineExperimentationSettings
    outputs = {
        "comparison_dataset": "BigQuery dataset of A/B comparisons",
        "challenger_traffic_percent": "share of endpoint traffic a challenger receives",
    }

    def build(self) -> None:
        inputs = self.inputs
        share = int(self.settings.challenger_traffic_percent)
        if not 1 <= share <= 50:
            raise UserError(
                f"a challenger gets 1-50% of traffic, not {share}%",
                file=inputs.source,
                field=f"environments.{inputs.environment}.capabilities.online_experimentation."
                "challenger_traffic_percent",
            )
        dataset = self.dataset(
            self.settings.comparison_dataset,
            "champion/challenger comparisons on live traffic",
            writers=("pipelines", "serving"),
            readers=("ci",),
        )
        self.expose("comparison_dataset", dataset.dataset_id)
        self.expose("challenger_traffic_percent", share)
