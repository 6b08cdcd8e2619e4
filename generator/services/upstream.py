"""`tierstack upstream`: what a newer upstream release would do to this fork, and `--accept` to take it.

A fork (a config whose blueprint chain reaches a blueprint in git) is pinned, by tierstack.lock, to a
commit of its upstream. `upstream` compares the pinned ref with the newest tag (or `--to REF`):

- **upstream changes**: the upstream's own settings at the two refs, rendered with this config's
  variables, per environment role. A change to a setting this fork sets itself (in its overlay or in
  tierstack.yaml) does not reach it: a **conflict**, marked `!`, with where the fork sets it;
- **effect on the plan**: this config resolved at both refs, every setting that changes, with where the
  old and the new value were set (typed provenance);
- **effect on the resources**: both plans synthesized and compared with `tierstack diff`'s comparison
  (generator/analysis/diff.py): resources added, removed, changed, renamed, and data at risk.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierstack.generator.config import blueprint as bp
from tierstack.generator.config.gitsource import GitFailed, GitSource, newest_tag
from tierstack.generator.config.lockfile import LOCK_NAME, Key, Pinned, Pins, session
from tierstack.generator.config.provenance import Provenance, Source
from tierstack.generator.core import yamlio
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.paths import display_path


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


@dataclass(frozen=True)
class Release:
    """The ref an upstream is compared with, and what was learnt fetching it: found once per upstream file,
    shared by every fleet member pinned to it."""

    to: str
    newer_tags: tuple[str, ...]
    notes: tuple[str, ...]


def release_of(pin: Pinned, to: str | None) -> Release:
    """Fetch the upstream (a note when it cannot be reached: the cached tags are used) and pick the ref:
    `to`, else its newest tag."""
    notes: list[str] = []
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
    return Release(to, tuple(_newer(tags, pin)), tuple(notes))


@contextlib.contextmanager
def at_release(release: Release, pin: Pinned) -> Iterator[None]:
    """A resolution at the new ref: its error says which ref it is about."""
    try:
        yield
    except UserError as err:
        err.message = f"at {release.to} of {pin.location.shown}, this fork does not resolve: {err.message}"
        raise


def compare(config: Path, to: str | None = None, *, resources: bool = True) -> Comparison:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

    with session(Pins(config.parent)):
        old = resolve(load_spec(config))
    index, pin = nearest_upstream(old)
    release = release_of(pin, to)
    new_pins = Pins(config.parent, refs={pin.key: release.to})
    with session(new_pins), at_release(release, pin):
        new = resolve(load_spec(config))
    comparison = comparing(config, (old, new), index, pin, new_pins.pinned[pin.key], release)
    if resources:
        add_resources(comparison, old, new)
    return comparison


def comparing(
    config: Path, plans: tuple[Any, Any], index: int, pin: Pinned, target: Pinned, release: Release
) -> Comparison:
    """The comparison of the plan at the pinned ref with the plan at the release (resources not yet)."""
    old, new = plans
    comparison = Comparison(
        config,
        pin,
        target,
        _upstream_changes(old, new, index, pin, target),
        _setting_changes(old, new),
        None,
        [*old.blueprint.notes, *release.notes],
        list(release.newer_tags),
    )
    conflicts = {(c.path, env) for c in comparison.conflicts for env in c.environments}
    comparison.settings = [
        SettingChange(s.key, s.before, s.after, s.before_at, s.after_at, _env_path(s.key) in conflicts)
        for s in comparison.settings
    ]
    return comparison


def changed_environments(c: Comparison) -> list[str]:
    """The environments some of whose resolved values differ at the two refs (one on a side only included)."""
    return list(dict.fromkeys(_env_path(s.key)[1] for s in c.settings))


def add_resources(c: Comparison, old: Any, new: Any) -> None:
    """Both plans synthesized and compared: `c.resources` (left None when the pin is the release)."""
    if not c.up_to_date:
        c.resources = resource_changes(old, new, c.pin.ref, c.target.ref, changed_environments(c))


def _env_path(key: str) -> tuple[str, str]:
    _, env, path = key.split(".", 2)
    return path, env


def _newer(tags: list[Any], pin: Pinned) -> list[str]:
    from tierstack.generator.config.gitsource import version_key

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
    from tierstack.generator.plan.resolve import template_variables

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
    from tierstack.generator.plan.regions import writes_region

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


def resource_changes(old: Any, new: Any, from_ref: str, to_ref: str, changed: list[str]) -> Any:
    """The two plans' stacks compared as `tierstack diff` compares two syntheses (a diff.Report).

    Only the `changed` environments are synthesized. An environment whose resolved values are the same at
    both refs has the same stack: build_stack (generator/synth/stacks.py) reads the config and that environment's
    values (its name, stack, role, project, region and settings: all in `Resolved.leaves`) and nothing
    else, so its stack is `unchanged` without being built twice; a member the release does not change is
    not synthesized at all. tests/test_upstream_fleet.py holds the report equal to a full synthesis's."""
    from tierstack.generator.analysis import diff as diffing

    same = {env.stack: diffing.Stack(env.stack, {}) for env in old.environments.values() if env.name not in changed}
    with _temporary() as tmp:
        before = _synthesized(old, tmp / "before", changed, from_ref)
        after = _synthesized(new, tmp / "after", changed, to_ref)
    return diffing.compare({**same, **before}, {**same, **after}, f"upstream {from_ref}", f"upstream {to_ref}")


def _synthesized(plan: Any, out: Path, environments: list[str], label: str) -> dict[str, Any]:
    """The stacks of `environments` (those the plan has), synthesized into `out` and read back."""
    from tierstack.generator.analysis import diff as diffing
    from tierstack.generator.synth.stacks import synthesize

    names = [env.name for env in plan.environments.values() if env.name in environments] if environments else []
    if not names:
        return {}
    synthesize(plan, out, names)
    return diffing.load_synthesis(out, label)


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
        from tierstack.generator.analysis import diff as diffing

        lines += ["", "Effect on the generated resources:"]
        lines += [f"  {line}" for line in diffing.render_text(c.resources).splitlines()]
    if c.conflicts:
        lines += [
            "",
            f"{len(c.conflicts)} conflict{'s' if len(c.conflicts) != 1 else ''}: the fork keeps its own value",
        ]
    return "\n".join(lines) + "\n"


def to_data(c: Comparison) -> dict[str, Any]:
    from tierstack.generator.analysis import diff as diffing

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


# --- a fleet -----------------------------------------------------------------------------------------


@dataclass
class MemberComparison:
    """One fleet member's comparison, or why there is none: its error, or no upstream in git (its chain)."""

    member: str
    comparison: Comparison | None = None
    error: UserError | None = None
    chain: list[str] | None = None  # the blueprint chain of a member that uses no blueprint from git

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        if self.comparison is None:
            return "no upstream"
        if self.comparison.up_to_date:
            return "up to date"
        return "changes" if self.comparison.settings else "unchanged"

    @property
    def at_risk(self) -> tuple[Any, ...]:
        """The stateful resources the release would destroy or replace (diff's classification, as `upstream`)."""
        resources = self.comparison.resources if self.comparison is not None else None
        return tuple(resources.at_risk) if resources is not None else ()


@dataclass
class FleetComparison:
    path: Path
    name: str
    members: list[MemberComparison]
    total: int  # the fleet's members, the compared ones among them
    resources: bool  # whether the stacks were synthesized and compared

    def having(self, status: str) -> list[str]:
        return [m.member for m in self.members if m.status == status]

    @property
    def at_risk(self) -> list[str]:
        return [m.member for m in self.members if m.at_risk]


# what goes to a spawned worker: (member's index in the fleet, its upstream's key, the release, the changed
# environments, the pinned ref)
_Task = tuple[int, Key, Release, list[str], str]


def compare_fleet(
    path: Path,
    to: str | None = None,
    *,
    resources: bool = True,
    names: tuple[str, ...] = (),
    jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> FleetComparison:
    """`tierstack upstream FLEET`: each member (or those `names`) compared as `upstream` compares a config.

    Work is shared by upstream file, which a fleet pins at one ref for every member (one tierstack.lock):
    it is fetched and its release found once, and the members pinned to it resolve at the release in one
    pinning session (the file at that commit read once). Synthesis cannot be shared: every resource carries
    its member's name, project, region and labels. So a member synthesizes only the environments the release
    changes (resource_changes), none when it changes none, over `jobs` worker processes
    (generator/services/fleet_workers.py, as `generate FLEET --jobs`) when there are enough of them. `progress` is
    told as each member's synthesis is done (a long fleet is not silent).
    """
    fleet, chosen, catalog = _resolved_members(path, names)
    results, groups = _by_upstream(path, chosen)
    tasks: list[tuple[int, _Task]] = []
    plans: dict[int, Any] = {}  # a member's plan at its release, by its index in `chosen`
    for indices in groups.values():
        tasks += _compare_group(path, [chosen[i] for i in indices], indices, (results, plans), to, catalog)
    if resources:
        _fleet_resources(fleet, chosen, (results, plans), tasks, (jobs, progress or (lambda text: None)))
    return FleetComparison(path, fleet.name, results, len(fleet.members), resources)


def _resolved_members(path: Path, names: tuple[str, ...]) -> tuple[Any, list[Any], Any]:
    """The fleet (its own problems raised, at their lines) and its chosen members, each resolved at its pins or
    holding its error, in one pinning session over the fleet's lock; and the catalog."""
    from tierstack.generator.facts.catalog import load_catalog
    from tierstack.generator.services import fleet as fleets

    with session(Pins(path.parent)):
        fleet = fleets.load_fleet(path, members=())
        wanted = {id(fleets.member(fleet, name)) for name in names}
        chosen = [m for m in fleet.members if not names or id(m) in wanted]
        catalog = load_catalog()
        for member in chosen:
            if member.error is None:
                fleets._load_member(member, path, catalog)
    return fleet, chosen, catalog


def _by_upstream(path: Path, chosen: list[Any]) -> tuple[list[MemberComparison], dict[Key, list[int]]]:
    """A result for each member, with its error or its chain when it has no upstream in git; the others'
    indices, by the upstream file each is pinned to."""
    from tierstack.generator.services import fleet as fleets

    results = [MemberComparison(fleets.shown_name(m)) for m in chosen]
    groups: dict[Key, list[int]] = {}
    for i, member in enumerate(chosen):
        plan = member.resolved
        if member.error is not None or plan is None:
            results[i].error = member.error or UserError("not resolved", file=path, field=member.label)
        elif not any(link.pin is not None for link in plan.blueprint.links):
            results[i].chain = list(plan.blueprint.chain)
        else:
            groups.setdefault(nearest_upstream(plan)[1].key, []).append(i)
    return results, groups


def _compare_group(
    path: Path,
    members: list[Any],
    indices: list[int],
    out: tuple[list[MemberComparison], dict[int, Any]],
    to: str | None,
    catalog: Any,
) -> list[tuple[int, _Task]]:
    """The members pinned to one upstream file, each resolved at its release in one pinning session and
    compared; the synthesis each still needs, as (result index, task)."""
    from tierstack.generator.plan.resolve import resolve
    from tierstack.generator.services import fleet as fleets

    results, plans = out
    _, first = nearest_upstream(members[0].resolved)
    try:
        release = release_of(first, to)
    except UserError as err:
        for i in indices:
            results[i].error = err
        return []
    new_pins = Pins(path.parent, refs={first.key: release.to})
    tasks: list[tuple[int, _Task]] = []
    for i, member in zip(indices, members, strict=True):
        old = member.resolved
        index, pin = nearest_upstream(old)
        try:
            with session(new_pins), at_release(release, pin):
                new = resolve(member.loaded, catalog)
        except UserError as err:
            results[i].error = fleets.in_fleet(err, member, path)
            continue
        comparison = comparing(path, (old, new), index, pin, new_pins.pinned[pin.key], release)
        results[i].comparison = comparison
        plans[i] = new  # for a synthesis in this process; a worker resolves it again
        if not comparison.up_to_date:
            tasks.append((i, (member.index, pin.key, release, changed_environments(comparison), pin.ref)))
    return tasks


def _fleet_resources(
    fleet: Any,
    chosen: list[Any],
    out: tuple[list[MemberComparison], dict[int, Any]],
    tasks: list[tuple[int, _Task]],
    run: tuple[int | None, Callable[[str], None]],
) -> None:
    """Each member's effect on its resources, in this process or over `run`'s jobs worker processes, its
    progress told; a member whose synthesis fails gets that error."""
    from tierstack.generator.services import fleet as fleets
    from tierstack.generator.services import fleet_workers

    results, plans = out
    jobs, progress = run
    needed = []
    for i, task in tasks:
        comparison = results[i].comparison
        assert comparison is not None, "a task is made for a comparison"
        if task[3]:
            needed.append((i, task))
        else:  # the release changes none of its environments: every stack unchanged, nothing synthesized
            comparison.resources = resource_changes(chosen[i].resolved, None, task[4], task[2].to, [])
    workers = fleet_workers.synthesis_jobs(len(needed), jobs)
    if workers > 1:
        done: Iterator[tuple[Any, UserError | None]] = _over_workers(fleet.path, [task for _, task in needed], workers)
    else:
        done = (_synthesis_here(chosen[i].resolved, plans[i], task) for i, task in needed)
    for count, ((i, task), (report, error)) in enumerate(zip(needed, done, strict=True), start=1):
        progress(f"[{count}/{len(needed)}] {results[i].member}: {', '.join(task[3])} synthesized at both refs")
        comparison = results[i].comparison
        assert comparison is not None
        if error is not None:
            results[i].error = fleets.in_fleet(error, chosen[i], fleet.path)
        else:
            comparison.resources = report


def _synthesis_here(old: Any, new: Any, task: _Task) -> tuple[Any, UserError | None]:
    """A member's resource changes (a diff.Report), or the UserError that stopped its synthesis."""
    _, _, release, changed, pinned = task
    try:
        return resource_changes(old, new, pinned, release.to, changed), None
    except UserError as err:
        return None, err


def _over_workers(path: Path, tasks: list[_Task], workers: int) -> Iterator[tuple[Any, UserError | None]]:
    """The tasks' results in order, from spawned workers: each its own interpreter and jsii runtime, as
    `generate FLEET --jobs` spawns them (fleet_workers: a dead worker is an error, exit 2)."""
    from tierstack.generator.services import fleet_workers

    with fleet_workers._pool(workers, "spawn", initializer=_start_worker, initargs=(path,)) as pool:
        yield from fleet_workers._unbroken(pool.map(_worker_task, tasks))


_WORKER: tuple[Any, Any] | None = None  # a spawned worker's fleet and catalog
_START_ERROR: Exception | None = None  # what stopped _start_worker, raised again by the first task
_WORKER_SESSION = contextlib.ExitStack()  # its read-only pinning session over the fleet's lock, for its life


def _start_worker(path: Path) -> None:
    from tierstack.generator.facts.catalog import load_catalog
    from tierstack.generator.services.fleet import load_fleet

    global _WORKER, _START_ERROR
    try:
        _WORKER_SESSION.enter_context(session(Pins(path.parent)))
        _WORKER = (load_fleet(path, members=()), load_catalog())
    except Exception as exc:  # the fleet file changed since the parent read it, say: the first task says why
        _START_ERROR = exc


def _worker_task(task: _Task) -> tuple[Any, UserError | None]:
    """In a spawned worker: the member resolved at both refs, as the parent did, and synthesized."""
    from tierstack.generator.plan.resolve import resolve
    from tierstack.generator.services.fleet import _load_member

    if _START_ERROR is not None:
        raise _START_ERROR
    assert _WORKER is not None, "set by _start_worker"
    fleet, catalog = _WORKER
    member = fleet.members[task[0]]
    _load_member(member, fleet.path, catalog)
    if member.error is not None:
        return None, member.error
    try:
        with session(Pins(fleet.path.parent, refs={task[1]: task[2].to})):
            new = resolve(member.loaded, catalog)
        return _synthesis_here(member.resolved, new, task)
    except UserError as err:
        return None, err
    finally:
        member.resolved = None  # a plan is tens of KB: let it go once its member is done


def fleet_summary(f: FleetComparison) -> str:
    """The last line: how many members the release changes, which it puts at risk, which use no upstream,
    which failed ("fleet propensity: 3 of 12 members change, 1 puts data at risk: propensity-uk")."""

    def named(names: list[str], one: str, many: str) -> str:
        return f"{len(names)} {one if len(names) == 1 else many}: {', '.join(names)}"

    changed = f.having("changes")
    compared = len(f.members)
    of = f"{compared} member{'s' if compared != 1 else ''}" + ("" if compared == f.total else f" (of {f.total})")
    text = f"fleet {f.name}: {len(changed)} of {of} change{'s' if len(changed) == 1 else ''}"
    if not f.resources:
        text += ", data at risk not checked (--no-resources)"
    elif f.at_risk:
        text += ", " + named(f.at_risk, "puts data at risk", "put data at risk")
    else:
        text += ", none puts data at risk"
    if f.having("no upstream"):
        text += "; " + named(f.having("no upstream"), "uses no upstream in git", "use no upstream in git")
    if f.having("error"):
        text += "; " + named(f.having("error"), "failed", "failed")
    return text


def _member_head(m: MemberComparison) -> str:
    if m.status == "error":
        return f"{m.member}: error"
    if m.status == "no upstream":
        return f"{m.member}: no upstream in git: its blueprint chain is " + " -> ".join(m.chain or [])
    c = m.comparison
    assert c is not None
    if c.up_to_date:
        same = c.pin.ref == c.target.ref
        return f"{m.member}: up to date " + (f"at {c.pin.ref}" if same else f"({c.pin.ref} is {c.target.ref}'s commit)")
    head = f"{m.member}: {m.status} ({c.pin.ref} -> {c.target.ref})"
    if m.at_risk:
        head += f"; DATA AT RISK: {len(m.at_risk)} stateful resource{'s' if len(m.at_risk) != 1 else ''}"
    return head


def render_fleet_text(f: FleetComparison) -> str:
    """Each member's comparison, as `upstream` shows a config's, under a line saying what it comes to; then
    the summary."""
    lines: list[str] = []
    for m in f.members:
        lines.append(_member_head(m))
        if m.error is not None:
            lines += [f"  {line}" for line in m.error.render().splitlines()]
        elif m.comparison is not None:
            lines += [f"  {line}" if line else "" for line in render_text(m.comparison).splitlines()]
        lines.append("")
    lines.append(fleet_summary(f))
    return "\n".join(lines) + "\n"


def fleet_data(f: FleetComparison) -> dict[str, Any]:
    """`upstream FLEET --format json|yaml`: per member its status, data at risk and comparison (as `upstream`
    gives a config's), and the summary."""
    from tierstack.generator.services.validate import flatten

    def member(m: MemberComparison) -> dict[str, Any]:
        return {
            "member": m.member,
            "status": m.status,
            "at_risk": [
                {"stack": r.stack, "address": r.address, "type": r.type, "reason": r.at_risk} for r in m.at_risk
            ],
            "blueprint_chain": m.chain,
            "comparison": to_data(m.comparison) if m.comparison is not None else None,
            "problems": [
                {
                    "file": None if e.file is None else str(e.file),
                    "line": e.line,
                    "field": e.field,
                    "message": e.message,
                    "hint": e.hint,
                }
                for e in (flatten(m.error) if m.error is not None else [])
            ],
        }

    return {
        "fleet": f.name,
        "config": display_path(f.path),
        "resources_compared": f.resources,
        "members": [member(m) for m in f.members],
        "summary": {
            "text": fleet_summary(f),
            "compared": len(f.members),
            "members": f.total,
            "changes": f.having("changes"),
            "at_risk": f.at_risk,
            "no_upstream": f.having("no upstream"),
            "errors": f.having("error"),
        },
    }


# --- accepting ----------------------------------------------------------------------------------------


def accept(c: Comparison) -> list[str]:
    """Move the pin to the compared ref: the `ref:` where the fork writes it, then tierstack.lock. The files
    written, as shown."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.core.fsio import write_atomic
    from tierstack.generator.plan.resolve import resolve

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
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

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

    from tierstack.generator.services import fork

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
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.core.fsio import write_atomic
    from tierstack.generator.plan.resolve import resolve, template_variables
    from tierstack.generator.services import fork

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
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

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
    from tierstack.generator.services import fork

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
