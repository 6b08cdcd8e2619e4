"""The comparison of two syntheses, a pure function: per stack the resources added, removed, changed
(attribute by attribute, encoded bodies key by key) and renamed (declared by a `moved` block, or found by
identity), which of them are replaced, and the data at risk when a stateful resource would be destroyed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tierstack.generator.analysis.diff.decode import DECODED, decode_body
from tierstack.generator.analysis.diff.identity import _ADDRESS, IDENTITY_KEYS, _Identities, identity_label
from tierstack.generator.analysis.diff.model import (
    ABSENT,
    KINDS,
    METADATA_KEY,
    AttributeChange,
    Kind,
    Report,
    Resource,
    ResourceChange,
    Stack,
    StackDiff,
    StackStatus,
    Synthesis,
)
from tierstack.generator.analysis.diff.text import _short
from tierstack.generator.facts.stateful import holds_data


def compare(base: Synthesis, head: Synthesis, base_label: str = "BASE", head_label: str = "HEAD") -> Report:
    """Every stack of either side, compared; stacks in name order."""
    stacks = tuple(compare_stacks(name, base.get(name), head.get(name)) for name in sorted(set(base) | set(head)))
    return Report(base_label, head_label, stacks)


def compare_stacks(name: str, base: Stack | None, head: Stack | None) -> StackDiff:
    if base is None and head is None:
        raise ValueError(f"stack {name} is on neither side")
    if base is None:
        assert head is not None
        added = tuple(_single("added", r) for r in head.resources.values())
        return StackDiff(name, "added", _ordered(added), tuple(attribute_changes({}, head.blocks)))
    if head is None:
        removed = tuple(
            _single("removed", r, at_risk=_loss(r.type, _STACK_GONE, "at risk")) for r in base.resources.values()
        )
        return StackDiff(name, "removed", _ordered(removed), tuple(attribute_changes(base.blocks, {})))
    changes = _compare_resources(base, head)
    renames = {c.previous_address: c.address for c in changes if c.kind == "renamed" and c.previous_address}
    blocks = tuple(attribute_changes(_renamed_references(base.blocks, renames), head.blocks))
    status: StackStatus = "changed" if changes or blocks else "unchanged"
    return StackDiff(name, status, _ordered(tuple(changes)), blocks)


def _compare_resources(base: Stack, head: Stack) -> list[ResourceChange]:
    only_base = {a for a in base.resources if a not in head.resources}
    only_head = {a for a in head.resources if a not in base.resources}
    base_ids, head_ids = _Identities(base, whole=True), _Identities(head, whole=True)
    base_scope, head_scope = _Identities(base, whole=False), _Identities(head, whole=False)
    renames: dict[str, tuple[str, bool]] = {}  # BASE address -> (HEAD address, declared by a moved block)
    for before, after in head.moved:
        if before in only_base and after in only_head and before.split(".")[0] == after.split(".")[0]:
            renames[before] = (after, True)
    # undeclared: the same type and identity on both sides, one to one
    by_identity: dict[str, list[str]] = {}
    for address in sorted(only_head - {after for after, _ in renames.values()}):
        by_identity.setdefault(head_ids.of(address), []).append(address)
    candidates: dict[str, list[str]] = {}
    for address in sorted(only_base - set(renames)):
        candidates.setdefault(base_ids.of(address), []).append(address)
    for identity, befores in candidates.items():
        afters = by_identity.get(identity, [])
        if len(befores) == 1 and len(afters) == 1:
            renames[befores[0]] = (afters[0], False)
    moved = {before: after for before, (after, _) in renames.items()}

    changes: list[ResourceChange] = []
    for before, (after, declared) in sorted(renames.items()):
        old, new = base.resources[before], head.resources[after]
        replaced = base_scope.of(before) != head_scope.of(after)
        attributes = _changed_attributes(old, new, moved)
        reason = None
        if replaced:
            reason = _replacement(old, new)
        elif not declared:
            reason = "renamed without a moved block: Terraform destroys it and creates a new one"
        changes.append(
            ResourceChange(
                "renamed",
                head.name,
                new.capability,
                new.type,
                after,
                previous_address=before,
                attributes=attributes,
                replaced=replaced,
                declared=declared,
                at_risk=_loss(new.type, reason) if reason else None,
                identity=identity_label(new),
            )
        )
    for address in sorted(only_base - set(renames)):
        resource = base.resources[address]
        forgotten = address in head.forgotten
        reason = None if forgotten else "removed: Terraform destroys it"
        changes.append(_single("removed", resource, at_risk=_loss(resource.type, reason), declared=forgotten))
    for address in sorted(only_head - set(moved.values())):
        changes.append(_single("added", head.resources[address]))
    for address in sorted(set(base.resources) & set(head.resources)):
        old, new = base.resources[address], head.resources[address]
        attributes = _changed_attributes(old, new, moved)
        if not attributes:
            continue
        replaced = base_scope.of(address) != head_scope.of(address)
        changes.append(
            ResourceChange(
                "changed",
                head.name,
                new.capability,
                new.type,
                address,
                attributes=attributes,
                replaced=replaced,
                at_risk=_loss(new.type, _replacement(old, new)) if replaced else None,
                identity=identity_label(new),
            )
        )
    return changes


def _changed_attributes(old: Resource, new: Resource, moved: Mapping[str, str]) -> tuple[AttributeChange, ...]:
    """The attributes that differ, those HEAD's `lifecycle.ignore_changes` names marked as ignored."""
    lifecycle = new.body.get("lifecycle")
    ignore = lifecycle.get("ignore_changes", []) if isinstance(lifecycle, Mapping) else []
    ignored = {str(x) for x in ignore} if isinstance(ignore, list) else {str(ignore)}
    changes = attribute_changes(_renamed_references(old.body, moved), new.body)
    return tuple(
        replace(c, ignored=True) if "all" in ignored or re.split(r"[.\[]", c.path)[0] in ignored else c for c in changes
    )


def _single(kind: Kind, resource: Resource, at_risk: str | None = None, declared: bool = False) -> ResourceChange:
    return ResourceChange(
        kind,
        resource.stack,
        resource.capability,
        resource.type,
        resource.address,
        at_risk=at_risk,
        declared=declared,
        identity=identity_label(resource),
    )


def _replacement(old: Resource, new: Resource) -> str:
    changed = [
        f"{k} {_short(old.body.get(k, ABSENT))} → {_short(new.body.get(k, ABSENT))}"
        for k in IDENTITY_KEYS
        if old.body.get(k, ABSENT) != new.body.get(k, ABSENT)
    ]
    what = "; ".join(changed) if changed else "a resource it refers to is replaced"
    return f"replaced: its identity changes ({what}), which Google Cloud cannot change in place"


_STACK_GONE = "its stack is no longer generated, so nothing plans or protects it (a destroy there deletes it)"


def _loss(resource_type: str, reason: str | None, verb: str = "lost") -> str | None:
    """The data-at-risk message for a stateful type, else None."""
    held = holds_data(resource_type)
    if reason is None or held is None:
        return None
    return f"{reason}; {verb}: {held}"


def _ordered(changes: tuple[ResourceChange, ...]) -> tuple[ResourceChange, ...]:
    return tuple(sorted(changes, key=lambda c: (c.capability, KINDS.index(c.kind), c.address)))


def _renamed_references(value: Any, renames: Mapping[str, str]) -> Any:
    """BASE's references to renamed resources, as HEAD writes them (a rename alone changes no referrer)."""
    if not renames:
        return value
    if isinstance(value, str):
        return _ADDRESS.sub(lambda m: renames.get(m.group(0), m.group(0)), value)
    if isinstance(value, Mapping):
        return {k: _renamed_references(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed_references(v, renames) for v in value]
    return value


def attribute_changes(before: Any, after: Any, path: str = "") -> list[AttributeChange]:
    """The leaves that differ, by path; lists of equal length compare element by element."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            if key == METADATA_KEY:
                continue
            sub = f"{path}.{key}" if path else str(key)
            found += attribute_changes(before.get(key, ABSENT), after.get(key, ABSENT), sub)
        return found
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and any(isinstance(v, (Mapping, list)) for v in [*before, *after])
    ):
        return [
            c
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for c in attribute_changes(b, a, f"{path}[{i}]")
        ]
    if (before is ABSENT and after is ABSENT) or (before == after and type(before) is type(after)):
        return []
    if isinstance(before, str) and isinstance(after, str):
        inner = _decoded_changes(path, before, after)
        if inner:
            return inner
    return [AttributeChange(path, before, after)]


def _decoded_changes(path: str, before: str, after: str) -> list[AttributeChange]:
    """The changes inside two encoded values, by path under `<path>[decoded]`; [] when either side does not
    decode, or when what they hold is the same (then the encoded text itself is the change)."""
    old, new = decode_body(path, before), decode_body(path, after)
    if old is None or new is None:
        return []
    return attribute_changes(old[0], new[0], path + DECODED)
