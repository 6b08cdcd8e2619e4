"""The monthly cost change of a plan, priced by generator/analysis/cost.py from the shipped price table."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from tierstack.generator.analysis import cost
from tierstack.generator.analysis.review.escape import md_code, md_text
from tierstack.generator.analysis.review.model import MISSING, CostChange, StackCost
from tierstack.generator.analysis.review.words import action_words
from tierstack.generator.facts.resource_types import any_true

# attributes whose change never changes a bill: a resource the price table cannot price is listed
# in the cost section only when it is created, destroyed, or updated in something else
LABEL_ATTRIBUTES = frozenset({"labels", "effective_labels", "terraform_labels"})


PRICES_FILE = "generator/data/prices.yaml"


ASSUMPTION_WORDS = {  # the price table's assumptions a plan's resources are priced with, in words
    "hours_per_month": "always-on resources run {:g} h a month at their minimum replicas",
    "bucket_gb": "each bucket holds {:g} GB",
    "feature_store_optimized_nodes": "an Optimized feature store runs on {:g} node",
    "pipeline_runs_per_schedule_firing": "{:g} pipeline run per firing of a schedule",
}


@functools.lru_cache(maxsize=1)
def prices() -> cost.PriceTable:
    """The price table, read once per process."""
    return cost.load_prices()


def stack_cost(plan: Mapping[str, Any], table: cost.PriceTable | None = None) -> StackCost:
    """The plan's estimated monthly cost change (cost.plan_cost_delta), as the review shows it.

    Only what may change a bill is listed: a priced resource whose figure changes, and a Google resource
    the table cannot price that the plan creates, destroys or updates in more than its labels.
    `table`: the prices (`tierstack cost --diff` may use the catalog's); the shipped table by default.
    """
    delta = billed_delta(plan, table)
    changes: dict[str, Mapping[str, Any]] = {}  # address -> its resource change (the last, as Terraform has one)
    for raw in plan.get("resource_changes", []):
        if raw.get("mode", "managed") == "managed" and not raw.get("deposed"):
            changes[str(raw["address"])] = raw
    listed = []
    for r in delta.resources:  # the few the cost delta lists, not every change of the plan
        raw = changes.get(r.address)
        change = (raw.get("change") or {}) if raw is not None else {}
        if r.not_priced and not (
            raw is not None and str(raw.get("type", "")).startswith("google_") and _may_change_cost(change)
        ):
            continue  # not priced, and the plan leaves what it costs alone (or it is not Google's to bill)
        listed.append(
            CostChange(
                address=r.address,
                capability=r.capability,
                action=action_words([str(a) for a in change.get("actions") or ()]) if raw is not None else "",
                before=r.before if r.present_before else None,
                after=r.after if r.present_after else None,
                present_before=r.present_before,
                present_after=r.present_after,
                not_priced=r.not_priced,
            )
        )
    # like with like: what is not priced on one side leaves both totals
    before = delta.before - sum(r.before or 0.0 for r in delta.resources if r.not_priced)
    after = delta.after - sum(r.after or 0.0 for r in delta.resources if r.not_priced)
    return StackCost(delta.currency, before, after, tuple(listed))


def billed_delta(plan: Mapping[str, Any], table: cost.PriceTable | None = None) -> cost.CostDelta:
    """cost.plan_cost_delta of the plan as the bill sees it (_as_billed): what stack_cost lists from, and
    what `tierstack cost --diff` adds up per capability."""
    return cost.plan_cost_delta(_as_billed(plan), table or prices())


def _as_billed(plan: Mapping[str, Any]) -> Mapping[str, Any]:
    """The plan as the bill sees it: a forgotten object leaves the state, not the cloud, so it keeps costing;
    and without the resources nothing bills (cost.py gives them no line).

    `["forget"]` keeps its before as its after; `create` + `forget` (a replacement whose old object is
    forgotten) becomes a create beside the old object, kept under its own name.
    """
    out = []
    for raw in plan.get("resource_changes", []):
        if _never_billed(str(raw.get("type", ""))):
            continue  # cost.py prices these at nothing: skipping them changes no figure, and saves the work
        change = raw.get("change") or {}
        actions = list(change.get("actions") or ())
        if actions == ["forget"]:
            raw = {**raw, "change": {**change, "after": change.get("before")}}
        elif sorted(actions) == ["create", "forget"]:
            old = {**change, "actions": ["forget"], "after": change.get("before")}
            out.append({**raw, "address": f"{raw['address']} (forgotten object)", "change": old})
            raw = {**raw, "change": {**change, "before": None}}
        out.append(raw)
    return {**plan, "resource_changes": out}


@functools.lru_cache(maxsize=512)
def _never_billed(resource_type: str) -> bool:
    """Access, APIs, identities and the like: generator/analysis/cost.py gives them no line at all (and reads none of
    them to price another resource, as it reads a workflow to price the schedule that starts it)."""
    return resource_type not in cost.CONTEXT_TYPES and (
        resource_type in cost.NO_CHARGE_TYPES
        or resource_type.endswith(cost.NO_CHARGE_SUFFIXES)
        or resource_type in cost.USAGE_ONLY_TYPES
    )


def _may_change_cost(change: Mapping[str, Any]) -> bool:
    """Created, destroyed, or updated in something other than its labels."""
    actions = change.get("actions") or ()
    if "create" in actions or "delete" in actions:
        return True
    if "update" not in actions:
        return False  # no-op, read, forget: nothing runs differently
    before, after = change.get("before"), change.get("after")
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    unknown = change.get("after_unknown")
    unknown = unknown if isinstance(unknown, dict) else {}
    return any(
        before.get(key, MISSING) != after.get(key, MISSING) or any_true(unknown.get(key))
        for key in set(before) | set(after) | set(unknown)
        if key not in LABEL_ATTRIBUTES
    )


def money(amount: float) -> str:
    return f"{amount:,.2f}"


def signed(amount: float) -> str:
    """+12.50, -3.00, or 0.00 (never -0.00)."""
    return "0.00" if abs(amount) < 0.005 else f"{amount:+,.2f}"


def cost_side(present: bool, amount: float | None) -> str:
    if not present:
        return "—"
    return "not priced" if amount is None else money(amount)


def cost_note(table: cost.PriceTable | None = None, markdown: bool = False) -> str:
    """One line: an estimate, from which table, with which assumptions (Markdown: escaped, the file as code)."""
    table = table or prices()
    assumed = ", ".join(
        words.format(table.assumptions[key]) for key, words in ASSUMPTION_WORDS.items() if key in table.assumptions
    )
    text = md_text if markdown else str
    return (
        text(f"An estimate, not a quote: on-demand list prices in {table.currency} from")
        + " "
        + (md_code(PRICES_FILE) if markdown else PRICES_FILE)
        + text((f", assuming {assumed}" if assumed else "") + ". Before and after leave out what is not priced.")
    )


def leaves_out(table: cost.PriceTable | None = None) -> tuple[str, ...]:
    """What every estimate leaves out (the price table's `left_out`)."""
    return (table or prices()).left_out
