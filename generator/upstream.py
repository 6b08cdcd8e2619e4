"""`tierstack upstream`: what a newer upstream release would do to this fork, and `--accept` to take it.

A fork (a config whose blueprint chain reaches a blueprint in git) is pinned, by tierstack.lock, to a
commit of its upstream. `upstream` compares the pinned ref with the newest tag (or `--to REF`):

- **upstream changes**: the upstream's own settings at the two refs, rendered with this config's
  variables, per environment role. A change to a setting this fork sets itself (in its overlay or in
  tierstack.yaml) does not reach it: a **conflict**, marked `!`, with where the fork sets it;
- **effect on the plan**: this config resolved at both refs, every setting that changes, with where the
  old and the new value were set (typed provenance);
- **effect on the resources**: both plans synthesized and compared with `tierstack diff`'s comparison
  (generator/diff.py): resources added, removed, changed, renamed, and data at risk.

`--accept REF` shows the same, then moves the pin: the `ref:` where the fork writes it (a targeted
edit of tierstack.yaml, a round-trip of an overlay `tierstack fork` wrote, whose comments are brought up
to date) and tierstack.lock.

`lineage` is the other half of `tierstack blueprints`: the chain of local blueprints (a config's, or each
*.yaml.j2 of a folder) with what each extends and the pins.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierstack.generator import blueprint as bp
from tierstack.generator import yamlio
from tierstack.generator.blueprint import display_path
from tierstack.generator.errors import UserError
from tierstack.generator.gitsource import GitFailed, GitSource, newest_tag
from tierstack.generator.lockfile import LOCK_NAME, Pinned, Pins, session
from tierstack.generator.provenance import Provenance, Source


@dataclass(frozen=True)
class SettingChange:
    key: str  # environments.ENV.path
    before: Any
    after: Any
    before_at: Provenance | None
    after_at: Provenance | None
    conflict: bool = False  # an upstream change this fork's own value keeps out


@dataclass(frozen=True)
class UpstreamChange:
    path: str  # a setting, as an environment's settings name it
    before: Any
    after: Any
    at: Provenance | None  # where the new (or the removed) value is set upstream
    environments: tuple[str, ...]
    kept_by: Provenance | None = None  # the fork's own value, when it sets the setting itself: a conflict

    @property
    def conflict(self) -> bool:
        return self.kept_by is not None


@dataclass
class Comparison:
    config: Path
    pin: Pinned  # as pinned now
    target: Pinned  # at the ref compared with
    upstream_changes: list[UpstreamChange]
    settings: list[SettingChange]
    resources: Any | None  # diff.Report, when synthesized
    notes: list[str] = field(default_factory=list)
    newer_tags: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> list[UpstreamChange]:
        return [c for c in self.upstream_changes if c.conflict]

    @property
    def up_to_date(self) -> bool:
        return self.pin.commit == self.target.commit


MISSING = object()


# --- comparing --------------------------------------------------------------------------------------


def nearest_upstream(plan: Any) -> tuple[int, Pinned]:
    """The first blueprint from git in the plan's chain (the one the fork extends) and its index."""
    for index, link in enumerate(plan.blueprint.links):
        if link.pin is not None:
            return index, link.pin
    raise UserError(
        "this config's blueprint chain has no upstream in git: " + " -> ".join(plan.blueprint.chain),
        file=display_path(plan.loaded.path),
        field="blueprint",
        hint="a fork extends {git: URL, ref: REF, path: PATH} (`tierstack fork`, docs/forks.md)",
    )


def compare(config: Path, to: str | None = None, *, resources: bool = True) -> Comparison:
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    old_pins = Pins(config.parent)
    with session(old_pins):
        old = resolve(load_spec(config))
    index, pin = nearest_upstream(old)
    notes = list(old.blueprint.notes)
    try:
        pin.mirror.fetch()
    except GitFailed as err:
        notes.append(f"could not reach {pin.location.shown} ({err.reason}); comparing with the cached tags")
    tags = pin.mirror.tags()
    if to is None:
        newest = newest_tag(tags)
        if newest is None:
            raise UserError(f"{pin.location.shown} has no tags", hint="compare with a branch or commit: --to REF")
        to = newest.name
    new_pins = Pins(config.parent, refs={pin.key: to})
    try:
        with session(new_pins):
            new = resolve(load_spec(config))
    except UserError as err:
        err.message = f"at {to} of {pin.location.shown}, this fork does not resolve: {err.message}"
        raise
    target = new_pins.pinned[pin.key]
    comparison = Comparison(
        config,
        pin,
        target,
        _upstream_changes(old, new, index, pin, target),
        _setting_changes(old, new),
        None,
        notes,
        _newer(tags, pin),
    )
    conflicts = {(c.path, env) for c in comparison.conflicts for env in c.environments}
    comparison.settings = [
        SettingChange(s.key, s.before, s.after, s.before_at, s.after_at, _env_path(s.key) in conflicts)
        for s in comparison.settings
    ]
    if resources and not comparison.up_to_date:
        comparison.resources = _resource_changes(old, new, pin.ref, to)
    return comparison


def _env_path(key: str) -> tuple[str, str]:
    _, env, path = key.split(".", 2)
    return path, env


def _newer(tags: list[Any], pin: Pinned) -> list[str]:
    from tierstack.generator.gitsource import version_key

    now = version_key(pin.ref)
    return [t.name for t in sorted(tags, key=lambda t: version_key(t.name)) if version_key(t.name) > now and now[0]]


def _leaves(plan: Any) -> dict[str, tuple[Any, Provenance]]:
    return {key: (value, where) for key, value, where in plan.leaves()}


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _setting_changes(old: Any, new: Any) -> list[SettingChange]:
    before, after = _leaves(old), _leaves(new)
    out = []
    for key in list(before) + [k for k in after if k not in before]:
        b, a = before.get(key, (MISSING, None)), after.get(key, (MISSING, None))
        if not _same(b[0], a[0]) or (b[0] is MISSING) != (a[0] is MISSING):
            out.append(SettingChange(key, b[0], a[0], b[1], a[1]))
    return out


def _standalone(plan: Any, link_index: int, pin: Pinned, ref: str) -> bp.Blueprint:
    """The upstream on its own at `ref`, rendered with the plan's variables."""
    from tierstack.generator.resolve import template_variables

    links = plan.blueprint.links
    referrer = links[link_index - 1].path if link_index > 0 and links[link_index - 1].path else plan.loaded.path
    pins = Pins(plan.loaded.path.parent, refs={} if ref == pin.ref else {pin.key: ref})
    variables = template_variables(plan.loaded, plan.selection)
    return bp.load(pin.source, variables, referrer, "upstream", "extends", pins=pins)


def _upstream_changes(old: Any, new: Any, index: int, pin: Pinned, target: Pinned) -> list[UpstreamChange]:
    before = _standalone(old, index, pin, pin.ref)
    after = _standalone(new, index, pin, target.ref)
    upstream_files = {link.name for link in [*before.links, *after.links]}
    by_path: dict[tuple[str, str, str, str], list[str]] = {}
    found: dict[tuple[str, str, str, str], UpstreamChange] = {}
    selected = set(new.selection.ids)
    for env in new.environments.values():
        b, a = before.environment_layer(env.role), after.environment_layer(env.role)
        for path in sorted(set(bp.leaf_paths(b.data)) | set(bp.leaf_paths(a.data))):
            if path[0] == "capabilities" and len(path) > 1 and path[1] not in selected:
                continue
            was, now = _at(b.data, path), _at(a.data, path)
            if _same(was, now):
                continue
            mine = env.provenance.get(path)
            kept = mine if mine is not None and not _from(mine.innermost, upstream_files) else None
            key = (".".join(path), json.dumps(was, default=str), json.dumps(now, default=str), str(kept))
            by_path.setdefault(key, []).append(env.name)
            found[key] = UpstreamChange(".".join(path), was, now, a.prov.get(path) or b.prov.get(path), (), kept)
    changes = [
        UpstreamChange(c.path, c.before, c.after, c.at, tuple(by_path[key]), c.kept_by) for key, c in found.items()
    ]
    return _region_changes(before, after, new, upstream_files) + changes


REGION_CHANGES = {"region": "the default region", "allowed_regions": "the regions it allows"}


def _region_changes(
    before: bp.Blueprint, after: bp.Blueprint, new: Any, upstream_files: set[str]
) -> list[UpstreamChange]:
    """The upstream's `region:` and `allowed_regions:` at the two refs, each change a line of its own: where
    this fork's configs may be, and where those that write no region land. The fork keeps its own value
    (a conflict) when its overlay writes the key, or, for the region, when tierstack.yaml writes one."""
    from tierstack.generator.regions import writes_region

    out: list[UpstreamChange] = []
    spec = new.loaded.spec
    for key in REGION_CHANGES:
        was, now = before.layer.data.get(key, MISSING), after.layer.data.get(key, MISSING)
        if _same(was, now) and (was is MISSING) == (now is MISSING):
            continue
        mine = new.blueprint.layer.prov.get((key,))
        kept = mine if mine is not None and not _from(mine.innermost, upstream_files) else None
        environments = tuple(new.environments)
        if key == "region":
            if kept is None and writes_region(new.loaded):
                kept = Provenance.in_file(display_path(new.loaded.path), new.loaded.line("region"))
            own = {env for env, settings in (spec.environments or {}).items() if settings.region}
            environments = tuple(env for env in new.environments if env not in own) or environments
        at = after.layer.prov.get((key,)) or before.layer.prov.get((key,))
        out.append(UpstreamChange(key, was, now, at, environments, kept))
    return out


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return MISSING
        data = data[part]
    return data


def _from(source: Source, upstream_files: set[str]) -> bool:
    """Set by the upstream (its files, the built-ins below it) or tierstack itself, not by the fork."""
    return source.builtin is not None or source.rule is not None or source.file in upstream_files


@contextlib.contextmanager
def _temporary() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tierstack-upstream-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _resource_changes(old: Any, new: Any, from_ref: str, to_ref: str) -> Any:
    from tierstack.generator import diff as diffing
    from tierstack.generator.stacks import synthesize

    with _temporary() as tmp:
        synthesize(old, tmp / "before")
        synthesize(new, tmp / "after")
        return diffing.compare(
            diffing.load_synthesis(tmp / "before", from_ref),
            diffing.load_synthesis(tmp / "after", to_ref),
            f"upstream {from_ref}",
            f"upstream {to_ref}",
        )


# --- showing ------------------------------------------------------------------------------------------


def _value(value: Any) -> str:
    if value is MISSING:
        return "(not set)"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def render_text(c: Comparison) -> str:
    pin, target = c.pin, c.target
    lines = [
        f"upstream {pin.location.shown} {pin.source.path}",
        f"  pinned:   {pin.ref} (commit {pin.commit[:12]}{', tierstack.lock' if pin.locked else ''})",
        f"  compared: {target.ref} (commit {target.commit[:12]})"
        + (f"; newer tags: {', '.join(c.newer_tags)}" if c.newer_tags else ""),
    ]
    lines += [f"  note: {note}" for note in c.notes]
    if c.up_to_date:
        lines.append(f"up to date: {target.ref} is the pinned commit")
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"Upstream changes {pin.ref} -> {target.ref} (the upstream's own settings; ! = this fork overrides it):",
    ]
    if not c.upstream_changes:
        lines.append("  none to the settings this config uses")
    for change in c.upstream_changes:
        mark = "!" if change.conflict else " "
        where = f"  ({change.at})" if change.at else ""
        about = f" ({REGION_CHANGES[change.path]})" if change.path in REGION_CHANGES else ""
        lines.append(f"  {mark} {change.path}{about}: {_value(change.before)} -> {_value(change.after)}{where}")
        lines.append(f"      in {', '.join(change.environments)}")
        if change.kept_by is not None:
            lines.append(
                f"      CONFLICT: this fork sets it itself at {change.kept_by}: the upstream change does not reach it"
            )
    lines += ["", "Effect on this fork's resolved plan:"]
    if not c.settings:
        lines.append("  no setting changes")
    grouped: dict[tuple[str, ...], list[str]] = {}
    for s in c.settings:
        path, env = _env_path(s.key)
        line = (path, _value(s.before), _value(s.after), str(s.before_at or "-"), str(s.after_at or "-"))
        grouped.setdefault(line, []).append(env)
    for (path, before, after, was_at, now_at), envs in grouped.items():
        lines.append(f"    {path}: {before} -> {after}")
        lines.append(f"      in {', '.join(envs)}; set at {was_at}, now at {now_at}")
    if c.resources is not None:
        from tierstack.generator import diff as diffing

        lines += ["", "Effect on the generated resources:"]
        lines += [f"  {line}" for line in diffing.render_text(c.resources).splitlines()]
    if c.conflicts:
        lines += [
            "",
            f"{len(c.conflicts)} conflict{'s' if len(c.conflicts) != 1 else ''}: the fork keeps its own value",
        ]
    return "\n".join(lines) + "\n"


def to_data(c: Comparison) -> dict[str, Any]:
    from tierstack.generator import diff as diffing

    def value(v: Any) -> Any:
        return None if v is MISSING else v

    def place(p: Provenance | None) -> Any:
        return p.to_data() if p is not None else None

    return {
        "upstream": {"url": c.pin.lock_url, "path": c.pin.source.path},
        "pinned": {"ref": c.pin.ref, "commit": c.pin.commit, "locked": c.pin.locked},
        "compared": {"ref": c.target.ref, "commit": c.target.commit},
        "newer_tags": c.newer_tags,
        "up_to_date": c.up_to_date,
        "notes": c.notes,
        "upstream_changes": [
            {
                "setting": u.path,
                "before": value(u.before),
                "after": value(u.after),
                "set_at": place(u.at),
                "environments": list(u.environments),
                "conflict": u.conflict,
                "kept_by": place(u.kept_by),
            }
            for u in c.upstream_changes
        ],
        "settings": [
            {
                "key": s.key,
                "before": value(s.before),
                "after": value(s.after),
                "before_set_at": place(s.before_at),
                "after_set_at": place(s.after_at),
                "conflict": s.conflict,
            }
            for s in c.settings
        ],
        "resources": diffing.to_data(c.resources) if c.resources is not None else None,
    }


# --- accepting ----------------------------------------------------------------------------------------


def accept(c: Comparison) -> list[str]:
    """Move the pin to the compared ref: the `ref:` where the fork writes it, then tierstack.lock. The files
    written, as shown."""
    from tierstack.generator.fsio import write_atomic
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    loaded = load_spec(c.config)
    written: list[str] = []
    plan_links = _links_of(c.config)
    index = next(i for i, link in enumerate(plan_links) if link.pin is not None and link.pin.key == c.pin.key)
    new_ref = c.target.ref
    if index == 0:
        path = c.config
        text = _edit_config_ref(loaded, c.pin.source.ref, new_ref)
    else:
        referrer = plan_links[index - 1]
        if referrer.path is None:
            raise UserError(
                f"{c.pin.location.shown} is pinned by {referrer.name}, a blueprint that is not a file of yours",
                hint="the pin moves where it is written: ask its owners",
            )
        path = referrer.path
        text = _edit_overlay_ref(path, c.pin.source.ref, new_ref, c.target)
    write_atomic(path, text)
    written.append(display_path(path))
    pins = Pins(c.config.parent, refs={c.pin.key: new_ref})
    with session(pins):
        resolve(load_spec(c.config))
    if pins.write_lock():
        written.append(display_path(c.config.parent / LOCK_NAME))
    if index > 0:
        _reannotate(plan_links[index - 1].path, c.config)
    return written


def _links_of(config: Path) -> list[bp.Link]:
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    with session(Pins(config.parent)):
        return list(resolve(load_spec(config)).blueprint.links)


_REF_LINE = r"(\bref:\s*)(['\"]?){old}\2(?=\s*(?:[,}}#]|$))"


def _replace_ref(line: str, old: str, new: str) -> str | None:
    pattern = re.compile(_REF_LINE.format(old=re.escape(old)))
    if len(pattern.findall(line)) != 1:
        return None
    return pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{new}{m.group(2)}", line)


def _edit_config_ref(loaded: Any, old: str, new: str) -> str:
    """tierstack.yaml with `blueprint.ref` moved: only that line changes."""
    text = yamlio.read_text(loaded.path, "config")  # bounded, as when it was loaded
    line = loaded.line("blueprint", "ref")
    lines = text.split("\n")
    edited = _replace_ref(lines[line - 1], old, new) if line else None
    if edited is None:
        raise UserError(
            f"cannot find 'ref: {old}' to move",
            file=display_path(loaded.path),
            field="blueprint.ref",
            hint="edit it by hand",
        )
    lines[line - 1] = edited
    return "\n".join(lines)


def _edit_overlay_ref(path: Path, old: str, new: str, target: Pinned) -> str:
    """The overlay with `extends.ref` moved: a fork tierstack wrote is read and written round-trip (its
    comments kept; the commit comment brought up to date); any other file gets a one-line edit."""
    from ruamel.yaml.comments import CommentedMap

    from tierstack.generator import fork

    text = yamlio.read_text(path, "blueprint")  # bounded, as when it was loaded
    if fork.is_ours(path) and not re.search(r"\{[{%]", text):
        doc, head = fork.read_overlay(text, display_path(path))
        extends = doc.get("extends")
        if isinstance(extends, CommentedMap) and extends.get("ref") == old:
            extends["ref"] = new
            fork.set_comment(extends, "ref", f"commit {target.commit[:12]}")
            return head + fork.dump_round_trip(doc)
    lines = text.split("\n")
    hits = [i for i, line in enumerate(lines) if _replace_ref(line, old, new) is not None]
    if len(hits) != 1:
        raise UserError(f"cannot find one 'ref: {old}' to move", file=display_path(path), hint="edit it by hand")
    lines[hits[0]] = _replace_ref(lines[hits[0]], old, new) or lines[hits[0]]
    return "\n".join(lines)


def _reannotate(overlay: Path | None, config: Path) -> None:
    """After the pin moved: each override's comment says what it replaces in the new upstream."""
    from tierstack.generator import fork
    from tierstack.generator.fsio import write_atomic
    from tierstack.generator.resolve import resolve, template_variables
    from tierstack.generator.spec import load_spec

    if overlay is None or not fork.is_ours(overlay):
        return
    text = yamlio.read_text(overlay, "blueprint")
    if re.search(r"\{[{%]", text):
        return
    with session(Pins(config.parent)):
        plan = resolve(load_spec(config))
        doc, head = fork.read_overlay(text, display_path(overlay))
        parent = doc.get("extends")
        if not isinstance(parent, dict):
            return
        source = GitSource.model_validate(dict(parent))
        variables = template_variables(plan.loaded, plan.selection)
        upstream = bp.load(source, variables, overlay, display_path(overlay), "extends")
    fork.annotate(doc, upstream, overlay.parent.resolve())
    updated = head + fork.dump_round_trip(doc)
    if updated != text:
        write_atomic(overlay, updated)


# --- lineage (tierstack blueprints) -------------------------------------------------------------------


def link_data(link: bp.Link) -> dict[str, Any]:
    data: dict[str, Any] = {"name": link.name, "kind": link.kind, "tier": link.tier, "description": link.description}
    if link.pin is not None:
        data["git"] = {
            "url": link.pin.lock_url,
            "ref": link.pin.ref,
            "commit": link.pin.commit,
            "path": link.repo_path,
            "kind": link.pin.kind,
            "locked": link.pin.locked,
        }
    return data


def lineage_of_config(config: Path) -> dict[str, Any]:
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    with session(Pins(config.parent)):
        plan = resolve(load_spec(config))
    links = plan.blueprint.links
    return {
        "config": display_path(config),
        "name": links[0].name,
        "chain": [link_data(link) for link in links],
        "notes": list(plan.blueprint.notes),
    }


def lineage_of_folder(folder: Path) -> list[dict[str, Any]]:
    """Each *.yaml.j2 in the folder, rendered for the fork check's use case; a file that fails says why."""
    from tierstack.generator import fork

    out: list[dict[str, Any]] = []
    pins = Pins(folder)
    for path in sorted(folder.glob("*.yaml.j2")):
        entry: dict[str, Any] = {"name": display_path(path)}
        try:
            loaded = fork.load_upstream(f"./{path.name}", folder, "us-central1", pins)
            entry |= {"chain": [link_data(link) for link in loaded.links], "notes": list(loaded.notes)}
        except UserError as err:
            entry |= {"chain": [], "error": err.render()}
        out.append(entry)
    return out


def lineage_text(entries: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for entry in entries:
        config = entry.get("config")
        if "error" in entry:
            lines += [entry["name"], f"  cannot read it: {entry['error'].splitlines()[0]}"]
            continue
        for depth, link in enumerate(entry["chain"]):
            pin = link.get("git")
            about = f"tier {link['tier']}, " if link["tier"] is not None else ""
            about += link["kind"]
            if pin:
                about += f": {pin['kind']} {pin['ref']} at commit {pin['commit'][:12]}"
                about += ", locked in tierstack.lock" if pin["locked"] else ""
            if depth == 0:
                lines.append(f"{link['name']}  {about}" + (f"  (the blueprint of {config})" if config else ""))
                if link["description"]:
                    lines.append(f"  {link['description']}")
            else:
                lines.append(f"{'  ' * depth}extends {link['name']}  {about}")
        lines += [f"  note: {note}" for note in entry.get("notes", [])]
    return lines
