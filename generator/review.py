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
the comment.

The estimated monthly cost change of each plan comes from generator/cost.py
(`plan_cost_delta`, the price table generator/data/prices.yaml): shown only when
a priced resource's figure changes or a resource the table cannot price is
created, destroyed or changed in more than its labels. A forgotten object keeps
running, so it keeps costing. Nothing here reads the network: the standard
library, cost.py and its price table.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any

from tierstack.generator import cost
from tierstack.generator.errors import UserError
from tierstack.generator.freeze import FreezeCheck
from tierstack.generator.resource_types import any_true, holds_data, update_losses
from tierstack.modules import base

MIN_FORMAT = (1, 2)  # plan JSON format written by Terraform 1.6+ (and OpenTofu 1.7+); `removed` needs 1.7
COUNTED = ("create", "update", "replace", "delete", "import", "move", "forget")
# the capabilities every stack gets (DESIGN.md); the others are read from the `capability` label
ALWAYS_CAPABILITIES = ("foundation", "cost_controls")
OTHER = "other"
# A plan of 10,000 resource changes is tens of MB; this leaves room and still bounds the memory json takes
MAX_PLAN_BYTES = 256 * 1024 * 1024
PLAN_TOO_LARGE = "review one stack's plan per file (terraform show -json in each stack directory)"
MAX_MARKDOWN = 60_000  # GitHub refuses comments over 65,536 characters; the details go first
MAX_VALUE = 80  # characters of a value shown in a table
MAX_ATTRIBUTES = 25  # attribute changes listed per resource
SHORT_LIST = 50  # items per section in a comment that would otherwise be too long
PLAN_HINT = (  # the names `tierstack plan` saves, which the .gitignore generate writes keeps out of git
    "`tierstack plan` saves each stack's plan as JSON, <stack>.tfplan.json; by hand: terraform plan "
    "-out=STACK.tfplan && terraform show -json STACK.tfplan > STACK.tfplan.json"
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
# attributes whose change never changes a bill: a resource the price table cannot price is listed
# in the cost section only when it is created, destroyed, or updated in something else
LABEL_ATTRIBUTES = frozenset({"labels", "effective_labels", "terraform_labels"})
PRICES_FILE = "generator/data/prices.yaml"
ASSUMPTION_WORDS = {  # the price table's assumptions a plan's resources are priced with, in words
    "hours_per_month": "always-on resources run {:g} h a month at their minimum replicas",
    "bucket_gb": "each bucket holds {:g} GB",
    "feature_store_optimized_nodes": "an Optimized feature store runs on {:g} node",
    "pipeline_runs_per_schedule_firing": "{:g} pipeline run per firing of a schedule",
}


# --- reading -------------------------------------------------------------------------------------


def load_plan(source: str) -> dict[str, Any]:
    """Read and check a plan file (`-`: standard input); every failure is a UserError naming the file."""
    from tierstack.generator import fsio  # the one bounded reader: a FIFO, /dev/zero, a sparse 4 GB file refused

    if source == "-":
        raw = fsio.read_stdin_bounded("plan", MAX_PLAN_BYTES, limit_of="a plan", too_large_hint=PLAN_TOO_LARGE)
        source = "<stdin>"
    else:
        try:
            raw = fsio.read_bytes_bounded(
                Path(source), "plan", MAX_PLAN_BYTES, limit_of="a plan", too_large_hint=PLAN_TOO_LARGE
            )
        except fsio.Unreadable as err:
            hint = PLAN_HINT if err.reason in ("not found", "is a directory, not a file") else err.hint
            if "pipe" in err.reason:  # `review <(terraform show -json ...)` too: a pipe is read from stdin
                hint = "pipe the plan into standard input: terraform show -json plan.tfplan | tierstack review -"
            reason = "no such file" if err.reason == "not found" else f"the plan {err.reason}"
            raise UserError(reason, file=source, hint=hint) from None
    if raw.startswith(b"PK\x03\x04"):
        raise UserError(
            "this is Terraform's binary plan file; review reads its JSON",
            file=source,
            hint=f"convert it: terraform show -json {source} > {Path(source).name.removesuffix('.tfplan')}.tfplan.json",
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
    for key in ("resource_changes", "resource_drift"):
        for i, change in enumerate(data.get(key, [])):
            if not (
                isinstance(change, dict)
                and isinstance(change.get("address"), str)
                and isinstance(change.get("type"), str)
                and isinstance(change.get("change"), dict)
                and isinstance(change["change"].get("actions"), list)
            ):
                raise UserError(
                    f"{key}[{i}] has no address, type or actions: this plan JSON is damaged",
                    file=source,
                    hint=PLAN_HINT,
                )
            actions = change["change"]["actions"]
            if actions not in ACTION_LISTS:
                raise UserError(
                    f"{key}[{i}].change.actions is {json.dumps(actions)} ({change['address']}), an action list "
                    "Terraform does not write: this plan JSON is damaged or not from Terraform",
                    file=source,
                    hint=PLAN_HINT,
                )
    return data


# Every action list `terraform show -json` writes (Terraform's JSON output format, "Change Representation"):
# anything else is a damaged file, refused before it is counted.
ACTION_LISTS: tuple[list[str], ...] = (
    ["no-op"],
    ["create"],
    ["read"],
    ["update"],
    ["delete", "create"],
    ["create", "delete"],
    ["delete"],
    ["forget"],
    ["create", "forget"],
)


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
    losses: tuple[str, ...] = ()  # what an in-place update loses (generator/data/resource_types.yaml)

    @property
    def moved(self) -> bool:
        return self.previous_address is not None and self.previous_address != self.address

    @property
    def destructive(self) -> bool:
        """Terraform would destroy the object (a delete, or a replacement in either order)."""
        return "delete" in self.actions

    @property
    def data_at_risk(self) -> str | None:
        """What is lost: a resource that holds data (or of a type tierstack does not know) destroyed, or an
        in-place update that loses data (a column dropped, a retention shortened); None otherwise."""
        if self.destructive:
            return holds_data(self.type)
        return "; ".join(self.losses) if self.losses else None

    @functools.cached_property
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
class CostChange:
    """A resource whose estimated monthly cost changes, or one the price table cannot price whose change may."""

    address: str
    capability: str
    action: str  # in words, as the other sections say it
    before: float | None  # None: absent before the plan, or not priced (see not_priced)
    after: float | None  # None: absent after it, or not priced
    present_before: bool
    present_after: bool
    not_priced: str | None = None  # why the table cannot price it

    @property
    def delta(self) -> float | None:
        return None if self.not_priced else (self.after or 0.0) - (self.before or 0.0)


@dataclass(frozen=True)
class StackCost:
    """A plan's estimated monthly cost, before and after, over the resources priced on both sides.

    A resource the table cannot price before or after the plan is left out of both figures and listed
    in `changes` with the reason, so the delta compares like with like.
    """

    currency: str
    before: float
    after: float
    changes: tuple[CostChange, ...]

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def shown(self) -> bool:
        """Something priced changes, or something not priced is created, destroyed or changed."""
        return bool(self.changes)

    @property
    def priced(self) -> tuple[CostChange, ...]:
        return tuple(c for c in self.changes if not c.not_priced)

    @property
    def not_priced(self) -> tuple[CostChange, ...]:
        return tuple(c for c in self.changes if c.not_priced)


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
    refresh_only: bool = False  # `terraform plan -refresh-only`: applying it rewrites the state to the drift
    incomplete: tuple[str, ...] = ()  # why applying this plan is not the whole change (-target, deferred)
    cost: StackCost | None = None  # None: not estimated

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    @functools.cached_property
    def _counts(self) -> dict[str, int]:
        return count(self.changes)

    @property
    def has_changes(self) -> bool:
        """Applying this plan would do something: change a resource, its address or state, or an output.

        A refresh-only plan with drift changes the state: a freeze blocks it like any other change.
        """
        return any(c.counted for c in self.changes) or bool(self.outputs) or (self.refresh_only and bool(self.drift))


@dataclass(frozen=True)
class Review:
    stacks: tuple[StackReview, ...]
    freeze: FreezeCheck | None = None

    @property
    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys(COUNTED, 0)
        for stack in self.stacks:
            for kind, n in stack.counts.items():
                totals[kind] += n
        return totals

    @property
    def destructive(self) -> list[tuple[StackReview, Change]]:
        return [(s, c) for s in self.stacks for c in s.changes if c.destructive]

    @property
    def at_risk(self) -> list[tuple[StackReview, Change]]:
        """The changes that lose data: destroyed data, in-place updates that lose data; prod stacks first."""
        found = [(s, c) for s in self.stacks for c in s.changes if c.data_at_risk]
        return sorted(found, key=lambda sc: not _is_prod(sc[0]))

    @property
    def incomplete(self) -> list[StackReview]:
        return [s for s in self.stacks if s.incomplete]

    @property
    def approval_required(self) -> bool:
        """Data at risk, or a plan that is not the whole change (-target, deferred): `review` exits 3."""
        return bool(self.at_risk) or bool(self.incomplete)

    @property
    def blocked(self) -> bool:
        """A change freeze is on for a stack with changes, and nobody overrode it."""
        return self.freeze is not None and self.freeze.blocked

    def verdict(self) -> str:
        return verdict(self)

    @property
    def costed(self) -> list[tuple[StackReview, StackCost]]:
        """The stacks whose cost section is shown."""
        return [(s, s.cost) for s in self.stacks if s.cost is not None and s.cost.shown]

    def cost_total(self) -> tuple[float, float] | None:
        """(before, after) over every stack's priced resources, when some stack's cost section is shown."""
        if not self.costed:
            return None
        estimated = [s.cost for s in self.stacks if s.cost is not None]
        return sum(c.before for c in estimated), sum(c.after for c in estimated)


def _is_prod(stack: StackReview) -> bool:
    return (stack.environment or "").lower() in ("prod", "production") or stack.stack.endswith(("-prod", "-production"))


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
        reasons.append(f"{_plural(len(deferred), 'change')} deferred to a later plan ({shown})")
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
    return base.capability_of(name, known) or OTHER


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
    if kind == "update":
        listed = attributes  # an update shows what becomes unknown, as Terraform does
    else:
        listed = [a for a in attributes if a.after != UNKNOWN_TEXT or a.path in replace_paths]
    losses = tuple(update_losses(str(raw.get("type", "")), change)) if kind == "update" else ()
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
            if b != a or any_true(u):
                out.append(_attribute(path_text(list(path)), b, a, u, (_at(s, path) for s in sensitive)))
        return out

    def walk(b: Any, a: Any, u: Any, s: tuple[Any, Any], path: list[Any]) -> None:
        if b == a and not any_true(u):
            return  # nothing below differs, and nothing is unknown: no change to list
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
        if b != a or any_true(u):
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


def _attribute(path: str, before: Any, after: Any, unknown: Any, sensitive: Iterable[Any]) -> AttributeChange:
    before_sensitive, after_sensitive = (any_true(s) for s in sensitive)
    hidden = before_sensitive or after_sensitive  # sensitive on one side: neither side is shown
    shown_before = "(sensitive)" if hidden and before is not _MISSING else value_text(before)
    if hidden and after is not _MISSING:
        shown_after = UNKNOWN_TEXT if unknown is True else "(sensitive)"
    elif unknown is True:
        shown_after = UNKNOWN_TEXT
    else:
        shown_after = value_text(after) + (" (partly known after apply)" if any_true(unknown) else "")
    return AttributeChange(path, shown_before, shown_after)


def value_text(value: Any) -> str:
    if value is _MISSING:
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


# --- the cost change -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def prices() -> cost.PriceTable:
    """The price table, read once per process."""
    return cost.load_prices()


def stack_cost(plan: Mapping[str, Any]) -> StackCost:
    """The plan's estimated monthly cost change (cost.plan_cost_delta), as the review shows it.

    Only what may change a bill is listed: a priced resource whose figure changes, and a Google resource
    the table cannot price that the plan creates, destroys or updates in more than its labels.
    """
    delta = cost.plan_cost_delta(_as_billed(plan), prices())
    worth_listing: dict[str, bool] = {}
    actions: dict[str, str] = {}
    for raw in plan.get("resource_changes", []):
        if raw.get("mode", "managed") == "managed" and not raw.get("deposed"):
            address, change = str(raw["address"]), raw.get("change") or {}
            actions[address] = action_words([str(a) for a in change.get("actions") or ()])
            worth_listing[address] = str(raw.get("type", "")).startswith("google_") and _may_change_cost(change)
    listed = []
    for r in delta.resources:
        if r.not_priced and not worth_listing.get(r.address):
            continue  # not priced, and the plan leaves what it costs alone (or it is not Google's to bill)
        listed.append(
            CostChange(
                address=r.address,
                capability=r.capability,
                action=actions.get(r.address, ""),
                before=r.before if r.present_before else None,
                after=r.after if r.present_after else None,
                present_before=r.present_before,
                present_after=r.present_after,
                not_priced=r.not_priced,
            )
        )
    # like with like: what is not priced on one side leaves both totals
    before = delta.before - sum(r.before or 0.0 for r in delta.resources if r.not_priced)
    after = delta.after - sum(r.after or 0.0 for r in delta.resources if r.not_priced)
    return StackCost(delta.currency, before, after, tuple(listed))


def _as_billed(plan: Mapping[str, Any]) -> Mapping[str, Any]:
    """The plan as the bill sees it: a forgotten object leaves the state, not the cloud, so it keeps costing;
    and without the resources nothing bills (cost.py gives them no line).

    `["forget"]` keeps its before as its after; `create` + `forget` (a replacement whose old object is
    forgotten) becomes a create beside the old object, kept under its own name.
    """
    out = []
    for raw in plan.get("resource_changes", []):
        if _never_billed(str(raw.get("type", ""))):
            continue  # cost.py prices these at nothing: skipping them changes no figure, and saves the work
        change = raw.get("change") or {}
        actions = list(change.get("actions") or ())
        if actions == ["forget"]:
            raw = {**raw, "change": {**change, "after": change.get("before")}}
        elif sorted(actions) == ["create", "forget"]:
            old = {**change, "actions": ["forget"], "after": change.get("before")}
            out.append({**raw, "address": f"{raw['address']} (forgotten object)", "change": old})
            raw = {**raw, "change": {**change, "before": None}}
        out.append(raw)
    return {**plan, "resource_changes": out}


@functools.lru_cache(maxsize=512)
def _never_billed(resource_type: str) -> bool:
    """Access, APIs, identities and the like: generator/cost.py gives them no line at all (and reads none of
    them to price another resource, as it reads a workflow to price the schedule that starts it)."""
    return resource_type not in cost.CONTEXT_TYPES and (
        resource_type in cost.NO_CHARGE_TYPES
        or resource_type.endswith(cost.NO_CHARGE_SUFFIXES)
        or resource_type in cost.USAGE_ONLY_TYPES
    )


def _may_change_cost(change: Mapping[str, Any]) -> bool:
    """Created, destroyed, or updated in something other than its labels."""
    actions = change.get("actions") or ()
    if "create" in actions or "delete" in actions:
        return True
    if "update" not in actions:
        return False  # no-op, read, forget: nothing runs differently
    before, after = change.get("before"), change.get("after")
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    unknown = change.get("after_unknown")
    unknown = unknown if isinstance(unknown, dict) else {}
    return any(
        before.get(key, _MISSING) != after.get(key, _MISSING) or any_true(unknown.get(key))
        for key in set(before) | set(after) | set(unknown)
        if key not in LABEL_ATTRIBUTES
    )


def money(amount: float) -> str:
    return f"{amount:,.2f}"


def signed(amount: float) -> str:
    """+12.50, -3.00, or 0.00 (never -0.00)."""
    return "0.00" if abs(amount) < 0.005 else f"{amount:+,.2f}"


def _side(present: bool, amount: float | None) -> str:
    if not present:
        return "—"
    return "not priced" if amount is None else money(amount)


def cost_note(table: cost.PriceTable | None = None, markdown: bool = False) -> str:
    """One line: an estimate, from which table, with which assumptions (Markdown: escaped, the file as code)."""
    table = table or prices()
    assumed = ", ".join(
        words.format(table.assumptions[key]) for key, words in ASSUMPTION_WORDS.items() if key in table.assumptions
    )
    text = md_text if markdown else str
    return (
        text(f"An estimate, not a quote: on-demand list prices in {table.currency} from")
        + " "
        + (md_code(PRICES_FILE) if markdown else PRICES_FILE)
        + text((f", assuming {assumed}" if assumed else "") + ". Before and after leave out what is not priced.")
    )


def leaves_out(table: cost.PriceTable | None = None) -> tuple[str, ...]:
    """What every estimate leaves out (the price table's `left_out`)."""
    return (table or prices()).left_out


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
    losing = [c for _, c in review.at_risk if not c.destructive]
    errored = [s.stack for s in review.stacks if s.errored]
    refreshing = [s for s in review.stacks if s.refresh_only]
    tail = f" ({summary(counts)})"
    if review.freeze is not None and review.freeze.blocked:
        hit = review.freeze.hits[0]
        more = f" and {len(review.freeze.hits) - 1} more" if len(review.freeze.hits) > 1 else ""
        line = (
            f"Blocked by change freeze '{hit.freeze}' ({hit.reason}) on {hit.stack}{more}: "
            "apply after the window, or override with --override-freeze REASON"
        )
    elif at_risk or losing:
        parts = [f"{_plural(len(at_risk), 'stateful resource')} would be destroyed or replaced"] if at_risk else []
        if losing:
            parts.append(f"{_plural(len(losing), 'in-place update')} would lose data")
        line = f"Approval required: {' and '.join(parts)}{'' if losing else ', losing data'}{tail}"
    elif review.incomplete:
        line = f"Approval required: {_plural(len(review.incomplete), 'plan')} not complete{tail}"
    elif destructive:
        count_text = _plural(len(destructive), "resource")
        line = f"Destructive: {count_text} would be destroyed or replaced, none holds data{tail}"
    elif any(counts.values()) or any(s.outputs for s in review.stacks):
        line = f"No resource is destroyed{tail}"
    elif any(s.drift for s in refreshing):
        drifted = sum(len(s.drift) for s in refreshing)
        line = (
            f"Refresh only: applying writes {_plural(drifted, 'change')} made outside Terraform into the state; "
            "no resource is changed"
        )
    else:
        line = "No changes: applying these plans changes nothing"
    if review.incomplete and (at_risk or losing or review.blocked):
        line += f"; {_plural(len(review.incomplete), 'plan')} not complete"
    if review.freeze is not None and review.freeze.overridden:
        line += "; change freeze overridden"
    if errored:
        line = f"Terraform failed while planning {', '.join(errored)}: the plan is incomplete. {line}"
    return line


# --- Markdown ------------------------------------------------------------------------------------

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_MD_SPECIAL = set("\\`*_[]|~")


_MD_ESCAPES = str.maketrans(
    {
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "@": "@\u2060",  # a word joiner after it: no @mention, the same text on screen
        **{char: "\\" + char for char in _MD_SPECIAL},
    }
)
_BACKTICKS = re.compile("`+")


def md_text(text: str) -> str:
    """Plain text for Markdown: punctuation escaped (no links, HTML or @mentions from a plan), one line."""
    return " ".join(str(text).split()).translate(_MD_ESCAPES)


def html_text(text: str) -> str:
    """Text inside an HTML element (a <summary>), where Markdown is not read: entities, no @mentions."""
    escaped = html.escape(" ".join(str(text).split()), quote=False)
    return escaped.replace("@", "@\u2060").replace("[", "&#91;").replace("]", "&#93;")


_CODE_ESCAPES = str.maketrans({"<": "<\u2060", ">": "\u2060>", "@": "@\u2060"})


def md_code(text: str) -> str:
    """Inline code that holds any text: fenced with more backticks than it contains (_row escapes `|`).

    A word joiner (U+2060, invisible) after each `<` and `@` and before each `>`: the raw comment then holds
    no `<!--`/`-->` (so no plan value can forge the marker the upsert looks for) and no `@mention`.
    """
    flat = " ".join(str(text).split())
    if "<" in flat or ">" in flat or "@" in flat:  # translate is slow, and most values have none of them
        flat = flat.translate(_CODE_ESCAPES)
    longest = max(map(len, _BACKTICKS.findall(flat)), default=0) if "`" in flat else 0
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


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


def _action(change: Change) -> str:
    return action_words(change.actions)


def action_words(actions: Sequence[str]) -> str:
    """A change's actions in words: 'replace (destroy, then create)', 'update in place'..."""
    kind = _kind(actions)
    if kind == "replace":
        order = "destroy, then create" if actions[0] == "delete" else "create, then destroy"
        return f"replace ({order})"
    return ACTION_WORDS.get(kind, kind)


def _reason(change: Change) -> str:
    if change.action_reason is None:
        return ""
    return REASONS.get(change.action_reason, change.action_reason)


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
    reserve = 600  # the closing note
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
    for stack in sorted(review.stacks, key=lambda st: not _is_prod(st)):
        kind = "details-prod" if _is_prod(stack) else "details"
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
            f"{_plural(len(s.drift), 'change')} made outside Terraform into the state (listed under drift)"
            for s in refreshing
        ]
        lines.append("")
    return lines


def _md_stacks(review: Review, limit: int | None) -> list[str]:
    counts = review.counts
    stacks = list(review.stacks)
    quiet: list[StackReview] = []
    if limit is not None:  # cut to fit: production first, and the stacks without changes in one line
        stacks = sorted(stacks, key=lambda st: not _is_prod(st))
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
            f"- {_plural(len(quiet), 'stack')} without changes: {', '.join(md_code(s.stack) for s in names)}"
            + (f" and {len(quiet) - len(names)} more" if more else "")
        )
    return [*lines, ""]


def _md_destroyed(review: Review, limit: int | None) -> Iterator[str]:
    destructive = review.destructive
    if not destructive:
        return
    ranked = sorted(destructive, key=lambda sc: (sc[1].data_at_risk is None, not _is_prod(sc[0]), sc[0].stack))
    ranked, left_out = _cut(ranked, limit)
    yield from ["### Destroyed or replaced", ""]
    yield from _table_lines(
        ["risk", "stack", "resource", "action", "why", "forces replacement"],
        (
            [
                f"**high**: {md_text(change.data_at_risk)}" if change.data_at_risk else "low: holds no data",
                md_code(stack.stack),
                md_code(change.address),
                md_text(_action(change)),
                md_text(_reason(change)),
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
            f"- {_plural(ignored, 'other drifted resource')}: not shown, no planned change depends on "
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
                    _side(ch.present_before, ch.before),
                    _side(ch.present_after, ch.after),
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
            yield f"- and {_plural(change.more_attributes, 'more attribute')}"
        if change.recomputed:
            yield f"- and {_plural(change.recomputed, 'computed attribute')} known after apply"
    yield from ["", "</details>", ""]


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
        lines += [f"  NOT THE WHOLE CHANGE: {reason}" for reason in stack.incomplete]
        if stack.refresh_only:
            lines.append("  refresh only: applying writes the drift below into the state; no resource changes")
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
            f"({signed(total[1] - total[0])})" + (f"; {_plural(unpriced, 'item')} not priced" if unpriced else ""),
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
