"""data_validation: a fourteenth capability, defined in one file outside tierstack's package.

It exists to prove that a capability is one file (plus its inventory): defining the class registers
it, and the catalog, the settings checks, explain, the assembler (APIs, CMEK grants, outputs) and
generate pick it up with no other change. tests/test_new_capability.py imports it and checks the
stacks against data_validation.inventory.yaml next to it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tierstack.generator.config.settings import Settings
from tierstack.modules.base import CapabilityModule


class DataValidationSettings(Settings):
    report_retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    alert_topic: bool = True


class DataValidation(CapabilityModule):
    capability = "data_validation"
    title = "Data validation"
    definition = "Checking each new batch of training data against the expected schema and statistics."
    process = "continuous training"
    provisions = (
        "a bucket for validation reports",
        "a Pub/Sub topic that receives validation failures (with alert_topic)",
    )
    min_tier = 1
    settings_model = DataValidationSettings
    settings: DataValidationSettings
    identities = ("pipelines",)
    key_services = {"google_pubsub_topic": "pubsub"}
    outputs = {
        "reports_bucket": "bucket of data validation reports",
        "alert_topic": "Pub/Sub topic of data validation failures",
    }

    def build(self) -> None:
        from cdktn_provider_google.pubsub_topic import PubsubTopic

        bucket = self.bucket(
            "validation_reports", noncurrent_days=self.settings.report_retention_days, writers=("pipelines",)
        )
        self.expose("reports_bucket", bucket.name)
        if self.settings.alert_topic:
            topic = self.add(
                PubsubTopic,
                "alerts",
                name=f"{self.inputs.name}-data-validation",
                project=self.inputs.project,
                deletion_policy=self.deletion_policy,
                kms_key_name=self.inputs.kms_key,
                labels=self.labels,
            )
            self.expose("alert_topic", topic.id)
