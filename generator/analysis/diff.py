"""`tierstack diff`: what changes between two syntheses, resource by resource, and what data is at risk.

The comparison (`compare`) is a pure function over parsed `cdk.tf.json` files: no Terraform, no
credentials, no network. Per stack it reports resources added, removed and changed (attribute by
attribute, before and after; `//` metadata keys are ignored), and renames: a resource of the same type
and the same identity under a new address. A resource's identity is what names it in Google Cloud
(IDENTITY_KEYS: `name`, `bucket`, `dataset_id`, `account_id`, `repository_id`, ..., with `project`
and `location`/`region`/`zone`); references to other resources count by the identity of what they
point to, so a renamed bucket's IAM members follow it. A rename that a `moved` block in HEAD declares
is Terraform's move, not a loss. A change of identity at one address (a bucket moved to another
region) is a replacement: Google Cloud cannot rename or relocate such a resource in place. An argument
that encodes a document (a scheduler job's base64 body, a workflow's jsonencode'd source) is decoded and
compared key by key (`http_target.body[decoded].templateUri`), so a change inside it is not one long
string that starts the same on both sides.

A stateful resource (generator/facts/stateful.py) that is removed, renamed without a `moved` block, or
replaced is **data at risk**: `terraform apply` would destroy it and what it holds. docs/diff.md
explains the rules.

The second half reads syntheses: an output directory (`cdktf.out/`), or a git ref of a repository,
extracted with `git archive` into a temporary directory (the user's working tree, index and HEAD are
never touched) and synthesized there by the running tierstack. Each temporary directory is removed
in a `finally`, Ctrl-C included.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal

from tierstack.generator.core.errors import ErrorList, UserError
from tierstack.generator.facts.stateful import holds_data, is_stateful
from tierstack.generator.synth.stacks import STACK_FILE

METADATA_KEY = "//"

# The arguments that name a resource in Google Cloud, and the scope it is named in. Types without any
# naming argument (alert policies, budgets, notification channels, TensorBoards get ids from Google)
# are identified by their whole body: the same body at a new address is the same resource moved.
NAME_KEYS: tuple[str, ...] = (
    "name",
    "bucket",
    "dataset_id",
    "table_id",
    "account_id",
    "repository_id",
    "repository",
    "workload_identity_pool_id",
    "workload_identity_pool_provider_id",
    "key_ring",
    "crypto_key_id",
    "service_account_id",
    "feature_online_store",
    "topic",
    "service",
    "role",
    "member",
)
SCOPE_KEYS: tuple[str, ...] = ("project", "location", "region", "zone")
IDENTITY_KEYS: tuple[str, ...] = NAME_KEYS + SCOPE_KEYS
_CASELESS = frozenset({"location", "region", "zone"})  # `EUROPE-WEST4` is `europe-west4` to Google
# Not part of a whole-body identity: meta-arguments that name other addresses or Terraform's behaviour
_META = frozenset({"depends_on", "lifecycle", "provider", "count", "for_each"})

Kind = Literal["added", "removed", "changed", "renamed"]
KINDS: tuple[Kind, ...] = ("removed", "renamed", "changed", "added")  # the order a report lists them in
StackStatus = Literal["added", "removed", "changed", "unchanged"]


class _Absent:
    """The value of an attribute one side does not have (None is a value Terraform JSON can hold)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


# --- the parsed syntheses ------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    stack: str
    type: str
    name: str
    capability: str
    body: Mapping[str, Any]  # the resource's arguments, without `//` metadata

    @property
    def address(self) -> str:
        return f"{self.type}.{self.name}"


@dataclass(frozen=True)
class Stack:
    """One `cdk.tf.json`: its resources by address, its `moved` and `removed` blocks, and the rest."""

    name: str
    resources: Mapping[str, Resource]
    moved: tuple[tuple[str, str], ...] = ()  # (from, to)
    forgotten: frozenset[str] = frozenset()  # `removed` blocks with `destroy = false`: left in Google Cloud
    blocks: Mapping[str, Any] = field(default_factory=dict)  # provider, terraform, data, output, ...


Synthesis = Mapping[str, Stack]  # stack name -> stack


def parse_stack(name: str, data: Mapping[str, Any]) -> Stack:
    """A stack from its parsed `cdk.tf.json`; ValueError when it is not Terraform JSON as cdktn writes it."""
    if not isinstance(data, Mapping):
        raise ValueError("the top level is not a JSON object")
    resources: dict[str, Resource] = {}
    by_type = data.get("resource", {})
    if not isinstance(by_type, Mapping):
        raise ValueError("'resource' is not an object")
    for rtype, named in by_type.items():
        if not isinstance(named, Mapping):
            raise ValueError(f"'resource.{rtype}' is not an object")
        for rname, body in named.items():
            if not isinstance(body, Mapping):
                raise ValueError(f"'resource.{rtype}.{rname}' is not an object")
            resource = Resource(name, rtype, rname, _capability(body), _without_metadata(body))
            resources[resource.address] = resource
    moved = tuple(
        (str(block["from"]), str(block["to"]))
        for block in _blocks(data.get("moved"))
        if isinstance(block, Mapping) and "from" in block and "to" in block
    )
    forgotten = frozenset(
        str(block["from"])
        for block in _blocks(data.get("removed"))
        if isinstance(block, Mapping)
        and "from" in block
        and any(isinstance(lc, Mapping) and lc.get("destroy") is False for lc in _blocks(block.get("lifecycle")))
    )
    blocks = {
        key: _without_metadata(value)
        for key, value in data.items()
        if key not in (METADATA_KEY, "resource", "moved", "removed")
    }
    return Stack(name, resources, moved, forgotten, blocks)


def _blocks(value: Any) -> list[Any]:
    """A Terraform JSON block that may be written as one object or a list of them."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _capability(body: Mapping[str, Any]) -> str:
    """The capability that made a resource: its construct path, its `capability` label, else 'other'."""
    metadata = body.get(METADATA_KEY)
    path = metadata.get("metadata", {}).get("path") if isinstance(metadata, Mapping) else None
    if isinstance(path, str) and path.count("/") >= 2:  # <stack>/<capability>/<construct id>
        return path.split("/")[1]
    labels = body.get("labels")
    if isinstance(labels, Mapping) and isinstance(labels.get("capability"), str):
        return str(labels["capability"])
    return "other"


def _without_metadata(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_metadata(v) for k, v in value.items() if k != METADATA_KEY}
    if isinstance(value, list):
        return [_without_metadata(v) for v in value]
    return value


# --- identity -------------------------------------------------------------------------------------

# `${google_storage_bucket.model_training_artifacts_bucket.name}` and `depends_on` entries: type.name
_ADDRESS = re.compile(
    r"(?<![\w.-])(google[a-z0-9_]*|terraform_data|null_resource|random_[a-z0-9_]+)\.([A-Za-z_][\w-]*)"
)
_REFERENCE = re.compile(_ADDRESS.pattern + r"(?:\.([a-z_][a-z0-9_]*))?")  # and the attribute read, if any


class _Identities:
    """The identity of each resource of one stack, references resolved through what they point to.

    `whole` (for finding renames): a type without a naming argument is identified by its whole body.
    Otherwise (for finding replacements at one address): by its identity arguments alone, the scope
    for such a type, since Google Cloud names it itself and a label change replaces nothing.
    """

    def __init__(self, stack: Stack, whole: bool) -> None:
        self.stack = stack
        self.whole = whole
        self.done: dict[str, str] = {}
        self.visiting: set[str] = set()

    def of(self, address: str) -> str:
        if address not in self.done:
            resource = self.stack.resources[address]
            self.visiting.add(address)
            named = [k for k in NAME_KEYS if k in resource.body]
            if named or not self.whole:
                parts = {k: self._value(k, resource.body[k]) for k in IDENTITY_KEYS if k in resource.body}
            else:
                parts = {k: self._value(k, v) for k, v in resource.body.items() if k not in _META}
            self.visiting.discard(address)
            self.done[address] = resource.type + json.dumps(parts, sort_keys=True, separators=(",", ":"))
        return self.done[address]

    def _value(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            resolved = _REFERENCE.sub(self._reference, value) if "${" in value else value
            return resolved.lower() if key in _CASELESS else resolved
        if isinstance(value, Mapping):
            return {k: self._value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(key, v) for v in value]
        return value

    def _reference(self, match: re.Match[str]) -> str:
        """A literal the reference reads (a bucket's `name`), else what it points to, by identity."""
        address, attribute = f"{match.group(1)}.{match.group(2)}", match.group(3)
        if address not in self.stack.resources or address in self.visiting:
            return match.group(0)
        target = self.stack.resources[address]
        literal = target.body.get(attribute) if attribute else None
        if isinstance(literal, str):
            self.visiting.add(address)
            try:
                return str(self._value(attribute or "", literal))
            finally:
                self.visiting.discard(address)
        return f"{match.group(1)}<{self.of(address)}>" + (f".{attribute}" if attribute else "")


def identity_label(resource: Resource) -> str:
    """What names a resource in Google Cloud, for people: `name=x, location=y` (literal values only)."""
    parts = [
        f"{k}={resource.body[k]}"
        for k in IDENTITY_KEYS
        if isinstance(resource.body.get(k), str) and "${" not in resource.body[k]
    ]
    return ", ".join(parts)


# --- the comparison -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeChange:
    path: str  # `labels.tier`, `lifecycle_rule[0].condition.age`
    before: Any = ABSENT
    after: Any = ABSENT
    ignored: bool = False  # HEAD's `lifecycle.ignore_changes` names it: Terraform leaves it as it is


@dataclass(frozen=True)
class ResourceChange:
    kind: Kind
    stack: str
    capability: str
    type: str
    address: str  # HEAD's address (BASE's for a removed resource)
    previous_address: str | None = None  # a renamed resource's address in BASE
    attributes: tuple[AttributeChange, ...] = ()
    replaced: bool = False  # its identity changes: Google Cloud gets a new resource
    declared: bool = False  # renamed by a `moved` block, or removed by a `removed` block that keeps it
    at_risk: str | None = None  # why the data it holds would be lost, for a stateful resource
    identity: str = ""  # what names it in Google Cloud, for people

    @property
    def stateful(self) -> bool:
        return is_stateful(self.type)


@dataclass(frozen=True)
class StackDiff:
    name: str
    status: StackStatus
    resources: tuple[ResourceChange, ...] = ()
    blocks: tuple[AttributeChange, ...] = ()  # providers, backend, data sources, outputs

    def count(self, kind: Kind) -> int:
        return sum(1 for r in self.resources if r.kind == kind)

    @property
    def replaced(self) -> int:
        return sum(1 for r in self.resources if r.replaced)

    @property
    def at_risk(self) -> tuple[ResourceChange, ...]:
        return tuple(r for r in self.resources if r.at_risk)


@dataclass(frozen=True)
class Report:
    base: str
    head: str
    stacks: tuple[StackDiff, ...]

    @property
    def changed(self) -> bool:
        return any(s.status != "unchanged" for s in self.stacks)

    @property
    def at_risk(self) -> tuple[ResourceChange, ...]:
        return tuple(r for s in self.stacks for r in s.at_risk)


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


# --- encoded bodies: what a base64 or jsonencode'd argument holds, compared key by key ----------------

DECODED = "[decoded]"  # `http_target.body[decoded].runtimeConfig.parameterValues.x`
# Arguments the Google provider takes base64-encoded (a Cloud Scheduler job's HTTP or App Engine body, its
# Pub/Sub message): a literal value there is decoded. Elsewhere, only an expression that says it encodes
# (`${base64encode(...)}`, `${jsonencode(...)}`) is, so a name that happens to be valid base64 stays a name.
BASE64_ARGUMENTS = frozenset({"http_target.body", "app_engine_http_target.body", "pubsub_target.data"})


def _decoded_changes(path: str, before: str, after: str) -> list[AttributeChange]:
    """The changes inside two encoded values, by path under `<path>[decoded]`; [] when either side does not
    decode, or when what they hold is the same (then the encoded text itself is the change)."""
    old, new = decode_body(path, before), decode_body(path, after)
    if old is None or new is None:
        return []
    return attribute_changes(old[0], new[0], path + DECODED)


def decode_body(path: str, value: str) -> tuple[Any] | None:
    """What an encoded argument holds, boxed (JSON's null is a value): the parsed JSON, else the decoded text;
    None when `value` is not encoded (not base64 where the provider wants base64, not an encoding expression).

    cdktn writes a body built from references as a Terraform expression (`${base64encode(jsonencode({..}))}`),
    a value it can only evaluate at apply time: the object inside is read as HCL, each reference kept as
    `${google_x.y.attr}`, the way Terraform JSON writes one elsewhere. A value written literally (by another
    tool, or by hand) is plain base64.
    """
    expression = _whole_interpolation(value)
    if expression is not None:
        return _decode_expression(expression)
    if re.sub(r"\[\d+\]", "", path) not in BASE64_ARGUMENTS:
        return None
    text = _base64_text(value)
    return None if text is None else (_json_or_text(text),)


def _base64_text(value: str) -> str | None:
    """The UTF-8 text a strict base64 value encodes (padding required, no stray characters), else None."""
    import base64
    import binascii

    if not value or len(value) % 4:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _json_or_text(text: str) -> Any:
    """The JSON a value encodes, compared as data; text that is not JSON, or JSON nested past what
    fsio lets a file nest (so no walk over it runs out of stack), is compared as text."""
    from tierstack.generator.core.fsio import too_deep

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return text if too_deep(data) else data


def _whole_interpolation(value: str) -> str | None:
    """`X` of a value that is exactly one `${X}` (Terraform evaluates it as an expression), else None."""
    if not (value.startswith("${") and value.endswith("}")):
        return None
    try:
        end = _Hcl(value, 2).skip_expression()
    except _NotHcl:
        return None
    return value[2:end] if end == len(value) - 1 else None


def _decode_expression(expression: str) -> tuple[Any] | None:
    """`base64encode(jsonencode(X))` and `jsonencode(X)`: X; `base64encode("text")`: the text, parsed when it is
    JSON. Any other expression: None (it is compared as written)."""
    match = re.fullmatch(r"\s*(base64encode|jsonencode)\s*\((.*)\)\s*", expression, flags=re.S)
    if match is None:
        return None
    function, argument = match.groups()
    if function == "base64encode":
        inner = re.fullmatch(r"\s*jsonencode\s*\((.*)\)\s*", argument, flags=re.S)
        if inner is None:
            text = _hcl_value(argument)
            return (_json_or_text(text[0]),) if text is not None and isinstance(text[0], str) else None
        argument = inner.group(1)
    return _hcl_value(argument)


def _hcl_value(source: str) -> tuple[Any] | None:
    """One HCL expression as data, or None when it is not one expression (`jsonencode(a), b`)."""
    from tierstack.generator.core.fsio import too_deep

    try:
        parser = _Hcl(source, 0)
        value = parser.value()
        parser.blank()
    except (_NotHcl, RecursionError, ValueError):  # nested past the parser's stack; a number json refuses
        return None
    return (value,) if parser.at == len(source) and not too_deep(value) else None


class _NotHcl(Exception):
    """The text is not the HCL this reader knows: the value is compared as written."""


class _Hcl:
    """A reader of the HCL expressions cdktn writes inside `jsonencode(...)`: objects (`{"k" = v, ...}`),
    tuples, quoted strings (their escapes, `$${` and `%%{` undone; an interpolation kept as `${...}`), numbers,
    true, false, null. Anything else (a reference, a function call, an operation) is kept as `${source}`."""

    CLOSERS: ClassVar[Mapping[str, str]] = {"{": "}", "[": "]", "(": ")"}

    def __init__(self, text: str, at: int) -> None:
        self.text, self.at = text, at

    def blank(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t\r\n":
            self.at += 1

    def peek(self) -> str:
        self.blank()
        return self.text[self.at] if self.at < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _NotHcl(f"expected {char!r} at {self.at}")
        self.at += 1

    def value(self) -> Any:
        char = self.peek()
        if char == "{":
            return self.object()
        if char == "[":
            return self.tuple()
        if char == '"':
            return self.string()
        start = self.at
        end = self.skip_expression()
        source = self.text[start:end].strip()
        if not source:
            raise _NotHcl(f"no value at {start}")
        literals: dict[str, Any] = {"true": True, "false": False, "null": None}
        if source in literals:
            return literals[source]
        if re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", source):
            return json.loads(source)
        return "${" + source + "}"

    def object(self) -> dict[str, Any]:
        self.expect("{")
        found: dict[str, Any] = {}
        while self.peek() != "}":
            if self.peek() == '"':
                key = self.string()
            else:
                match = re.compile(r"[A-Za-z_][\w-]*").match(self.text, self.at)
                if match is None:
                    raise _NotHcl(f"no key at {self.at}")
                key, self.at = match.group(0), match.end()
            if self.peek() not in ("=", ":"):
                raise _NotHcl(f"no '=' after key {key!r}")
            self.at += 1
            found[key] = self.value()
            if self.peek() == ",":
                self.at += 1
        self.expect("}")
        return found

    def tuple(self) -> list[Any]:
        self.expect("[")
        found = []
        while self.peek() != "]":
            found.append(self.value())
            if self.peek() == ",":
                self.at += 1
        self.expect("]")
        return found

    def string(self) -> str:
        """A quoted string: its escapes undone, `$${`/`%%{` as the literal `${`/`%{`, an interpolation as written."""
        self.expect('"')
        out: list[str] = []
        text = self.text
        while self.at < len(text):
            char = text[self.at]
            if char == '"':
                self.at += 1
                return "".join(out)
            if char == "\\":
                out.append(self._escape())
            elif text.startswith(("$${", "%%{"), self.at):
                out.append(char + "{")
                self.at += 3
            elif text.startswith(("${", "%{"), self.at):
                start = self.at
                self.at = self._closing(self.at + 1) + 1
                out.append(text[start : self.at])
            else:
                out.append(char)
                self.at += 1
        raise _NotHcl("a string that does not end")

    ESCAPES: ClassVar[Mapping[str, str]] = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}

    def _escape(self) -> str:
        code = self.text[self.at + 1 : self.at + 2]
        if code in self.ESCAPES:
            self.at += 2
            return self.ESCAPES[code]
        for letter, width in (("u", 4), ("U", 8)):
            digits = self.text[self.at + 2 : self.at + 2 + width]
            if code == letter and re.fullmatch(f"[0-9A-Fa-f]{{{width}}}", digits):
                self.at += 2 + width
                return chr(int(digits, 16))
        raise _NotHcl(f"an escape HCL does not have at {self.at}")

    def _closing(self, at: int) -> int:
        """The index of the bracket that closes the one at `at`, strings inside skipped."""
        depth, text = 0, self.text
        while at < len(text):
            char = text[at]
            if char == '"':
                self.at = at
                self.string()
                at = self.at
                continue
            if char in self.CLOSERS:
                depth += 1
            elif char in "}])":
                depth -= 1
                if depth == 0:
                    return at
            at += 1
        raise _NotHcl("a bracket that does not close")

    def skip_expression(self) -> int:
        """The end of the expression starting here: the first `,` or closing bracket outside brackets and strings."""
        text = self.text
        while self.at < len(text):
            char = text[self.at]
            if char == '"':
                self.string()
            elif char in self.CLOSERS:
                self.at = self._closing(self.at) + 1
            elif char in ",}])":
                return self.at
            else:
                self.at += 1
        return self.at


# --- rendering ------------------------------------------------------------------------------------

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


def render_markdown(report: Report) -> str:
    """For a pull-request comment: a verdict, counts per stack, data at risk, details collapsed."""
    risky = report.at_risk
    if risky:
        verdict = f"**:warning: Data at risk:** {len(risky)} stateful resource{'s' if len(risky) != 1 else ''}"
    elif report.changed:
        verdict = "**Changes, no data at risk.**"
    else:
        verdict = "**No change.**"
    out = [f"### tierstack diff `{_md_code(report.base)}` → `{_md_code(report.head)}`", "", verdict, ""]
    out += [
        "| stack | added | removed | changed | replaced | renamed | data at risk |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report.stacks:
        row = [s.count("added"), s.count("removed"), s.count("changed"), s.replaced, s.count("renamed"), len(s.at_risk)]
        name = f"`{_md_code(s.name)}`" + (f" ({s.status})" if s.status in ("added", "removed") else "")
        out.append(f"| {name} | " + " | ".join(str(n) for n in row) + " |")
    if risky:
        out += ["", "#### Data at risk", ""]
        out += [f"- `{_md_code(r.stack)}` `{_md_code(r.address)}`: {_md_text(r.at_risk or '')}" for r in risky]
    for s in report.stacks:
        if s.status == "unchanged":
            continue
        body = "\n".join(_stack_lines(s))
        fence = "`" * max(3, _longest_backtick_run(body) + 1)
        out += ["", f"<details><summary><code>{_html(s.name)}</code>: {_html(counts_text(s))}</summary>", ""]
        out += [f"{fence}diff", _diff_colours(body), fence, "", "</details>"]
    return "\n".join(out) + "\n"


def _diff_colours(body: str) -> str:
    """GitHub colours a ```diff block by the first character: `+` green, `-` red, `!` orange."""
    coloured = []
    for line in body.splitlines():
        stripped = line.lstrip()
        marker = " "
        if stripped.startswith(("-/+ ", "DATA AT RISK")):
            marker = "!" if stripped.startswith("-/+") else "-"
        elif stripped[:2] in ("+ ", "- "):
            marker = stripped[0]
        elif stripped[:2] in ("~ ", "> "):
            marker = "!"
        coloured.append(marker + line[1:] if line.startswith(" ") else line)
    return "\n".join(coloured)


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def _md_code(text: str) -> str:
    return text.replace("`", "'")


def _md_text(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>|#])", r"\\\1", text)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_data(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (an absent before/after is left out)."""

    def attr(a: AttributeChange) -> dict[str, Any]:
        data: dict[str, Any] = {"path": a.path}
        if a.before is not ABSENT:
            data["before"] = a.before
        if a.after is not ABSENT:
            data["after"] = a.after
        if a.ignored:
            data["ignored"] = True
        return data

    def resource(r: ResourceChange) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": r.kind,
            "address": r.address,
            "type": r.type,
            "capability": r.capability,
            "identity": r.identity,
            "stateful": r.stateful,
            "replaced": r.replaced,
        }
        if r.previous_address:
            data["previous_address"] = r.previous_address
            data["moved_block"] = r.declared
        if r.kind == "removed":
            data["removed_block"] = r.declared
        data["data_at_risk"] = r.at_risk
        data["attributes"] = [attr(a) for a in r.attributes]
        return data

    return {
        "base": report.base,
        "head": report.head,
        "changed": report.changed,
        "data_at_risk": [
            {"stack": r.stack, "address": r.address, "type": r.type, "reason": r.at_risk} for r in report.at_risk
        ],
        "stacks": [
            {
                "name": s.name,
                "status": s.status,
                "counts": {
                    "added": s.count("added"),
                    "removed": s.count("removed"),
                    "changed": s.count("changed"),
                    "replaced": s.replaced,
                    "renamed": s.count("renamed"),
                },
                "resources": [resource(r) for r in s.resources],
                "settings": [attr(a) for a in s.blocks],
            }
            for s in report.stacks
        ],
    }


# --- reading syntheses ----------------------------------------------------------------------------


def load_synthesis(root: Path, label: str | None = None, stacks: list[str] | None = None) -> dict[str, Stack]:
    """Every `stacks/<stack>/cdk.tf.json` of an output directory (or of the `cdktf.out/` inside `root`).

    `label` names the directory in messages; `stacks` keeps only those stacks.
    """
    shown = label or str(root)
    if not (root / "stacks").is_dir() and (root / "cdktf.out" / "stacks").is_dir():
        root = root / "cdktf.out"
    folder = root / "stacks"
    if not folder.is_dir():
        raise UserError(
            f"no stacks/<stack>/{STACK_FILE} here: not a cdktf output directory",
            file=shown,
            hint="give the output directory `tierstack generate` wrote (cdktf.out by default), or a git ref",
        )
    found: dict[str, Stack] = {}
    for directory in sorted(folder.iterdir()):
        path = directory / STACK_FILE
        if stacks is not None and directory.name not in stacks:
            continue
        if not (path.exists() or path.is_symlink()):  # a folder without a stack; a FIFO there is read, refused
            continue
        found[directory.name] = _read_stack(root, directory.name, f"{shown}/stacks/{directory.name}/{STACK_FILE}")
    return found


def _read_stack(root: Path, name: str, shown: str) -> Stack:
    """One stack of an output directory, through the bounded reader: a FIFO, a sparse 4 GB file, JSON
    nested past any walk's depth or a link to a file outside `root` is a UserError naming it."""
    from tierstack.generator.core import fsio

    hint = "regenerate it with `tierstack generate`"
    data = fsio.read_json(
        root / "stacks" / name / STACK_FILE, "Terraform JSON stack", fsio.MAX_JSON_BYTES, hint, shown=shown, within=root
    )
    try:
        return parse_stack(name, data)
    except ValueError as exc:
        raise UserError(f"not Terraform JSON: {exc}", file=shown, hint=hint) from None


def git_toplevel(repo: Path) -> Path:
    """The top of the git repository holding `repo`; a UserError when there is none."""
    result = _git(repo, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise UserError(
            "not inside a git repository: " + (result.stderr.strip().splitlines() or ["git failed"])[-1],
            file=str(repo),
            field="--repo",
            hint="run diff inside the repository, or give it with --repo DIR",
        )
    return Path(result.stdout.strip())


def commit_of(repo: Path, ref: str) -> str:
    """The commit a ref names; a UserError naming it when the repository has no such ref."""
    if ref.startswith("-"):
        raise UserError(f"'{ref}' is not a git ref", hint="refs do not start with '-'")
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0:
        raise UserError(
            f"'{ref}' is neither a directory nor a commit, branch or tag of the repository at {repo}",
            hint="give an output directory (cdktf.out) or a git ref: a branch, a tag, a commit, HEAD~1",
        )
    return result.stdout.strip()


def config_in_repository(top: Path, config: str) -> str:
    """`--config` as a path from the repository's top: an absolute path must be inside the repository,
    and a relative one (from the top) may not climb out of it."""
    path = Path(config)
    if path.is_absolute():
        try:
            relative = path.resolve().relative_to(top.resolve())
        except ValueError:
            raise UserError(
                f"{config} is outside the repository at {top}",
                field="--config",
                hint="give the config's path from the top of the repository (or an absolute path inside it)",
            ) from None
        return relative.as_posix()
    parts = PurePosixPath(path.as_posix()).parts
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            raise UserError(
                f"{config} climbs out of the repository",
                field="--config",
                hint="give the config's path from the top of the repository",
            )
    return PurePosixPath(os.path.normpath(path.as_posix())).as_posix()


@contextmanager
def synthesis_of_ref(repo: Path, ref: str, config: str, committed: bool = False) -> Iterator[Path]:
    """Synthesize `config` (relative to the repository's top) as it is at `ref`; yield the output directory.

    The ref's tree is extracted with `git archive` into a temporary directory: nothing in the repository
    is written (no worktree, no index, no HEAD). The running tierstack synthesizes it; with `committed`,
    the output committed beside the config at that ref (`cdktf.out/`) is yielded instead, so a change to
    the generated files themselves (a tierstack upgrade that renames a construct) is what is compared.
    The temporary directory is removed on the way out, whatever ended the run.
    """
    top = git_toplevel(repo)
    config = config_in_repository(top, config)
    commit = commit_of(top, ref)
    tmp = Path(tempfile.mkdtemp(prefix="tierstack-diff-"))
    try:
        source = tmp / "src"
        source.mkdir()
        _extract(top, commit, source)
        path = source / config
        if not path.is_file():
            raise UserError(
                f"no such file at {ref}",
                file=f"{ref}:{config}",
                field="--config",
                hint="give the config's path from the top of the repository",
            )
        if committed:
            out = path.parent / "cdktf.out"
            if not (out / "stacks").is_dir():
                raise UserError(
                    f"no generated output is committed beside the config at {ref}",
                    file=f"{ref}:{PurePosixPath(config).parent / 'cdktf.out'}",
                    field="--committed",
                    hint="commit the output of `tierstack generate`, or leave out --committed to synthesize",
                )
            yield out
            return
        out = tmp / "cdktf.out"
        try:
            _synthesize(path, out)
        except UserError as exc:
            raise _relabelled(exc, source, f"{ref}:") from None
        yield out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _synthesize(config: Path, out: Path) -> None:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve
    from tierstack.generator.synth.stacks import synthesize

    synthesize(resolve(load_spec(config)), out)


def _extract(top: Path, commit: str, target: Path) -> None:
    """`git archive` of a commit, unpacked into target (links that leave it, devices: refused)."""
    with subprocess.Popen(
        ["git", "-C", str(top), "archive", "--format=tar", commit],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(target, filter="data")
            else:  # pragma: no cover  (Python < 3.10.12: regular files and folders only)
                for member in archive:
                    if member.isfile() or member.isdir():
                        archive.extract(member, target)
        error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise UserError(f"git archive {commit} failed: {error.strip()}", file=str(top))


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, env=_git_env()
        )
    except FileNotFoundError:
        raise UserError("git is not installed", hint="install git, or compare two output directories") from None


def _git_env() -> dict[str, str]:
    """The user's environment without variables that would point git at another repository."""
    return {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}


def _relabelled(exc: UserError, source: Path, label: str) -> UserError:
    """An error from a ref's temporary copy, naming `REF:path` instead of the temporary directory."""
    if isinstance(exc, ErrorList):
        return ErrorList([_relabelled(e, source, label) for e in exc.errors])
    prefixes = sorted({str(source) + os.sep, os.path.relpath(source) + os.sep}, key=len, reverse=True)

    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        for prefix in prefixes:
            text = text.replace(prefix, label)
        return text

    return replace(
        exc,
        message=fix(exc.message) or exc.message,
        file=fix(str(exc.file)) if exc.file is not None else None,
        hint=fix(exc.hint),
    )
