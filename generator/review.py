"""`tierstack review`: Terraform plans (`terraform show -json`) summarised for a pull request.

Pure functions over parsed JSON: `read_plan` checks that a document is a plan
tierstack can read (plan JSON format 1.2, what Terraform 1.7 and newer write),
`review_stack` turns one plan into a StackReview, and `to_markdown`, `to_text`
and `to_data` render a Review of one or more stacks. The counts follow
Terraform's own (internal/command/jsonformat): a replacement is one `replace`,
not an add and a destroy; an import and a move are counted beside whatever else
happens to the resource; `forget` is the `["forget"]` action of a `removed`
block with `destroy = false`. Drift is shown as Terraform shows it: only the
attributes in `relevant_attributes`, the ones the planned changes depend on.

What Terraform would destroy (a delete, either order of replacement) is
destructive; destroying a type in generator/stateful.py loses data and needs
an approval (`tierstack review` exits 3). Every value from a plan is data from
a pull request: Markdown escapes it, so no plan can write HTML or mentions into
the comment. Only the standard library is imported.
"""

from __future__ import annotations

import html
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any

from tierstack.generator.errors import UserError
from tierstack.generator.freeze import FreezeCheck
from tierstack.generator.stateful import STATEFUL_TYPES

MIN_FORMAT = (1, 2)  # plan JSON format written by Terraform 1.6+ (and OpenTofu 1.7+); `removed` needs 1.7
COUNTED = ("create", "update", "replace", "delete", "import", "move", "forget")
# the capabilities every stack gets (DESIGN.md); the others are read from the `capability` label
ALWAYS_CAPABILITIES = ("foundation", "cost_controls")
OTHER = "other"
MAX_MARKDOWN = 60_000  # GitHub refuses comments over 65,536 characters; the details go first
MAX_VALUE = 80  # characters of a value shown in a table
MAX_ATTRIBUTES = 25  # attribute changes listed per resource
SHORT_LIST = 50  # items per section in a comment that would otherwise be too long
PLAN_HINT = (
    "write the plan as JSON with: terraform plan -out=plan.tfplan && terraform show -json plan.tfplan > plan.json"
)

REASONS = {  # action_reason -> words (internal/command/jsonplan)
    "replace_because_cannot_update": "an argument cannot be updated in place",
    "replace_because_tainted": "the object is tainted",
    "replace_by_request": "replacement requested (-replace)",
    "replace_by_triggers": "replace_triggered_by changed",
    "delete_because_no_resource_config": "no longer in the configuration",
    "delete_because_wrong_repetition": "count/for_each changed how the resource repeats",
    "delete_because_count_index": "its count index is out of range",
    "delete_because_each_key": "its for_each key is gone",
    "delete_because_no_module": "its module is gone",
    "delete_because_no_move_target": "the target of its moved block is not in the configuration",
}
ACTION_WORDS = {
    "create": "create",
    "update": "update in place",
    "replace": "replace",
    "delete": "destroy",
    "forget": "forget (leaves state, not destroyed)",
    "create-forget": "replace, old object kept (forgotten)",
    "no-op": "no change",
}


# --- reading -------------------------------------------------------------------------------------


def load_plan(source: str) -> dict[str, Any]:
    """Read and check a plan file (`-`: standard input); every failure is a UserError naming the file."""
    if source == "-":
        return parse_plan(sys.stdin.read(), "<stdin>")
    try:
        raw = Path(source).read_bytes()
    except FileNotFoundError:
        raise UserError("no such file", file=source, hint=PLAN_HINT) from None
    except IsADirectoryError:
        raise UserError("this is a directory, not a plan file", file=source, hint=PLAN_HINT) from None
    except OSError as exc:
        raise UserError(
            f"cannot read the file: {exc.strerror or exc}", file=source, hint="check that it exists and is readable"
        ) from None
    if raw.startswith(b"PK\x03\x04"):
        raise UserError(
            "this is Terraform's binary plan file; review reads its JSON",
            file=source,
            hint=f"convert it: terraform show -json {source} > plan.json",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"this is not UTF-8 text (byte {exc.start})", file=source, hint=PLAN_HINT) from None
    return parse_plan(text, source)


def parse_plan(text: str, source: str) -> dict[str, Any]:
    """The JSON document of a plan file's text, or a UserError naming the file and what to do."""
    if not text.strip():
        raise UserError("the file is empty", file=source, hint=PLAN_HINT)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        if exc.pos >= len(text.rstrip()):
            problem = f"the JSON ends before it is complete ({where}): the file looks truncated"
        elif text.lstrip()[:1] not in ("{", "["):
            problem = "this is not JSON (is it the text of `terraform plan` or `terraform show`?)"
        else:
            problem = f"this is not valid JSON ({exc.msg} at {where})"
        raise UserError(problem, file=source, hint=PLAN_HINT) from None
    except RecursionError:
        raise UserError("the JSON nests too deeply to be a Terraform plan", file=source, hint=PLAN_HINT) from None
    return read_plan(data, source)


def read_plan(data: Any, source: str) -> dict[str, Any]:
    """The plan, checked: a JSON object from `terraform show -json PLANFILE` in a format tierstack reads."""
    if not isinstance(data, dict):
        raise UserError(
            "this JSON is not a Terraform plan (the top level is not an object)", file=source, hint=PLAN_HINT
        )
    if {"lineage", "serial"} <= data.keys() or ("values" in data and "planned_values" not in data):
        raise UserError(
            "this is a Terraform state, not a plan",
            file=source,
            hint="review reads what a change would do: " + PLAN_HINT.removeprefix("write the plan as JSON with: "),
        )
    if "format_version" not in data or not ({"planned_values", "resource_changes"} & data.keys()):
        raise UserError(
            "this JSON is not a Terraform plan (it has no format_version and planned_values)",
            file=source,
            hint=PLAN_HINT,
        )
    version = _version(data["format_version"])
    written_by = f" (written by Terraform {data['terraform_version']})" if data.get("terraform_version") else ""
    if version is None:
        raise UserError(f"plan format_version {data['format_version']!r} is not a version", file=source, hint=PLAN_HINT)
    if version[0] != MIN_FORMAT[0] or version < MIN_FORMAT:
        newer = version[0] > MIN_FORMAT[0]
        raise UserError(
            f"plan JSON format {data['format_version']}{written_by} is "
            + (
                "newer than tierstack knows"
                if newer
                else f"older than {MIN_FORMAT[0]}.{MIN_FORMAT[1]}, the oldest tierstack reads"
            ),
            file=source,
            hint="upgrade tierstack"
            if newer
            else "plan again with Terraform 1.7 or newer (or OpenTofu 1.7 or newer), then terraform show -json",
        )
    for key in ("resource_changes", "resource_drift", "relevant_attributes"):
        if not isinstance(data.get(key, []), list):
            raise UserError(f"'{key}' is not a list: this plan JSON is damaged", file=source, hint=PLAN_HINT)
    if not isinstance(data.get("output_changes", {}), dict):
        raise UserError("'output_changes' is not an object: this plan JSON is damaged", file=source, hint=PLAN_HINT)
    for i, change in enumerate(data.get("resource_changes", [])):
        if not (
            isinstance(change, dict)
            and isinstance(change.get("address"), str)
            and isinstance(change.get("change"), dict)
            and isinstance(change["change"].get("actions"), list)
        ):
            raise UserError(
                f"resource_changes[{i}] has no address or actions: this plan JSON is damaged",
                file=source,
                hint=PLAN_HINT,
            )
    return data


def _version(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return None


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeChange:
    """One attribute's change, as shown to a reviewer: its path and its values in words."""

    path: str
    before: str
    after: str


@dataclass(frozen=True)
class Change:
    """A planned change to one resource instance."""

    address: str
    type: str
    capability: str
    kind: str  # create, update, replace, delete, forget, create-forget, no-op
    actions: tuple[str, ...]
    previous_address: str | None = None
    import_id: str | None = None
    action_reason: str | None = None
    replace_paths: tuple[str, ...] = ()
    attributes: tuple[AttributeChange, ...] = ()
    more_attributes: int = 0  # attribute changes beyond MAX_ATTRIBUTES, not listed
    recomputed: int = 0  # computed attributes a replacement makes unknown again, not listed

    @property
    def moved(self) -> bool:
        return self.previous_address is not None and self.previous_address != self.address

    @property
    def destructive(self) -> bool:
        """Terraform would destroy the object (a delete, or a replacement in either order)."""
        return "delete" in self.actions

    @property
    def data_at_risk(self) -> str | None:
        """What is lost when a stateful resource is destroyed; None for other changes and types."""
        return STATEFUL_TYPES.get(self.type) if self.destructive else None

    @property
    def counted(self) -> tuple[str, ...]:
        """The COUNTED categories this change falls in (a moved, imported update is all three)."""
        kinds = {"create-forget": ("create", "forget"), "no-op": ()}.get(self.kind, (self.kind,))
        return (*kinds, *(("import",) if self.import_id is not None else ()), *(("move",) if self.moved else ()))


@dataclass(frozen=True)
class Drift:
    """A resource that changed outside Terraform, in the attributes this plan depends on."""

    address: str
    type: str
    capability: str
    kind: str  # update (changed) or delete (gone)
    attributes: tuple[AttributeChange, ...]


@dataclass(frozen=True)
class OutputChange:
    name: str
    kind: str
    before: str
    after: str


@dataclass(frozen=True)
class StackReview:
    """One plan: the stack it is for and what it would do."""

    stack: str
    source: str
    environment: str | None
    terraform_version: str
    changes: tuple[Change, ...]
    drift: tuple[Drift, ...] = ()
    drift_not_relevant: int = 0  # drifted resources whose changes this plan does not depend on
    outputs: tuple[OutputChange, ...] = ()
    errored: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return count(self.changes)

    @property
    def has_changes(self) -> bool:
        """Applying this plan would do something: change a resource, its address or state, or an output."""
        return any(c.counted for c in self.changes) or bool(self.outputs)


@dataclass(frozen=True)
class Review:
    stacks: tuple[StackReview, ...]
    freeze: FreezeCheck | None = None

    @property
    def counts(self) -> dict[str, int]:
        return count(c for s in self.stacks for c in s.changes)

    @property
    def destructive(self) -> list[tuple[StackReview, Change]]:
        return [(s, c) for s in self.stacks for c in s.changes if c.destructive]

    @property
    def approval_required(self) -> bool:
        """Something destructive touches a stateful resource: `review` exits 3."""
        return any(c.data_at_risk for _, c in self.destructive)

    @property
    def blocked(self) -> bool:
        """A change freeze is on for a stack with changes, and nobody overrode it."""
        return self.freeze is not None and self.freeze.blocked

    def verdict(self) -> str:
        return verdict(self)


def count(changes: Iterable[Change]) -> dict[str, int]:
    counts = dict.fromkeys(COUNTED, 0)
    for change in changes:
        for kind in change.counted:
            counts[kind] += 1
    return counts


# --- from plan JSON to the model -----------------------------------------------------------------


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
    drift, ignored = _drift(plan, known)
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
    )


def default_labels(plan: Mapping[str, Any]) -> dict[str, str]:
    """The google provider's default_labels, where tierstack writes use-case and environment."""
    providers = (plan.get("configuration") or {}).get("provider_config") or {}
    for key in ("google", "google-beta"):
        expressions = (providers.get(key) or {}).get("expressions") or {}
        labels = (expressions.get("default_labels") or {}).get("constant_value")
        if isinstance(labels, dict):
            return {str(k): str(v) for k, v in labels.items()}
    return {}


def stack_name(plan: Mapping[str, Any], source: str) -> str:
    """The stack a plan is for: its directory under `stacks/`, else tierstack's labels, else the file's name."""
    path = PurePath(source)
    if len(path.parts) >= 3 and path.parent.parent.name == "stacks":
        return path.parent.name
    labels = default_labels(plan)
    if labels.get("managed-by") == "tierstack" and labels.get("use-case") and labels.get("environment"):
        return f"{labels['use-case']}-{labels['environment']}"
    return path.name.removesuffix(".json") if source != "-" else "stdin"


def capabilities_in(plan: Mapping[str, Any]) -> frozenset[str]:
    """The capability ids a plan's resources carry in their `capability` label, and the ones every stack has."""
    found = set(ALWAYS_CAPABILITIES)
    for raw in plan.get("resource_changes", []):
        change = raw.get("change") or {}
        for side in ("before", "after"):
            value = _labels(change.get(side)).get("capability")
            if value:
                found.add(value)
    return frozenset(found)


def capability_of(name: str, labels: Mapping[str, str], known: Iterable[str]) -> str:
    """A resource's capability: its `capability` label, else the longest known id its name starts with.

    tierstack names every resource `<capability>_<construct id>` (modules/base.py), so the IAM bindings
    and service accounts, which carry no labels, group with the capability that made them.
    """
    if labels.get("capability"):
        return labels["capability"]
    matches = [cap for cap in known if name == cap or name.startswith(cap + "_")]
    return max(matches, key=len) if matches else OTHER


def _labels(values: Any) -> dict[str, str]:
    if not isinstance(values, dict):
        return {}
    labels = values.get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _kind(actions: Sequence[str]) -> str:
    key = tuple(actions)
    if key in (("delete", "create"), ("create", "delete")):
        return "replace"
    if key in (("create", "forget"), ("forget", "create")):
        return "create-forget"
    if len(key) == 1 and key[0] in ("create", "update", "delete", "forget", "no-op", "read"):
        return key[0]
    return "+".join(key) or "no-op"


def _change(raw: Mapping[str, Any], known: Iterable[str]) -> Change:
    change = raw.get("change") or {}
    actions = tuple(str(a) for a in change.get("actions", []))
    kind = _kind(actions)
    importing = change.get("importing")
    import_id = None
    if isinstance(importing, dict):
        import_id = str(importing.get("id") or "(by identity)")
    labels = _labels(change.get("after")) or _labels(change.get("before"))
    address = str(raw["address"])
    if raw.get("deposed"):
        address += f" (deposed object {raw['deposed']})"
    attributes: list[AttributeChange] = []
    if kind in ("update", "replace", "create-forget") or (import_id is not None and kind == "no-op"):
        attributes = attribute_changes(change)
    replace_paths = tuple(path_text(p) for p in change.get("replace_paths") or [] if isinstance(p, list))
    listed = [a for a in attributes if a.after != UNKNOWN_TEXT or a.path in replace_paths]
    return Change(
        address=address,
        type=str(raw.get("type", "")),
        capability=capability_of(str(raw.get("name", "")), labels, known),
        kind=kind,
        actions=actions,
        previous_address=raw.get("previous_address"),
        import_id=import_id,
        action_reason=raw.get("action_reason"),
        replace_paths=replace_paths,
        attributes=tuple(listed[:MAX_ATTRIBUTES]),
        more_attributes=max(0, len(listed) - MAX_ATTRIBUTES),
        recomputed=len(attributes) - len(listed),
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


_MISSING = object()
UNKNOWN_TEXT = "(known after apply)"


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
            if b != a or _any_true(u):
                out.append(_attribute(path_text(list(path)), b, a, u, (_at(s, path) for s in sensitive)))
        return out

    def walk(b: Any, a: Any, u: Any, s: tuple[Any, Any], path: list[Any]) -> None:
        if isinstance(b, dict) and isinstance(a, dict) and u is not True and not any(x is True for x in s):
            for key in sorted(set(b) | set(a) | (set(u) if isinstance(u, dict) else set())):
                walk(
                    b.get(key, _MISSING),
                    a.get(key, _MISSING),
                    u.get(key) if isinstance(u, dict) else None,
                    (_child(s[0], key), _child(s[1], key)),
                    [*path, key],
                )
            return
        if b != a or _any_true(u):
            out.append(_attribute(path_text(path), b, a, u, s))

    walk(before if before is not None else {}, after if after is not None else {}, unknown, sensitive, [])
    return out


def _child(value: Any, key: Any) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    return value if value is True else None


def _at(value: Any, path: Sequence[Any]) -> Any:
    for step in path:
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step, _MISSING)
        elif isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value):
            value = value[step]
        elif value is True:  # a whole-value mark (unknown, sensitive) covers what is inside it
            return True
        else:
            return _MISSING
    return value


def _any_true(mark: Any) -> bool:
    if mark is True:
        return True
    if isinstance(mark, dict):
        return any(_any_true(v) for v in mark.values())
    if isinstance(mark, list):
        return any(_any_true(v) for v in mark)
    return False


def _attribute(path: str, before: Any, after: Any, unknown: Any, sensitive: Iterable[Any]) -> AttributeChange:
    before_sensitive, after_sensitive = (_any_true(s) for s in sensitive)
    shown_before = "(sensitive)" if before_sensitive else value_text(before)
    if after_sensitive:
        shown_after = "(sensitive)"
    elif unknown is True:
        shown_after = UNKNOWN_TEXT
    else:
        shown_after = value_text(after) + (" (partly known after apply)" if _any_true(unknown) else "")
    return AttributeChange(path, shown_before, shown_after)


def value_text(value: Any) -> str:
    if value is _MISSING:
        return "(none)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _drift(plan: Mapping[str, Any], known: Iterable[str]) -> tuple[tuple[Drift, ...], int]:
    """resource_drift filtered as Terraform filters it: only relevant attributes, and only if they changed."""
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
        attributes = attribute_changes(change, only=paths) if paths else []
        if not attributes:
            ignored += 1
            continue
        labels = _labels(change.get("before"))
        kept.append(
            Drift(
                address=str(raw.get("address")),
                type=str(raw.get("type", "")),
                capability=capability_of(str(raw.get("name", "")), labels, known),
                kind=_kind(change.get("actions") or []),
                attributes=tuple(attributes[:MAX_ATTRIBUTES]),
            )
        )
    return tuple(kept), ignored


def _outputs(plan: Mapping[str, Any]) -> tuple[OutputChange, ...]:
    out = []
    for name, change in sorted((plan.get("output_changes") or {}).items()):
        if not isinstance(change, dict):
            continue
        kind = _kind(change.get("actions") or [])
        if kind == "no-op":
            continue
        before = "(sensitive)" if change.get("before_sensitive") else value_text(change.get("before"))
        if change.get("after_sensitive"):
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


# --- the verdict ---------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary(counts: Mapping[str, int]) -> str:
    """'1 to create, 2 to update' (only what is there), or 'no changes'."""
    words = {
        "create": "to create",
        "update": "to update",
        "replace": "to replace",
        "delete": "to destroy",
        "import": "to import",
        "move": "to move",
        "forget": "to forget",
    }
    parts = [f"{counts[k]} {words[k]}" for k in COUNTED if counts.get(k)]
    return ", ".join(parts) if parts else "no changes"


def verdict(review: Review) -> str:
    """One line: what the reviewer must know first."""
    counts = review.counts
    destructive = review.destructive
    at_risk = [c for _, c in destructive if c.data_at_risk]
    errored = [s.stack for s in review.stacks if s.errored]
    tail = f" ({summary(counts)})"
    if review.freeze is not None and review.freeze.blocked:
        hit = review.freeze.hits[0]
        more = f" and {len(review.freeze.hits) - 1} more" if len(review.freeze.hits) > 1 else ""
        line = (
            f"Blocked by change freeze '{hit.freeze}' ({hit.reason}) on {hit.stack}{more}: "
            "apply after the window, or override with --override-freeze REASON"
        )
    elif at_risk:
        line = (
            f"Approval required: {_plural(len(at_risk), 'stateful resource')} would be destroyed or replaced, "
            f"losing data{tail}"
        )
    elif destructive:
        count_text = _plural(len(destructive), "resource")
        line = f"Destructive: {count_text} would be destroyed or replaced, none holds data{tail}"
    elif any(counts.values()) or any(s.outputs for s in review.stacks):
        line = f"No resource is destroyed{tail}"
    else:
        line = "No changes: applying these plans changes nothing"
    if review.freeze is not None and review.freeze.overridden:
        line += "; change freeze overridden"
    if errored:
        line = f"Terraform failed while planning {', '.join(errored)}: the plan is incomplete. {line}"
    return line


# --- Markdown ------------------------------------------------------------------------------------

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_MD_SPECIAL = set("\\`*_[]|~")


def md_text(text: str) -> str:
    """Plain text for Markdown: punctuation escaped (no links, HTML or @mentions from a plan), one line."""
    out = []
    for char in " ".join(str(text).split()):
        if char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char == "&":
            out.append("&amp;")
        elif char == "@":  # a word joiner after it: no @mention, the same text on screen
            out.append("@\u2060")
        elif char in _MD_SPECIAL:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def html_text(text: str) -> str:
    """Text inside an HTML element (a <summary>), where Markdown is not read: entities, no @mentions."""
    escaped = html.escape(" ".join(str(text).split()), quote=False)
    return escaped.replace("@", "@\u2060").replace("[", "&#91;").replace("]", "&#93;")


def md_code(text: str) -> str:
    """Inline code that holds any text: fenced with more backticks than it contains (_row escapes `|`)."""
    flat = " ".join(str(text).split())
    run = longest = 0
    for char in flat:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _row(cells: Iterable[str]) -> str:
    """A table row; a `|` in a cell, even in its code, is escaped (GitHub reads the table before the code)."""
    return "| " + " | ".join(_UNESCAPED_PIPE.sub(r"\\|", cell) for cell in cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    return [_row(header), _row("---" for _ in header), *(_row(r) for r in rows)]


def _action(change: Change) -> str:
    if change.kind == "replace":
        order = "destroy, then create" if change.actions[0] == "delete" else "create, then destroy"
        return f"replace ({order})"
    return ACTION_WORDS.get(change.kind, change.kind)


def _reason(change: Change) -> str:
    if change.action_reason is None:
        return ""
    return REASONS.get(change.action_reason, change.action_reason)


def to_markdown(review: Review) -> str:
    """The PR comment; one GitHub would refuse as too long loses the details, then the lists' tails."""
    text = _markdown(review, details=True, limit=None)
    if len(text) > MAX_MARKDOWN:
        text = _markdown(review, details=False, limit=None)
    if len(text) > MAX_MARKDOWN:
        text = _markdown(review, details=False, limit=SHORT_LIST)
    return text


def _cut(items: list[Any], limit: int | None) -> tuple[list[Any], list[str]]:
    """The first `limit` items, and the line that says how many were left out."""
    if limit is None or len(items) <= limit:
        return items, []
    return items[:limit], [f"- and {len(items) - limit} more: run `tierstack review --format text` to see them all"]


def _markdown(review: Review, details: bool, limit: int | None) -> str:
    counts = review.counts
    lines = ["## tierstack review", "", f"**{md_text(review.verdict())}**", ""]
    lines += _md_freeze(review)
    lines += _table(
        ["stack", "environment", *COUNTED, "drift"],
        (
            [md_code(s.stack), md_text(s.environment or "")] + [str(s.counts[k]) for k in COUNTED] + [str(len(s.drift))]
            for s in review.stacks
        ),
    )
    if len(review.stacks) > 1:
        total = (
            ["**total**", ""] + [f"**{counts[k]}**" for k in COUNTED] + [str(sum(len(s.drift) for s in review.stacks))]
        )
        lines.append(_row(total))
    lines.append("")
    destructive = review.destructive
    if destructive:
        lines += ["### Destroyed or replaced", ""]
        rows = []
        ranked = sorted(destructive, key=lambda sc: (sc[1].data_at_risk is None, sc[0].stack))
        ranked, left_out = _cut(ranked, limit)
        for stack, change in ranked:
            risk = f"**high**: {md_text(change.data_at_risk)}" if change.data_at_risk else "low: holds no data"
            rows.append(
                [
                    risk,
                    md_code(stack.stack),
                    md_code(change.address),
                    md_text(_action(change)),
                    md_text(_reason(change)),
                    ", ".join(md_code(p) for p in change.replace_paths),
                ]
            )
        lines += _table(["risk", "stack", "resource", "action", "why", "forces replacement"], rows)
        lines += [*left_out, ""]
    moves = [(s, c) for s in review.stacks for c in s.changes if c.moved]
    moves, left_out = _cut(moves, limit)
    if moves:
        lines += ["### Moved", ""]
        lines += [
            f"- {md_code(c.previous_address or '')} → {md_code(c.address)} ({md_code(s.stack)})" for s, c in moves
        ]
        lines += [*left_out, ""]
    imports = [(s, c) for s in review.stacks for c in s.changes if c.import_id is not None]
    imports, left_out = _cut(imports, limit)
    if imports:
        lines += ["### Imported", ""]
        lines += [
            f"- {md_code(c.address)} from id {md_code(c.import_id or '')} ({md_code(s.stack)})" for s, c in imports
        ]
        lines += [*left_out, ""]
    forgets = [(s, c) for s in review.stacks for c in s.changes if "forget" in c.counted]
    forgets, left_out = _cut(forgets, limit)
    if forgets:
        lines += ["### No longer managed (forgotten, not destroyed)", ""]
        lines += [
            f"- {md_code(c.address)} ({md_code(s.stack)}): stays in the cloud, leaves the state" for s, c in forgets
        ]
        lines += [*left_out, ""]
    lines += _md_drift(review, limit)
    outputs, left_out = _cut([(s, o) for s in review.stacks for o in s.outputs], limit)
    if outputs:
        lines += ["### Output changes", ""]
        lines += _table(
            ["stack", "output", "action", "before", "after"],
            (
                [md_code(s.stack), md_code(o.name), md_text(o.kind), md_code(o.before), md_code(o.after)]
                for s, o in outputs
            ),
        )
        lines += [*left_out, ""]
    lines += _md_capabilities(review)
    if details:
        for stack in review.stacks:
            lines += _md_details(stack)
    else:
        lines += [
            "_The full details are left out: the comment would be longer than GitHub allows. "
            "Run `tierstack review --format text` on the plans to see them._",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


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
            f"- Change freezes not checked for {', '.join(md_code(s) for s in check.unchecked)}: no tierstack.yaml "
            "found from the plan's stack directory; pass --config"
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
            f"- {_plural(ignored, 'other drifted resource')}: not shown, no planned change depends on "
            "what changed (as Terraform shows drift)"
        )
    return [*lines, ""]


def by_capability(review: Review) -> list[tuple[str, str, dict[str, int]]]:
    """(stack, capability, counts) for every capability with changes, in the stacks' order."""
    out = []
    for stack in review.stacks:
        groups: dict[str, list[Change]] = {}
        for change in stack.changes:
            if change.counted:
                groups.setdefault(change.capability, []).append(change)
        for capability in sorted(groups):
            out.append((stack.stack, capability, count(groups[capability])))
    return out


def _md_capabilities(review: Review) -> list[str]:
    rows = by_capability(review)
    if not rows:
        return []
    lines = ["### By capability", ""]
    lines += _table(
        ["stack", "capability", *COUNTED],
        ([md_code(stack), md_code(cap)] + [str(counts[k]) for k in COUNTED] for stack, cap, counts in rows),
    )
    return [*lines, ""]


def _md_details(stack: StackReview) -> list[str]:
    changes = [c for c in stack.changes if c.counted]
    if not changes:
        return []
    lines = [
        "<details>",
        f"<summary>All changes in {html_text(stack.stack)}: {html_text(summary(stack.counts))}</summary>",
        "",
        f"Plan: {md_code(stack.source)}"
        + (f", Terraform {md_text(stack.terraform_version)}" if stack.terraform_version else ""),
        "",
    ]
    lines += _table(
        ["action", "resource", "capability"],
        ([_md_action(c), md_code(c.address), md_code(c.capability)] for c in changes),
    )
    for change in changes:
        if not change.attributes:
            continue
        lines += ["", f"{md_code(change.address)}: {_md_action(change)}", ""]
        lines += [f"- {md_code(a.path)}: {md_code(a.before)} → {md_code(a.after)}" for a in change.attributes]
        if change.more_attributes:
            lines.append(f"- and {_plural(change.more_attributes, 'more attribute')}")
        if change.recomputed:
            lines.append(f"- and {_plural(change.recomputed, 'computed attribute')} known after apply")
    return [*lines, "", "</details>", ""]


def _md_action(change: Change) -> str:
    parts = [] if change.kind == "no-op" else [md_text(_action(change))]
    if change.moved:
        parts.append(f"moved from {md_code(change.previous_address or '')}")
    if change.import_id is not None:
        parts.append(f"imported from id {md_code(change.import_id)}")
    if change.action_reason:
        parts.append(f"because {md_text(_reason(change))}")
    return ", ".join(parts)


def _detail_action(change: Change) -> str:
    parts = [] if change.kind == "no-op" else [_action(change)]
    if change.moved:
        parts.append(f"moved from {change.previous_address}")
    if change.import_id is not None:
        parts.append(f"imported from {change.import_id}")
    if change.action_reason:
        parts.append(f"because {_reason(change)}")
    return ", ".join(parts)


# --- text and data -------------------------------------------------------------------------------


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
        for change in stack.changes:
            if not change.counted:
                continue
            lines.append(f"  {_detail_action(change)}: {change.address} [{change.capability}]")
            if change.data_at_risk:
                lines.append(f"      DATA AT RISK: {change.data_at_risk}")
            if change.replace_paths:
                lines.append(f"      forces replacement: {', '.join(change.replace_paths)}")
            lines += [f"      {a.path}: {a.before} -> {a.after}" for a in change.attributes]
            if change.more_attributes:
                lines.append(f"      and {_plural(change.more_attributes, 'more attribute')}")
            if change.recomputed:
                lines.append(f"      and {_plural(change.recomputed, 'computed attribute')} known after apply")
        for drift in stack.drift:
            what = "deleted outside Terraform" if drift.kind == "delete" else "changed outside Terraform"
            lines.append(f"  {what}: {drift.address} [{drift.capability}]")
            lines += [f"      {a.path}: {a.before} -> {a.after}" for a in drift.attributes]
        if stack.drift_not_relevant:
            lines.append(
                f"  {_plural(stack.drift_not_relevant, 'other drifted resource')}: no planned change depends on it"
            )
        for output in stack.outputs:
            lines.append(f"  output {output.name}: {output.kind}, {output.before} -> {output.after}")
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
                        "attributes": [asdict(a) for a in c.attributes],
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
                        "attributes": [asdict(a) for a in d.attributes],
                    }
                    for d in s.drift
                ],
                "drift_not_relevant": s.drift_not_relevant,
                "outputs": [asdict(o) for o in s.outputs],
            }
            for s in review.stacks
        ],
        "by_capability": [{"stack": st, "capability": cap, "counts": n} for st, cap, n in by_capability(review)],
    }
