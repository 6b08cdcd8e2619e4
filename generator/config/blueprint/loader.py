"""Loading a blueprint: render, parse and merge it and everything it extends, its regions checked."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from tierstack.generator.config.blueprint.document import _check_top, _line, _passed_on
from tierstack.generator.config.blueprint.layer import Key, Layer
from tierstack.generator.config.blueprint.locator import BlueprintRef, Located, locate
from tierstack.generator.config.blueprint.model import Blueprint, Link
from tierstack.generator.config.blueprint.rendered import _rendered
from tierstack.generator.config.blueprint.shared import _merged_chain, _Rendered
from tierstack.generator.config.gitsource import GitSource
from tierstack.generator.config.lockfile import Pins, pins_for
from tierstack.generator.config.provenance import Source, join_hints
from tierstack.generator.core.errors import UserError, did_you_mean
from tierstack.generator.core.pydantic_errors import validator_message
from tierstack.generator.core.yamlio import line_of, load_file, to_plain


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
    reads its tierstack.lock; generator/config/lockfile.py).
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
    from tierstack.generator.config.spec import check_region
    from tierstack.generator.plan import gcp_facts

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
