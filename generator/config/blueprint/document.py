"""A rendered blueprint's YAML document: its top-level keys checked, read into a layer with provenance.

A blueprint document has these top-level keys:

    extends:     another blueprint: a built-in name, a path relative to this file, or a blueprint in a git
                 repository pinned to a ref, {git: URL, ref: v1.4.0, path: blueprints/org.yaml.j2}
                 (generator/config/gitsource.py fetches it; generator/config/lockfile.py records its commit)
    tier:        the maturity tier it implements
    description: one line for humans
    region:      the region of a config that writes none (default: the first of allowed_regions)
    allowed_regions: the only regions a config (and each of its environments) may be in; a regional
                 fork pins its region with the two (`tierstack fork --region`)
    defaults:    settings for every environment (capabilities, labels, budget, ...)
    roles:       deep overrides per environment role: development, staging, production

Every leaf keeps the file and the line of the *template source* that set it. A
line that only passes on a value the user wrote (`schedule: {{ schedule | tojson }}`)
is not where the value was set: the value is attributed to the user's line.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap

from tierstack.generator.config import rendercache
from tierstack.generator.config.blueprint.layer import Key, Layer
from tierstack.generator.config.blueprint.template import References
from tierstack.generator.config.choices import Role, choices
from tierstack.generator.config.provenance import Provenance, Source
from tierstack.generator.core.errors import UserError, did_you_mean
from tierstack.generator.core.yamlio import key_line, parse, to_plain

TOP_KEYS = ("extends", "tier", "description", "region", "allowed_regions", "defaults", "roles")
ROLES = choices(Role)


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


def layer_from(doc: Any, file: str, path: Key = ()) -> Layer:
    """A layer from a round-trip (sub)document of a plain YAML file, e.g. tierstack.yaml overrides."""
    node = doc
    for part in path:
        node = node.get(part) if isinstance(node, CommentedMap) else None
    if not isinstance(node, CommentedMap):
        return Layer({}, {})
    return _to_layer(node, Source.in_file(file))
