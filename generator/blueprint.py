"""Blueprints: YAML rendered with Jinja2, layered with `extends`, merged deeply.

A blueprint document has these top-level keys:

    extends:     another blueprint (built-in name or a path relative to this file)
    tier:        the maturity tier it implements
    description: one line for humans
    defaults:    settings for every environment (capabilities, labels, budget, ...)
    roles:       deep overrides per environment role: development, staging, production

Merging: mappings merge key by key; anything else, lists included, replaces
the inherited value. A key written `name+:` appends its list to the inherited
one. Every resolved leaf keeps its provenance: the file and the line of the
*template source* that set it (rendering keeps a map from output lines back to
source lines, so `{% if %}` blocks and loops do not shift the answer).
"""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from ruamel.yaml.comments import CommentedMap

from tierstack.generator.errors import UserError, did_you_mean
from tierstack.generator.yamlio import key_line, parse, read_text, to_plain

TOP_KEYS = ("extends", "tier", "description", "defaults", "roles")
ROLES = ("development", "staging", "production")
APPEND = "+"
_MARK = re.compile(r"\x1f(\d+)\x1e")

Key = tuple[str, ...]


@dataclass
class Layer:
    """Plain data plus 'file:line' for every leaf path."""

    data: dict[str, Any]
    prov: dict[Key, str] = field(default_factory=dict)

    def sub(self, *path: str) -> Layer:
        node: Any = self.data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return Layer({}, {})
        n = len(path)
        return Layer(node, {k[n:]: v for k, v in self.prov.items() if k[:n] == path and len(k) > n})


@dataclass
class Blueprint:
    name: str  # built-in name or the path as given
    chain: list[str]  # this blueprint first, then what it extends
    layer: Layer
    tier: int | None
    description: str

    def environment_layer(self, role: str) -> Layer:
        """defaults merged with the overrides for `role`."""
        return merge(self.layer.sub("defaults"), self.layer.sub("roles", role))


# --- locating blueprints -------------------------------------------------------------------------


def builtin_names() -> list[str]:
    files = resources.files("tierstack.blueprints")
    return sorted(p.name.removesuffix(".yaml.j2") for p in files.iterdir() if p.name.endswith(".yaml.j2"))


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
class Source:
    name: str  # how messages and provenance name it
    text: str
    path: Path | None  # on disk (a fork); None for a built-in


def locate(ref: str, relative_to: Path | None, referrer: str, field_name: str) -> Source:
    """Find a blueprint: a path relative to the file naming it, or a built-in name."""
    if _is_path(ref):
        base = relative_to.parent if relative_to else Path.cwd()
        path = (base / ref).resolve() if not Path(ref).is_absolute() else Path(ref)
        if not path.is_file():
            raise UserError(
                f"blueprint '{ref}' not found (looked for {display_path(path)})", file=referrer, field=field_name,
                hint="paths are relative to the file that names them; built-in blueprints: "
                + ", ".join(builtin_names()),
            )
        return Source(display_path(path), read_text(path, "blueprint"), path)
    names = builtin_names()
    if ref not in names:
        builtins = "built-in blueprints: " + ", ".join(names)
        close = did_you_mean(ref, names)
        hint = f"{close} {builtins}" if close else builtins
        raise UserError(f"'{ref}' is not a built-in blueprint", file=referrer, field=field_name, hint=hint)
    text = resources.files("tierstack.blueprints").joinpath(f"{ref}.yaml.j2").read_text(encoding="utf-8")
    return Source(f"blueprints/{ref}.yaml.j2", text, None)


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
    lines = rendered.split("\n")
    mapping: dict[int, int] = {}
    last = 1
    clean = []
    for n, text in enumerate(lines, start=1):
        marks = _MARK.findall(text)
        if marks:
            last = int(marks[-1])
        mapping[n] = last
        clean.append(_MARK.sub("", text))
    return "\n".join(clean), mapping


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        loader=None,
    )


def render(name: str, source: str, variables: dict[str, Any]) -> tuple[str, dict[int, int]]:
    env = _environment()
    try:
        template = env.from_string(mark_lines(source))
        template.filename = name
        template.name = name
        return unmark(template.render(**variables))
    except jinja2.TemplateSyntaxError as exc:
        raise UserError(f"template error: {exc.message}", file=name, line=exc.lineno) from None
    except jinja2.UndefinedError as exc:
        missing = re.findall(r"'([^']+)' is undefined", str(exc))
        line = _template_line(exc, name)
        if missing:
            hint = did_you_mean(missing[0], variables) or "known variables: " + ", ".join(sorted(variables))
            raise UserError(
                f"template variable '{missing[0]}' is not defined", file=name, line=line,
                field=f"variables.{missing[0]}",
                hint=f"{hint}; or define it under 'variables:' in tierstack.yaml",
            ) from None
        raise UserError(f"template error: {exc}", file=name, line=line) from None
    except jinja2.TemplateError as exc:
        raise UserError(f"template error: {exc}", file=name, line=_template_line(exc, name)) from None
    except (TypeError, ValueError, ZeroDivisionError, AttributeError, KeyError) as exc:
        line = _template_line(exc, name)
        raise UserError(f"template error: {type(exc).__name__}: {exc}", file=name, line=line) from None


def _template_line(exc: BaseException, name: str) -> int | None:
    """The template line an exception came from (Jinja rewrites frames to the template's name)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in (name, "<template>")]
    return frames[-1].lineno if frames else None


# --- loading and merging -------------------------------------------------------------------------


def load(ref: str, variables: dict[str, Any], relative_to: Path | None, referrer: str,
         field_name: str = "blueprint") -> Blueprint:
    """Render, parse and merge `ref` and everything it extends."""
    layers: list[Layer] = []
    chain: list[str] = []
    meta: dict[str, Any] = {}
    current_ref, current_rel, current_referrer, current_field = ref, relative_to, referrer, field_name
    while True:
        found = locate(current_ref, current_rel, current_referrer, current_field)
        name = found.name
        if name in chain:
            loop = " -> ".join([*chain, name])
            raise UserError(f"blueprints extend each other in a circle: {loop}", file=chain[-1], field="extends",
                            hint="break the circle: a blueprint cannot extend itself, directly or not")
        chain.append(name)
        text, line_map = render(name, found.text, variables)
        doc = _parse_rendered(text, name, line_map)
        _check_top(doc, name, line_map)
        layers.append(_to_layer(doc, name, line_map))
        for key in ("tier", "description"):
            meta.setdefault(key, doc.get(key))
        parent = doc.get("extends")
        if parent is None:
            break
        if not isinstance(parent, str):
            raise UserError("extends must name one blueprint", file=name, line=_line(doc, "extends", line_map),
                            field="extends")
        current_ref, current_referrer, current_field = parent, name, "extends"
        current_rel = found.path
    merged = Layer({}, {})
    for layer in reversed(layers):
        merged = merge(merged, layer)
    merged.data.pop("extends", None)
    tier = meta.get("tier")
    if tier is not None and (not isinstance(tier, int) or isinstance(tier, bool) or not 0 <= tier <= 2):
        raise UserError(f"tier must be 0, 1 or 2, not {tier!r}", file=chain[0], field="tier")
    return Blueprint(ref, chain, merged, tier, str(meta.get("description") or ""))


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
            raise UserError(f"unknown blueprint key '{key}'", file=name, line=_line(doc, key, line_map),
                            field=str(key), hint=hint)
    for key in ("defaults", "roles"):
        if key in doc and not isinstance(doc[key], (CommentedMap, type(None))):
            raise UserError(f"'{key}' must be a mapping", file=name, line=_line(doc, key, line_map), field=key)
    for role in doc.get("roles") or {}:
        if role not in ROLES:
            hint = did_you_mean(str(role), ROLES) or "roles: " + ", ".join(ROLES)
            raise UserError(f"unknown environment role '{role}'", file=name,
                            line=_line(doc["roles"], role, line_map), field=f"roles.{role}", hint=hint)


def _to_layer(doc: Any, name: str, line_map: dict[int, int] | None = None) -> Layer:
    prov: dict[Key, str] = {}

    def walk(node: Any, path: Key) -> None:
        if isinstance(node, CommentedMap):
            for key, value in node.items():
                line = _line(node, key, line_map or {})
                here = (*path, str(key))
                if isinstance(value, CommentedMap) and value:
                    walk(value, here)
                else:
                    prov[here] = f"{name}:{line}" if line else name

    walk(doc, ())
    return Layer(to_plain(doc), prov)


def layer_from(doc: Any, name: str, path: Key = ()) -> Layer:
    """A layer from a round-trip (sub)document of a plain YAML file, e.g. tierstack.yaml overrides."""
    node = doc
    for part in path:
        node = node.get(part) if isinstance(node, CommentedMap) else None
    if not isinstance(node, CommentedMap):
        return Layer({}, {})
    return _to_layer(node, name)


def merge(base: Layer, over: Layer) -> Layer:
    """Deep-merge `over` onto `base`; lists replace unless the key ends in '+'."""
    data = _merge_data(base.data, over.data, (), over)
    prov: dict[Key, str] = {}
    for path in leaf_paths(data):
        appended = over.prov.get(_append_key(path))
        if appended and path in base.prov:
            prov[path] = f"{base.prov[path]} + {appended}"
        else:
            prov[path] = over.prov.get(path) or appended or base.prov.get(path, "")
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
                src = over_layer.prov.get((*path, key), "")
                raise UserError(
                    f"'{key}' appends a list, but the inherited '{target}' is not a list",
                    file=src.rsplit(":", 1)[0] or None, field=".".join((*path, key)),
                    hint=f"write '{target}:' to replace the value instead",
                )
            out[target] = inherited + value
        elif key in out:
            out[key] = _merge_data(out[key], value, (*path, key), over_layer)
        else:
            out[key] = value
    return out


def leaf_paths(data: Any, path: Key = ()) -> list[Key]:
    if isinstance(data, dict) and data:
        return [p for k, v in data.items() for p in leaf_paths(v, (*path, k))]
    return [path] if path else []
