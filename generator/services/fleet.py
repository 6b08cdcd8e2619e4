"""Fleets: one file, several use cases sharing a blueprint, generated in one run.

A fleet file is a tierstack.yaml for many teams, regions or business units at once:

    fleet: propensity                      # the fleet's name; this key makes the file a fleet
    description: one propensity model per region
    blueprint: ./org-blueprint.yaml.j2     # every member's blueprint (a member may name its own)
    defaults:                              # tierstack.yaml fields every member starts from
      team: growth
      use_case: {stage: production, retraining: scheduled, schedule: "0 4 * * *", serving: batch}
      labels: {cost-center: cc-100}
    members:                               # each one a tierstack.yaml, over the defaults
      - name: propensity-us
        region: us-central1
      - name: propensity-uk
        team: growth-uk
        region: europe-west2
        labels: {data-residency: uk}

A member is the defaults merged with its own entry: mappings key by key (the member's value wins),
anything else, lists included, replaced. The result is validated by the same Spec model as a
tierstack.yaml and resolved as one, with the fleet file as its config: an error and every value's
provenance name the fleet file, the line, and the field as the fleet file writes it
(`members[propensity-uk].region`, `defaults.use_case.serving`).

`tierstack generate FLEET` loads and resolves every member first (a problem of the fleet as a whole, such
as two members with one name, stops it before anything is written), then generates each member as
`generate` does a tierstack.yaml, into `<out>/<member>/cdktf.out` (`<out>` is the fleet file's folder
unless --out), with the same atomic, manifest-keeping writes. A member whose config is wrong is reported
with its error and the others are still generated; the exit code is then 2. The cdktn bindings load once
per process: this one, or each worker of `--jobs N` (generator/services/fleet_workers.py), which write the same files.

Git upstreams are pinned in one tierstack.lock beside the fleet file (generator/config/lockfile.py): every member
resolves in one pinning session, and generate writes the lock before any stacks, keeping the entries of
members it did not resolve.

`--only KEY=VALUE` (repeatable) selects the stacks to generate by name, team, region or environment: the
same key given twice means either value, different keys must all match. A member some of whose stacks
are left out is generated as `generate --env` does (the other stacks are carried over as they were).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml.comments import CommentedMap

from tierstack.generator.config.lockfile import Pins
from tierstack.generator.config.spec import LoadedSpec, Name
from tierstack.generator.core import fsio, paths
from tierstack.generator.core.errors import ErrorList, UserError, did_you_mean, environment_error
from tierstack.generator.core.paths import display_path
from tierstack.generator.core.yamlio import MAX_FILE_BYTES, key_line, line_of, parse, read_text, to_plain
from tierstack.generator.plan.resolve import Resolved
from tierstack.generator.services.generation import SinceLast, preview_diff, since_last

FLEET_KEY = "fleet"
SELECTORS = ("name", "team", "region", "environment")  # what --only selects by
PLANNED = ("region", "environment")  # known from a member's plan: --only by them resolves every member first
UNKNOWN_MATCHES = PLANNED  # unknown for a member with errors: it is selected, so its error shows


class FleetFile(BaseModel):
    """The fleet file's own keys; each member's fields are checked by the Spec model, after merging."""

    model_config = ConfigDict(extra="forbid")

    fleet: Name = Field(description="the fleet's name")
    description: str = ""
    # checked with each member, by the Spec model: a name, a path relative to the fleet file, or a git source
    blueprint: Any = Field(default=None, description="every member's blueprint, unless it names its own")
    defaults: dict[str, Any] = Field(default_factory=dict, description="tierstack.yaml fields for every member")
    members: list[Any] = Field(min_length=1, description="one tierstack.yaml each, over the defaults")


REQUIRED_HINTS = {
    "fleet": "the fleet's name, e.g. fleet: propensity",
    "members": "list the members, each a tierstack.yaml over the defaults: members: [{name: propensity-us}]",
}


# --- loading -------------------------------------------------------------------------------------


@dataclass
class Member:
    """One member: its merged config (with the lines of the fleet file), then its spec and plan, or its error."""

    index: int
    label: str  # how the fleet file names it: members[propensity-uk], members[3] without a name
    name: str | None  # the use case's name (its stacks are <name>-<env>), if the member gives a valid one
    doc: CommentedMap | None  # the merged config; None when the entry is not a mapping
    roots: dict[tuple[str, ...], str]  # a path of the merged config -> where the fleet file writes it
    line: int | None
    loaded: LoadedSpec | None = None
    resolved: Resolved | None = None
    error: UserError | None = None

    def fleet_field(self, field_name: str) -> str:
        """A field of the member's config, as the fleet file writes it: `region` -> `members[uk].region`."""
        parts = tuple(field_name.split("."))
        for end in range(len(parts), 0, -1):
            root = self.roots.get(parts[:end])
            if root is not None:
                return f"{root}.{field_name}" if root else field_name
        return f"{self.label}.{field_name}"

    def value(self, key: str) -> Any:
        """A top-level value of the merged config, plain (None when absent)."""
        return to_plain(self.doc.get(key)) if self.doc is not None else None


@dataclass
class Fleet:
    path: Path
    name: str
    description: str
    members: list[Member]

    @property
    def shown(self) -> str:
        return display_path(self.path)


def is_fleet_file(path: Path) -> bool:
    """Whether `path` is a fleet file (a mapping with a `fleet` key). Unreadable: False, load_spec says why."""
    try:
        doc = _parsed(path, "config")
    except UserError:
        return False
    return isinstance(doc, dict) and FLEET_KEY in doc


# A fleet file lists its members, about 45 bytes each at least: 1 MiB holds some 20,000; parsing it is the
# cost (ruamel's round-trip parser: about 1.8 s for 3,000 members), so this bounds it near 15 s
MAX_FLEET_BYTES = 1024 * 1024
_FLEET_LIMITS = {"limit_of": "a fleet file", "too_large_hint": "split the fleet into several fleet files"}

_last_parsed: dict[str, tuple[str, Any]] = {}  # path -> (text, document): the file is_fleet_file just read


def _parsed(path: Path, what: str) -> Any:
    """The YAML document of `path`, parsed once for is_fleet_file and load_fleet (ruamel's round-trip
    parser takes about 0.3 s for a fleet of 50 members). Reading is cheap: a file that changed is parsed anew."""
    text = fsio.read_text(path, what, MAX_FLEET_BYTES, **_FLEET_LIMITS)
    if len(text.encode()) > MAX_FILE_BYTES and not re.search(r"^fleet\s*:", text, re.MULTILINE):
        text = read_text(path, what)  # no fleet: the config's own limit, and its message
    cached = _last_parsed.get(str(path))
    if cached is not None and cached[0] == text:
        return cached[1]
    doc = parse(text, path)
    _last_parsed.clear()
    _last_parsed[str(path)] = (text, doc)
    return doc


def load_fleet(path: Path, members: Collection[str] | None = None) -> Fleet:
    """The fleet file, every member (or those named in `members`) loaded and resolved, or holding its error.

    A problem of the fleet file itself (its own keys, a default that is not a tierstack.yaml field, two
    members with one name) is a UserError: nothing can be generated. It is found before any member is
    resolved.
    """
    from tierstack.generator.core.pydantic_errors import retell
    from tierstack.generator.facts.catalog import load_catalog

    doc = _parsed(path, "fleet file")
    if not isinstance(doc, CommentedMap):
        raise UserError("the top level must be a mapping of keys (fleet, defaults, members)", file=path, line=1)
    try:
        envelope = FleetFile.model_validate(to_plain(doc))
    except ValidationError as exc:
        raise retell(exc, path, doc, FleetFile, REQUIRED_HINTS) from None
    defaults = doc.get("defaults") or CommentedMap()
    _check_defaults(path, doc, defaults)
    shared = CommentedMap()
    if envelope.blueprint is not None:
        shared["blueprint"] = doc["blueprint"]
        shared.lc.add_kv_line_col("blueprint", doc.lc.data["blueprint"])
    found = [_member(path, doc, index, entry, shared, defaults) for index, entry in enumerate(doc["members"])]
    fleet = Fleet(path, envelope.fleet, envelope.description, found)
    _check_unique(fleet)
    catalog = load_catalog()
    for item in found:
        if item.error is None and (members is None or item.name in members):
            _load_member(item, path, catalog)
    return fleet


def _check_defaults(path: Path, doc: CommentedMap, defaults: CommentedMap) -> None:
    from tierstack.generator.config.spec import Spec

    if not isinstance(defaults, CommentedMap):
        raise UserError(
            "defaults must be a mapping of tierstack.yaml fields",
            file=path,
            line=line_of(doc, ("defaults",)),
            field="defaults",
        )
    fields = [f for f in Spec.model_fields if f != "name"]
    for key in defaults:
        line = key_line(defaults, key)
        if key == "name":
            raise UserError(
                "a default name would give every member the same stacks",
                file=path,
                line=line,
                field="defaults.name",
                hint="give each member its own name under members:",
            )
        if key == "blueprint" and "blueprint" in doc:
            raise UserError(
                "the blueprint is given twice: at the top of the fleet file and in defaults",
                file=path,
                line=line,
                field="defaults.blueprint",
                hint="keep one of them",
            )
        if key not in fields:
            hint = did_you_mean(str(key), fields) or "tierstack.yaml fields: " + ", ".join(fields)
            raise UserError(f"unknown key '{key}'", file=path, line=line, field=f"defaults.{key}", hint=hint)


def _member(
    path: Path, doc: CommentedMap, index: int, entry: Any, shared: CommentedMap, defaults: CommentedMap
) -> Member:
    members = doc["members"]
    line = key_line(members, index)
    given = entry.get("name") if isinstance(entry, CommentedMap) else None
    name = given if isinstance(given, str) and given else None
    label = f"members[{name if name is not None else index}]"
    if not isinstance(entry, CommentedMap):
        error = UserError(
            "a member is a mapping of tierstack.yaml fields (name, team, region, ...)",
            file=path,
            line=line,
            field=label,
        )
        return Member(index, label, None, None, {}, line, error=error)
    roots: dict[tuple[str, ...], str] = {}
    merged = _merged([("", shared), ("defaults", defaults), (label, entry)], roots, ())
    return Member(index, label, name, merged, roots, line)


def _merged(
    layers: list[tuple[str, CommentedMap]], roots: dict[tuple[str, ...], str], path: tuple[str, ...]
) -> CommentedMap:
    """The layers' mappings merged, last wins, keeping each key's line in the fleet file.

    Records in `roots` where the fleet file writes each path taken whole from one layer.
    """
    out = CommentedMap()
    top = layers[-1][1]
    out.lc.line, out.lc.col = top.lc.line, top.lc.col
    keys: dict[Any, None] = {}
    for _, layer in layers:
        keys.update(dict.fromkeys(layer))
    for key in keys:
        present = [(root, layer) for root, layer in layers if key in layer]
        maps: list[tuple[str, CommentedMap]] = []
        for root, layer in present:  # the run of mappings since the last value that replaced them
            maps = [*maps, (root, layer[key])] if isinstance(layer[key], CommentedMap) else []
        here = (*path, str(key))
        root, winner = present[-1]
        if len(maps) > 1:
            out[key] = _merged(maps, roots, here)
            roots.setdefault(here, root)
        else:
            out[key] = winner[key]
            roots[here] = root
        data = (winner.lc.data or {}).get(key)
        if data is not None:
            out.lc.add_kv_line_col(key, data)
    return out


def _load_member(member: Member, path: Path, catalog: Any) -> None:
    """Validate the member's config with the Spec model and resolve it; a UserError stays with the member."""
    from tierstack.generator.plan.resolve import resolve

    _validate_spec(member, path, catalog)
    if member.loaded is None:
        return
    try:
        member.resolved = resolve(member.loaded, catalog)
    except UserError as err:
        member.error = in_fleet(err, member, path)


def _validate_spec(member: Member, path: Path, catalog: Any) -> None:
    """The member's merged config through the Spec model: member.loaded, or member.error."""
    from tierstack.generator.config.spec import REQUIRED_HINTS as SPEC_HINTS
    from tierstack.generator.config.spec import Spec
    from tierstack.generator.core.pydantic_errors import retell

    assert member.doc is not None
    try:
        spec = Spec.model_validate(to_plain(member.doc), context={"catalog": catalog})
    except ValidationError as exc:
        member.error = in_fleet(retell(exc, path, member.doc, Spec, SPEC_HINTS), member, path)
        return
    member.loaded = LoadedSpec(spec=spec, path=path, doc=member.doc)


def in_fleet(err: UserError, member: Member, path: Path) -> UserError:
    """A member's error as the fleet file's: its field named where the fleet file writes it."""
    if isinstance(err, ErrorList):
        return ErrorList([in_fleet(e, member, path) for e in err.errors])
    if err.file is None or str(err.file) not in (str(path), display_path(path)):
        return err  # in a blueprint, say: its own file and field
    field_name = err.field
    line = err.line
    if not field_name:
        field_name = member.label
    elif not field_name.startswith("-"):  # --out, --env: the command line's
        line = _git_source_line(member, field_name) or line
        field_name = member.fleet_field(field_name)
    return UserError(err.message, file=err.file, line=line, field=field_name, hint=err.hint)


def _git_source_line(member: Member, field_name: str) -> int | None:
    """The line of the member's `blueprint: {git, ref, path}` key the error names. Errors about a git source
    find it by reading tierstack.yaml's top-level `blueprint`, which a member's own blueprint is not."""
    parts = tuple(field_name.split("."))
    if parts[0] != "blueprint" or len(parts) != 2 or member.doc is None:
        return None
    source = member.doc.get("blueprint")
    return key_line(source, parts[1]) if isinstance(source, CommentedMap) and parts[1] in source else None


def _check_unique(fleet: Fleet) -> None:
    """Two members must not share a name: it names their output directories, stacks and state.

    Distinct names make distinct stacks: a stack is <name>-<environment>, and an environment's name has
    no '-' (spec.ENV_RE), so the name is what comes before the last '-'.
    """
    seen: dict[str, Member] = {}
    for member in fleet.members:
        if member.name is None:
            continue
        first = seen.setdefault(member.name, member)
        if first is not member:
            raise UserError(
                f"two members are named '{member.name}' (lines {first.line} and {member.line}); a member's name "
                "names its stacks, their state and its output directory",
                file=fleet.path,
                line=member.line,
                field=f"members[{member.index}].name",
                hint="give each member its own name",
            )


def member(fleet: Fleet, name: str) -> Member:
    """The member named `name`; a UserError with the members' names otherwise."""
    for candidate in fleet.members:
        if candidate.name == name:
            return candidate
    names = [m.name for m in fleet.members if m.name is not None]
    hint = did_you_mean(name, names) or "members: " + ", ".join(names)
    raise UserError(f"no member named '{name}'", file=fleet.path, field="--member", hint=hint)


def resolved_member(path: Path, name: str) -> Resolved:
    """One member's plan (`explain FLEET --member NAME`); its error, said as the fleet file's, otherwise."""
    _is_fleet_or_usage(path)
    found = member(load_fleet(path, members=[name]), name)
    if found.error is not None or found.resolved is None:
        raise found.error or UserError("not resolved", file=path, field=found.label)
    return found.resolved


def loaded_member(path: Path, name: str) -> LoadedSpec:
    """One member's config, validated, as a tierstack.yaml would be (`show FLEET --member NAME`)."""
    from tierstack.generator.facts.catalog import load_catalog

    _is_fleet_or_usage(path)
    found = member(load_fleet(path, members=()), name)
    if found.error is None and found.doc is not None:
        _validate_spec(found, path, load_catalog())
    if found.error is not None or found.loaded is None:
        raise found.error or UserError("not loaded", file=path, field=found.label)
    return found.loaded


def _is_fleet_or_usage(path: Path) -> None:
    doc = _parsed(path, "fleet file")  # a file that cannot be read or parsed: that error, at its line
    if not (isinstance(doc, dict) and FLEET_KEY in doc):
        raise UserError(
            f"--member names a member of a fleet file; {display_path(path)} is one use case",
            hint="leave --member out, or give the fleet file",
        )


def validate_fleet(path: Path, jobs: int | None = None) -> tuple[list[UserError], list[tuple[Member, Any]]]:
    """`validate FLEET`: the fleet file's own problems, else every member checked as `validate` checks a
    tierstack.yaml: (member, Validation).

    Each member is resolved in turn and its plan let go once its result is taken: a plan is some tens of
    KB, and thousands kept alive only make every collection of Python's garbage collector longer. A large
    fleet is shared out over `jobs` worker processes (default: the usable cores); the results are the
    same, in the same order, whatever the number."""
    from tierstack.generator.config.lockfile import session
    from tierstack.generator.facts.catalog import load_catalog
    from tierstack.generator.services import fleet_workers
    from tierstack.generator.services.validate import flatten

    try:
        with session(Pins(path.parent)):  # one read-only session over the fleet's lock, as generate uses
            fleet = load_fleet(path, members=())
            catalog = load_catalog()
            workers = fleet_workers.validation_jobs(len(fleet.members), jobs)
            results = fleet_workers.validations(fleet.members, path, catalog, workers)
    except UserError as err:
        return flatten(err), []
    return [], list(zip(fleet.members, results, strict=True))


def _validated(item: Member, path: Path, catalog: Any) -> Any:
    """One member loaded, resolved and checked as `validate` checks a tierstack.yaml (a Validation)."""
    from tierstack.generator.output.report import delivery_warnings
    from tierstack.generator.services.validate import Validation, flatten

    result = Validation(path, name=item.name)
    if item.error is None:
        _load_member(item, path, catalog)
    if item.error is not None:
        result.problems = flatten(item.error)
    elif item.resolved is not None:
        plan = item.resolved
        result.tier = plan.selection.tier
        result.stacks = [env.stack for env in plan.environments.values()]
        result.warnings = [*plan.selection.warnings, *delivery_warnings(plan)]
    item.resolved = None
    return result


def validation_data(path: Path, problems: list[UserError], members: list[tuple[Member, Any]]) -> dict[str, Any]:
    """`validate FLEET --format json`: the fleet's own problems, and each member's result."""
    from tierstack.generator.services.validate import Validation, to_data

    return {
        "config": str(path),
        "valid": not problems and all(result.valid for _, result in members),
        "problems": to_data(Validation(path, problems=problems))["problems"],
        "members": [{"member": item.label, **to_data(result)} for item, result in members],
    }


def validation_lines(path: Path, members: list[tuple[Member, Any]]) -> list[tuple[str, str]]:
    """`validate FLEET` for people: (kind, text) with kind error, warning or summary, member by member."""
    lines = []
    for item, result in members:
        lines += [("error", f"{problem.render()}") for problem in result.problems]
        lines += [("warning", f"{item.label}: {warning}") for warning in result.warnings]
        if result.valid:
            stacks = result.stacks
            count = f"{len(stacks)} stack{'s' if len(stacks) != 1 else ''}"
            lines.append(("summary", f"{item.label}: valid: tier {result.tier}, {count} ({', '.join(stacks)})"))
    bad = sum(1 for _, result in members if not result.valid)
    verb = "has" if bad == 1 else "have"
    verdict = f"{bad} of {len(members)} members {verb} problems" if bad else f"all {len(members)} members are valid"
    lines.append(("summary", f"{display_path(path)}: {verdict}; checked without synthesis"))
    return lines


# --- --only ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chosen:
    """A selected member, and its environments to generate (None: all of them)."""

    member: Member
    environments: list[str] | None


def parse_only(given: list[str]) -> dict[str, list[str]]:
    """`team=uk` -> {"team": ["uk"]}; an unknown key or a missing '=' is a UserError naming --only."""
    wanted: dict[str, list[str]] = {}
    for item in given:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UserError(
                f"'{item}' is not KEY=VALUE",
                field="--only",
                hint="e.g. --only team=uk; keys: " + ", ".join(SELECTORS),
            )
        if key not in SELECTORS:
            hint = did_you_mean(key, SELECTORS) or "keys: " + ", ".join(SELECTORS)
            raise UserError(f"'{key}' is not a key members are selected by", field="--only", hint=hint)
        wanted.setdefault(key, []).append(value)
    return wanted


def _stacks_of(member: Member) -> list[dict[str, str | None]]:
    """Each stack's keys: from the plan, or as far as the config of a member with errors tells."""
    if member.resolved is not None:
        team = member.resolved.loaded.spec.team
        return [
            {"name": member.name, "team": team, "region": env.region, "environment": env.name}
            for env in member.resolved.environments.values()
        ]
    team = member.value("team")
    return [{"name": member.name, "team": team if isinstance(team, str) else None, "region": None, "environment": None}]


def select(fleet: Fleet, only: list[str]) -> list[Chosen]:
    """The members to generate, in file order, with their selected environments.

    A member with errors is chosen when what its config tells matches (its error is what the user needs
    to see); a value no member has is a UserError with a did-you-mean.
    """
    wanted = parse_only(only)
    known: dict[str, set[str]] = {key: set() for key in SELECTORS}
    for member in fleet.members:
        for stack in _stacks_of(member):
            for key, value in stack.items():
                if value is not None:
                    known[key].add(value)
    for key, values in wanted.items():
        for value in values:
            if value not in known[key]:
                choices = sorted(known[key])
                hint = did_you_mean(value, choices) or (f"{key}s in {fleet.shown}: " + ", ".join(choices))
                raise UserError(f"no member has {key} '{value}'", field="--only", hint=hint)
    chosen = []
    for member in fleet.members:
        stacks = _stacks_of(member)
        matching = [
            stack
            for stack in stacks
            if all(
                stack[key] in values or (stack[key] is None and key in UNKNOWN_MATCHES)
                for key, values in wanted.items()
            )
        ]
        if not matching:
            continue
        if member.resolved is None or len(matching) == len(stacks):
            chosen.append(Chosen(member, None))
        else:
            chosen.append(Chosen(member, [str(stack["environment"]) for stack in matching]))
    return chosen


# --- generating ------------------------------------------------------------------------------------


@dataclass
class MemberResult:
    member: str  # its label without the list: the name, or members[i]
    status: Literal["ok", "error", "stale", "up to date", "changes"]
    out: Path | None = None
    stacks: int = 0
    resources: int = 0
    error: UserError | None = None
    lines: list[str] = field(default_factory=list)  # what changed since the last generation; stale files
    at_risk: list[str] = field(default_factory=list)  # stateful resources the new output would destroy
    seconds: float = 0.0
    # for `generate --format json` (generator/services/generate_data.py): the same results, as objects
    summaries: list[Any] = field(default_factory=list)  # generate.StackSummary of each stack written
    report: Any = None  # diff.Report: since the last generation (generate), or what --diff found
    stale: list[Any] = field(default_factory=list)  # generate.StaleFile of --check
    checked: list[str] = field(default_factory=list)  # the stacks --check and --diff synthesized
    warnings: list[str] = field(default_factory=list)


def member_out(root: Path, member: Member) -> Path:
    return paths.member_out(root, str(member.name))


def shared_outputs(fleet: Fleet, root: Path) -> dict[str, UserError]:
    """The members whose output directory, symbolic links followed, is another member's (or in it, or
    holds it): the error of each that reaches it through a link, by name.

    Each member writes <root>/<name>/cdktf.out, and generate replaces that directory as a whole; were
    <root>/uk a link to <root>/us, generating uk would replace us's stacks. Every member of the fleet
    counts, also those --only leaves out: their output is on disk all the same.
    """
    top = Path(os.path.realpath(root))
    names = [str(m.name) for m in fleet.members if m.name is not None]
    lexical = {name: paths.member_out(Path(os.path.abspath(root)), name) for name in names}
    real = {name: Path(os.path.realpath(lexical[name])) for name in names}
    found: dict[str, UserError] = {}
    for name, target in real.items():
        if target == paths.member_out(top, name):
            continue  # no link below the root: its own directory
        other = next((o for o, t in real.items() if o != name and _overlap(target, t)), None)
        if other is not None:
            link = next((p for p in (lexical[name], *lexical[name].parents) if p.is_symlink()), lexical[name])
            found[name] = UserError(
                f"its output directory {display_path(lexical[name])} leads through the symbolic link "
                f"{display_path(link)} to {display_path(target)}, which is member {other}'s output "
                f"({display_path(lexical[other])}): generating it would replace {other}'s stacks",
                file=fleet.shown,
                field=f"members[{name}]",
                hint=f"remove the link {display_path(link)} (or point it at a directory of its own); "
                "each member writes its own <member>/cdktf.out",
            )
    return found


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def cdktf_app(fleet: Fleet, member: Member, root: Path) -> str:
    """The command that regenerates this member, run from the folder holding its cdktf.json."""
    folder = (root / str(member.name)).resolve()
    config = os.path.relpath(fleet.path.resolve(), folder)
    out = os.path.relpath(root.resolve(), folder)
    return f"tierstack generate {config} --only name={member.name} --out {out}"


def shown_name(member: Member) -> str:
    return member.name if member.name is not None else member.label


def generate_member(fleet: Fleet, chosen: Chosen, root: Path, force: bool, note: Callable[[str], None]) -> MemberResult:
    """Generate one member into <root>/<name>/cdktf.out; its UserError (or the environment's) is its result."""
    from tierstack.generator.output.generate import generate
    from tierstack.generator.output.report import delivery_warnings

    member = chosen.member
    result = MemberResult(shown_name(member), "ok")
    if member.error is not None or member.resolved is None:
        result.status, result.error = "error", member.error
        return result
    plan = member.resolved
    target = member_out(root, member)
    result.out = target
    for warning in delivery_warnings(plan):
        result.warnings.append(warning)
        note(f"warning: {result.member}: {warning}")

    def before_swap(old: Path, new: Path, names: list[str]) -> None:
        result.lines, result.at_risk, result.report = _changes(
            since_last(old, new, None if chosen.environments is None else names)
        )

    start = time.perf_counter()
    try:
        summaries = generate(
            plan,
            target,
            chosen.environments,
            force,
            progress=lambda text: None if text.startswith("synthesizing") else note(f"{result.member}: {text}"),
            before_swap=before_swap,
            app=cdktf_app(fleet, member, root),
        )
    except UserError as err:
        result.status, result.error = "error", in_fleet(err, member, fleet.path)
        return result
    except OSError as exc:  # a full disk, a permission: this member's, and said as generate says it
        found = environment_error(exc, target)
        if found is None:
            raise
        result.status, result.error = "error", found
        return result
    finally:
        result.seconds = time.perf_counter() - start
    result.stacks = len(summaries)
    result.resources = sum(s.total for s in summaries)
    result.summaries = summaries
    return result


def _changes(since: SinceLast) -> tuple[list[str], list[str], Any]:
    """Since the last generation, in a member's words: a line per stack that changed, the data at risk, and
    the diff.Report (the first generation has no lines; its report has every stack added; None when the
    last generation cannot be read)."""
    from tierstack.generator.analysis import diff as diffing

    report = since.report
    if report is None:
        return [f"cannot compare with the last generation: {since.unreadable}"], [], None
    if since.first:
        return [], [], report
    changed = [f"{stack.name}: {diffing.counts_text(stack)}" for stack in report.stacks if stack.status != "unchanged"]
    return changed, diffing.risk_lines(report), report


# --- --check and --diff ------------------------------------------------------------------------------


def check_member(fleet: Fleet, chosen: Chosen, root: Path) -> MemberResult:
    """generate --check for one member: its stale, missing and extra files; nothing written."""
    from tierstack.generator.output.generate import preview, stale_files

    found: list[Any] = []

    def compare(new: Any) -> list[str]:
        found.extend(stale_files(new, chosen.environments))
        return [f"{f.status}: {f.path}" for f in found]

    result = _dry(fleet, chosen, root, compare, preview, "stale")
    result.stale = found
    return result


def diff_member(fleet: Fleet, chosen: Chosen, root: Path) -> MemberResult:
    """generate --diff for one member: what a regeneration would change; nothing written."""
    from tierstack.generator.analysis import diff as diffing
    from tierstack.generator.output.generate import preview

    risks: list[str] = []
    reports: list[Any] = []

    def compare(new: Any) -> list[str]:
        head = f"generate {fleet.shown} --only name={chosen.member.name}"
        report = preview_diff(new, chosen.environments, display_path(new.out), head)
        reports.append(report)
        risks.extend(diffing.risk_lines(report))
        if all(stack.status == "unchanged" for stack in report.stacks):
            return []
        return diffing.render_text(report).splitlines()

    result = _dry(fleet, chosen, root, compare, preview, "changes")
    result.at_risk = risks
    result.report = reports[0] if reports else None
    return result


def _dry(
    fleet: Fleet,
    chosen: Chosen,
    root: Path,
    compare: Callable[[Any], list[str]],
    preview: Callable[..., Any],
    differs: Literal["stale", "changes"],
) -> MemberResult:
    member = chosen.member
    result = MemberResult(shown_name(member), "up to date")
    if member.error is not None or member.resolved is None:
        result.status, result.error = "error", member.error
        return result
    result.out = member_out(root, member)
    start = time.perf_counter()
    try:
        with preview(member.resolved, result.out, chosen.environments, cdktf_app(fleet, member, root)) as new:
            result.lines = compare(new)
            result.stacks = len(new.stacks)
            result.checked = list(new.stacks)
    except UserError as err:
        result.status, result.error = "error", in_fleet(err, member, fleet.path)
    finally:
        result.seconds = time.perf_counter() - start
    if result.error is None and result.lines:
        result.status = differs
    return result


# --- what the user sees ----------------------------------------------------------------------------


class Reporter(Protocol):
    """What a run tells as it goes. The command line prints it (generator/cli/fleet_view.py: plain lines, or
    a progress bar on a terminal), so this module stays free of click and rich and can run without a
    terminal at all (the benchmarks, a library caller)."""

    def running(self) -> AbstractContextManager[object]:
        """Around the members' loop: a progress bar lives as long as this."""
        ...

    def say(self, text: str) -> None:
        """A line of the run itself, on stderr, outside the loop: its first and last lines, the lock written."""

    def start(self, member: str) -> None:
        """A member is about to be generated, checked or compared."""

    def note(self, text: str) -> None:
        """A warning or note, on stderr, inside the loop (above a progress bar)."""

    def finish(self, result: MemberResult) -> None:
        """A member is done: its result (result_lines says it in words)."""


class Silent:
    """A Reporter that prints nothing: `run` called from code rather than the command line."""

    def __init__(self, total: int) -> None:
        self.total = total

    def running(self) -> AbstractContextManager[object]:
        return nullcontext()

    def say(self, text: str) -> None:
        pass

    def start(self, member: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def finish(self, result: MemberResult) -> None:
        pass


def result_lines(result: MemberResult) -> list[str]:
    """A member's result: a first line, then its details (an error's lines, the changes, stale files)."""
    if result.status == "error":
        text = result.error.render() if result.error is not None else "not generated"
        first, *rest = text.splitlines()
        return [f"{result.member}: error: {first}", *rest]
    where = display_path(result.out) if result.out is not None else ""
    stacks = f"{result.stacks} stack{'s' if result.stacks != 1 else ''}"
    if result.status == "ok":
        head = f"{result.member}: ok: {stacks}, {result.resources} resources -> {where}/"
        return [
            head,
            *(["since the last generation:", *(f"  {line}" for line in result.lines)] if result.lines else []),
        ]
    if result.status == "up to date":
        return [f"{result.member}: {where}/ is up to date"]
    if result.status == "stale":
        return [f"{result.member}: {where}/ is stale: {len(result.lines)} files differ", *result.lines]
    return [f"{result.member}: changes in {where}/", *result.lines]


def run(
    path: Path,
    out: Path | None,
    only: list[str],
    force: bool = False,
    mode: Literal["generate", "check", "diff"] = "generate",
    report: Callable[[int], Reporter] = Silent,
    update: bool = False,
    jobs: int | None = None,
) -> tuple[Fleet, list[MemberResult]]:
    """`tierstack generate FLEET`: every selected member, in this process or over `jobs` worker processes
    (generator/services/fleet_workers.py; default: as many as the cores and memory hold); their results, in order.

    `report(members)` makes the Reporter that is told each member as it is done, and the run's first and last
    lines (the command line's prints them, plain or above a progress bar; the default prints nothing).

    Every member resolves in one pinning session over the tierstack.lock beside the fleet file, as a
    tierstack.yaml does (generator/config/lockfile.py): the locked commits are used, a ref that disagrees with
    the lock is the member's error, and generate (not --check or --diff) writes the lock. `update`
    resolves every ref anew, as `generate --update`.
    """
    from tierstack.generator.config.lockfile import Pins, session

    with session(Pins(path.parent, update=update)) as pins:
        fleet, results = _run(path, out, only, force, mode, report, pins, jobs)
    return fleet, results


def _run(
    path: Path,
    out: Path | None,
    only: list[str],
    force: bool,
    mode: Literal["generate", "check", "diff"],
    report: Callable[[int], Reporter],
    pins: Pins,
    jobs: int | None = None,
) -> tuple[Fleet, list[MemberResult]]:
    from tierstack.generator.services import fleet_workers

    start = time.perf_counter()
    # by name and team, members are chosen from their configs; by region or environment, from their plans
    by_plan = any(item.partition("=")[0].strip() in PLANNED for item in only)
    fleet = load_fleet(path, members=None if by_plan else ())
    chosen = select(fleet, only)
    reporter = report(len(chosen))
    notes = _lock_first(fleet, chosen, pins, reporter) if mode == "generate" else 0
    root = out if out is not None else path.parent
    verb = {"generate": "generating", "check": "checking", "diff": "comparing"}[mode]
    reporter.say(
        f"fleet {fleet.name}: {verb} {len(chosen)} of {len(fleet.members)} members"
        + (" (loading the Google provider bindings takes a few seconds)..." if chosen else "...")
    )
    results = []
    clashes = shared_outputs(fleet, root)
    workers = fleet_workers.synthesis_jobs(len(chosen), jobs)
    with reporter.running():
        if workers > 1:
            results = _over_workers(fleet, chosen, root, force, mode, clashes, reporter, (pins, notes), workers)
        for item in _resolving(fleet, chosen) if workers <= 1 else ():
            notes = _print_notes(pins, notes, reporter.note)
            reporter.start(shown_name(item.member))
            result = _member_result(fleet, item, root, force, mode, clashes, reporter.note)
            reporter.finish(result)
            results.append(result)
    reporter.say(summary(fleet, results, time.perf_counter() - start))
    return fleet, results


def _member_result(
    fleet: Fleet,
    item: Chosen,
    root: Path,
    force: bool,
    mode: Literal["generate", "check", "diff"],
    clashes: dict[str, UserError],
    note: Callable[[str], None],
) -> MemberResult:
    """One member's result in this process: its output clash, or it generated, checked or compared."""
    clash = clashes.get(str(item.member.name))
    if clash is not None:
        return MemberResult(shown_name(item.member), "error", error=clash)
    if mode == "generate":
        return generate_member(fleet, item, root, force, note)
    if mode == "check":
        return check_member(fleet, item, root)
    return diff_member(fleet, item, root)


def _over_workers(
    fleet: Fleet,
    chosen: list[Chosen],
    root: Path,
    force: bool,
    mode: Literal["generate", "check", "diff"],
    clashes: dict[str, UserError],
    reporter: Reporter,
    notes: tuple[Pins, int],
    workers: int,
) -> list[MemberResult]:
    """Every chosen member resolved here first (so the notes and the errors come as in one process), those
    that can be synthesized handed to the workers, and the results reported in member order."""
    from tierstack.generator.services import fleet_workers

    resolved = list(_resolving(fleet, chosen))
    _print_notes(notes[0], notes[1], reporter.note)  # the pinning session's notes not shown yet: all there will be
    sent = [item for item in resolved if item.member.resolved is not None and str(item.member.name) not in clashes]
    done = fleet_workers.member_results(fleet, sent, root, force, mode, workers) if sent else iter(())
    to_workers = {id(item) for item in sent}
    results = []
    for item in resolved:
        reporter.start(shown_name(item.member))
        if id(item) in to_workers:
            _, result, printed = next(done)
            for text in printed:
                reporter.note(text)
        else:
            result = _member_result(fleet, item, root, force, mode, clashes, reporter.note)
        reporter.finish(result)
        results.append(result)
    return results


def _lock_first(fleet: Fleet, chosen: list[Chosen], pins: Pins, reporter: Reporter) -> int:
    """generate: resolve the chosen members and write tierstack.lock before any member's stacks, as for a
    tierstack.yaml (a stale lock entry stops it with nothing written). The number of notes shown."""
    for _ in _resolving(fleet, chosen):
        pass
    shown = _print_notes(pins, 0, reporter.say)  # before the loop: no progress bar yet
    _record_pins(fleet, pins, reporter.say)
    return shown


def _print_notes(pins: Pins, shown: int, say: Callable[[str], None]) -> int:
    """The pinning session's notes not shown yet (a tag moved, an upstream offline); how many are shown now."""
    for text in pins.notes[shown:]:
        say(f"note: {text}")
    return len(pins.notes)


def _record_pins(fleet: Fleet, pins: Pins, say: Callable[[str], None]) -> None:
    """Write tierstack.lock beside the fleet file. Pins of the members not resolved this time (left out by
    --only, or with errors) are kept; when every member resolved, an entry none of them used is an error."""
    complete = all(m.resolved is not None for m in fleet.members)
    if pins.write_lock(keep=not complete):
        count = len(pins.locked)
        where = display_path(pins.lock_path or fleet.path)
        say(f"wrote {where} ({count} upstream{'s' if count != 1 else ''})")


def _resolving(fleet: Fleet, chosen: list[Chosen]) -> Iterator[Chosen]:
    """The chosen members in order, each loaded and resolved (if it was not) just before it comes.

    Only the chosen members are resolved, and the first result shows without waiting for all of them.
    (Resolving the next members in a thread while jsii's Node synthesizes was measured: no gain on this
    two-core machine under load, the resolution being under a tenth of the time; so it stays simple.)
    """
    from tierstack.generator.facts.catalog import load_catalog

    catalog = load_catalog()
    for item in chosen:
        if item.member.loaded is None and item.member.error is None:
            _load_member(item.member, fleet.path, catalog)
        yield item


def summary(fleet: Fleet, results: list[MemberResult], seconds: float) -> str:
    """The last line: how many members, stacks and seconds; which members failed."""
    failed = [r.member for r in results if r.status == "error"]
    stacks = sum(r.stacks for r in results)
    text = (
        f"fleet {fleet.name}: {len(results) - len(failed)} of {len(results)} members done, "
        f"{stacks} stack{'s' if stacks != 1 else ''}, {seconds:.1f} s"
    )
    if failed:
        text += f"; {len(failed)} failed: " + ", ".join(failed)
    return text
