"""From plan JSON to the model: each resource change, its attributes before and after, drift, outputs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

from tierstack.generator.analysis.review.model import (
    MAX_VALUE,
    MISSING,
    OTHER,
    UNKNOWN_TEXT,
    AttributeChange,
    Change,
    Drift,
    OutputChange,
    StackReview,
    plural,
)
from tierstack.generator.analysis.review.pricing import stack_cost
from tierstack.generator.analysis.review.words import action_kind
from tierstack.generator.core.errors import UserError
from tierstack.generator.facts.catalog import load_catalog
from tierstack.generator.facts.resource_types import any_true, update_losses
from tierstack.modules import base

MAX_ATTRIBUTES = 25  # attribute changes listed per resource


def review_stack(plan: Mapping[str, Any], source: str, stack: str | None = None) -> StackReview:
    """One plan (checked by read_plan) as a StackReview; the stack's name from `stack` or stack_name()."""
    known = capabilities_in(plan)
    changes = []
    for raw in plan.get("resource_changes", []):
        if raw.get("mode", "managed") != "managed":
            continue  # data sources are read, not changed
        change = _change(raw, known)
        if change.counted or change.kind != "no-op":
            changes.append(change)
    refresh_only = is_refresh_only(plan)
    drift, ignored = _drift(plan, known, everything=refresh_only)
    labels = default_labels(plan)
    return StackReview(
        stack=stack or stack_name(plan, source),
        source=source,
        environment=labels.get("environment"),
        terraform_version=str(plan.get("terraform_version", "")),
        changes=tuple(changes),
        drift=drift,
        drift_not_relevant=ignored,
        outputs=_outputs(plan),
        errored=bool(plan.get("errored")),
        cost=stack_cost(plan),
        refresh_only=refresh_only,
        incomplete=incomplete_reasons(plan),
    )


def is_refresh_only(plan: Mapping[str, Any]) -> bool:
    """A `-refresh-only` plan: Terraform writes no `resource_changes` at all (a normal plan lists every
    managed resource, a no-op included) while the prior state holds resources, or drift is listed."""
    if "resource_changes" in plan:
        return False
    prior = ((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {}
    return bool(plan.get("resource_drift")) or bool(prior.get("resources") or prior.get("child_modules"))


def incomplete_reasons(plan: Mapping[str, Any]) -> tuple[str, ...]:
    """Why applying this plan would not be the whole change: what `terraform show -json` records.

    Terraform 1.11 writes `"complete": false` for a plan made with -target (and a warning on the terminal,
    not in the JSON) and for one with deferred changes, which it lists in `deferred_changes`.
    """
    reasons = []
    deferred = plan.get("deferred_changes")
    if isinstance(deferred, list) and deferred:
        addresses = sorted(
            {str((d.get("resource_change") or {}).get("address", "?")) for d in deferred if isinstance(d, dict)}
        )
        shown = ", ".join(addresses[:5]) + (f" and {len(addresses) - 5} more" if len(addresses) > 5 else "")
        reasons.append(f"{plural(len(deferred), 'change')} deferred to a later plan ({shown})")
    if plan.get("complete") is False and not reasons:
        reasons.append("the plan is not complete (made with -target, or with changes deferred): other changes wait")
    if (
        plan.get("applyable") is False
        and "resource_changes" in plan
        and any(
            (c.get("change") or {}).get("actions") not in (["no-op"], ["read"])
            for c in plan.get("resource_changes", [])
        )
    ):
        reasons.append("Terraform marks the plan not applyable")
    return tuple(reasons)


def default_labels(plan: Mapping[str, Any]) -> dict[str, str]:
    """The google provider's default_labels, where tierstack writes use-case and environment."""
    providers = (plan.get("configuration") or {}).get("provider_config") or {}
    for key in ("google", "google-beta"):
        expressions = (providers.get(key) or {}).get("expressions") or {}
        labels = (expressions.get("default_labels") or {}).get("constant_value")
        if isinstance(labels, dict):
            return {str(k): str(v) for k, v in labels.items()}
    return {}


def check_one_plan_per_stack(stacks: Sequence[StackReview]) -> None:
    """Two plans of one stack would count its changes twice: a UserError naming both files."""
    seen: dict[str, str] = {}
    for stack in stacks:
        if stack.stack in seen:
            raise UserError(
                f"{seen[stack.stack]} and {stack.source} are both plans of stack {stack.stack}: its changes "
                "would be counted twice",
                file=stack.source,
                hint="give each stack's plan once (the newest), e.g. cdktf.out/stacks/*/*.tfplan.json",
            )
        seen[stack.stack] = stack.source
    return None


def stack_name(plan: Mapping[str, Any], source: str) -> str:
    """The stack a plan is for: its directory under `stacks/`, else tierstack's labels, else the file's name."""
    path = PurePath(source)
    if len(path.parts) >= 3 and path.parent.parent.name == "stacks":
        return path.parent.name
    labels = default_labels(plan)
    if labels.get("managed-by") == "tierstack" and labels.get("use-case") and labels.get("environment"):
        return f"{labels['use-case']}-{labels['environment']}"
    return path.name.removesuffix(".json") if source != "-" else "stdin"


def _always_selected() -> tuple[str, ...]:
    """The capabilities every stack has (the catalog says which)."""
    return tuple(cap.id for cap in load_catalog().always_selected)


def capabilities_in(plan: Mapping[str, Any]) -> frozenset[str]:
    """The capability ids a plan's resources carry in their `capability` label, and the ones every stack has."""
    found = set(_always_selected())
    for raw in plan.get("resource_changes", []):
        change = raw.get("change") or {}
        for side in ("before", "after"):
            value = _capability_label(_raw_labels(change.get(side)))
            if value:
                found.add(value)
    return frozenset(found)


def capability_of(name: str, labels: Mapping[str, str], known: Iterable[str]) -> str:
    """A resource's capability: its `capability` label, else the longest known id its name starts with.

    tierstack names every resource `<capability>_<construct id>` (modules/base.py), so the IAM bindings
    and service accounts, which carry no labels, group with the capability that made them.
    """
    return _capability(name, labels.get("capability"), known)


def _capability(name: str, label: str | None, known: Iterable[str]) -> str:
    """capability_of, given the `capability` label alone (the rest of a resource's labels is not read)."""
    if label:
        return label
    return base.capability_of(name, known) or OTHER


def _labels(values: Any) -> dict[str, str]:
    labels = _raw_labels(values)
    return {str(k): str(v) for k, v in labels.items()} if labels else {}


def _raw_labels(values: Any) -> dict[Any, Any] | None:
    """The `labels` object of a resource's values as the plan has it, or None; not copied (most are only
    asked for their `capability`)."""
    if not isinstance(values, dict):
        return None
    labels = values.get("labels")
    return labels if isinstance(labels, dict) else None


def _capability_label(labels: dict[Any, Any] | None) -> str | None:
    """The `capability` label as _labels gives it (a string), or None."""
    if not labels or "capability" not in labels:
        return None
    return str(labels["capability"])


def _side_labels(change: Mapping[str, Any], first: str, then: str) -> dict[Any, Any] | None:
    """The labels of one side of a change, else (when it has none) of the other: `_labels(a) or _labels(b)`."""
    return _raw_labels(change.get(first)) or _raw_labels(change.get(then))


def _change(raw: Mapping[str, Any], known: Iterable[str]) -> Change:
    change = raw.get("change") or {}
    actions = tuple(str(a) for a in change.get("actions", []))
    kind = action_kind(actions)
    importing = change.get("importing")
    import_id = None
    if isinstance(importing, dict):
        import_id = str(importing.get("id") or "(by identity)")
    label = _capability_label(_side_labels(change, "after", "before"))
    address = str(raw["address"])
    if raw.get("deposed"):
        address += f" (deposed object {raw['deposed']})"
    attributes: list[AttributeChange] = []
    if kind in ("update", "replace", "create-forget") or (import_id is not None and kind == "no-op"):
        attributes = attribute_changes(change)
    replace_paths = tuple(path_text(p) for p in change.get("replace_paths") or [] if isinstance(p, list))
    if kind == "update":
        listed = attributes  # an update shows what becomes unknown, as Terraform does
    else:
        listed = [a for a in attributes if a.after != UNKNOWN_TEXT or a.path in replace_paths]
    losses = tuple(update_losses(str(raw.get("type", "")), change)) if kind == "update" else ()
    return Change(
        address=address,
        type=str(raw.get("type", "")),
        capability=_capability(str(raw.get("name", "")), label, known),
        kind=kind,
        actions=actions,
        previous_address=raw.get("previous_address"),
        import_id=import_id,
        action_reason=raw.get("action_reason"),
        replace_paths=replace_paths,
        attributes=tuple(listed[:MAX_ATTRIBUTES]),
        more_attributes=max(0, len(listed) - MAX_ATTRIBUTES),
        recomputed=len(attributes) - len(listed),
        losses=losses,
    )


def path_text(path: Sequence[Any]) -> str:
    """['gce_setup', 0, 'machine_type'] -> gce_setup[0].machine_type"""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += ("." if text else "") + str(step)
    return text or "(the whole object)"


def attribute_changes(change: Mapping[str, Any], only: Sequence[Sequence[Any]] | None = None) -> list[AttributeChange]:
    """The attributes whose values differ between before and after, as leaf paths through objects.

    Lists are compared whole. Values Terraform knows only after apply, and sensitive values, are said so,
    never shown. With `only`, just those paths (relevant_attributes) are compared.
    """
    before, after = change.get("before"), change.get("after")
    unknown = change.get("after_unknown") or {}
    sensitive = (change.get("before_sensitive") or {}, change.get("after_sensitive") or {})
    out: list[AttributeChange] = []
    if only is not None:
        for path in only:
            b, a, u = _at(before, path), _at(after, path), _at(unknown, path)
            if b != a or any_true(u):
                out.append(_attribute(path_text(list(path)), b, a, u, (_at(s, path) for s in sensitive)))
        return out

    def walk(b: Any, a: Any, u: Any, s: tuple[Any, Any], path: list[Any]) -> None:
        """b and a differ, or u marks something unknown: descend into objects, list the leaves."""
        if isinstance(b, dict) and isinstance(a, dict) and u is not True and s[0] is not True and s[1] is not True:
            marks = u if isinstance(u, dict) else None
            for key in sorted(b.keys() | a.keys() | (marks.keys() if marks is not None else _NO_KEYS)):
                child_b, child_a = b.get(key, MISSING), a.get(key, MISSING)
                child_u = marks.get(key) if marks is not None else None
                if child_b == child_a and not _marked(child_u):
                    continue  # the common case, checked here rather than in a call per attribute
                walk(child_b, child_a, child_u, (_child(s[0], key), _child(s[1], key)), [*path, key])
            return
        out.append(_attribute(path_text(path), b, a, u, s))

    b, a = before if before is not None else {}, after if after is not None else {}
    if b != a or any_true(unknown):  # nothing differs, and nothing is unknown: no change to list
        walk(b, a, unknown, sensitive, [])
    return out


_NO_KEYS: frozenset[Any] = frozenset()


def _marked(mark: Any) -> bool:
    """any_true, without a call for what most marks are: absent, false, or empty."""
    return mark is True or (isinstance(mark, (dict, list)) and bool(mark) and any_true(mark))


def _child(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    return value if value is True else None


def _at(value: Any, path: Sequence[Any]) -> Any:
    for step in path:
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step, MISSING)
        elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
            value = value[step]
        elif value is True:  # a whole-value mark (unknown, sensitive) covers what is inside it
            return True
        else:
            return MISSING
    return value


def _attribute(path: str, before: Any, after: Any, unknown: Any, sensitive: Iterable[Any]) -> AttributeChange:
    before_sensitive, after_sensitive = (_marked(s) for s in sensitive)
    hidden = before_sensitive or after_sensitive  # sensitive on one side: neither side is shown
    shown_before = "(sensitive)" if hidden and before is not MISSING else value_text(before)
    if hidden and after is not MISSING:
        shown_after = UNKNOWN_TEXT if unknown is True else "(sensitive)"
    elif unknown is True:
        shown_after = UNKNOWN_TEXT
    else:
        shown_after = value_text(after) + (" (partly known after apply)" if any_true(unknown) else "")
    return AttributeChange(path, shown_before, shown_after)


def value_text(value: Any) -> str:
    if value is MISSING:
        return "(none)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _drift(plan: Mapping[str, Any], known: Iterable[str], everything: bool = False) -> tuple[tuple[Drift, ...], int]:
    """resource_drift filtered as Terraform filters it: only relevant attributes, and only if they changed.

    In a refresh-only plan the drift is the change (applying it writes it into the state): all of it.
    """
    relevant: dict[str, list[list[Any]]] = {}
    for item in plan.get("relevant_attributes", []):
        if isinstance(item, dict) and isinstance(item.get("attribute"), list):
            relevant.setdefault(str(item.get("resource", "")), []).append(item["attribute"])
    kept, ignored = [], 0
    for raw in plan.get("resource_drift", []):
        if not isinstance(raw, dict) or raw.get("mode", "managed") != "managed":
            continue
        change = raw.get("change") or {}
        paths = relevant.get(str(raw.get("address")), []) + relevant.get("", [])
        if everything:
            attributes = attribute_changes(change)
            if not attributes and change.get("actions") == ["delete"]:
                attributes = [AttributeChange("(the whole object)", "(present)", "(gone)")]
        else:
            attributes = attribute_changes(change, only=paths) if paths else []
        if not attributes:
            ignored += 1
            continue
        label = _capability_label(_raw_labels(change.get("before")))
        kept.append(
            Drift(
                address=str(raw.get("address")),
                type=str(raw.get("type", "")),
                capability=_capability(str(raw.get("name", "")), label, known),
                kind=action_kind(change.get("actions") or []),
                attributes=tuple(attributes[:MAX_ATTRIBUTES]),
            )
        )
    return tuple(kept), ignored


def _outputs(plan: Mapping[str, Any]) -> tuple[OutputChange, ...]:
    out = []
    for name, change in sorted((plan.get("output_changes") or {}).items()):
        if not isinstance(change, dict):
            continue
        kind = action_kind(change.get("actions") or [])
        if kind == "no-op":
            continue
        hidden = any_true(change.get("before_sensitive")) or any_true(change.get("after_sensitive"))
        before = "(sensitive)" if hidden else value_text(change.get("before"))
        if change.get("after_unknown") is True:
            after = UNKNOWN_TEXT
        elif hidden:
            after = "(sensitive)"
        elif change.get("after_unknown") is True:
            after = UNKNOWN_TEXT
        else:
            after = value_text(change.get("after"))
        out.append(
            OutputChange(
                str(name), kind, before if kind != "create" else "(none)", after if kind != "delete" else "(none)"
            )
        )
    return tuple(out)
