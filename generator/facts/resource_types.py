"""The one resource-type table: generator/data/resource_types.yaml, extended by the capabilities.

For every resource type the stacks can create, one entry says what it holds and how it can lose it (the
checks that guard state: `tierstack review`, `diff`, `generate` and the state-safety tests), how Google
bills it (`cost` and the review's cost lines), what part it plays in a page's diagram (`docs`) and, where
the type's own prefix does not say it, the API it needs (the stack assembler). A capability that creates
a type the file does not list declares the type's entry on its class (`resource_types`, modules/base.py):
registering the class adds it here, so every reader learns the type from the capability alone.

A type the table does not know counts as possibly holding data: a new capability's resource is guarded
until someone classifies it, never silently "holds no data".

The update rules read a plan's `before` and `after` values (`terraform show -json`): a retention
shortened, an expiration added or lowered, a BigQuery schema that loses a column, a lifecycle rule that
deletes. Each loss is one line for the reviewer: the attribute, its old and new value, what is lost.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Literal, get_args

Holds = Literal["data", "config", "identity", "none"]
HOLDS: tuple[str, ...] = get_args(Holds)
# How Google bills it, as `cost` reads it:
#   rule        a price rule in generator/analysis/cost/pricing.py prices it from the price table
#   free        no charge of its own (access, APIs, identities, budgets, networks without traffic)
#   usage       billed only by what flows through it: named in the estimate's "leaves out", no line
#   context     usage, and read to price another resource's line (a workflow a schedule starts)
#   not_priced  billed, but not estimated on purpose: a line "not priced" with the reason
#               (`not_priced:`, or generator/data/prices.yaml's `excluded` list)
# A type with no billing class is a gap in the price table: "tierstack has no price rule for it yet".
Billing = Literal["rule", "free", "usage", "context", "not_priced"]
BILLING: tuple[str, ...] = get_args(Billing)
# Its part in a page's diagram (generator/output/docs/model.py):
#   part      a box of its capability (the default)
#   store     a store of its capability's data, drawn as one
#   key       a store every encrypted resource references: counted, not drawn
#   identity  a service account or an identity pool: drawn in the access group
#   agent     one of Google's service agents: an identity, all of them grouped
#   trigger   it starts its capability's runs (a schedule, a workflow): an arrow into training
#   plumbing  in the resource table, not in the diagram (APIs, project-wide grants)
Diagram = Literal["part", "store", "key", "identity", "agent", "trigger", "plumbing"]
DIAGRAM: tuple[str, ...] = get_args(Diagram)
WHEN: tuple[str, ...] = ("shortened", "added_or_lowered", "changed", "columns_dropped", "delete_rule")
# types that cost nothing of their own whatever they are on: every kind of IAM grant
NO_CHARGE_SUFFIXES = ("_iam_member", "_iam_binding", "_iam_policy", "_iam_audit_config")
NO_API = "none"  # the `api` of a type that needs no API of its own (enabling one: Service Usage is always on)
DATA_FILE = "generator/data/resource_types.yaml"
_MISSING: Any = object()
_API = re.compile(r"^[a-z0-9-]+\.googleapis\.com$")


@dataclass(frozen=True)
class UpdateRule:
    """An attribute whose in-place update can lose data, and how."""

    path: tuple[str, ...]
    when: str
    loses: str


@dataclass(frozen=True)
class ResourceType:
    """One row of the table. A capability declares one per type it adds: `ResourceType(holds="data", ...)`."""

    holds: Holds
    loses: str = ""  # what destroying it loses (holds: data)
    update_rules: tuple[UpdateRule, ...] = ()
    billing: Billing | None = None  # None: a gap in the price table
    not_priced: str = ""  # billing not_priced: why, as the estimate says it (else prices.yaml's `excluded`)
    diagram: Diagram = "part"
    api: str | None = None  # the API it needs, where its prefix's (`api_by_prefix`) is not it; "none": none
    name: str = ""  # filled in from the table's key

    def problems(self) -> list[str]:
        """What is wrong with the entry, one phrase each (none for a good one)."""
        out = []
        if self.holds not in HOLDS or (self.holds == "data") != bool(self.loses):
            out.append(f"holds must be one of {HOLDS}, with `loses` exactly for data")
        if self.billing is not None and self.billing not in BILLING:
            out.append(f"billing must be one of {BILLING}")
        if self.not_priced and self.billing != "not_priced":
            out.append("`not_priced` (a reason) goes with billing: not_priced")
        if self.diagram not in DIAGRAM:
            out.append(f"diagram must be one of {DIAGRAM}")
        if self.api is not None and self.api != NO_API and not _API.fullmatch(self.api):
            out.append(f"api must be an API name such as aiplatform.googleapis.com, or '{NO_API}'")
        return out


@dataclass(frozen=True)
class _Shipped:
    types: dict[str, ResourceType]
    api_by_prefix: tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=1)
def _shipped() -> _Shipped:
    """The file, read and checked once per process (a malformed entry is a bug in tierstack: RuntimeError)."""
    from tierstack.generator.core.yamlio import parse, to_plain

    text = (
        resources.files("tierstack.generator")
        .joinpath("data")
        .joinpath("resource_types.yaml")
        .read_text(encoding="utf-8")
    )
    raw = to_plain(parse(text, "tierstack/" + DATA_FILE))
    out: dict[str, ResourceType] = {}
    for name, entry in (raw.get("types") or {}).items():
        rules = []
        for rule in entry.get("update_losses") or ():
            if rule.get("when") not in WHEN or not rule.get("path") or not rule.get("loses"):
                raise RuntimeError(f"{DATA_FILE}: {name}: an update_losses entry needs path, loses, when in {WHEN}")
            rules.append(UpdateRule(tuple(str(rule["path"]).split(".")), str(rule["when"]), str(rule["loses"])))
        row = ResourceType(
            holds=entry.get("holds"),
            loses=str(entry.get("loses") or ""),
            update_rules=tuple(rules),
            billing=entry.get("billing"),
            not_priced=str(entry.get("not_priced") or ""),
            diagram=entry.get("diagram") or "part",
            api=entry.get("api"),
            name=str(name),
        )
        if row.problems():
            raise RuntimeError(f"{DATA_FILE}: {name}: {'; '.join(row.problems())}")
        out[str(name)] = row
    prefixes = tuple((str(p), str(a)) for p, a in (raw.get("api_by_prefix") or {}).items())
    return _Shipped(out, prefixes)


# --- what the capabilities add ----------------------------------------------------------------------

_ADDED: dict[str, tuple[str, ResourceType]] = {}  # type -> (the class that declared it, its entry)


def extend(types: Mapping[str, ResourceType], by: str) -> None:
    """Add a capability's entries (its class's `resource_types`); `by` names the class in messages.

    A type the file or another capability already classifies is refused (TypeError, for the class's
    author): two entries for one type would make the readers disagree.
    """
    for name, row in types.items():
        wrong: list[str] = [] if isinstance(row, ResourceType) else ["it is not a ResourceType"]
        wrong = wrong or row.problems()
        if wrong:
            raise TypeError(f"{by}.resource_types['{name}']: {'; '.join(wrong)}")
        owner = _ADDED.get(name, (by, row))[0]
        if name in _shipped().types or owner != by:
            where = DATA_FILE if name in _shipped().types else owner
            raise TypeError(f"{by}.resource_types['{name}']: {where} classifies {name} already; declare it once")
    for name, row in types.items():
        _ADDED[name] = (by, replace(row, name=name))
    _rows.cache_clear()


def retract(by: str) -> None:
    """Forget the entries a class added (a test's throwaway capability cleans up with this)."""
    for name in [n for n, (owner, _) in _ADDED.items() if owner == by]:
        del _ADDED[name]
    _rows.cache_clear()


def table() -> dict[str, ResourceType]:
    """Every type: the file's, then the capabilities' (loaded first, see _load_capabilities)."""
    _load_capabilities()
    return _rows()


@functools.lru_cache(maxsize=1)
def _rows() -> dict[str, ResourceType]:
    """The file's rows and those of the capabilities registered so far, without loading any: what a
    class's registration and the assembler (which run with the capabilities imported) read."""
    return {**_shipped().types, **{name: row for name, (_, row) in _ADDED.items()}}


_loading = False
_loaded = False


def _load_capabilities() -> None:
    """Load the built-in and installed capabilities, whose classes add their rows when they register.

    A process that only reads a plan or a stack (`review`, `diff`, `cost`) imports no capability by
    itself; without this, a type a built-in capability declares would be unknown there. Importing the
    capabilities is cheap (no cdktn); one that fails to load is blamed as `tierstack.modules.registry()`
    blames it.
    """
    global _loading, _loaded
    if _loading or _loaded:
        return  # loaded, or a capability's import asked for the table while the capabilities load
    _loading = True
    try:
        # the loading alone (registry() would also list them, and a module half imported, whose class has
        # not registered yet, is not listed: it adds its rows when it does)
        from tierstack.modules import _load_package

        _load_package()
        _loaded = True
    finally:
        _loading = False


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


# --- billing, the diagram, the API ------------------------------------------------------------------


def billing(resource_type: str) -> Billing | None:
    """How Google bills it; None for a type the table has no class for (a gap in the price table)."""
    entry = table().get(resource_type)
    if entry is not None and entry.billing is not None:
        return entry.billing
    return "free" if resource_type.endswith(NO_CHARGE_SUFFIXES) else None


def not_priced_reason(resource_type: str) -> str:
    """Why a type billed but not estimated is left out, where its entry says it ('' otherwise)."""
    entry = table().get(resource_type)
    return entry.not_priced if entry is not None else ""


def diagram_role(resource_type: str) -> Diagram:
    entry = table().get(resource_type)
    return entry.diagram if entry is not None else "part"


def api_prefixes() -> tuple[tuple[str, str], ...]:
    """(type prefix, API) pairs, for the types whose entry names no API of its own."""
    return _shipped().api_by_prefix


def api_of(resource_type: str) -> str | None:
    """The API a type needs: its entry's, else its prefix's; None when neither says (or it needs none).

    Asked while a capability class registers (its key check) and by the assembler: the rows registered
    so far, without loading the capabilities."""
    entry = _rows().get(resource_type)
    if entry is not None and entry.api is not None:
        return None if entry.api == NO_API else entry.api
    return next((api for prefix, api in api_prefixes() if resource_type.startswith(prefix)), None)


def needs_no_api(resource_type: str) -> bool:
    entry = _rows().get(resource_type)
    return entry is not None and entry.api == NO_API


class Having:
    """The types whose entry has a property: `t in Having(...)` reads the table when asked, so a type a
    capability adds after the reader's module was imported is seen."""

    def __init__(self, test: Any, what: str) -> None:
        self._test, self._what = test, what

    def __contains__(self, resource_type: object) -> bool:
        return isinstance(resource_type, str) and bool(self._test(resource_type))

    def __iter__(self) -> Any:
        return iter(sorted(t for t in table() if self._test(t)))

    def __repr__(self) -> str:
        return f"<resource types: {self._what}>"


def with_billing(*classes: str) -> Having:
    """The types billed as one of these classes (explicitly in the table; IAM grants are `free` by suffix)."""
    return Having(lambda t: t in table() and table()[t].billing in classes, f"billing in {classes}")


def with_role(*roles: str) -> Having:
    return Having(lambda t: t in table() and table()[t].diagram in roles, f"diagram in {roles}")


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
