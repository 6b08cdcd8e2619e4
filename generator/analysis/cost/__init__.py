"""`tierstack cost`: a monthly estimate per stack and per capability, from a price table kept as data.

The estimate is computed from what Terraform is given, the synthesized `cdk.tf.json` of each stack
(or, for a cost delta, the resources of a `terraform show -json` plan), priced with
generator/data/prices.yaml: every price there names its source and the day it was read, and a price
that could not be found is `null` there and "not priced" here, never zero.

Two kinds of line:
  always on  billed every hour whether used or not: a deployment pool's nodes at min replicas, a
             persistent training pool at min replicas, a feature online store's nodes, scheduler jobs;
  usage      billed by use, with the quantity an assumption the table states: bucket sizes, pipeline
             runs (from the schedule's cron), log volume.
The always-on baseline is compared with the budget: a warning when it alone passes the first
threshold (budget.thresholds[0] × budget.amount).

`plan_cost_delta(plan)` (one plan's before/after) and `cost_delta(before, after)` (two plans) price a
plan JSON the same way and return the difference, resource by resource, for `tierstack review`.

One concern a module: prices (the table), cron (runs per month), model (resources, lines, estimates),
words (prices named for people), read (the resources of a stack or a plan), pricing (each resource type),
stacks (the estimate and the budget), delta (plans, for the review), plan_diff (`cost --diff`) and text.
This package re-exports the names other modules import.
"""

from tierstack.generator.analysis.cost.cron import runs_per_month
from tierstack.generator.analysis.cost.delta import CostDelta, cost_delta, plan_cost_delta
from tierstack.generator.analysis.cost.model import (
    ESTIMATE_NOTE,
    Estimate,
    Line,
    Resource,
    StackEstimate,
    items_not_priced,
)
from tierstack.generator.analysis.cost.plan_diff import diff_plans
from tierstack.generator.analysis.cost.prices import PRICES, Price, PriceTable, load_prices
from tierstack.generator.analysis.cost.pricing import (
    CONTEXT_TYPES,
    NO_CHARGE_SUFFIXES,
    NO_CHARGE_TYPES,
    USAGE_ONLY_TYPES,
    price,
)
from tierstack.generator.analysis.cost.stacks import compare_budget, estimate, estimate_stack
from tierstack.generator.analysis.cost.text import diff_to_text, to_text
from tierstack.generator.analysis.cost.words import price_label

__all__ = [
    "CONTEXT_TYPES",
    "ESTIMATE_NOTE",
    "NO_CHARGE_SUFFIXES",
    "NO_CHARGE_TYPES",
    "PRICES",
    "USAGE_ONLY_TYPES",
    "CostDelta",
    "Estimate",
    "Line",
    "Price",
    "PriceTable",
    "Resource",
    "StackEstimate",
    "compare_budget",
    "cost_delta",
    "diff_plans",
    "diff_to_text",
    "estimate",
    "estimate_stack",
    "items_not_priced",
    "load_prices",
    "plan_cost_delta",
    "price",
    "price_label",
    "runs_per_month",
    "to_text",
]
