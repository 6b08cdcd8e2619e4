"""The report as text: counts per stack, the data at risk first, then each change under its capability with a
symbol (`+`, `-`, `~`, `-/+`, `>`) and its attributes before and after, long values cut where they differ.
"""

from __future__ import annotations

import json
from typing import Any

from tierstack.generator.analysis.diff.model import ABSENT, AttributeChange, Report, ResourceChange, StackDiff

SYMBOLS: dict[str, str] = {"added": "+", "removed": "-", "changed": "~", "replaced": "-/+", "renamed": ">"}


def _symbol(change: ResourceChange) -> str:
    return SYMBOLS["replaced"] if change.replaced else SYMBOLS[change.kind]


def _short(value: Any, limit: int = 100) -> str:
    if value is ABSENT:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def counts_text(stack: StackDiff) -> str:
    """`2 added, 1 removed, 17 changed, 1 renamed, 1 of them replaced`, or `unchanged`."""
    if stack.status == "unchanged":
        return "unchanged"
    parts = [f"{stack.count(kind)} {kind}" for kind in ("added", "removed", "changed", "renamed") if stack.count(kind)]
    if stack.replaced:  # among those changed or renamed
        parts.append(f"{stack.replaced} of them replaced")
    if stack.blocks:
        parts.append(f"{len(stack.blocks)} setting{'s' if len(stack.blocks) != 1 else ''} changed")
    text = ", ".join(parts) or "no resource changed"
    if stack.status in ("added", "removed"):
        text = f"new stack: {text}" if stack.status == "added" else f"stack removed: {text}"
    return text


def summary_lines(report: Report) -> list[str]:
    """One line per stack: `name: counts`, for `generate`."""
    return [f"{stack.name}: {counts_text(stack)}" for stack in report.stacks]


def risk_lines(report: Report) -> list[str]:
    return [f"{r.stack}: {r.address}: {r.at_risk}" for r in report.at_risk]


def _short_pair(before: Any, after: Any, limit: int = 100) -> tuple[str, str]:
    """Both sides shortened where they differ: two long values with a common start are cut from a little
    before their first difference (`…`), so a change past the first `limit` characters still shows."""
    if before is ABSENT or after is ABSENT:
        return _short(before, limit), _short(after, limit)
    old, new = (json.dumps(v, ensure_ascii=False, sort_keys=True) for v in (before, after))
    common = next((i for i, (x, y) in enumerate(zip(old, new, strict=False)) if x != y), min(len(old), len(new)))
    if max(len(old), len(new)) <= limit or common < limit // 2:
        return _short(before, limit), _short(after, limit)
    start = common - limit // 4

    def cut(text: str) -> str:
        text = "…" + text[start:]
        return text if len(text) <= limit else text[: limit - 1] + "…"

    return cut(old), cut(new)


def _attribute_text(a: AttributeChange) -> str:
    before, after = _short_pair(a.before, a.after)
    text = f"{a.path}: {before} → {after}"
    return text + "  (ignored: lifecycle.ignore_changes)" if a.ignored else text


def _resource_lines(change: ResourceChange) -> list[str]:
    head = f"{_symbol(change)} {change.address}"
    if change.kind == "renamed":
        head += f" (was {change.previous_address}; {'moved block' if change.declared else 'no moved block'})"
    elif change.kind == "removed" and change.declared:
        head += " (removed block: stays in Google Cloud, no longer managed)"
    if change.identity and change.kind != "changed":
        head += f"  [{change.identity}]"
    lines = [head]
    if change.at_risk:
        lines.append(f"    DATA AT RISK: {change.at_risk}")
    lines += [f"    {_attribute_text(a)}" for a in change.attributes]
    return lines


def _stack_lines(stack: StackDiff) -> list[str]:
    lines = []
    capability = None
    for change in stack.resources:
        if change.capability != capability:
            capability = change.capability
            lines.append(f"  {capability}")
        lines += [f"    {line}" for line in _resource_lines(change)]
    if stack.blocks:
        lines.append("  settings (providers, backend, data sources, outputs)")
        lines += [f"    ~ {_attribute_text(a)}" for a in stack.blocks]
    return lines


def render_text(report: Report) -> str:
    lines = [f"tierstack diff {report.base} → {report.head}"]
    if report.at_risk:
        lines.append(f"DATA AT RISK: {len(report.at_risk)} stateful resource{'s' if len(report.at_risk) != 1 else ''}")
        lines += [f"  {line}" for line in risk_lines(report)]
    if not report.changed:
        lines.append("no change")
    for stack in report.stacks:
        lines.append(f"{stack.name}: {counts_text(stack)}")
        lines += _stack_lines(stack)
    return "\n".join(lines) + "\n"
