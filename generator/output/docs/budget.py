"""A page's money sections: the budget with its thresholds and the alert policies with whom they notify,
read from the stack; and the estimate `tierstack cost` prints for the stack, against its budget
(generator/analysis/cost.py, imported lazily: the estimate should be handed to the page)."""

from __future__ import annotations

from typing import Any

from tierstack.generator.output.docs.about import StackDoc
from tierstack.generator.output.docs.escape import code, markdown_text
from tierstack.generator.output.docs.resources import Resource, references

COMPARISONS = {
    "COMPARISON_GT": ">",
    "COMPARISON_GE": "≥",
    "COMPARISON_LT": "<",
    "COMPARISON_LE": "≤",
    "COMPARISON_EQ": "=",
    "COMPARISON_NE": "≠",
}


def _cost_estimate(doc: StackDoc) -> list[str]:
    """`tierstack cost` for this stack: the monthly estimate per capability, against the budget."""
    from tierstack.generator.analysis import cost

    table = cost.load_prices()
    estimate = cost.estimate_stack(doc.stack, doc.environment["name"], doc.data, table)
    cost.compare_budget(estimate, doc.environment.get("budget") or {}, table.currency)
    cur = table.currency
    unpriced = f" + {cost.items_not_priced(len(estimate.not_priced))}" if estimate.not_priced else ""
    out = [
        "## Cost estimate",
        "",
        f"About {estimate.total():,.2f} {cur} a month{unpriced}: {estimate.baseline:,.2f} always on (billed every "
        f"hour) and {estimate.total(always_on=False):,.2f} from usage. {markdown_text(cost.ESTIMATE_NOTE)}",
        "",
        f"| capability | {cur} a month |",
        "|---|--:|",
    ]
    out += [f"| {code(cap)} | {estimate.capability_figure(cap)} |" for cap in estimate.by_capability()]
    out.append("")
    if estimate.not_priced:
        out.append("Not priced (not counted above):")
        out.append("")
        out += [f"- {markdown_text(line.what)}: {markdown_text(line.why_not_priced)}" for line in estimate.not_priced]
        out.append("")
    out += [f"> warning: {markdown_text(warning)}" for warning in estimate.warnings]
    if estimate.warnings:
        out.append("")
    if table.left_out:
        out += ["Leaves out: " + markdown_text("; ".join(table.left_out)) + ".", ""]
    return out


def _budget_and_alerts(resources: list[Resource], env: dict[str, Any]) -> list[str]:
    out = ["## Budget and alerts", ""]
    budgets = [r for r in resources if r.type == "google_billing_budget"]
    if not budgets:
        why = "its budget is off" if env.get("budget_on") else "tierstack.yaml gives no budget"
        out += [f"No budget in this stack: {why}.", ""]
    for res in budgets:
        amount = (res.body.get("amount") or {}).get("specified_amount") or {}
        units = amount.get("units")
        currency = amount.get("currency_code")
        rules = res.body.get("threshold_rules") or []
        actual = [_percent(r) for r in rules if r.get("spend_basis", "CURRENT_SPEND") == "CURRENT_SPEND"]
        forecast = [_percent(r) for r in rules if r.get("spend_basis") == "FORECASTED_SPEND"]
        per_month = f"{units} {currency}" if currency else f"{units} in the billing account's currency"
        out.append(f"Budget {code(res.address)}: {markdown_text(per_month)} a month.")
        out.append("")
        out.append(f"- alerts at {', '.join(actual) or 'no threshold'} of actual spend")
        if forecast:
            out.append(f"- alerts at {', '.join(forecast)} of forecast spend")
        topic = [a for _, a in references((res.body.get("all_updates_rule") or {}).get("pubsub_topic", ""))]
        if topic:
            out.append(f"- notifications to the Pub/Sub topic {code(topic[0])}")
        out.append("")
    channels = {r.address: r for r in resources if r.type == "google_monitoring_notification_channel"}
    policies = [r for r in resources if r.type == "google_monitoring_alert_policy"]
    if not policies:
        return [*out, "No alert policies in this stack.", ""]
    out += ["| alert | condition | threshold | for | notifies |", "|---|---|---|---|---|"]
    for res in policies:
        receivers = []
        for channel in res.body.get("notification_channels") or []:
            for _, address in references(channel):
                receiver = channels.get(address)
                if receiver is not None:
                    email = (receiver.body.get("labels") or {}).get("email_address")
                    receivers.append(code(email) if email else code(address))
        for condition in res.body.get("conditions") or []:
            threshold = condition.get("condition_threshold") or {}
            comparison = COMPARISONS.get(threshold.get("comparison", ""), threshold.get("comparison", ""))
            value = threshold.get("threshold_value", 0)
            out.append(
                f"| {markdown_text(res.body.get('display_name') or res.address)} "
                f"| {markdown_text(condition.get('display_name') or '')} "
                f"| {markdown_text(f'{comparison} {value:g}' if isinstance(value, (int, float)) else value)} "
                f"| {markdown_text(threshold.get('duration', '-'))} | {', '.join(receivers) or 'nobody'} |"
            )
    return [*out, ""]


def _percent(rule: dict[str, Any]) -> str:
    value = float(rule.get("threshold_percent", 0))
    return f"{value:.0%}"
