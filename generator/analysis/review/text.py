"""The review as plain text (a terminal, a build log) and as data (`--format json`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from tierstack.generator.analysis.review.model import AttributeChange, Review, StackCost, by_capability, plural, summary
from tierstack.generator.analysis.review.pricing import PRICES_FILE, cost_note, leaves_out, money, prices, signed
from tierstack.generator.analysis.review.words import detail_action


def to_text(review: Review) -> str:
    lines = [review.verdict(), ""]
    if review.freeze is not None:
        for hit in review.freeze.hits:
            state = "overridden" if review.freeze.overridden else "blocks this apply"
            lines.append(f"freeze {hit.freeze} on {hit.stack}: {state}; {hit.window}; reason: {hit.reason}")
        if review.freeze.overridden:
            lines.append(f"override: {review.freeze.override}")
        if review.freeze.unchecked:
            unchecked = ", ".join(review.freeze.unchecked)
            lines.append(f"change freezes not checked for {unchecked}: no tierstack.yaml found (pass --config)")
        if review.freeze.hits or review.freeze.unchecked:
            lines.append("")
    for stack in review.stacks:
        env = f" ({stack.environment})" if stack.environment else ""
        lines.append(f"{stack.stack}{env}: {summary(stack.counts)}  [{stack.source}]")
        lines += [f"  NOT THE WHOLE CHANGE: {reason}" for reason in stack.incomplete]
        if stack.refresh_only:
            lines.append("  refresh only: applying writes the drift below into the state; no resource changes")
        for change in stack.changes:
            if not change.counted:
                continue
            lines.append(f"  {detail_action(change)}: {change.address} [{change.capability}]")
            if change.data_at_risk:
                lines.append(f"      DATA AT RISK: {change.data_at_risk}")
            if change.replace_paths:
                lines.append(f"      forces replacement: {', '.join(change.replace_paths)}")
            lines += [f"      {a.path}: {a.before} -> {a.after}" for a in change.attributes]
            if change.more_attributes:
                lines.append(f"      and {plural(change.more_attributes, 'more attribute')}")
            if change.recomputed:
                lines.append(f"      and {plural(change.recomputed, 'computed attribute')} known after apply")
        for drift in stack.drift:
            what = "deleted outside Terraform" if drift.kind == "delete" else "changed outside Terraform"
            lines.append(f"  {what}: {drift.address} [{drift.capability}]")
            lines += [f"      {a.path}: {a.before} -> {a.after}" for a in drift.attributes]
        if stack.drift_not_relevant:
            lines.append(
                f"  {plural(stack.drift_not_relevant, 'other drifted resource')}: no planned change depends on it"
            )
        for output in stack.outputs:
            lines.append(f"  output {output.name}: {output.kind}, {output.before} -> {output.after}")
        if stack.cost is not None and stack.cost.shown:
            c = stack.cost
            lines.append(
                f"  estimated monthly cost ({c.currency}): {money(c.before)} -> {money(c.after)} ({signed(c.delta)})"
            )
            for ch in c.changes:
                figure = f"{signed(ch.delta):>10}" if ch.delta is not None else f"{'not priced':>10}"
                lines.append(f"    {figure}  {ch.address}: {ch.action}")
                if ch.not_priced:
                    lines.append(f"    {'':>10}  ({ch.not_priced})")
    total = review.cost_total()
    if total is not None:
        currency = review.costed[0][1].currency
        unpriced = sum(len(c.not_priced) for _, c in review.costed)
        lines += [
            "",
            f"estimated monthly cost, all stacks ({currency}): {money(total[0])} -> {money(total[1])} "
            f"({signed(total[1] - total[0])})" + (f"; {plural(unpriced, 'item')} not priced" if unpriced else ""),
            cost_note(),
            "It leaves out:",
            *(f"  - {item}" for item in leaves_out()),
        ]
    return "\n".join(lines).rstrip() + "\n"


def to_data(review: Review) -> dict[str, Any]:
    """The review for scripts (`--format json`)."""
    freeze = review.freeze
    return {
        "verdict": review.verdict(),
        "approval_required": review.approval_required,
        "blocked": review.blocked,
        "counts": review.counts,
        "freeze": None
        if freeze is None
        else {
            "at": freeze.at.isoformat(),
            "configs": list(freeze.configs),
            "hits": [asdict(hit) for hit in freeze.hits],
            "override": freeze.override,
            "overridden": freeze.overridden,
            "unchecked": list(freeze.unchecked),
        },
        "stacks": [
            {
                "stack": s.stack,
                "source": s.source,
                "environment": s.environment,
                "terraform_version": s.terraform_version,
                "errored": s.errored,
                "refresh_only": s.refresh_only,
                "incomplete": list(s.incomplete),
                "counts": s.counts,
                "changes": [
                    {
                        "address": c.address,
                        "type": c.type,
                        "capability": c.capability,
                        "kind": c.kind,
                        "actions": list(c.actions),
                        "previous_address": c.previous_address if c.moved else None,
                        "import_id": c.import_id,
                        "action_reason": c.action_reason,
                        "replace_paths": list(c.replace_paths),
                        "destructive": c.destructive,
                        "data_at_risk": c.data_at_risk,
                        "losses": list(c.losses),
                        "attributes": [_attribute_data(a) for a in c.attributes],
                    }
                    for c in s.changes
                    if c.counted
                ],
                "drift": [
                    {
                        "address": d.address,
                        "type": d.type,
                        "capability": d.capability,
                        "kind": d.kind,
                        "attributes": [_attribute_data(a) for a in d.attributes],
                    }
                    for d in s.drift
                ],
                "drift_not_relevant": s.drift_not_relevant,
                "outputs": [asdict(o) for o in s.outputs],
                "cost": _cost_data(s.cost) if s.cost is not None and s.cost.shown else None,
            }
            for s in review.stacks
        ],
        "by_capability": [{"stack": st, "capability": cap, "counts": n} for st, cap, n in by_capability(review)],
        "cost": _total_cost_data(review),
    }


def _attribute_data(a: AttributeChange) -> dict[str, str]:
    return {"path": a.path, "before": a.before, "after": a.after}  # asdict's deep copy is slow over 10,000 changes


def _cost_data(c: StackCost) -> dict[str, Any]:
    return {
        "estimate": True,
        "currency": c.currency,
        "before": round(c.before, 2),
        "after": round(c.after, 2),
        "delta": round(c.delta, 2),
        "resources": [
            {
                "address": ch.address,
                "capability": ch.capability,
                "action": ch.action,
                "before": None if ch.before is None else round(ch.before, 2),
                "after": None if ch.after is None else round(ch.after, 2),
                "present_before": ch.present_before,
                "present_after": ch.present_after,
                "delta": None if ch.delta is None else round(ch.delta, 2),
                **({"not_priced": ch.not_priced} if ch.not_priced else {}),
            }
            for ch in c.changes
        ],
    }


def _total_cost_data(review: Review) -> dict[str, Any] | None:
    total = review.cost_total()
    if total is None:
        return None
    table = prices()
    return {
        "estimate": True,
        "currency": review.costed[0][1].currency,
        "before": round(total[0], 2),
        "after": round(total[1], 2),
        "delta": round(total[1] - total[0], 2),
        "not_priced": sum(len(c.not_priced) for _, c in review.costed),
        "note": cost_note(table),
        "prices": PRICES_FILE,
        "assumptions": dict(table.assumptions),
        "leaves_out": list(table.left_out),
    }
