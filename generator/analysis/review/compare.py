"""`tierstack review --reviewed`: are the plans made at deploy time the plans a review approved?

The deploy plans again after the merge. Between the review and that plan the state can drift, a provider
can change, another merge can land: each would apply something nobody reviewed. This compares the two sets
of plans (`terraform show -json`) change by change: which resources change, with which actions, to which
values (after values, with Terraform's unknown and sensitive marks), which outputs. Any difference is listed
and the command exits non-zero (cli.EXIT_PLAN_CHANGED); sensitive values are compared, never printed.

Data sources are left out (reading is not changing), and so are a plan's drift and before values: what the
deploy would do is its actions and after values, and those are what the review approved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tierstack.generator.analysis.review.changes import path_text, stack_name
from tierstack.generator.analysis.review.model import UNKNOWN_TEXT

SENSITIVE_TEXT = "(sensitive)"
MAX_SHOWN = 80  # characters of a value in a difference


@dataclass(frozen=True)
class Difference:
    stack: str
    address: str  # a resource address, `output.NAME`, or "" for the stack itself
    what: str  # in words, for the person deciding whether to deploy


def compare(
    reviewed: Sequence[tuple[str, Mapping[str, Any]]], new: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[Difference]:
    """Every difference between the reviewed plans and the new ones, stack by stack, in a stable order.

    Each side is (source, plan). Plans are matched by stack (review.stack_name); one plan on each side is
    matched whatever its name.
    """
    old = _by_stack(reviewed)
    now = _by_stack(new)
    if len(old) == 1 and len(now) == 1:
        (old_name, old_plan), (new_name, new_plan) = next(iter(old.items())), next(iter(now.items()))
        return list(_stack(new_name if old_name == new_name else f"{old_name} → {new_name}", old_plan, new_plan))
    out: list[Difference] = []
    for name in sorted(set(old) | set(now)):
        if name not in now:
            out.append(Difference(name, "", "reviewed, but no new plan of this stack was given"))
        elif name not in old:
            out.append(Difference(name, "", "a new plan of a stack that was not reviewed"))
        else:
            out.extend(_stack(name, old[name], now[name]))
    return out


def _by_stack(plans: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Mapping[str, Any]]:
    return {stack_name(plan, source): plan for source, plan in plans}


def _stack(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Difference]:
    before, after = _changes(old), _changes(new)
    for address in sorted(set(before) | set(after)):
        was, now = before.get(address), after.get(address)
        if was is None or now is None:
            present = now if was is None else was
            side = "only in the new plan" if was is None else "only in the reviewed plan"
            if present is not None and present["actions"] != ["no-op"]:
                yield Difference(name, address, f"{side}: {_actions(present['actions'])}")
            continue
        if was["actions"] != now["actions"]:
            yield Difference(name, address, f"reviewed {_actions(was['actions'])}, now {_actions(now['actions'])}")
            continue
        for key in ("replace_paths", "importing", "previous_address"):
            if was.get(key) != now.get(key):
                yield Difference(name, address, f"{key}: reviewed {_shown(was.get(key))}, now {_shown(now.get(key))}")
        old_values, new_values = was["values"], now["values"]
        for path in sorted(set(old_values) | set(new_values)):
            a, b = old_values.get(path), new_values.get(path)
            if a != b:
                yield Difference(name, address, f"{path}: reviewed {_leaf(a)}, now {_leaf(b)}")
    yield from _outputs(name, old, new)


def _changes(plan: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for raw in plan.get("resource_changes") or ():
        if raw.get("mode", "managed") != "managed":
            continue
        change = raw.get("change") or {}
        address = str(raw["address"]) + (f" (deposed {raw['deposed']})" if raw.get("deposed") else "")
        importing = change.get("importing")
        out[address] = {
            "actions": list(change.get("actions") or ()),
            "replace_paths": change.get("replace_paths") or None,
            "importing": importing if importing else None,
            "previous_address": raw.get("previous_address"),
            "values": dict(
                _leaves(change.get("after"), change.get("after_unknown"), change.get("after_sensitive"), [])
            ),
        }
    return out


Leaf = tuple[str, str]  # (shown, compared): a sensitive value is compared by its digest, shown as (sensitive)


def _leaves(value: Any, unknown: Any, sensitive: Any, path: list[Any]) -> Iterator[tuple[str, Leaf]]:
    """Every leaf of an after value with its marks: path -> (what may be shown, what is compared)."""
    if unknown is True:
        yield path_text(path), (UNKNOWN_TEXT, UNKNOWN_TEXT)
        return
    if sensitive is True:
        digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
        yield path_text(path), (SENSITIVE_TEXT, digest)
        return
    if isinstance(value, dict) or isinstance(unknown, dict):
        items = value if isinstance(value, dict) else {}
        keys = set(items) | (set(unknown) if isinstance(unknown, dict) else set())
        for key in sorted(keys):
            yield from _leaves(items.get(key), _get(unknown, key), _get(sensitive, key), [*path, key])
        return
    if isinstance(value, list) or isinstance(unknown, list):
        elements = value if isinstance(value, list) else []
        length = max(len(elements), len(unknown) if isinstance(unknown, list) else 0)
        if not length:
            yield path_text(path), ("[]", "[]")
        for i in range(length):
            element = elements[i] if i < len(elements) else None
            yield from _leaves(element, _get(unknown, i), _get(sensitive, i), [*path, i])
        return
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    yield path_text(path), (text, text)


def _get(mark: Any, key: Any) -> Any:
    if isinstance(mark, dict):
        return mark.get(key)
    if isinstance(mark, list) and isinstance(key, int) and key < len(mark):
        return mark[key]
    return None


def _outputs(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[Difference]:
    before, after = old.get("output_changes") or {}, new.get("output_changes") or {}
    for output in sorted(set(before) | set(after)):
        was, now = before.get(output) or {}, after.get(output) or {}
        a, b = _output(was), _output(now)
        if a != b:
            yield Difference(name, f"output.{output}", f"reviewed {_leaf(a)}, now {_leaf(b)}")


def _output(change: Mapping[str, Any]) -> Leaf | None:
    actions = list(change.get("actions") or ["no-op"])
    if actions == ["no-op"]:
        return None
    values = dict(_leaves(change.get("after"), change.get("after_unknown"), change.get("after_sensitive"), []))
    shown = ", ".join(f"{k}={v[0]}" if k != "(the whole object)" else v[0] for k, v in values.items())
    compared = json.dumps({k: v[1] for k, v in values.items()}, sort_keys=True)
    return f"{_actions(actions)} to {shown}", f"{actions} {compared}"


def _leaf(leaf: Leaf | None) -> str:
    if leaf is None:
        return "(none)"
    shown = leaf[0]
    return shown if len(shown) <= MAX_SHOWN else shown[: MAX_SHOWN - 1] + "…"


def _shown(value: Any) -> str:
    return "(none)" if value is None else _leaf((json.dumps(value, sort_keys=True), ""))


def _actions(actions: Sequence[str]) -> str:
    from tierstack.generator.analysis.review.words import action_words

    return action_words(list(actions))


def to_text(differences: Sequence[Difference], reviewed: int, new: int) -> str:
    """What the deploy would apply that was not reviewed; or that the plans are the ones reviewed."""
    if not differences:
        return f"The new plans are the reviewed plans: {new} plan(s), the same changes as the {reviewed} reviewed.\n"
    lines = [
        f"Refused: the new plans differ from the reviewed plans in {len(differences)} place(s). "
        "Review the new plans (tierstack review) before applying them:",
    ]
    for d in differences:
        where = f"{d.stack}: {d.address}" if d.address else d.stack
        lines.append(f"  {where}: {d.what}")
    return "\n".join(lines) + "\n"
