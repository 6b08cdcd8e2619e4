"""What each resource type holds, and which in-place updates lose data: generator/data/resource_types.yaml.

One table for every check that guards state: `tierstack review`, `diff`, `generate` and the state-safety
tests. A type the table does not know counts as possibly holding data: a new capability's resource is
guarded until someone classifies it, never silently "holds no data".

The update rules read a plan's `before` and `after` values (`terraform show -json`): a retention
shortened, an expiration added or lowered, a BigQuery schema that loses a column, a lifecycle rule that
deletes. Each loss is one line for the reviewer: the attribute, its old and new value, what is lost.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

Holds = Literal["data", "config", "identity", "none"]
HOLDS: tuple[str, ...] = ("data", "config", "identity", "none")
WHEN: tuple[str, ...] = ("shortened", "added_or_lowered", "changed", "columns_dropped", "delete_rule")
DATA_FILE = "generator/data/resource_types.yaml"
_MISSING: Any = object()


@dataclass(frozen=True)
class UpdateRule:
    """An attribute whose in-place update can lose data, and how."""

    path: tuple[str, ...]
    when: str
    loses: str


@dataclass(frozen=True)
class ResourceType:
    name: str
    holds: Holds
    loses: str = ""  # what destroying it loses (holds: data)
    update_rules: tuple[UpdateRule, ...] = ()


@functools.lru_cache(maxsize=1)
def table() -> dict[str, ResourceType]:
    """The table, read and checked once per process (a malformed entry is a bug in tierstack: RuntimeError)."""
    from tierstack.generator.yamlio import parse, to_plain

    text = (
        resources.files("tierstack.generator")
        .joinpath("data")
        .joinpath("resource_types.yaml")
        .read_text(encoding="utf-8")
    )
    raw = to_plain(parse(text, "tierstack/" + DATA_FILE))
    out: dict[str, ResourceType] = {}
    for name, entry in (raw.get("types") or {}).items():
        holds = entry.get("holds")
        if holds not in HOLDS or (holds == "data") != bool(entry.get("loses")):
            raise RuntimeError(f"{DATA_FILE}: {name}: holds must be one of {HOLDS}, with `loses` exactly for data")
        rules = []
        for rule in entry.get("update_losses") or ():
            if rule.get("when") not in WHEN or not rule.get("path") or not rule.get("loses"):
                raise RuntimeError(f"{DATA_FILE}: {name}: an update_losses entry needs path, loses, when in {WHEN}")
            rules.append(UpdateRule(tuple(str(rule["path"]).split(".")), str(rule["when"]), str(rule["loses"])))
        out[str(name)] = ResourceType(str(name), holds, str(entry.get("loses") or ""), tuple(rules))
    return out


def known(resource_type: str) -> bool:
    return resource_type in table()


def holds_data(resource_type: str) -> str | None:
    """What destroying a resource of this type loses; None for a type known to hold no data.

    An unknown type possibly holds data: the answer says so, and that it should be classified.
    """
    entry = table().get(resource_type)
    if entry is None:
        return f"possibly data: {DATA_FILE} does not say what a {resource_type} holds"
    return entry.loses if entry.holds == "data" else None


def stateful_types() -> dict[str, str]:
    """type -> what is lost, for every type the table says holds data."""
    return {name: t.loses for name, t in table().items() if t.holds == "data"}


# --- in-place updates that lose data ---------------------------------------------------------------


def update_losses(resource_type: str, change: Mapping[str, Any]) -> list[str]:
    """For an in-place update (a plan's `change`): one line per rule of the type that loses data."""
    entry = table().get(resource_type)
    if entry is None or not entry.update_rules:
        return []
    before, after = change.get("before"), change.get("after")
    unknown = change.get("after_unknown")
    out = []
    for rule in entry.update_rules:
        b, a, u = _at(before, rule.path), _at(after, rule.path), _at(unknown, rule.path)
        if u is True or (any_true(u) and rule.when in ("columns_dropped", "delete_rule")):
            out.append(f"{'.'.join(rule.path)} is known only after apply: it may mean {rule.loses}")
            continue
        found = _CHECKS[rule.when](b, a)
        if found:
            out.append(f"{'.'.join(rule.path)} {found}: {rule.loses}")
    return out


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for step in path:
        while isinstance(value, list) and len(value) == 1:
            value = value[0]  # a block of one item (retention_policy, time_partitioning)
        if value is True:
            return True
        if not isinstance(value, dict) or value.get(step) is None:
            return _MISSING
        value = value[step]
    while isinstance(value, list) and len(value) == 1 and isinstance(value[0], (int, float, str)):
        value = value[0]
    return value


def any_true(mark: Any) -> bool:
    """A plan's unknown/sensitive mark: True anywhere inside it."""
    if mark is True:
        return True
    if isinstance(mark, dict):
        return any(any_true(v) for v in mark.values())
    if isinstance(mark, list):
        return any(any_true(v) for v in mark)
    return False


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$")


def _number(value: Any) -> float | None:
    """A count, milliseconds or a duration string ('86400s', '604800'); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        return float(match.group(1)) if match else None
    return None


def _shown(value: Any) -> str:
    return "(none)" if value is _MISSING else json.dumps(value, sort_keys=True)


def _shortened(before: Any, after: Any) -> str | None:
    if before is _MISSING or before == after:
        return None
    if after is _MISSING:
        return f"removed (was {_shown(before)})"
    b, a = _number(before), _number(after)
    if b is not None and a is not None and a < b:
        return f"shortened from {_shown(before)} to {_shown(after)}"
    return None


def _added_or_lowered(before: Any, after: Any) -> str | None:
    if after is _MISSING or before == after:
        return None
    if before is _MISSING:
        return f"set to {_shown(after)} (was unset)"
    b, a = _number(before), _number(after)
    if b is not None and a is not None and a < b:
        return f"lowered from {_shown(before)} to {_shown(after)}"
    if isinstance(before, str) and isinstance(after, str) and after < before:  # RFC 3339 times
        return f"moved earlier from {_shown(before)} to {_shown(after)}"
    return None


def _changed(before: Any, after: Any) -> str | None:
    if before is _MISSING or before == after:
        return None
    return f"changed from {_shown(before)} to {_shown(after)}"


def _columns(schema: Any) -> set[str]:
    """The column paths of a BigQuery schema (the provider's JSON string, or its list), nested ones dotted."""
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError:
            return set()
    out: set[str] = set()

    def walk(fields: Any, prefix: str) -> None:
        for field in fields if isinstance(fields, list) else ():
            if isinstance(field, dict) and isinstance(field.get("name"), str):
                name = prefix + field["name"]
                out.add(name.lower())  # BigQuery column names are case-insensitive
                walk(field.get("fields"), name + ".")

    walk(schema, "")
    return out


def _columns_dropped(before: Any, after: Any) -> str | None:
    if before is _MISSING or after is _MISSING:
        return None
    dropped = sorted(_columns(before) - _columns(after))
    if not dropped:
        return None
    return f"drops {len(dropped)} column{'s' if len(dropped) != 1 else ''} ({', '.join(dropped)})"


def _delete_rules(value: Any) -> list[str]:
    """The rules of a lifecycle (bucket) or cleanup policy (Artifact Registry) list that delete, as JSON."""
    items = value if isinstance(value, list) else ([value] if isinstance(value, dict) else [])
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        action = item.get("action")
        while isinstance(action, list) and action:
            action = action[0]
        kind = action.get("type") if isinstance(action, dict) else action
        if isinstance(kind, str) and kind.lower() == "delete":
            out.append(json.dumps(item, sort_keys=True))
    return out


def _delete_rule(before: Any, after: Any) -> str | None:
    if before == after:
        return None
    old = set(_delete_rules(before if before is not _MISSING else []))
    new = [r for r in _delete_rules(after if after is not _MISSING else []) if r not in old]
    if not new:
        return None
    return f"adds or changes {len(new)} rule{'s' if len(new) != 1 else ''} that delete{'s' if len(new) == 1 else ''}"


_CHECKS = {
    "shortened": _shortened,
    "added_or_lowered": _added_or_lowered,
    "changed": _changed,
    "columns_dropped": _columns_dropped,
    "delete_rule": _delete_rule,
}
