"""Blueprints: YAML rendered with Jinja2, layered with `extends`, merged deeply.

A blueprint document has these top-level keys:

    extends:     another blueprint: a built-in name, a path relative to this file, or a blueprint in a git
                 repository pinned to a ref, {git: URL, ref: v1.4.0, path: blueprints/org.yaml.j2}
                 (generator/gitsource.py fetches it; generator/lockfile.py records its commit)
    tier:        the maturity tier it implements
    description: one line for humans
    region:      the region of a config that writes none (default: the first of allowed_regions)
    allowed_regions: the only regions a config (and each of its environments) may be in; a regional
                 fork pins its region with the two (`tierstack fork --region`)
    defaults:    settings for every environment (capabilities, labels, budget, ...)
    roles:       deep overrides per environment role: development, staging, production

Merging: mappings merge key by key; anything else, lists included, replaces
the inherited value. A key written `name+:` appends its list to the inherited
one. Every resolved leaf keeps its provenance (generator/provenance.py): the
file and the line of the *template source* that set it (rendering keeps a map
from output lines back to source lines, so `{% if %}` blocks and loops do not
shift the answer). A built-in blueprint is named `tierstack:NAME`, its lines
`tierstack:NAME:LINE`; `tierstack blueprints --show NAME` prints it. A line
that only passes on a value the user wrote (`schedule: {{ schedule | tojson }}`)
is not where the value was set: the value is attributed to the user's line.

Blueprints are untrusted input (shared between teams, rendered in CI where
cloud credentials are at hand): they render in Jinja2's immutable sandbox with
one function (`range`), a short list of filters and methods, and limits on
loops, values, output and time (see "Limits" in docs/blueprints.md).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import posixpath
import re
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.exceptions import SecurityError
from jinja2.filters import do_default, do_lower, do_tojson, do_trim, do_upper, sync_do_join
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context
from jinja2.visitor import NodeTransformer
from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from tierstack.generator import rendercache
from tierstack.generator.choices import Role, choices
from tierstack.generator.errors import UserError, did_you_mean
from tierstack.generator.gitsource import GitFailed, GitSource, check_path
from tierstack.generator.lockfile import Pinned, Pins, pins_for
from tierstack.generator.provenance import BUILTIN_PREFIX, Provenance, Source, join_hints
from tierstack.generator.pydantic_errors import validator_message
from tierstack.generator.yamlio import (
    MAX_FILE_BYTES,
    Unreadable,
    key_line,
    line_of,
    load_file,
    parse,
    read_text,
    size_text,
    to_plain,
)

TOP_KEYS = ("extends", "tier", "description", "region", "allowed_regions", "defaults", "roles")
ROLES = choices(Role)
APPEND = "+"
_MARK = re.compile(r"\x1f(\d+)\x1e")
_LAST_MARK = re.compile(r".*\x1f(\d+)\x1e", re.DOTALL)  # the last tag of a line (tags cannot overlap)

Key = tuple[str, ...]


@dataclass
class Layer:
    """Plain data plus the provenance of every leaf path."""

    data: dict[str, Any]
    prov: dict[Key, Provenance] = field(default_factory=dict)

    def sub(self, *path: str) -> Layer:
        node: Any = self.data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return Layer({}, {})
        n = len(path)
        return Layer(node, {k[n:]: v for k, v in self.prov.items() if k[:n] == path and len(k) > n})


@dataclass(frozen=True)
class Link:
    """One blueprint of a chain, for lineage listings (`tierstack blueprints`) and upstream comparisons."""

    name: str  # as the chain names it: tierstack:NAME, a path, or REPOSITORY@REF:PATH
    kind: str  # "built-in", "local" or "git"
    tier: int | None
    description: str
    pin: Pinned | None = None  # from git: the pinned upstream (commit, ref, lock entry)
    repo_path: str | None = None  # from git: the file's path in the repository
    path: Path | None = None  # local: the file
    text: str = field(default="", compare=False, repr=False)  # the template source, to read a line of


@dataclass
class Blueprint:
    name: str  # built-in name, the path as given, or the git source's REPOSITORY@REF:PATH
    chain: list[str]  # this blueprint first, then what it extends, as messages name them (tierstack:NAME, a path)
    layer: Layer
    tier: int | None
    description: str
    links: list[Link] = field(default_factory=list)  # the chain, with what each link is
    notes: list[str] = field(default_factory=list)  # for the user: an upstream tag moved, fetched offline, ...
    # the merge this layer is a copy of, with `changes` (path, value, provenance) set: see _Shared
    shared: _Shared | None = field(default=None, repr=False, compare=False)
    changes: tuple[tuple[Key, Any, Provenance], ...] = field(default=(), repr=False, compare=False)

    @property
    def upstreams(self) -> list[Pinned]:
        """The git upstreams this chain pinned, nearest first."""
        out: list[Pinned] = []
        for link in self.links:
            if link.pin is not None and link.pin not in out:
                out.append(link.pin)
        return out

    def environment_layer(self, role: str) -> Layer:
        """defaults merged with the overrides for `role`."""
        found = self.shared.environment_layer(role, self.changes) if self.shared is not None else None
        return found if found is not None else merge(self.layer.sub("defaults"), self.layer.sub("roles", role))

    @property
    def regions(self) -> Regions:
        """The chain's `region:` and `allowed_regions:` (the nearest blueprint that writes each), checked by load."""
        return regions_of(self.layer)


@dataclass(frozen=True)
class Regions:
    """Where a blueprint lets its configs be: the default region and the allowed ones, each with where it is set.

    `default` is the blueprint's `region:`, else the first of `allowed_regions`, else None (tierstack's own
    default applies); `allowed` is None when the blueprint allows every region.
    """

    default: str | None = None
    default_at: Provenance | None = None
    allowed: tuple[str, ...] | None = None
    allowed_at: Provenance | None = None

    def allows(self, region: str) -> bool:
        return self.allowed is None or region in self.allowed


def regions_of(layer: Layer) -> Regions:
    """The Regions a merged blueprint layer sets (values as load checked them)."""
    region, allowed = layer.data.get("region"), layer.data.get("allowed_regions")
    allowed_at = layer.prov.get(("allowed_regions",))
    listed = tuple(str(r) for r in allowed) if isinstance(allowed, list) else None
    if isinstance(region, str):
        return Regions(region, layer.prov.get(("region",)), listed, allowed_at)
    if listed:
        return Regions(listed[0], allowed_at, listed, allowed_at)
    return Regions(None, None, listed, allowed_at)


# --- locating blueprints -------------------------------------------------------------------------


def builtin_names() -> list[str]:
    return list(_builtin_names())


@functools.cache
def _builtin_names() -> tuple[str, ...]:
    """The installed package's blueprints, listed once: a fleet's every member looks its blueprint up."""
    files = resources.files("tierstack.blueprints")
    return tuple(sorted(p.name.removesuffix(".yaml.j2") for p in files.iterdir() if p.name.endswith(".yaml.j2")))


def builtin_text(name: str, referrer: str | None = None, field_name: str | None = None, line: int | None = None) -> str:
    """The template source of a built-in blueprint; an unknown name is an error listing the known ones.

    `referrer`, `line` and `field_name` say where the name is written, for that error."""
    names = _builtin_names()
    if name not in names:
        builtins = "built-in blueprints: " + ", ".join(names)
        close = did_you_mean(name, names)
        raise UserError(
            f"'{name}' is not a built-in blueprint",
            file=referrer,
            line=line,
            field=field_name,
            hint=f"{close} {builtins}" if close else builtins,
        )
    return _builtin_source(name)


@functools.cache
def _builtin_source(name: str) -> str:
    return resources.files("tierstack.blueprints").joinpath(f"{name}.yaml.j2").read_text(encoding="utf-8")


_HEADER = re.compile(r"^(extends|tier|description):[ \t]*(\S.*)$")


def builtin_summaries() -> list[dict[str, Any]]:
    """Name, tier, description and what it extends, for each built-in blueprint (`tierstack blueprints`).

    Read from the template source without rendering it: the built-ins write these keys on plain lines.
    """
    out = []
    for name in builtin_names():
        header = "\n".join(
            line for line in builtin_text(name).splitlines() if _HEADER.fullmatch(line) and "{" not in line
        )
        doc = to_plain(parse(header, BUILTIN_PREFIX + name)) or {}
        out.append(
            {
                "name": name,
                "tier": doc.get("tier"),
                "description": doc.get("description") or "",
                "extends": doc.get("extends"),
            }
        )
    return out


def _is_path(ref: str) -> bool:
    return "/" in ref or ref.endswith((".j2", ".yaml", ".yml"))


def display_path(path: Path | str) -> str:
    """A path relative to the working directory when it is below it, so output is the same everywhere."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


@dataclass(frozen=True)
class Located:
    origin: Source  # a user's file as shown, or a built-in blueprint; no line
    text: str
    path: Path | None  # on disk (a fork); None for a built-in or a blueprint from git
    pin: Pinned | None = None  # from git: the pinned upstream it was read from
    repo_path: str | None = None  # from git: its path in that repository

    @property
    def name(self) -> str:
        """How messages and the blueprint chain name it: the path as shown, tierstack:NAME, REPOSITORY@REF:PATH."""
        return str(self.origin)

    @property
    def kind(self) -> str:
        return "git" if self.pin is not None else "local" if self.path is not None else "built-in"


BlueprintRef = str | GitSource  # what `blueprint:` and `extends:` name


def locate(
    ref: BlueprintRef,
    relative_to: Path | None,
    referrer: str,
    field_name: str,
    *,
    parent: Located | None = None,
    pins: Pins | None = None,
    line: int | None = None,
    lines: Mapping[str, int | None] | None = None,
) -> Located:
    """Find a blueprint: a path relative to the file naming it, a built-in name, or a git source.

    `referrer`, `line` and `field_name` say where `ref` is written, for the errors about it. A path
    that leads to no regular file (missing, a directory, a FIFO, a device, a loop of symbolic links, a
    name holding a NUL) is an error of the reference, reported at the file, line and field that name
    it; a file too large or not UTF-8 is an error of the blueprint itself. In a blueprint from git
    (`parent`), a path names another file of the same repository at the same commit, and must stay
    inside it.
    """
    where: dict[str, Any] = {"file": referrer, "line": line, "field": field_name, "lines": lines or {}}
    if isinstance(ref, GitSource):
        base = None if parent is not None and parent.pin is not None else _folder(relative_to)
        pinned = (pins or pins_for(None)).pin(ref, base, where)
        return Located(Source.in_file(pinned.name), pinned.text, None, pinned, ref.path)
    if parent is not None and parent.pin is not None and parent.repo_path is not None:
        at = {k: where[k] for k in ("file", "line", "field")}
        return _locate_in_repository(ref, parent.pin, parent.repo_path, at)
    if _is_path(ref):
        base = relative_to.parent if relative_to else Path.cwd()
        path = Path(ref)
        if not path.is_absolute():
            path = Path.cwd() / base / ref
            with contextlib.suppress(OSError, RuntimeError, ValueError):  # a loop of symbolic links, a NUL: below
                path = path.resolve()
        try:
            text = read_text(path, "blueprint")
        except Unreadable as err:
            missing = err.reason == "not found"
            raise UserError(
                f"blueprint '{ref}' {err.reason} ({'looked for' if missing else 'at'} {display_path(path)})",
                file=referrer,
                line=line,
                field=field_name,
                hint="paths are relative to the file that names them; built-in blueprints: "
                + ", ".join(builtin_names())
                + " (`tierstack blueprints` lists them)"
                if missing
                else "a blueprint must be a regular file",
            ) from None
        except UserError as err:  # too large, not UTF-8: name the file as everywhere else
            err.file = display_path(path)
            raise
        return Located(Source.in_file(display_path(path)), text, path)
    return Located(Source.in_builtin(ref), builtin_text(ref, referrer, field_name, line), None)


def _folder(relative_to: Path | None) -> Path:
    return Path.cwd() / (relative_to.parent if relative_to else Path())


def _locate_in_repository(ref: str, pin: Pinned, parent_path: str, where: dict[str, Any]) -> Located:
    """`extends: ./base.yaml.j2` in a blueprint from git: that file at the same commit, inside the repository."""
    if not _is_path(ref):
        return Located(Source.in_builtin(ref), builtin_text(ref, where["file"], where["field"], where["line"]), None)
    hint = "a blueprint from git extends files of its own repository by relative path, or another by {git, ref, path}"
    if ref.startswith("/"):
        raise UserError(f"'{ref}' is an absolute path; {hint}", **where)
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(parent_path), ref))
    if joined == ".." or joined.startswith("../"):
        raise UserError(f"'{ref}' leads out of the repository", hint=hint, **where)
    try:
        check_path(joined)
        text = pin.read(joined)
    except ValueError as err:
        raise UserError(str(err), hint=hint, **where) from None
    except GitFailed as err:
        raise UserError(f"blueprint '{ref}' ({joined} at {pin.ref}): {err.reason}", hint=hint, **where) from None
    return Located(Source.in_file(pin.name_of(joined)), text, None, pin, joined)


# --- rendering with a source-line map ------------------------------------------------------------


def mark_lines(source: str) -> str:
    """Tag the end of every source line that is plain template text with its number.

    Lines that end inside a Jinja tag, expression or comment are left alone;
    after rendering, each output line carries the tag of the line it came from.
    """
    out: list[str] = []
    i, line, depth_close = 0, 1, ""
    while i < len(source):
        two = source[i : i + 2]
        if not depth_close and two in ("{{", "{%", "{#"):
            depth_close = {"{{": "}}", "{%": "%}", "{#": "#}"}[two]
            out.append(two)
            i += 2
            continue
        if depth_close and two == depth_close:
            depth_close = ""
            out.append(two)
            i += 2
            continue
        ch = source[i]
        if ch == "\n":
            if not depth_close:
                out.append(f"\x1f{line}\x1e")
            line += 1
        out.append(ch)
        i += 1
    if not depth_close:
        out.append(f"\x1f{line}\x1e")
    return "".join(out)


def unmark(rendered: str) -> tuple[str, dict[int, int]]:
    """Strip the tags; return the text and a map rendered line -> source line (1-based)."""
    mapping: dict[int, int] = {}
    last = 1
    for n, text in enumerate(rendered.split("\n"), start=1):
        found = _LAST_MARK.match(text) if "\x1f" in text else None  # a fleet renders this for every member
        if found:
            last = int(found[1])
        mapping[n] = last
    return _MARK.sub("", rendered), mapping


# --- the sandbox ---------------------------------------------------------------------------------
#
# Jinja2's immutable sandbox refuses attributes that start with '_' and methods that change a value.
# On top of it: one global function (range), a short list of filters and methods, and limits, so a
# blueprint can neither run code nor take more than about a second and some tens of MB to render.
# Every limit is checked before the work it bounds (a string is measured before it is repeated), and
# the template is rewritten before compiling so that every loop, literal, '~' and piece of output
# passes through a check (`_Guard`). Documented in docs/blueprints.md, "Limits"; keep both in step.

MAX_RANGE = 10_000  # numbers one range() may give
MAX_ITERATIONS = 100_000  # loop iterations in one blueprint, all loops together
MAX_VALUE = 1_000_000  # characters, or items, in one value a template builds or writes
MAX_OUTPUT = MAX_FILE_BYTES  # characters of text a blueprint renders to (it is then read as a YAML file)
MAX_WORK = 10_000_000  # characters and items built, measured, looped over and written, in all
MAX_INT_BITS = 128  # size of a number arithmetic may make
MAX_FORMAT_WIDTH = 1_000  # width or precision in a '%' format
MAX_SECONDS = 2.0  # wall-clock time for one render; the built-in blueprints take milliseconds

FILTERS: dict[str, Callable[..., Any]] = {}  # filled below: name -> filter
STR_METHODS = frozenset(
    {"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "title", "capitalize"}
)
DICT_METHODS = frozenset({"items", "keys", "values", "get"})
LOOP_METHODS = frozenset({"cycle", "changed"})
LIMITS_HINT = "blueprints render in a sandbox with limits; see 'Limits' in docs/blueprints.md"
SANDBOX_HINT = (
    "blueprints render in a sandbox: the only function is range(), attributes starting with '_' "
    "are out of reach, and only the filters and methods in docs/blueprints.md are there"
)
_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")
# lists, tuples and dict views: walked item by item
_SEQUENCES: tuple[type[Iterable[Any]], ...] = (list, tuple, type({}.keys()), type({}.values()), type({}.items()))


class LimitExceeded(SecurityError):
    """A blueprint went over one of the sandbox's limits."""


def _non_finite(value: Any) -> bool:
    """Whether a constant is, or holds, an infinite or not-a-number float."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (tuple, list)):
        return any(_non_finite(item) for item in value)
    if isinstance(value, dict):
        return any(_non_finite(item) for pair in value.items() for item in pair)
    return False


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, refusing a constant Python source cannot write.

    Jinja writes a float constant into the compiled template as Python source, so `1e400` (a literal,
    or `-1.7e308 - 1.7e308` folded at compile time) becomes the name `inf`, which fails only when the
    template runs, as a NameError. It is the template's error, at its line.
    """

    def visit_Const(self, node: nodes.Const, frame: Frame) -> None:
        if _non_finite(node.value):
            raise jinja2.TemplateSyntaxError(
                "this number is out of range: a number in a blueprint is at most about 1.8e308", node.lineno
            )
        super().visit_Const(node, frame)


class _Sandbox(ImmutableSandboxedEnvironment):
    """One render's sandbox: the environment, the allowed names, and the counters of that render."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _CodeGenerator

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False, loader=None)
        self.globals = {"range": self.range}
        self.filters = {**FILTERS, **_GUARD_FILTERS}
        self.work = self.iterations = self.output = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    # -- counting -------------------------------------------------------------------------------

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"rendering took more than {MAX_SECONDS:g} seconds")

    def charge(self, amount: int) -> None:
        self.work += amount
        if self.work > MAX_WORK:
            raise LimitExceeded(
                f"rendering does too much work: more than {MAX_WORK:,} characters and items "
                "built, looped over or written"
            )
        self.tick()

    def measure(self, value: Any) -> int:
        """Characters and items in `value` (containers counted with what they hold), up to MAX_VALUE + 1.

        Values can share parts (`[a, a]`), so what a value writes out can be far larger than the memory it
        holds; this counts what it writes, and stops counting past the limit.
        """
        total, stack = 0, [value]
        while stack and total <= MAX_VALUE:
            item = stack.pop()
            if isinstance(item, str):
                total += len(item)
            elif isinstance(item, Undefined):
                total += 1
            elif isinstance(item, _SEQUENCES):
                total += 1
                stack.extend(item)
            elif isinstance(item, dict):
                total += 1
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, range):
                total += 1 + len(item)
            else:
                total += 1
        self.charge(total)
        return min(total, MAX_VALUE + 1)

    def check(self, value: Any, size: int | None = None) -> Any:
        size = self.measure(value) if size is None else size
        if size > MAX_VALUE:
            raise LimitExceeded(f"this builds a value of more than {MAX_VALUE:,} characters or items")
        return value

    # -- what templates may call and compute ----------------------------------------------------------

    def range(self, *args: int) -> range:
        numbers = range(*args)
        try:
            count = len(numbers)
        except OverflowError:
            count = MAX_RANGE + 1
        if count > MAX_RANGE:
            raise LimitExceeded(
                f"range() of {count:,} numbers is over the limit of {MAX_RANGE:,}"
                if count <= 10**15
                else f"range() is over the limit of {MAX_RANGE:,} numbers"
            )
        return numbers

    def iterate(self, iterable: Any) -> Any:
        if isinstance(iterable, Undefined):
            return iterable  # iterating it raises the usual 'is undefined'
        return self._counted(iterable)

    def _counted(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.iterations += 1
            if self.iterations > MAX_ITERATIONS:
                raise LimitExceeded(f"loops ran more than {MAX_ITERATIONS:,} times in all")
            self.charge(1)
            yield item

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.tick()
        if isinstance(obj, LoopContext):  # loop(children) in a recursive loop: more iterations
            args = (self.iterate(args[0]), *args[1:]) if args else args
        elif not self._may_call(obj):
            name = getattr(obj, "__name__", None) or type(obj).__name__
            raise SecurityError(f"calling '{name}' is not allowed in a blueprint")
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, (list, tuple)):
            self.check(result)
        return result

    def _may_call(self, obj: Any) -> bool:
        if obj == self.range or isinstance(obj, (Macro, BlockReference, Undefined)):
            return True  # calling an Undefined raises the usual 'is undefined'
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        return (
            (isinstance(owner, str) and name in STR_METHODS)
            or (isinstance(owner, dict) and name in DICT_METHODS)
            or (isinstance(owner, LoopContext) and name in LOOP_METHODS)
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.tick()
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()  # name the undefined variable, not its attribute
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.tick()
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and ints and right > 0 and abs(left) > 1:
            if left.bit_length() * right > MAX_INT_BITS:
                raise LimitExceeded(f"this makes a number of more than {MAX_INT_BITS} bits")
        elif operator == "*" and ints:
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise LimitExceeded(f"this makes a number of more than {MAX_INT_BITS} bits")
        elif operator == "*" and (isinstance(left, int) or isinstance(right, int)):
            seq, times = (right, left) if isinstance(left, int) else (left, right)
            self.check(seq, self.measure(seq) * max(times, 0))
        elif operator == "+" and not ints:
            self.check(None, self.measure(left) + self.measure(right))
        elif operator == "%" and isinstance(left, str):
            for width in (w for spec in _FORMAT_SPEC.findall(left) for w in spec if w):
                if width == "*" or int(width) > MAX_FORMAT_WIDTH:
                    raise LimitExceeded(f"a '%' format width or precision over {MAX_FORMAT_WIDTH:,}")
            self.check(None, self.measure(left) + self.measure(right))
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"this makes a number of more than {MAX_INT_BITS} bits")
        if not isinstance(result, (int, float)):
            self.check(result)
        return result


def _sandbox(context: Context) -> _Sandbox:
    env = context.environment
    assert isinstance(env, _Sandbox)
    return env


# The guards `_Guard` puts into every template. They take the context so that Jinja never folds them
# into constants at compile time, and their names cannot be written in a template (a '-' is not allowed).


@pass_context
def _guard_emit(context: Context, value: Any, clean_length: int | None = None) -> Any:
    """Every piece of output, also inside macros and {% set %} blocks: counted against MAX_OUTPUT."""
    env = _sandbox(context)
    if clean_length is None:
        env.check(value)
        value = str(value)  # as Jinja would; an undefined variable raises here
        clean_length = len(value)
    env.output += clean_length
    if env.output > MAX_OUTPUT:
        raise LimitExceeded(
            f"the blueprint renders to more than {size_text(MAX_OUTPUT)} of text "
            "(macros and {% set %} blocks count, too)"
        )
    env.charge(clean_length)
    return value


@pass_context
def _guard_iterate(context: Context, iterable: Any) -> Any:
    return _sandbox(context).iterate(iterable)


@pass_context
def _guard_value(context: Context, value: Any) -> Any:
    return _sandbox(context).check(value)


@pass_context
def _guard_concat(context: Context, parts: tuple[Any, ...]) -> str:
    env = _sandbox(context)
    env.check(parts)
    text = "".join(str(part) for part in parts)
    env.charge(len(text))
    return text


@pass_context
def _guard_tick(context: Context, value: Any) -> Any:
    _sandbox(context).tick()
    return value


_GUARD_FILTERS: dict[str, Callable[..., Any]] = {
    "ts-emit": _guard_emit,
    "ts-iter": _guard_iterate,
    "ts-value": _guard_value,
    "ts-concat": _guard_concat,
    "ts-tick": _guard_tick,
}


def _text_filter(function: Callable[..., str]) -> Callable[..., str]:
    @pass_context
    def checked(context: Context, value: Any, *args: Any) -> str:
        env = _sandbox(context)
        env.check(value)
        text = function(value, *args)
        env.charge(len(text))
        return text

    return checked


@pass_context
def _tojson(context: Context, value: Any, indent: int | None = None) -> str:
    env = _sandbox(context)
    env.check(value)
    if indent is not None and not (isinstance(indent, int) and 0 <= indent <= 8):
        raise LimitExceeded("tojson's indent must be a number from 0 to 8")
    text = do_tojson(context.eval_ctx, value, indent)
    env.charge(len(text))
    return text


@pass_context
def _join(context: Context, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    env = _sandbox(context)
    size = env.measure(value)
    env.check(value, size + env.measure(d) * size)
    text = sync_do_join(context.eval_ctx, value, d, attribute)
    env.charge(len(text))
    return text


FILTERS.update(
    {
        "default": do_default,
        "d": do_default,
        "tojson": _tojson,
        "join": _join,
        "length": len,
        "lower": _text_filter(do_lower),
        "upper": _text_filter(do_upper),
        "trim": _text_filter(do_trim),
    }
)


def _guard(node: nodes.Node, name: str, *args: Any) -> nodes.Filter:
    return nodes.Filter(node, name, [nodes.Const(a) for a in args], [], None, None, lineno=node.lineno)


class _Guard(NodeTransformer):
    """Rewrites a parsed template so that loops, literals, '~', comparisons and output pass a guard."""

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            _guard(nodes.Const(child.data, lineno=child.lineno), "ts-emit", len(_MARK.sub("", child.data)))
            if isinstance(child, nodes.TemplateData)
            else _guard(child, "ts-emit")
            for child in node.nodes
        ]
        return node

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _guard(node.iter, "ts-iter")
        return node

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return _guard(self.generic_visit(node), "ts-value")

    visit_Dict = visit_List

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        return _guard(node, "ts-value") if node.ctx == "load" else node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _guard(nodes.Tuple(node.nodes, "load", lineno=node.lineno), "ts-concat")

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        return _guard(self.generic_visit(node), "ts-tick")

    visit_Test = visit_Compare


def render(name: str, source: str, variables: dict[str, Any]) -> tuple[str, dict[int, int]]:
    """Render a blueprint in the sandbox; any failure is a UserError naming the file and the template line."""
    text, line_map, _ = _render(name, source, variables)
    return text, line_map


References = dict[int, list[Key]]  # template source line -> the variables its {{ ... }} read (`use_case.schedule`)


@functools.lru_cache(maxsize=64)
def _compiled(name: str, source: str) -> tuple[Any, References, frozenset[str]]:
    """A blueprint compiled once per text (a fleet renders the same few for every member, thousands of
    times): the sandboxed template, the variables each line reads, and every variable name it reads."""
    env = _Sandbox()
    tree = env.parse(mark_lines(source))
    references = _references(tree)
    used = frozenset(jinja2.meta.find_undeclared_variables(tree))
    tree = _Guard().visit(tree)
    tree.set_environment(env)
    template = env.from_string(tree)
    template.filename = name
    template.name = name
    return template, references, used


_RenderKey = tuple[str, str, tuple[tuple[str, str], ...]]  # the template's name and source, the values it reads
_RENDERED: OrderedDict[_RenderKey, tuple[dict[int, int], References, rendercache.Parsed]] = OrderedDict()
MAX_RENDERED = 256  # distinct renders kept, least recently used dropped: a fleet's few blueprints times its values
_BASES: OrderedDict[tuple[str, str], list[rendercache.Parsed]] = OrderedDict()  # per template: full parses
MAX_BASES = 4  # full parses kept per template, that other renders are compared with (generator/rendercache.py)


def _rendered(
    name: str, source: str, variables: dict[str, Any]
) -> tuple[dict[int, int], References, rendercache.Parsed]:
    """render() and parse, once per blueprint and values of the variables it reads: the line map, the
    references and the parse are shared, never to be changed.

    Parsing the rendered YAML (round-trip, for the lines) is most of `validate`'s time; the members of a
    fleet mostly render a blueprint with the same values, so they share one parse, and a render that
    differs from an earlier one only in a few scalars is that parse with them replaced (rendercache).
    """
    try:
        _, _, used = _compiled(name, source)
    except Exception:
        _render(name, source, variables)  # compiles again, and says what is wrong as a UserError
        raise
    given = _given(variables, used)
    key = (name, source, tuple(given.items()))
    found = _RENDERED.get(key)
    if found is None:
        again = _rerendered(name, source, variables, given)
        if again is not None:
            text, line_map = again
            references = _compiled(name, source)[1]
        else:
            text, line_map, references = _render(name, source, variables)
            _remember(name, source, variables, given, text, line_map)
        found = (line_map, references, _parsed(name, source, text, line_map))
        _RENDERED[key] = found
        if len(_RENDERED) > MAX_RENDERED:
            _RENDERED.popitem(last=False)
    _RENDERED.move_to_end(key)
    return found


def _given(variables: dict[str, Any], used: frozenset[str]) -> dict[str, str]:
    """Each variable the template reads that the render is given, as JSON: a variable not given is not one
    set to null (`kms_key is defined`)."""
    return {k: json.dumps(variables[k], sort_keys=True, default=repr) for k in sorted(used) if k in variables}


# --- rendering again only the lines that read what differs -----------------------------------------------
#
# A fleet's members render a blueprint with values that differ in a variable or two: level-0 reads `name`
# on one line, `bucket: {{ state_bucket | default(name ~ "-tfstate") | tojson }}`. When every read of the
# variables that differ from an earlier full render (the root) is in an output at the top level of the
# template (not in a block, a loop or a macro, and not a name the template sets), the render is the root's
# with those lines rendered again, each alone: the rest of the template reads the same values as before.
# Each line is checked against the root first: alone, with the root's values, it must render to exactly
# the line the full render gave (so nothing around it, a trim marker say, takes part), and it must still
# render to one line. The sandbox's budgets are the root's, with the lines' own counts swapped. Anything
# else (a line that fails alone, a budget gone over, another variable given or not) is rendered in full,
# which says what is wrong, at its line.

MAX_LINES_AGAIN = 16  # lines rendered again instead of the whole template


@dataclass
class _Root:
    """A full render that later ones are rendered from."""

    variables: dict[str, Any]
    given: dict[str, str]  # as _given says
    lines: list[str]  # the rendered text's
    line_map: dict[int, int]
    counts: tuple[int, int, int]  # the sandbox's budgets used: work, iterations, output
    alone: dict[int, tuple[str, tuple[int, int, int]] | None] = field(default_factory=dict)  # source line ->
    at: dict[int, int] = field(init=False)  # source line -> its rendered line (index), if it renders to one

    def __post_init__(self) -> None:
        seen: dict[int, list[int]] = {}
        for rendered, source_line in self.line_map.items():
            seen.setdefault(source_line, []).append(rendered - 1)
        self.at = {line: found[0] for line, found in seen.items() if len(found) == 1}


_ROOTS: OrderedDict[tuple[str, str], _Root] = OrderedDict()


def _remember(
    name: str, source: str, variables: dict[str, Any], given: dict[str, str], text: str, line_map: dict[int, int]
) -> None:
    """Keep the first full render of a template (and what it used of the sandbox's budgets) as its root."""
    if (name, source) in _ROOTS:
        return
    env = _compiled(name, source)[0].environment  # the render just done: its counts are still there
    _ROOTS[(name, source)] = _Root(
        dict(variables), given, text.split("\n"), line_map, (env.work, env.iterations, env.output)
    )
    if len(_ROOTS) > MAX_RENDERED:
        _ROOTS.popitem(last=False)


def _rerendered(
    name: str, source: str, variables: dict[str, Any], given: dict[str, str]
) -> tuple[str, dict[int, int]] | None:
    """The render of `source` with `variables`, from its root's with the lines that read what differs rendered
    again; None when it must be rendered in full."""
    root = _ROOTS.get((name, source))
    if root is None or given.keys() != root.given.keys():
        return None
    differ = {k for k, value in given.items() if value != root.given[k]}
    reads, elsewhere = _line_reads(name, source)
    lines = sorted(line for line, names in reads.items() if names & differ)
    if not differ or differ & elsewhere or not lines or len(lines) > MAX_LINES_AGAIN:
        return None
    text, counts = list(root.lines), list(root.counts)
    for line in lines:
        at = root.at.get(line)
        if line not in root.alone:
            root.alone[line] = _alone(name, source, line, root.variables)
        before, now = root.alone[line], _alone(name, source, line, variables)
        if at is None or before is None or now is None or before[0] != root.lines[at] or "\n" in now[0]:
            return None
        text[at] = now[0]
        counts = [total - old + new for total, old, new in zip(counts, before[1], now[1], strict=True)]
    if counts[0] > MAX_WORK or counts[1] > MAX_ITERATIONS or counts[2] > MAX_OUTPUT:
        return None
    return "\n".join(text), root.line_map


def _alone(name: str, source: str, line: int, variables: dict[str, Any]) -> tuple[str, tuple[int, int, int]] | None:
    """One source line rendered as a template of its own: its text, and what it used of the budgets."""
    try:
        template = _compiled(name, source.split("\n")[line - 1])[0]
        env = template.environment
        env.work = env.iterations = env.output = 0
        env.deadline = time.monotonic() + MAX_SECONDS
        text = unmark(template.render(**variables))[0]
    except Exception:  # whatever it is, the full render says it, at its line
        return None
    return text, (env.work, env.iterations, env.output)


@functools.lru_cache(maxsize=64)
def _line_reads(name: str, source: str) -> tuple[dict[int, frozenset[str]], frozenset[str]]:
    """Per source line, the variables the outputs at the top level of the template read on it; and every name
    read or set anywhere else (in a tag, a block, a loop, a macro)."""
    reads: dict[int, set[str]] = {}
    elsewhere: set[str] = set()
    for node in _Sandbox().parse(source).body:
        if not isinstance(node, nodes.Output):
            elsewhere |= _names(node, load_only=False)
            if isinstance(node, nodes.Macro):
                elsewhere.add(node.name)
            continue
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                reads.setdefault(child.lineno, set()).update(_names(child, load_only=True))
                elsewhere |= _names(child, load_only=False) - _names(child, load_only=True)
    return {line: frozenset(names) for line, names in reads.items()}, frozenset(elsewhere)


def _names(node: nodes.Node, load_only: bool) -> set[str]:
    found = [node] if isinstance(node, nodes.Name) else []
    return {n.name for n in [*found, *node.find_all(nodes.Name)] if not load_only or n.ctx == "load"}


def _parsed(name: str, source: str, text: str, line_map: dict[int, int]) -> rendercache.Parsed:
    """The rendered text's document: an earlier parse of the template with a few values replaced, or a new one."""
    bases = _BASES.setdefault((name, source), [])
    _BASES.move_to_end((name, source))
    for base in bases:
        found = base if base.text == text else rendercache.patched(base, text)
        if found is not None:
            return found
    parsed = rendercache.parsed(text, _parse_rendered(text, name, line_map))
    bases.insert(0, parsed)
    del bases[MAX_BASES:]
    if len(_BASES) > MAX_RENDERED:
        _BASES.popitem(last=False)
    return parsed


def _render(name: str, source: str, variables: dict[str, Any]) -> tuple[str, dict[int, int], References]:
    """render(), and the variables each line's expressions read."""
    try:
        template, references, _ = _compiled(name, source)
        env = template.environment  # compiled once, its budgets fresh for every render
        env.work = env.iterations = env.output = 0
        env.deadline = time.monotonic() + MAX_SECONDS  # compiling is bounded by the file size; time the render
        return (*unmark(template.render(**variables)), references)
    except jinja2.TemplateSyntaxError as exc:
        hint = None
        if exc.message and exc.message.startswith("No filter named"):
            hint = "filters in blueprints: " + ", ".join(sorted(FILTERS)) + "; see docs/blueprints.md"
        raise UserError(f"template error: {exc.message}", file=name, line=exc.lineno, hint=hint) from None
    except LimitExceeded as exc:
        raise UserError(str(exc.message), file=name, line=_template_line(exc, name), hint=LIMITS_HINT) from None
    except SecurityError as exc:
        raise UserError(
            f"the blueprint sandbox refused this: {exc.message}",
            file=name,
            line=_template_line(exc, name),
            hint=SANDBOX_HINT,
        ) from None
    except jinja2.UndefinedError as exc:
        missing = re.findall(r"'([^']+)' is undefined", str(exc))
        line = _template_line(exc, name)
        if missing and missing[0] in DEFAULT_NAMESPACE and missing[0] not in variables:
            raise UserError(
                f"'{missing[0]}' is not available in blueprints", file=name, line=line, hint=SANDBOX_HINT
            ) from None
        if missing:
            hint = did_you_mean(missing[0], variables) or "known variables: " + ", ".join(sorted(variables))
            raise UserError(
                f"template variable '{missing[0]}' is not defined",
                file=name,
                line=line,
                field=f"variables.{missing[0]}",
                hint=f"{hint}; or define it under 'variables:' in tierstack.yaml",
            ) from None
        raise UserError(f"template error: {exc}", file=name, line=line) from None
    except jinja2.TemplateError as exc:
        raise UserError(f"template error: {exc}", file=name, line=_template_line(exc, name)) from None
    except RecursionError as exc:
        raise UserError(
            "the template calls itself, or nests, too deeply",
            file=name,
            line=_template_line(exc, name),
            hint=LIMITS_HINT,
        ) from None
    except SyntaxError:  # Python's own limit on nested blocks, when the template is compiled
        raise UserError("the template nests its blocks too deeply", file=name, hint=LIMITS_HINT) from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError) as exc:
        line = _template_line(exc, name)
        if isinstance(exc, TypeError) and "no loader" in str(exc):
            raise UserError(
                "include, import and Jinja's own extends are not available in blueprints",
                file=name,
                line=line,
                hint="a blueprint builds on another with the 'extends:' key",
            ) from None
        raise UserError(f"template error: {type(exc).__name__}: {exc}", file=name, line=line) from None


def _references(tree: nodes.Template) -> References:
    """The variables each source line writes out as they are, for load's attribution.

    Only where a variable's own value comes out: `{{ schedule | tojson }}`, `{{ x | default(y) }}`,
    either branch of `a if test else b`. What a comparison, a test, `and`/`or` or arithmetic
    computes is the blueprint's own value (`{{ (mission_critical or kms_key is defined) | tojson }}`).
    """
    found: References = {}
    for output in tree.find_all(nodes.Output):
        for child in output.nodes:
            if not isinstance(child, nodes.TemplateData):
                found.setdefault(child.lineno, []).extend(_passed(child))
    return found


def _passed(node: nodes.Node | None) -> Iterator[Key]:
    chain = _variable(node) if node is not None else None
    if chain:
        yield chain
    elif isinstance(node, nodes.Filter):  # the value goes through the filter; load compares what comes out
        yield from _passed(node.node)
        if node.name in ("default", "d") and node.args:
            yield from _passed(node.args[0])
    elif isinstance(node, nodes.CondExpr):
        yield from _passed(node.expr1)
        yield from _passed(node.expr2)


def _variable(node: nodes.Node) -> Key | None:
    """`schedule` -> ('schedule',); `use_case.schedule`, `use_case["schedule"]` -> ('use_case', 'schedule')."""
    if isinstance(node, nodes.Name):
        return (node.name,) if node.ctx == "load" else None
    if isinstance(node, nodes.Getattr):
        base = _variable(node.node)
        return (*base, node.attr) if base else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        base = _variable(node.node)
        return (*base, node.arg.value) if base else None
    return None


def _template_line(exc: BaseException, name: str) -> int | None:
    """The template line an exception came from (Jinja rewrites frames to the template's name)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in (name, "<template>")]
    return frames[-1].lineno if frames else None


# --- loading and merging -------------------------------------------------------------------------


def load(
    ref: BlueprintRef,
    variables: dict[str, Any],
    relative_to: Path | None,
    referrer: str,
    field_name: str = "blueprint",
    origins: Mapping[Key, Source] | None = None,
    pins: Pins | None = None,
    line: int | None = None,
) -> Blueprint:
    """Render, parse and merge `ref` and everything it extends.

    `referrer`, `line` and `field_name` say where `ref` is written (tierstack.yaml's `blueprint:`), for
    an error about it; an error about an `extends:` is at that key's line in its blueprint.

    `origins` says where the user wrote the value of a template variable (('schedule',) -> the line of
    use_case.schedule in tierstack.yaml): a blueprint line that passes such a value on unchanged is
    not where it was set, and the value is attributed to the user's line instead.

    `pins` resolves git sources (default: the session for the folder of `relative_to`, the config, which
    reads its tierstack.lock; generator/lockfile.py).
    """
    pins = pins or pins_for(relative_to)
    notes_before = len(pins.notes)
    rendered: list[_Rendered] = []
    chain: list[str] = []
    links: list[Link] = []
    meta: dict[str, Any] = {}
    tier_at: tuple[str, int | None] = (referrer, None)  # the blueprint and line that give the tier
    current_ref, current_rel, current_referrer, current_field = ref, relative_to, referrer, field_name
    current_lines = _config_lines(relative_to, field_name) if isinstance(ref, GitSource) else {}
    current_line = current_lines.get("git", line)
    parent_found: Located | None = None
    while True:
        found = locate(
            current_ref,
            current_rel,
            current_referrer,
            current_field,
            parent=parent_found,
            pins=pins,
            line=current_line,
            lines=current_lines,
        )
        name = found.name
        if name in chain:
            loop = " -> ".join([*chain, name])
            raise UserError(
                f"blueprints extend each other in a circle: {loop}",
                file=chain[-1],
                line=current_line,
                field="extends",
                hint="break the circle: a blueprint cannot extend itself, directly or not",
            )
        chain.append(name)
        try:
            line_map, references, parsed = _rendered(name, found.text, variables)
            doc = parsed.doc
            _check_top(doc, name, line_map)
            passed_on = _passed_on(references, variables, origins or {})
            rendered.append(_Rendered(parsed, found.origin, line_map, references, passed_on))
            parent, parent_lines = _extends(doc, name, line_map)
        except UserError as err:  # an error in a built-in blueprint: say how to read it
            err.hint = join_hints(err.hint, found.origin.show_hint())
            raise
        for key in ("tier", "description"):  # the nearest blueprint that says; a fork may leave them out
            if meta.get(key) is None:
                meta[key] = to_plain(doc.get(key))
                if key == "tier" and meta[key] is not None:
                    tier_at = (name, _line(doc, "tier", line_map))
        tier_here = to_plain(doc.get("tier"))
        links.append(
            Link(
                name,
                found.kind,
                tier_here if isinstance(tier_here, int) and not isinstance(tier_here, bool) else None,
                str(doc.get("description") or ""),
                found.pin,
                found.repo_path,
                found.path,
                found.text,
            )
        )
        if parent is None:
            break
        current_ref, current_referrer, current_field = parent, name, "extends"
        current_rel, current_line, parent_found = found.path, _line(doc, "extends", line_map), found
        current_lines = parent_lines
    merged, shared, changes = _merged_chain(rendered)
    _check_regions(merged, chain[0])
    tier = meta.get("tier")
    if tier is not None and (not isinstance(tier, int) or isinstance(tier, bool) or not 0 <= tier <= 2):
        raise UserError(f"tier must be 0, 1 or 2, not {tier!r}", file=tier_at[0], line=tier_at[1], field="tier")
    shown = ref if isinstance(ref, str) else chain[0]
    notes = pins.notes[notes_before:]
    description = str(meta.get("description") or "")
    return Blueprint(shown, chain, merged, tier, description, links, notes, shared, changes)


def _check_regions(layer: Layer, name: str) -> None:
    """`region:` a Google Cloud region, `allowed_regions:` a list of them, once each, the default among them;
    each error at the line that writes the value (the nearest blueprint that does)."""
    from tierstack.generator import gcp_facts
    from tierstack.generator.spec import check_region

    def error(key: str, message: str, hint: str | None = None) -> UserError:
        where = layer.prov.get((key,))
        if where is None:
            return UserError(message, file=name, field=key, hint=hint)
        return where.error(message, fallback=name, field=key, hint=hint)

    def checked(key: str, value: Any) -> None:
        try:
            if not isinstance(value, str):
                raise ValueError(f"{json.dumps(value, default=str)} is not a region name such as europe-west2")
            check_region(value)
            gcp_facts.check_region(value)
        except ValueError as err:
            raise error(key, str(err), "write a region, e.g. region: europe-west2") from None
        except gcp_facts.FactError as err:  # no such region: with the nearest
            raise error(key, err.message, err.hint) from None

    region, allowed = layer.data.get("region"), layer.data.get("allowed_regions")
    if "region" in layer.data:
        checked("region", region)
    if "allowed_regions" not in layer.data:
        return
    example = f"allowed_regions: [{region if isinstance(region, str) else 'europe-west2'}]"
    if not isinstance(allowed, list) or not allowed:
        raise error("allowed_regions", "allowed_regions must be a list of one or more regions", f"e.g. {example}")
    for item in allowed:
        checked("allowed_regions", item)
        if allowed.count(item) > 1:
            raise error("allowed_regions", f"allowed_regions names {item} twice", "name each region once")
    if isinstance(region, str) and region not in allowed:
        raise error(
            "region",
            f"the default region {region} is not one of allowed_regions ({', '.join(allowed)}, at "
            f"{layer.prov.get(('allowed_regions',)) or name})",
            f"add {region} to allowed_regions, or make region one of them",
        )


def _extends(
    doc: CommentedMap, name: str, line_map: dict[int, int]
) -> tuple[BlueprintRef | None, dict[str, int | None]]:
    """What a blueprint extends: a name or a path, or a git source ({git, ref, path}), checked at its lines;
    and the line of each key of a git source."""
    parent = doc.get("extends")
    line = _line(doc, "extends", line_map)
    if parent is None or isinstance(parent, str):
        return parent, {}
    if not isinstance(parent, CommentedMap):
        raise UserError(
            "extends must name one blueprint: a built-in name, a path, or {git: URL, ref: REF, path: PATH}",
            file=name,
            line=line,
            field="extends",
        )
    try:
        source = GitSource.model_validate(to_plain(parent))
        return source, {str(key): _line(parent, key, line_map) for key in parent}
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        item = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])  # a typo explains the rest
        key = str(item["loc"][0]) if item["loc"] else None
        keys = list(GitSource.model_fields)
        at = _line(parent, key, line_map) if key in parent else line
        if item["type"] == "extra_forbidden":
            message, hint = f"unknown key '{key}'", did_you_mean(str(key), keys) or "keys: git, ref, path"
        elif item["type"] == "missing":
            message, hint = f"a git source needs {key}", "write {git: URL, ref: v1.4.0, path: blueprints/x.yaml.j2}"
        else:
            message, hint = (
                validator_message(item),
                "see 'Blueprints from git' in docs/blueprints.md",
            )
        raise UserError(message, file=name, line=at, field=f"extends.{key}" if key else "extends", hint=hint) from None


def _config_lines(config: Path | None, field_name: str) -> dict[str, int | None]:
    """The lines of `blueprint: {git, ref, path}` in tierstack.yaml, for an error about the git source."""
    if config is None or field_name != "blueprint":
        return {}
    with contextlib.suppress(UserError, OSError):
        doc = load_file(config)
        return {key: line_of(doc, ("blueprint", key)) for key in ("git", "ref", "path")}
    return {}


PassedOn = Callable[[int, Any], "Source | None"]  # (template source line, value) -> the user's line it came from


def _passed_on(references: References, variables: dict[str, Any], origins: Mapping[Key, Source]) -> PassedOn:
    """Which user-written variable a template line passes on unchanged, if any (see load)."""

    def origin(line: int, value: Any) -> Source | None:
        for ref in references.get(line, ()):
            written = next((origins[ref[:end]] for end in range(len(ref), 0, -1) if ref[:end] in origins), None)
            if written is None:
                continue
            given: Any = variables
            for part in ref:
                if not isinstance(given, dict) or part not in given:
                    break
                given = given[part]
            else:
                if _same(given, value):
                    return written
        return None

    return origin


def _same(a: Any, b: Any) -> bool:
    """Equal as the YAML they write: True is not 1, 1 is not 1.0."""
    if type(a) is str and type(b) is str:  # most values passed on: as JSON they are equal when they are
        return a == b
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _parse_rendered(text: str, name: str, line_map: dict[int, int]) -> Any:
    try:
        doc = parse(text, name)
    except UserError as err:
        if err.line is not None:
            err.line = line_map.get(err.line, err.line)
            err.message += " (in the rendered template)"
        raise
    if doc is None:
        return CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise UserError("a blueprint must be a mapping with keys " + ", ".join(TOP_KEYS), file=name, line=1)
    return doc


def _line(node: CommentedMap, key: Any, line_map: dict[int, int]) -> int | None:
    raw = key_line(node, key)
    return line_map.get(raw, raw) if raw else None


def _check_top(doc: CommentedMap, name: str, line_map: dict[int, int]) -> None:
    for key in doc:
        if key not in TOP_KEYS:
            hint = did_you_mean(str(key), TOP_KEYS) or "valid keys: " + ", ".join(TOP_KEYS)
            raise UserError(
                f"unknown blueprint key '{key}'", file=name, line=_line(doc, key, line_map), field=str(key), hint=hint
            )
    for key in ("defaults", "roles"):
        if key in doc and not isinstance(doc[key], (CommentedMap, type(None))):
            raise UserError(f"'{key}' must be a mapping", file=name, line=_line(doc, key, line_map), field=key)
    for role in doc.get("roles") or {}:
        if role not in ROLES:
            hint = did_you_mean(str(role), ROLES) or "roles: " + ", ".join(ROLES)
            raise UserError(
                f"unknown environment role '{role}'",
                file=name,
                line=_line(doc["roles"], role, line_map),
                field=f"roles.{role}",
                hint=hint,
            )


def _to_layer(
    doc: Any, origin: Source, line_map: dict[int, int] | None = None, passed_on: PassedOn | None = None
) -> Layer:
    prov: dict[Key, Provenance] = {}

    def walk(node: Any, path: Key) -> None:
        if isinstance(node, CommentedMap):
            for key, value in node.items():
                line = _line(node, key, line_map or {})
                here = (*path, str(key))
                if isinstance(value, CommentedMap) and value:
                    walk(value, here)
                else:
                    written = passed_on(line, to_plain(value)) if passed_on and line else None
                    prov[here] = Provenance.of(written or origin.at(line))

    walk(doc, ())
    return Layer(to_plain(doc), prov)


def _layer_of(parsed: rendercache.Parsed, origin: Source, line_map: dict[int, int], passed_on: PassedOn) -> Layer:
    """_to_layer of a rendered blueprint, from the leaves its parse lists: the same layer, without the walk."""
    prov: dict[Key, Provenance] = {}
    for leaf in parsed.leaves:
        line = line_map.get(leaf.line, leaf.line) if leaf.line else None
        written = passed_on(line, leaf.value) if line else None
        prov[leaf.path] = Provenance.of(written) if written is not None else _provenance_at(origin, line)
    return Layer(rendercache.copied(parsed.plain), prov)


@functools.lru_cache(maxsize=4096)
def _provenance_at(origin: Source, line: int | None) -> Provenance:
    return Provenance.of(origin.at(line))


# --- one merge of a chain, shared by the renders that differ only in a few values --------------------------
#
# Merging a chain's layers walks every leaf of every layer, for every member of a fleet, though members
# mostly render the same chain but for a few values (level-0's `<name>-tfstate`) and for where a value they
# wrote themselves is attributed (a line that passes a variable on). So the chain is merged once from its
# full parses with nothing passed on (_Shared), and each render's differences are set on a copy: a value
# that differs, and the provenance of each leaf whose line passes on the user's value. That is what merge()
# gives as long as no blueprint merged later writes that leaf, a key above it, one below it, or appends to
# it (`name+:`): then the leaf is the later blueprint's, or combined with it, and the chain is merged anew.


@dataclass(frozen=True)
class _Rendered:
    """One blueprint of a chain as load() read it."""

    parsed: rendercache.Parsed
    origin: Source
    line_map: dict[int, int]
    references: References
    passed_on: PassedOn


Change = tuple[Key, Any, Provenance]  # a leaf of a render that differs from the shared merge's: path, value, where
Written = tuple[frozenset[Key], frozenset[Key]]  # the leaves of layers (names without the '+'), and every key above


@dataclass(frozen=True)
class _Shared:
    """A chain merged from its full parses, nothing passed on (read-only), and what says how a render differs."""

    layer: Layer
    candidates: tuple[tuple[int, ...], ...]  # per blueprint: its leaves on lines that may pass a variable on
    later: tuple[Written, ...]  # per blueprint: what the blueprints merged after it write
    roles: dict[str, _Role] = field(default_factory=dict)

    def environment_layer(self, role: str, changes: tuple[Change, ...]) -> Layer | None:
        """Blueprint.environment_layer of a render with these changes: the shared one's, with them set; None when
        the role's overrides write one of them otherwise than by replacing it (then only a merge of its own says
        what wins)."""
        if role not in self.roles:
            over = self.layer.sub("roles", role)
            self.roles[role] = _Role(merge(self.layer.sub("defaults"), over), over)
        found = self.roles[role]
        own: list[Change] = []
        for path, value, where in changes:
            if path[0] == "defaults" and _own(path[1:], found.written):
                own.append((path[1:], value, where))
            elif path[0] == "defaults" and found.replaces(path[1:]):
                continue  # the role's value and place win, whatever the default
            elif path[:2] == ("roles", role) and len(path) > 2:
                own.append((path[2:], value, where))
            elif path[0] == "defaults" or path[:2] == ("roles", role):
                return None
        return _with_changes(found.layer, own)


class _Role:
    """A shared chain's environment_layer for one role, and what the role's overrides write."""

    def __init__(self, layer: Layer, over: Layer) -> None:
        self.layer = layer
        self.leaves = frozenset(leaf_paths(over.data)) | frozenset(over.prov)  # as written, '+' kept
        self.written = _later([_written(over)])
        self.replacing = frozenset(leaf_paths(over.data)) & frozenset(over.prov)

    def replaces(self, path: Key) -> bool:
        """Whether the role writes this very leaf, not appending to it: merge() then gives the role's value
        and provenance there, whatever the default was."""
        return path in self.replacing and _append_key(path) not in self.leaves


_SHARED: OrderedDict[tuple[Any, ...], _Shared | None] = OrderedDict()
MAX_SHARED = 64  # chains kept: a fleet's few blueprint chains


def _merged_chain(rendered: list[_Rendered]) -> tuple[Layer, _Shared | None, tuple[Change, ...]]:
    """The chain's layers merged, the first blueprint's last (it wins); `extends` dropped. With the shared merge
    it is a copy of, and the changes set on it."""
    shared = _shared(rendered)
    changes = _differing(shared, rendered) if shared is not None else None
    if shared is not None and changes is not None:
        return _with_changes(shared.layer, changes), shared, changes
    return _merge_layers([_layer_of(r.parsed, r.origin, r.line_map, r.passed_on) for r in rendered]), None, ()


def _merge_layers(layers: list[Layer]) -> Layer:
    merged = Layer({}, {})
    for layer in reversed(layers):
        merged = merge(merged, layer)
    merged.data.pop("extends", None)
    return merged


def _shared(rendered: list[_Rendered]) -> _Shared | None:
    """The chain merged from its full parses, once per chain; None when that merge fails (each render's says
    why, with its own provenance)."""
    key = tuple((r.parsed.root, r.origin, tuple(r.line_map.values())) for r in rendered)
    if key in _SHARED:
        _SHARED.move_to_end(key)
        return _SHARED[key]
    try:
        layer = _merge_layers([_layer_of(r.parsed.root, r.origin, r.line_map, _nothing_passed_on) for r in rendered])
    except UserError:
        found = None
    else:
        candidates = tuple(_passing_on(r.parsed.root, r.line_map, r.references) for r in rendered)
        leaves = [frozenset(_unappended(leaf.path) for leaf in r.parsed.root.leaves) for r in rendered]
        later = tuple(_later(leaves[:index]) for index in range(len(leaves)))  # merged after: those before
        found = _Shared(layer, candidates, later)
    _SHARED[key] = found
    if len(_SHARED) > MAX_SHARED:
        _SHARED.popitem(last=False)
    return found


def _nothing_passed_on(line: int, value: Any) -> Source | None:
    return None


def _passing_on(parsed: rendercache.Parsed, line_map: dict[int, int], references: References) -> tuple[int, ...]:
    """The leaves on template lines that write a variable out (only those can be attributed to the user)."""
    return tuple(
        index
        for index, leaf in enumerate(parsed.leaves)
        if leaf.line and line_map.get(leaf.line, leaf.line) in references
    )


def _unappended(path: Key) -> Key:
    return (*path[:-1], path[-1].removesuffix(APPEND)) if path else path


def _written(layer: Layer) -> frozenset[Key]:
    """The leaves a layer writes (its data's and its provenance's), names without the '+'."""
    return frozenset(_unappended(path) for path in (*leaf_paths(layer.data), *layer.prov))


def _later(leaf_sets: list[frozenset[Key]]) -> Written:
    """The leaves of the blueprints merged after one, and every key path above them."""
    leaves = frozenset().union(*leaf_sets)
    return leaves, frozenset(path[:end] for path in leaves for end in range(1, len(path)))


def _differing(shared: _Shared, rendered: list[_Rendered]) -> tuple[Change, ...] | None:
    """This chain's own values and attributions, where they differ from the shared merge's; None when a later
    blueprint writes one of those leaves (then only a merge of its own says what wins)."""
    changes: list[Change] = []
    for index, r in enumerate(rendered):
        changed = set(r.parsed.changed)
        for leaf_index in sorted(changed.union(shared.candidates[index])):
            leaf = r.parsed.leaves[leaf_index]
            line = r.line_map.get(leaf.line, leaf.line) if leaf.line else None
            written = r.passed_on(line, leaf.value) if line else None
            if written is None and leaf_index not in changed:
                continue
            if not _own(leaf.path, shared.later[index]):
                return None
            where = Provenance.of(written) if written is not None else _provenance_at(r.origin, line)
            changes.append((leaf.path, leaf.value, where))
    return tuple(changes)


def _with_changes(layer: Layer, changes: Iterable[Change]) -> Layer:
    """A copy of a shared layer (its caller's to change) with these leaves set; each leaf is in the layer."""
    data, prov = rendercache.copied(layer.data), dict(layer.prov)
    for path, value, where in changes:
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = rendercache.copied(value)
        prov[path] = where
    return Layer(data, prov)


def _own(path: Key, later: Written) -> bool:
    """Whether a leaf is the merged chain's as its blueprint wrote it: no later blueprint writes it, a key
    above it or below it; not an append (`name+:`) nor under `extends` (which the merge drops)."""
    leaves, above = later
    if not path or path[0] == "extends" or any(part.endswith(APPEND) for part in path):
        return False
    return path not in above and not any(path[:end] in leaves for end in range(1, len(path) + 1))


def layer_from(doc: Any, file: str, path: Key = ()) -> Layer:
    """A layer from a round-trip (sub)document of a plain YAML file, e.g. tierstack.yaml overrides."""
    node = doc
    for part in path:
        node = node.get(part) if isinstance(node, CommentedMap) else None
    if not isinstance(node, CommentedMap):
        return Layer({}, {})
    return _to_layer(node, Source.in_file(file))


def merge(base: Layer, over: Layer) -> Layer:
    """Deep-merge `over` onto `base`; lists replace unless the key ends in '+'."""
    data = _merge_data(base.data, over.data, (), over)
    prov: dict[Key, Provenance] = {}
    appends = any(path and path[-1].endswith(APPEND) for path in over.prov)  # else no leaf has a `name+:`
    for path in leaf_paths(data):
        appended = over.prov.get(_append_key(path)) if appends else None
        inherited = base.prov.get(path)
        chosen = inherited + appended if appended and inherited else over.prov.get(path) or appended or inherited
        if chosen is not None:
            prov[path] = chosen
    return Layer(data, prov)


def _append_key(path: Key) -> Key:
    return (*path[:-1], path[-1] + APPEND) if path else path


def _merge_data(base: Any, over: Any, path: Key, over_layer: Layer) -> Any:
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    out = dict(base)
    for key, value in over.items():
        if key.endswith(APPEND) and len(key) > 1:
            target = key[: -len(APPEND)]
            inherited = out.get(target, [])
            if not isinstance(inherited, list) or not isinstance(value, list):
                message = f"'{key}' appends a list, but the inherited '{target}' is not a list"
                hint = f"write '{target}:' to replace the value instead"
                field_name = ".".join((*path, key))
                written = over_layer.prov.get((*path, key))
                if written is None:
                    raise UserError(message, field=field_name, hint=hint)
                raise written.error(message, field=field_name, hint=hint)
            out[target] = inherited + value
        elif key in out:
            out[key] = _merge_data(out[key], value, (*path, key), over_layer)
        else:
            out[key] = value
    return out


def leaf_paths(data: Any, path: Key = ()) -> list[Key]:
    """The paths of the leaves (scalars, lists, empty mappings) of `data`, in order; every merge walks them."""
    if not (isinstance(data, dict) and data):
        return [path] if path else []
    found: list[Key] = []
    _leaves(data, path, found)
    return found


def _leaves(data: dict[str, Any], path: Key, found: list[Key]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and value:
            _leaves(value, (*path, key), found)
        else:
            found.append((*path, key))
