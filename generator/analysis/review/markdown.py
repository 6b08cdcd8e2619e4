"""The pull-request comment: the review in Markdown, fitted to GitHub's comment limit."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tierstack.generator.analysis.review.escape import _UNESCAPED_PIPE, html_text, md_code, md_text
from tierstack.generator.analysis.review.model import (
    COUNTED,
    Change,
    Review,
    StackReview,
    by_capability,
    is_prod,
    plural,
    summary,
)
from tierstack.generator.analysis.review.pricing import cost_note, cost_side, leaves_out, money, signed
from tierstack.generator.analysis.review.words import change_words, reason_words

MAX_MARKDOWN = 60_000  # GitHub refuses comments over 65,536 characters; the details go first


SHORT_LIST = 50  # items per section in a comment that would otherwise be too long


def _row(cells: Iterable[str]) -> str:
    """A table row; a `|` in a cell, even in its code, is escaped (GitHub reads the table before the code)."""
    return "| " + " | ".join(_UNESCAPED_PIPE.sub(r"\\|", cell) if "|" in cell else cell for cell in cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """A GitHub table; the columns numbered in `right` (figures) are aligned right."""
    return list(_table_lines(header, rows, right))


def _table_lines(header: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()) -> Iterator[str]:
    yield _row(header)
    yield _row("---:" if i in right else "---" for i in range(len(header)))
    for row in rows:
        yield _row(row)


def to_markdown(review: Review) -> str:
    """The PR comment, under GitHub's 65,536 characters whatever the plans.

    Whole when it fits. Otherwise the sections go in order of importance (verdict, freeze, incomplete
    plans, data at risk, the stacks with production first, the rest), each whole when it fits, else its
    lists cut, else left out and named at the end. Each attempt stops writing as soon as it passes the
    limit, so a plan of thousands of changes is not rendered in full over and over.
    """
    sections = _sections(review)
    whole = _bounded((line for _, render in sections for line in render(None, True)), MAX_MARKDOWN)
    if whole is not None:
        return whole
    return _fitted(review, sections)


def _fitted(review: Review, sections: list[tuple[str, Any]]) -> str:
    """The sections by importance, each as long as the room left allows (see to_markdown)."""
    reserve = 2_000  # the closing note: up to 20 names of sections left out, a stack's name in each
    taken: list[str] = []
    size = 0
    left_out: list[str] = []
    for name, render in sorted(sections, key=lambda sec: _IMPORTANCE.index(sec[0].split(":")[0])):
        room = MAX_MARKDOWN - reserve - size
        for limit, details in ((None, True), (None, False), (SHORT_LIST, False), (5, False)):
            text = _bounded(render(limit, details), room)
            if text is not None:
                break
        else:
            left_out.append(name.split(":", 1)[-1])
            continue
        if text.strip():
            taken.append(text)
            size += len(text) + 1
        elif (limit, details) != (None, True) and any(line.strip() for line in render(None, True)):
            left_out.append(name.split(":", 1)[-1])  # a section with nothing to show once cut: say it is gone
    note = (
        "_Left out to fit GitHub's comment limit: "
        + md_text(", ".join(left_out[:20]) + (f" and {len(left_out) - 20} more" if len(left_out) > 20 else ""))
        + ". Run `tierstack review --format text` on the plans to see everything._"
        if left_out
        else "_Lists are cut to fit GitHub's comment limit: run `tierstack review --format text` to see them all._"
    )
    return "\n".join([*taken, note]).rstrip() + "\n"


# the order sections keep when the comment must be cut: what a reviewer must see first
_IMPORTANCE = (
    "head",
    "freeze",
    "incomplete",
    "at-risk",
    "destroyed",  # data at risk first in it, production first
    "stacks",
    "moves",
    "imports",
    "forgets",
    "drift",
    "outputs",
    "cost",
    "details-prod",
    "capabilities",
    "details",
)


def _bounded(lines: Iterable[str], most: int) -> str | None:
    """The lines joined as the comment, or None as soon as they pass `most` characters."""
    taken: list[str] = []
    size = -1  # of "\n".join(taken)
    for line in lines:
        size += len(line) + 1
        taken.append(line)
        if line.strip() and size - (len(line) - len(line.rstrip())) + 1 > most:
            return None  # the blank lines the end loses cannot bring it back under
    text = "\n".join(taken).rstrip() + "\n"
    return text if len(text) <= most else None


def _cut(items: list[Any], limit: int | None) -> tuple[list[Any], list[str]]:
    """The first `limit` items, and the line that says how many were left out."""
    if limit is None or len(items) <= limit:
        return items, []
    return items[:limit], [f"- and {len(items) - limit} more: run `tierstack review --format text` to see them all"]


def _sections(review: Review) -> list[tuple[str, Any]]:
    """(name, render(limit, details) -> lines) in the order of the whole comment."""
    out: list[tuple[str, Any]] = [
        ("head", lambda limit, details: _md_head(review)),
        ("freeze", lambda limit, details: _md_freeze(review)),
        ("incomplete", lambda limit, details: _md_incomplete(review, limit)),
        ("stacks", lambda limit, details: _md_stacks(review, limit)),
        ("destroyed:destroyed or replaced", lambda limit, details: _md_destroyed(review, limit)),
        ("at-risk:in-place updates that lose data", lambda limit, details: _md_losses(review, limit)),
        ("moves:moves", lambda limit, details: _md_moves(review, limit)),
        ("imports:imports", lambda limit, details: _md_imports(review, limit)),
        ("forgets:forgets", lambda limit, details: _md_forgets(review, limit)),
        ("drift:drift", lambda limit, details: _md_drift(review, limit)),
        ("outputs:output changes", lambda limit, details: _md_outputs(review, limit)),
        ("cost:cost", lambda limit, details: _md_cost(review, limit, details)),
        ("capabilities:changes by capability", lambda limit, details: _md_capabilities(review, limit)),
    ]
    for stack in sorted(review.stacks, key=lambda st: not is_prod(st)):
        kind = "details-prod" if is_prod(stack) else "details"
        out.append((f"{kind}:the details of {stack.stack}", functools.partial(_md_stack_details, stack)))
    return out


def _md_stack_details(stack: StackReview, limit: int | None, details: bool) -> Iterable[str]:
    return _md_details(stack) if details and limit is None else ()  # lazy: _bounded stops when it is too long


def _md_head(review: Review) -> list[str]:
    return ["## tierstack review", "", f"**{md_text(review.verdict())}**", ""]


def _md_incomplete(review: Review, limit: int | None) -> list[str]:
    lines: list[str] = []
    stacks, left_out = _cut(review.incomplete, limit)
    if stacks:
        lines += ["### Not the whole change (approval required)", ""]
        lines += [f"- {md_code(s.stack)}: {md_text('; '.join(s.incomplete))}" for s in stacks]
        lines += [*left_out, ""]
    refreshing = [s for s in review.stacks if s.refresh_only]
    if refreshing:
        lines += ["### Refresh only", ""]
        lines += [
            f"- {md_code(s.stack)}: a `-refresh-only` plan. Applying it changes no resource; it writes "
            f"{plural(len(s.drift), 'change')} made outside Terraform into the state (listed under drift)"
            for s in refreshing
        ]
        lines.append("")
    return lines


def _md_stacks(review: Review, limit: int | None) -> list[str]:
    counts = review.counts
    stacks = list(review.stacks)
    quiet: list[StackReview] = []
    if limit is not None:  # cut to fit: production first, and the stacks without changes in one line
        stacks = sorted(stacks, key=lambda st: not is_prod(st))
        quiet = [st for st in stacks if not st.has_changes]
        stacks = [st for st in stacks if st.has_changes]
    shown, left_out = _cut(stacks, limit)
    lines = _table(
        ["stack", "environment", *COUNTED, "drift"],
        (
            [md_code(s.stack), md_text(s.environment or "")] + [str(s.counts[k]) for k in COUNTED] + [str(len(s.drift))]
            for s in shown
        ),
        right=range(2, len(COUNTED) + 3),
    )
    if len(review.stacks) > 1:
        total = (
            ["**total**", ""] + [f"**{counts[k]}**" for k in COUNTED] + [str(sum(len(s.drift) for s in review.stacks))]
        )
        lines.append(_row(total))
    lines += left_out
    if quiet:
        names, more = _cut(quiet, limit)
        lines.append(
            f"- {plural(len(quiet), 'stack')} without changes: {', '.join(md_code(s.stack) for s in names)}"
            + (f" and {len(quiet) - len(names)} more" if more else "")
        )
    return [*lines, ""]


def _md_destroyed(review: Review, limit: int | None) -> Iterator[str]:
    destructive = review.destructive
    if not destructive:
        return
    ranked = sorted(destructive, key=lambda sc: (sc[1].data_at_risk is None, not is_prod(sc[0]), sc[0].stack))
    ranked, left_out = _cut(ranked, limit)
    yield from ["### Destroyed or replaced", ""]
    yield from _table_lines(
        ["risk", "stack", "resource", "action", "why", "forces replacement"],
        (
            [
                f"**high**: {md_text(change.data_at_risk)}" if change.data_at_risk else "low: holds no data",
                md_code(stack.stack),
                md_code(change.address),
                md_text(change_words(change)),
                md_text(reason_words(change)),
                ", ".join(md_code(p) for p in change.replace_paths),
            ]
            for stack, change in ranked
        ),
    )
    yield from [*left_out, ""]


def _md_losses(review: Review, limit: int | None) -> list[str]:
    losing, left_out = _cut([(s, c) for s, c in review.at_risk if not c.destructive], limit)
    if not losing:
        return []
    lines = ["### Updated in place, losing data", ""]
    for stack, change in losing:
        lines += [
            f"- {md_code(change.address)} ({md_code(stack.stack)}): **{md_text(loss)}**" for loss in change.losses
        ]
    return [*lines, *left_out, ""]


def _md_moves(review: Review, limit: int | None) -> list[str]:
    moves, left_out = _cut([(s, c) for s in review.stacks for c in s.changes if c.moved], limit)
    if not moves:
        return []
    lines = ["### Moved", ""]
    lines += [f"- {md_code(c.previous_address or '')} → {md_code(c.address)} ({md_code(s.stack)})" for s, c in moves]
    return [*lines, *left_out, ""]


def _md_imports(review: Review, limit: int | None) -> list[str]:
    imports, left_out = _cut([(s, c) for s in review.stacks for c in s.changes if c.import_id is not None], limit)
    if not imports:
        return []
    lines = ["### Imported", ""]
    lines += [f"- {md_code(c.address)} from id {md_code(c.import_id or '')} ({md_code(s.stack)})" for s, c in imports]
    return [*lines, *left_out, ""]


def _md_forgets(review: Review, limit: int | None) -> list[str]:
    forgets, left_out = _cut([(s, c) for s in review.stacks for c in s.changes if "forget" in c.counted], limit)
    if not forgets:
        return []
    lines = ["### No longer managed (forgotten, not destroyed)", ""]
    lines += [f"- {md_code(c.address)} ({md_code(s.stack)}): stays in the cloud, leaves the state" for s, c in forgets]
    return [*lines, *left_out, ""]


def _md_outputs(review: Review, limit: int | None) -> list[str]:
    outputs, left_out = _cut([(s, o) for s in review.stacks for o in s.outputs], limit)
    if not outputs:
        return []
    lines = ["### Output changes", ""]
    lines += _table(
        ["stack", "output", "action", "before", "after"],
        ([md_code(s.stack), md_code(o.name), md_text(o.kind), md_code(o.before), md_code(o.after)] for s, o in outputs),
    )
    return [*lines, *left_out, ""]


def _md_freeze(review: Review) -> list[str]:
    check = review.freeze
    if check is None:
        return []
    lines = []
    at = check.at.strftime("%Y-%m-%d %H:%M UTC")
    for hit in check.hits:
        state = "**overridden**" if check.overridden else "**blocks this apply**"
        lines.append(
            f"- Change freeze {md_code(hit.freeze)} is on for {md_code(hit.stack)} at {at}: {state}. "
            f"Window: {md_text(hit.window)}. Reason: {md_text(hit.reason)}"
        )
    if check.overridden:
        lines.append(f"- Emergency override, recorded: {md_text(check.override or '')}")
    elif check.override is not None:
        lines.append(f"- An override was given but no freeze is on at {at}: {md_text(check.override)}")
    if check.unchecked:
        lines.append(
            f"- Change freezes not checked for {', '.join(md_code(s) for s in check.unchecked)}: no `tierstack.yaml` "
            "found from the plan's stack directory; pass `--config`"
        )
    return [*lines, ""] if lines else []


def _md_drift(review: Review, limit: int | None) -> list[str]:
    drifted, left_out = _cut([(s, d) for s in review.stacks for d in s.drift], limit)
    ignored = sum(s.drift_not_relevant for s in review.stacks)
    if not drifted and not ignored:
        return []
    lines = ["### Changed outside Terraform (drift this plan depends on)", ""]
    for stack, drift in drifted:
        what = "deleted outside Terraform" if drift.kind == "delete" else "changed"
        attrs = "; ".join(f"{md_code(a.path)}: {md_code(a.before)} → {md_code(a.after)}" for a in drift.attributes)
        lines.append(f"- {md_code(drift.address)} ({md_code(stack.stack)}) {what}: {attrs}")
    lines += left_out
    if ignored:
        lines.append(
            f"- {plural(ignored, 'other drifted resource')}: not shown, no planned change depends on "
            "what changed (as Terraform shows drift)"
        )
    return [*lines, ""]


def _md_cost(review: Review, limit: int | None, details: bool) -> list[str]:
    costed = review.costed
    total = review.cost_total()
    if not costed or total is None:
        return []
    currency = costed[0][1].currency
    lines = [f"### Estimated monthly cost ({md_text(currency)})", ""]
    rows = [
        [md_code(s.stack), money(c.before), money(c.after), _bold_change(c.delta), str(len(c.not_priced) or "")]
        for s, c in costed
    ]
    if len(review.stacks) > 1:
        count_unpriced = sum(len(c.not_priced) for _, c in costed)
        all_stacks = f"**all {len(review.stacks)} stacks**"
        change = _bold_change(total[1] - total[0])
        rows.append([all_stacks, money(total[0]), money(total[1]), change, str(count_unpriced or "")])
    lines += _table(["stack", "before", "after", "change", "not priced"], rows, right=(1, 2, 3, 4))
    lines.append("")
    priced, left_out = _cut([(s, ch) for s, c in costed for ch in c.priced], limit)
    if priced:
        lines += _table(
            ["stack", "resource", "action", "before", "after", "change"],
            (
                [
                    md_code(s.stack),
                    md_code(ch.address),
                    md_text(ch.action),
                    cost_side(ch.present_before, ch.before),
                    cost_side(ch.present_after, ch.after),
                    signed(ch.delta or 0.0),
                ]
                for s, ch in priced
            ),
            right=(3, 4, 5),
        )
        lines += [*left_out, ""]
    unpriced, left_out = _cut([(s, ch) for s, c in costed for ch in c.not_priced], limit)
    if unpriced:
        lines += ["Not priced, so left out of the figures above:", ""]
        lines += [
            f"- {md_code(ch.address)} ({md_code(s.stack)}), {md_text(ch.action)}: {md_text(ch.not_priced or '')}"
            for s, ch in unpriced
        ]
        lines += [*left_out, ""]
    lines += [f"_{cost_note(markdown=True)}_", ""]
    if not details:  # a comment cut to fit keeps one line
        return [*lines, f"_It leaves out: {md_text(' · '.join(leaves_out()))}._", ""]
    lines += ["<details>", "<summary>What the estimate leaves out</summary>", ""]
    lines += [f"- {md_text(item)}" for item in leaves_out()]
    return [*lines, "", "</details>", ""]


def _bold_change(amount: float) -> str:
    text = signed(amount)
    return text if text == "0.00" else f"**{text}**"


def _md_capabilities(review: Review, limit: int | None = None) -> list[str]:
    rows, left_out = _cut(by_capability(review), limit)
    if not rows:
        return []
    lines = ["### By capability", ""]
    lines += _table(
        ["stack", "capability", *COUNTED],
        ([md_code(stack), md_code(cap)] + [str(counts[k]) for k in COUNTED] for stack, cap, counts in rows),
        right=range(2, len(COUNTED) + 2),
    )
    return [*lines, *left_out, ""]


def _md_details(stack: StackReview) -> Iterator[str]:
    changes = [c for c in stack.changes if c.counted]
    if not changes:
        return
    yield from [
        "<details>",
        f"<summary>All changes in {html_text(stack.stack)}: {html_text(summary(stack.counts))}</summary>",
        "",
        f"Plan: {md_code(stack.source)}"
        + (f", Terraform {md_text(stack.terraform_version)}" if stack.terraform_version else ""),
        "",
    ]
    yield from _table_lines(
        ["action", "resource", "capability"],
        ([_md_action(c), md_code(c.address), md_code(c.capability)] for c in changes),
    )
    for change in changes:
        if not change.attributes:
            continue
        yield from ["", f"{md_code(change.address)}: {_md_action(change)}", ""]
        yield from (f"- {md_code(a.path)}: {md_code(a.before)} → {md_code(a.after)}" for a in change.attributes)
        if change.more_attributes:
            yield f"- and {plural(change.more_attributes, 'more attribute')}"
        if change.recomputed:
            yield f"- and {plural(change.recomputed, 'computed attribute')} known after apply"
    yield from ["", "</details>", ""]


def _md_action(change: Change) -> str:
    parts = [] if change.kind == "no-op" else [md_text(change_words(change))]
    if change.moved:
        parts.append(f"moved from {md_code(change.previous_address or '')}")
    if change.import_id is not None:
        parts.append(f"imported from id {md_code(change.import_id)}")
    if change.action_reason:
        parts.append(f"because {md_text(reason_words(change))}")
    return ", ".join(parts)
