"""Fleet roll-ups: `tierstack cost FLEET` and `tierstack explain FLEET` per member, team, label and capability.

read    the fleet through generator/services/fleet.py (its errors, at their lines), its stacks estimated (cost) or
        its members' plans (explain); nothing is synthesized, the cdktn bindings never load;
model   a stack's facts (member, team, the cost labels it carries, its declared budget), the Amount of a
        figure (what is priced, and how many items are not: never counted as 0) and the groups summed
        from them, each against the budgets of its stacks;
explain what the members select and why, per team, label and capability, and the budgets declared;
render  both as data and as text.

Groups: per member (the fleet file's order); per team, the `team` cost label each stack carries (the
member's `team` unless its labels set another: what the bill groups by); per label, every cost label
but `use-case`, `team` and `managed-by`, one group per value and one for the stacks without it (so each
label's groups add up to the fleet); per capability, the lines of that capability. A group's budget is
the sum of its stacks' budgets, set against the estimate of those same stacks; the stacks without a
budget are named apart.
"""

from tierstack.generator.analysis.rollup.explain import ExplainRollup, explain_rollup
from tierstack.generator.analysis.rollup.model import (
    Amount,
    Budget,
    BudgetCheck,
    CostRollup,
    Group,
    GroupBudget,
    StackCost,
    StackFacts,
    cost_rollup,
    declared_budget,
    stack_facts,
)
from tierstack.generator.analysis.rollup.read import fleet_cost, resolved_fleet
from tierstack.generator.analysis.rollup.render import cost_data, cost_text, explain_data, explain_text

__all__ = [
    "Amount",
    "Budget",
    "BudgetCheck",
    "CostRollup",
    "ExplainRollup",
    "Group",
    "GroupBudget",
    "StackCost",
    "StackFacts",
    "cost_data",
    "cost_rollup",
    "cost_text",
    "declared_budget",
    "explain_data",
    "explain_rollup",
    "explain_text",
    "fleet_cost",
    "resolved_fleet",
    "stack_facts",
]
