"""`tierstack cost`'s estimate of a config's (or a fleet's members') synthesized stacks: each stack priced
line by line with the project's log and metric volumes, then compared with its budget (a warning when the
always-on baseline alone passes the first threshold, or when the budget is in another currency).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tierstack.generator.analysis.cost.model import ACCOUNT_CURRENCY, Estimate, StackEstimate, items_not_priced
from tierstack.generator.analysis.cost.prices import PriceTable, load_prices
from tierstack.generator.analysis.cost.pricing import _Pricer, pipeline_workflows
from tierstack.generator.analysis.cost.read import default_region, stack_resources


def estimate_stack(stack: str, environment: str, data: Mapping[str, Any], table: PriceTable) -> StackEstimate:
    region = default_region(data)
    resources = stack_resources(data)
    pricer = _Pricer(table, region, pipeline_workflows(resources))
    lines = [line for resource in resources for line in pricer.price(resource)]
    lines += pricer.per_stack()
    lines.sort(key=lambda line: (line.capability, line.address, line.what))
    return StackEstimate(stack, environment, region, lines)


def compare_budget(estimate: StackEstimate, budget: Mapping[str, Any], currency: str) -> None:
    """Fill estimate.budget and warn when the always-on baseline alone passes the first threshold."""
    amount = budget.get("amount")
    if not budget.get("enabled", True) or amount is None:
        estimate.budget = {"configured": False}
        return
    thresholds = list(budget.get("thresholds") or [1.0])
    first = float(thresholds[0])
    limit = float(amount) * first
    given = budget.get("currency")
    estimate.budget = {
        "configured": True,
        "amount": float(amount),
        "currency": given or ACCOUNT_CURRENCY,
        "first_threshold": first,
        "first_threshold_amount": round(limit, 2),
        "baseline": round(estimate.baseline, 2),
        "total": round(estimate.total(), 2),
    }
    if given and given != currency:
        estimate.warnings.append(
            f"the budget is in {given} and this estimate in {currency}: compare them after converting"
        )
    if estimate.baseline > limit:
        unpriced = sum(1 for line in estimate.not_priced if line.always_on)
        also = f" + {items_not_priced(unpriced)}" if unpriced else ""
        if given:
            of = f"{given} {float(amount):,.2f} = {given} {limit:,.2f}"
        else:
            of = f"{float(amount):,.2f} = {limit:,.2f}, in the billing account's currency"
        estimate.warnings.append(
            f"the always-on baseline alone ({currency} {estimate.baseline:,.2f} a month{also}) passes the budget's "
            f"first threshold ({first:.0%} of {of}): the alert will fire every month"
        )
    if estimate.not_priced:
        estimate.warnings.append(f"{items_not_priced(len(estimate.not_priced))}: the real figure is higher than shown")


def estimate(
    config: Path,
    out: Path | None = None,
    environments: Sequence[str] = (),
    members: Sequence[str] = (),
    table: PriceTable | None = None,
) -> Estimate:
    """The estimate of a config's (or a fleet's members') synthesized stacks (generate first), compared with
    each budget; `table`: the prices to use (price_catalog.price_table), the shipped table by default."""
    from tierstack.generator.analysis.verify import load_stack, synthesized_stacks
    from tierstack.generator.config.blueprint import display_path

    table = table or load_prices()
    stacks = []
    for env, path in synthesized_stacks(config, out, environments, members):
        data = load_stack(path, display_path(path))
        result = estimate_stack(env.stack, env.name, data, table)
        compare_budget(result, env.settings.get("budget") or {}, table.currency)
        stacks.append(result)
    return Estimate(table.currency, stacks, table)
