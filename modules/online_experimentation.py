"""online_experimentation: the comparison dataset and the traffic-split policy for A/B tests and canaries.

Vertex AI splits traffic between models deployed to one endpoint; the split is
set when a challenger is deployed (by CI or a pipeline), so this module
provisions where the comparison lands and exposes the agreed split.
"""

from __future__ import annotations

from tierstack.generator.errors import UserError
from tierstack.modules.base import CapabilityModule


class OnlineExperimentation(CapabilityModule):
    capability = "online_experimentation"

    def build(self) -> None:
        inputs = self.inputs
        share = int(self.settings["challenger_traffic_percent"])
        if not 1 <= share <= 50:
            raise UserError(
                f"a challenger gets 1-50% of traffic, not {share}%",
                file=inputs.source,
                field=f"environments.{inputs.environment}.capabilities.online_experimentation."
                "challenger_traffic_percent",
            )
        dataset = self.dataset(
            self.settings["comparison_dataset"],
            "champion/challenger comparisons on live traffic",
            writers=("pipelines", "serving"),
            readers=("ci",),
        )
        self.expose("comparison_dataset", dataset.dataset_id, "BigQuery dataset of A/B comparisons")
        self.expose("challenger_traffic_percent", share, "share of endpoint traffic a challenger receives")
