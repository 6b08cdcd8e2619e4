"""cost_controls: a billing budget per project and environment, with thresholds and a Pub/Sub notification topic.

The cost labels themselves are applied by every module (base.CapabilityModule.labels).
"""

from __future__ import annotations

from tierstack.generator.config.settings import Email, Settings
from tierstack.modules.base import CapabilityModule, Upstream


class CostControlsSettings(Settings):
    budget_topic: bool
    # the team's address: the budget notifies it through a Cloud Monitoring email channel, not only the
    # billing account's admins (who are often not the team that spends)
    notification_email: Email | None = None


BUDGET_PUBLISHER = "serviceAccount:billing-budget-alert@system.gserviceaccount.com"


class CostControls(CapabilityModule):
    capability = "cost_controls"
    title = "Cost controls"
    definition = "Cost labels on every labelable resource and a billing budget per environment."
    process = "all processes"
    provisions = (
        "the cost label set on every labelable resource",
        "a billing budget per environment (when tierstack.yaml gives a budget), scoped by project, with thresholds",
        (
            "budget notifications to the team: a Cloud Monitoring email channel on notification_email (the "
            "billing account's admins are notified too)"
        ),
        (
            "with budget_topic, a Pub/Sub topic for budget notifications and a pull subscription that keeps them "
            "for 7 days, so a message nobody has read yet is not lost"
        ),
    )
    always = "every stack carries cost labels, and a budget where tierstack.yaml gives a billing account"
    settings_model = CostControlsSettings
    settings: CostControlsSettings
    after = ("foundation",)  # the project number the budget is scoped by
    key_services = {"google_pubsub_topic": "pubsub"}
    outputs = {
        "budget_topic": "Pub/Sub topic that receives budget notifications",
        "budget_subscription": "pull subscription on the budget topic, for automation that acts on the budget",
        "budget_channel": "Cloud Monitoring notification channel the budget notifies",
    }

    team_channel: str | None = None  # the email channel build() made, for provide()

    def provide(self, upstream: Upstream) -> None:
        if self.team_channel is not None:
            upstream.team_channels["cost_controls"] = self.team_channel

    def build(self) -> None:
        from cdktn_provider_google.billing_budget import (
            BillingBudget,
            BillingBudgetAllUpdatesRule,
            BillingBudgetAmount,
            BillingBudgetAmountSpecifiedAmount,
            BillingBudgetBudgetFilter,
            BillingBudgetThresholdRules,
        )
        from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel
        from cdktn_provider_google.pubsub_subscription import PubsubSubscription, PubsubSubscriptionExpirationPolicy
        from cdktn_provider_google.pubsub_topic_iam_member import PubsubTopicIamMember

        inputs = self.inputs
        # the team's email channel, with a budget or without: other capabilities' alerts (a failed retraining,
        # a stale data source) reach the team here where model_monitoring has no channel of its own
        channels = []
        email = self.settings.notification_email
        budgeted = bool(self.inputs.upstream.budget.get("enabled"))
        if email and (budgeted or "model_monitoring" not in self.inputs.upstream.selected):
            channel = self.add(
                MonitoringNotificationChannel,
                "budget_email",
                project=inputs.project,
                type="email",
                display_name=f"{inputs.name} {inputs.environment} budget",
                labels={"email_address": email},
                user_labels=self.labels,
            )
            channels = [channel.id]
            self.team_channel = channel.id  # provide(): other capabilities' alerts may notify the team here
        budget = self.inputs.upstream.budget
        if not budget.get("enabled"):
            return
        if channels:
            self.expose("budget_channel", channels[0])
        topic = None
        if self.settings.budget_topic:
            # for automation (a function that caps spend, a chat notifier) to subscribe to
            topic = self.topic("budget")
            self.add(
                PubsubTopicIamMember,
                "budget_topic_publisher",
                project=inputs.project,
                topic=topic.name,
                role="roles/pubsub.publisher",
                member=BUDGET_PUBLISHER,
            )
            # a topic without a subscription drops every message: keep them for whoever acts on them
            subscription = self.add(
                PubsubSubscription,
                "budget_subscription",
                project=inputs.project,
                name=f"{inputs.name}-{inputs.environment}-budget",
                topic=topic.id,
                message_retention_duration="604800s",
                ack_deadline_seconds=60,
                expiration_policy=PubsubSubscriptionExpirationPolicy(ttl=""),  # never expires for inactivity
                labels=self.labels,
            )
            self.expose("budget_subscription", subscription.id)
        amount = float(budget["amount"])
        units, nanos = int(amount), round((amount - int(amount)) * 1e9)
        rules = [
            BillingBudgetThresholdRules(threshold_percent=t, spend_basis="CURRENT_SPEND")
            for t in budget.get("thresholds", [])
        ]
        rules += [
            BillingBudgetThresholdRules(threshold_percent=t, spend_basis="FORECASTED_SPEND")
            for t in budget.get("forecast_thresholds", [])
        ]
        project_number = inputs.upstream.project_number
        self.add(
            BillingBudget,
            "budget",
            billing_account=budget["billing_account"],
            display_name=f"{inputs.name}-{inputs.environment}",
            amount=BillingBudgetAmount(
                specified_amount=BillingBudgetAmountSpecifiedAmount(
                    # unset unless the user gave it: it must equal the billing account's currency
                    currency_code=budget.get("currency"),
                    units=str(units),
                    nanos=nanos or None,
                )
            ),
            # the whole project, not a label: spend on anything unlabelled (egress, support, a resource made
            # by hand) must count against the budget too
            budget_filter=BillingBudgetBudgetFilter(
                projects=[f"projects/{project_number}"],
                calendar_period="MONTH",
            ),
            threshold_rules=rules,
            all_updates_rule=BillingBudgetAllUpdatesRule(
                pubsub_topic=topic.id if topic is not None else None,
                schema_version="1.0" if topic is not None else None,
                monitoring_notification_channels=channels or None,
                disable_default_iam_recipients=False,  # the billing admins keep their emails
            )
            if topic is not None or channels
            else None,
        )
        if topic is not None:
            self.expose("budget_topic", topic.id)
