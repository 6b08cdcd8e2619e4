"""Reading a fleet for its roll-ups: the members' plans (explain), or their synthesized stacks estimated (cost).

Both read the fleet file with generator/services/fleet.py, so a problem with it, or with a member, is the fleet
reader's own error at its line (exit 2). Neither synthesizes: explain's roll-up reads the resolved plans,
cost's the stacks `generate` wrote; the cdktn bindings never load.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tierstack.generator.analysis.rollup.model import CostRollup, StackCost, cost_rollup, of_lines, stack_facts
from tierstack.generator.core.errors import ErrorList, UserError

if TYPE_CHECKING:
    from tierstack.generator.analysis.cost import Estimate, PriceTable, StackEstimate
    from tierstack.generator.plan.resolve import ResolvedEnvironment
    from tierstack.generator.services.fleet import Fleet


def member_of(env: ResolvedEnvironment) -> str:
    """The member a stack belongs to: a member's stacks are `<name>-<env>`, and an environment's name has
    no `-` (docs/fleets.md), so the name is the stack's name without its environment."""
    return env.stack.removesuffix(f"-{env.name}")


def stack_cost(env: ResolvedEnvironment, estimate: StackEstimate) -> StackCost:
    """A stack's estimate with the facts it is grouped by (its labels, its budget)."""
    by_capability: dict[str, list[float | None]] = {}
    for line in estimate.lines:
        by_capability.setdefault(line.capability, []).append(line.monthly)
    return StackCost(
        facts=stack_facts(member_of(env), env.stack, env.name, env.region, env.settings),
        estimate=of_lines(line.monthly for line in estimate.lines),
        by_capability={cap: of_lines(values) for cap, values in sorted(by_capability.items())},
    )


def fleet_cost(
    config: Path, out: Path | None, environments: Sequence[str], members: Sequence[str], table: PriceTable
) -> tuple[Estimate, CostRollup]:
    """A fleet's estimate, stack by stack as `cost.estimate` makes it, and its roll-ups.

    The stacks are estimated here rather than by `cost.estimate` because each one's resolved environment
    (its labels, its budget) is needed beside it, and resolving the fleet twice would double the time."""
    from tierstack.generator.analysis import cost as costing
    from tierstack.generator.analysis.verify import load_stack, synthesized_stacks
    from tierstack.generator.config.blueprint import display_path
    from tierstack.generator.services import fleet as fleets

    fleet = fleets.load_fleet(config, members=())  # its own keys checked, no member resolved: for its name
    stacks: list[StackEstimate] = []
    items: list[StackCost] = []
    for env, path in synthesized_stacks(config, out, environments, members):
        result = costing.estimate_stack(env.stack, env.name, load_stack(path, display_path(path)), table)
        costing.compare_budget(result, env.settings.get("budget") or {}, table.currency)
        stacks.append(result)
        items.append(stack_cost(env, result))
    rollup = cost_rollup(fleet.name, fleet.shown, table.currency, items)
    return costing.Estimate(table.currency, stacks, table), rollup


def resolved_fleet(config: Path) -> Fleet:
    """Every member of the fleet resolved; the members' errors, all of them, otherwise (as validate lists them)."""
    from tierstack.generator.services import fleet as fleets

    fleet = fleets.load_fleet(config)
    errors: list[UserError] = [m.error for m in fleet.members if m.error is not None]
    errors += [
        UserError("not resolved", file=config, line=m.line, field=m.label)
        for m in fleet.members
        if m.error is None and m.resolved is None
    ]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ErrorList(errors)
    return fleet
