"""`tierstack fork`: an overlay blueprint that extends a pinned upstream and holds only the overrides.

    tierstack fork ../org-blueprints.git --ref v1.0.0 --path blueprints/org.yaml.j2 \\
        --name propensity-uk --region europe-west2 --set labels.data-residency=uk --set encryption.cmek=true

writes `propensity-uk.yaml.j2`:

    # tierstack-fork: propensity-uk (written by `tierstack fork`; ...)
    extends:
      git: ../org-blueprints.git
      ref: v1.0.0  # commit 4b0c1d2e3f40
      path: blueprints/org.yaml.j2
    tier: 1
    description: 'propensity-uk: a fork of ... for europe-west2'
    region: europe-west2  # new: the upstream sets no region (...)
    allowed_regions: [europe-west2]  # new: the upstream allows every region
    defaults:
      labels:
        data-residency: uk  # replaces "us" (blueprints/org.yaml.j2:12 @ v1.0.0)
      encryption:
        cmek: true  # replaces a value computed at tierstack:level-0-manual:14

`--region R` pins the fork to R: the configs that use it and write no region: are in R, and a config (or
an environment) in another region is an error (generator/plan/regions.py); `--set allowed_regions=[...]`
allows more, `=null` writes no list of the fork's own.

The upstream is a built-in blueprint, a local file or a git source; a git source without `--ref` is
pinned to its newest tag. Each `--set KEY=VALUE` is checked against the upstream's settings (an unknown
key is an error with a did-you-mean; KEY is under `defaults.` unless it starts with `defaults.` or
`roles.<role>.`; `KEY+=[...]` appends to a list) and the overlay is then resolved for a production use
case in `--region` before it is written, so a value of the wrong type gets the typed settings' message,
and a machine the region lacks the Google Cloud facts' one. The file is YAML that is also a template
(round-trip: comments are kept when `tierstack upstream --accept` moves the pin and brings each comment
up to date). It is never written over an existing file without --force, and --force replaces only a
file that has tierstack's header line.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from tierstack.generator.config import blueprint as bp
from tierstack.generator.config.gitsource import (
    SCP_PATTERN,
    GitFailed,
    GitSource,
    Mirror,
    check_path,
    check_ref,
    locate_url,
    newest_tag,
    unknown_ref_hint,
)
from tierstack.generator.config.lockfile import Pins, session
from tierstack.generator.config.provenance import Provenance, Source
from tierstack.generator.core.errors import ErrorList, UserError, did_you_mean
from tierstack.generator.core.yamlio import parse, to_plain

MARK = "# tierstack-fork:"
HEADER_LINES = 6  # the mark is looked for in this many first lines
_TEMPLATE = re.compile(r"\{[{%#]")
CHECK_NAME = "fork-check"


# --- the upstream ------------------------------------------------------------------------------------


def is_git(upstream: str) -> bool:
    """A repository URL (https://, ssh://, file://, user@host:path) or a local path ending in .git."""
    return (
        "://" in upstream
        or "::" in upstream
        or bool(SCP_PATTERN.match(upstream))
        or upstream.rstrip("/").endswith(".git")
    )


def upstream_ref(upstream: str, ref: str | None, path: str | None, out_dir: Path) -> bp.BlueprintRef:
    """The upstream as the overlay's `extends:` writes it, from `out_dir` (the overlay's folder).

    A git source without a ref is pinned to the newest tag; without a path, to the one blueprint file
    of that commit, if there is just one.
    """
    if ref is not None or path is not None or is_git(upstream) or _is_repository(Path(upstream)):
        return _git_upstream(upstream, ref, path, out_dir)
    if upstream in bp.builtin_names():
        return upstream
    local = Path(upstream)
    if not local.is_file():
        names = bp.builtin_names()
        close = did_you_mean(upstream, names)
        raise UserError(
            f"'{upstream}' is not a built-in blueprint, a blueprint file or a git repository",
            field="UPSTREAM",
            hint=(close + " " if close else "")
            + "built-in blueprints: "
            + ", ".join(names)
            + "; a git repository takes --ref REF --path PATH",
        )
    rel = Path(os.path.relpath(local.resolve(), out_dir.resolve())).as_posix()
    return rel if rel.startswith("../") else f"./{rel}"


def _is_repository(path: Path) -> bool:
    return path.is_dir() and ((path / ".git").exists() or (path / "HEAD").is_file())


def _git_upstream(upstream: str, ref: str | None, path: str | None, out_dir: Path) -> GitSource:
    url = upstream
    if not is_git(upstream) and not upstream.startswith(("/", "./", "../")):
        url = f"./{upstream}"  # a local repository given as a bare relative path
    try:
        location = locate_url(url, Path.cwd())
        if ref is not None:
            check_ref(ref)
        if path is not None:
            check_path(path)
    except ValueError as err:
        raise UserError(str(err), field="UPSTREAM" if ref is None and path is None else None) from None
    if location.local is not None and url.startswith(("./", "../")):
        rel = Path(os.path.relpath(location.local, out_dir.resolve())).as_posix()
        url = rel if rel.startswith("../") else f"./{rel}"
    if ref is None or path is None:
        mirror = Mirror(location)
        try:
            mirror.fetch()
        except GitFailed as err:
            if not mirror.exists:
                raise UserError(f"cannot fetch {location.shown}: {err.reason}", field="UPSTREAM") from None
        if ref is None:
            tag = newest_tag(mirror.tags())
            if tag is None:
                raise UserError(
                    f"{location.shown} has no tags to pin to", field="--ref", hint="give the ref: --ref BRANCH|COMMIT"
                )
            ref = tag.name
        found = mirror.resolve(ref)
        if found is None:
            raise UserError(
                f"'{ref}' is not a tag, branch or commit of {location.shown}",
                field="--ref",
                hint=unknown_ref_hint(ref, mirror),
            )
        if path is None:
            files = [f for f in mirror.files(found[0]) if f.endswith(".yaml.j2")] if found else []
            if len(files) != 1:
                raise UserError(
                    f"which blueprint of {location.shown}? "
                    + (f"{len(files)} files at {ref}" if files else f"no *.yaml.j2 at {ref}"),
                    field="--path",
                    hint="give --path PATH" + (": " + ", ".join(files[:10]) if files else ""),
                )
            path = files[0]
    return GitSource(git=url, ref=ref, path=path)


# --- a production use case to render and check the upstream with -------------------------------------


def check_spec(
    folder: Path,
    region: str,
    tier: int | None,
    blueprint: bp.BlueprintRef | None,
    variables: Mapping[str, Any] | None = None,
) -> Any:
    """A LoadedSpec for a production use case that selects what `tier` can (all answers on), in `region`,
    with dev, staging and prod, every guarantee waived (a fork is checked, not judged: the config that uses
    it needs the waivers), as if it were `folder`/tierstack.yaml."""
    from tierstack.generator.config.guarantees import GUARANTEE_IDS
    from tierstack.generator.config.spec import REQUIRED_HINTS, LoadedSpec, Spec
    from tierstack.generator.core.pydantic_errors import retell
    from tierstack.generator.core.yamlio import dump
    from tierstack.generator.facts.catalog import load_catalog

    data: dict[str, Any] = {
        "name": CHECK_NAME,
        "team": "platform",
        "region": region,
        "use_case": {
            "stage": "production",
            "mission_critical": True,
            "reusable": True,
            "retraining": "scheduled",
            "schedule": "0 4 * * *",
            "code_changes": "frequent",
            "serving": "online",
            "online_experimentation": True,
        },
        "tier": 2 if tier is None else tier,
        "allow_gaps": True,
        "capabilities": {"add": ["experimentation"]},  # production answers leave notebooks out; check them too
        "environments": {"dev": {}, "staging": {}, "prod": {}},
        "variables": {
            "ci_repository": "example/example",
            "ci_repository_id": 1,
            "ci_repository_owner_id": 2,
            "alert_email": "oncall@example.com",
            **(variables or {}),
        },
        "waivers": [
            {"guarantee": g, "reason": "a fork is checked here, not a use case", "environments": ["prod"]}
            for g in GUARANTEE_IDS
        ],
    }
    if blueprint is not None:
        data["blueprint"] = blueprint.model_dump() if isinstance(blueprint, GitSource) else blueprint
    path = folder / "tierstack.yaml"
    doc = parse(dump(data), path)
    try:
        spec = Spec.model_validate(to_plain(doc), context={"catalog": load_catalog()})
    except Exception as exc:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            raise retell(exc, path, doc, Spec, REQUIRED_HINTS) from None
        raise
    return LoadedSpec(spec=spec, path=path, doc=doc)


def load_upstream(
    ref: bp.BlueprintRef, folder: Path, region: str, pins: Pins, variables: Mapping[str, Any] | None = None
) -> bp.Blueprint:
    """The upstream on its own, rendered for the check use case in `region` (its own tier)."""
    from tierstack.generator.plan.resolve import template_variables
    from tierstack.generator.plan.selection import select

    tier: int | None = None
    for _ in range(2):  # the tier is the upstream's own: render once to learn it, again when it differs
        loaded = check_spec(folder, region, tier, None, variables)
        names = template_variables(loaded, select(loaded))
        loaded_bp = bp.load(ref, names, folder / "tierstack.yaml", "UPSTREAM", "UPSTREAM", pins=pins)
        if loaded_bp.tier is None or loaded_bp.tier == (2 if tier is None else tier):
            return loaded_bp
        tier = loaded_bp.tier
    return loaded_bp


# --- --set ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    key: tuple[str, ...]  # in the blueprint document: ("defaults", ...) or ("roles", ROLE, ...)
    value: Any
    given: str  # KEY=VALUE as typed

    @property
    def section(self) -> tuple[str, ...]:
        return self.key[:2] if self.key[0] == "roles" else self.key[:1]

    @property
    def path(self) -> tuple[str, ...]:
        """The setting, as an environment's settings name it (no defaults./roles.ROLE.)."""
        return self.key[len(self.section) :]


def parse_set(item: str) -> Override:
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"'{item}' is not KEY=VALUE", field="--set", hint="e.g. --set labels.data-residency=uk")
    if _TEMPLATE.search(text):
        raise UserError(
            f"'{item}': a value from --set is not a template",
            field="--set",
            hint="write template expressions in the file itself",
        )
    parts = tuple(key.split("."))
    if any(not part for part in parts):
        raise UserError(f"'{key}' is not a dotted key such as capabilities.model_serving.min_replicas", field="--set")
    if parts[0] == "roles":
        if len(parts) < 3 or parts[1] not in bp.ROLES:
            role = parts[1] if len(parts) > 1 else ""
            hint = did_you_mean(role, bp.ROLES) or "roles: " + ", ".join(bp.ROLES)
            raise UserError(f"'{key}': roles.ROLE.KEY, with ROLE one of the roles", field="--set", hint=hint)
    elif parts[0] != "defaults":
        parts = ("defaults", *parts)
    elif len(parts) < 2:
        raise UserError(f"'{key}': which setting of defaults?", field="--set")
    value = to_plain(parse(text, "--set")) if text.strip() else None
    return Override(parts, value, item)


def check_overrides(overrides: list[Override], upstream: bp.Blueprint, selected: Iterable[str]) -> None:
    """Every --set names a setting the upstream has (labels may be new); all problems at once."""
    errors: list[UserError] = []
    seen: dict[tuple[str, ...], str] = {}
    for override in overrides:
        if override.key in seen:
            errors.append(UserError(f"'{'.'.join(override.key)}' is set twice ({seen[override.key]})", field="--set"))
            continue
        seen[override.key] = override.given
        known = _known_settings(upstream, override, selected)
        node: Any = known
        walked: list[str] = []
        for index, part in enumerate(override.path):
            target = part.removesuffix(bp.APPEND) if index == len(override.path) - 1 else part
            open_map = isinstance(node, dict) and walked and walked[-1] == "labels"
            if not isinstance(node, dict) or (target not in node and not open_map):
                here = ".".join(walked) or "the top"
                siblings = sorted(node) if isinstance(node, dict) else []
                hint = did_you_mean(target, siblings) or (
                    f"settings under {here}: " + ", ".join(siblings) if siblings else f"{here} is not a mapping"
                )
                errors.append(
                    UserError(
                        f"the upstream has no setting '{'.'.join([*walked, target])}'",
                        field=f"--set {override.given}",
                        hint=hint,
                    )
                )
                break
            if target != part and not isinstance(node.get(target), list):
                errors.append(
                    UserError(
                        f"'{part}' appends to a list, and '{'.'.join([*walked, target])}' is not one",
                        field=f"--set {override.given}",
                        hint=f"write {'.'.join([*walked, target])}=VALUE to replace it",
                    )
                )
                break
            if target != part and not isinstance(override.value, list):
                errors.append(UserError(f"'{part}' appends a list: write [a, b]", field=f"--set {override.given}"))
                break
            node = node.get(target)
            walked.append(target)
        else:
            found = _replaces_mapping(override, node)
            if found is not None:
                errors.append(found)
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorList(errors)


def _replaces_mapping(override: Override, upstream_value: Any) -> UserError | None:
    """A --set that puts a single value or a list where the upstream has a mapping (labels, capabilities, a
    capability's settings): say so at the --set, before the overlay is resolved."""
    if not isinstance(upstream_value, dict) or override.value is None or isinstance(override.value, dict):
        return None
    key = ".".join(override.key[1:] if override.key[0] == "defaults" else override.key)
    example = next(iter(upstream_value), "KEY")
    return UserError(
        f"'{key}' is a mapping upstream, and this sets it to {json.dumps(override.value, default=str)[:40]}",
        field=f"--set {override.given}",
        hint=f"set one of its keys: --set {key}.{example}=VALUE, or a whole mapping: "
        f"--set '{key}={{{example}: VALUE}}'",
    )


def _known_settings(upstream: bp.Blueprint, override: Override, selected: Iterable[str]) -> dict[str, Any]:
    """The settings a --set may name: the upstream's for that role (every role for defaults), with the
    defaults of each capability it does not configure."""
    from tierstack.generator.plan.resolve import default_settings

    roles = [override.section[1]] if override.section[0] == "roles" else list(bp.ROLES)
    known: dict[str, Any] = {}
    for role in roles:
        known = bp.merge(bp.Layer(known), bp.Layer(upstream.environment_layer(role).data)).data
    capabilities = dict(known.get("capabilities") or {})
    for cap in selected:
        if cap not in capabilities and (values := default_settings(cap)) is not None:
            capabilities[cap] = values
    known["capabilities"] = capabilities
    return known


# --- the overlay ------------------------------------------------------------------------------------


# --- the fork's regions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForkRegions:
    """What the overlay writes at its top: `region:` (the default of its configs) and `allowed_regions:`
    (None: the key is not written, so the upstream's list, if any, holds)."""

    region: str | None = None
    allowed: tuple[str, ...] | None = None


REGION_KEYS = ("region", "allowed_regions")
_NEW_REGIONS = {
    "region": "new: the upstream sets no region (its configs default to us-central1)",
    "allowed_regions": "new: the upstream allows every region",
}


def region_sets(sets: Iterable[str]) -> tuple[list[str], tuple[str, ...] | None, bool]:
    """The --set items that are settings, and `--set allowed_regions=[...]` taken out of them: (the rest,
    the regions it lists, whether it was given). `allowed_regions=null` (or empty) writes no list of the
    fork's own: its configs may then be in any region the upstream allows. `--set region=` is refused:
    the fork's region is --region."""
    from tierstack.generator.config.spec import check_region
    from tierstack.generator.plan import gcp_facts

    rest: list[str] = []
    allowed: tuple[str, ...] | None = None
    given = False
    for item in sets:
        key, sep, text = item.partition("=")
        key = key.strip().removeprefix("defaults.")
        if not sep or key.removesuffix(bp.APPEND) not in REGION_KEYS:
            rest.append(item)
            continue
        if key.removesuffix(bp.APPEND) == "region":
            raise UserError(
                f"'{item}': the fork's region is given with --region",
                field="--set",
                hint=f"--region {text.strip() or 'REGION'}: it becomes the fork's region: and allowed_regions:",
            )
        if key.endswith(bp.APPEND) or given:
            raise UserError(
                f"'{item}': allowed_regions is set once, as the whole list",
                field="--set",
                hint="e.g. --set 'allowed_regions=[europe-west2, europe-west1]'",
            )
        value = to_plain(parse(text, "--set")) if text.strip() else None
        given = True
        if value is None:
            continue
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise UserError(
                f"'{item}': allowed_regions is a list of regions",
                field="--set",
                hint="e.g. --set 'allowed_regions=[europe-west2, europe-west1]'",
            )
        for region in value:
            try:
                check_region(region)
                gcp_facts.check_region(region)
            except ValueError as err:
                raise UserError(str(err), field=f"--set {item}") from None
            except gcp_facts.FactError as err:
                raise UserError(err.message, field=f"--set {item}", hint=err.hint) from None
        if len(set(value)) != len(value):
            raise UserError(f"'{item}': a region is listed twice", field="--set", hint="name each region once")
        allowed = tuple(value)
    return rest, allowed, given


def fork_regions(region: str | None, allowed: tuple[str, ...] | None, given: bool) -> ForkRegions:
    """--region R pins the fork to R: region: R and allowed_regions: [R], unless --set allowed_regions says
    otherwise (then R must be one of them; without --region, its first is the region)."""
    if not given:
        return ForkRegions(region, (region,) if region else None)
    if allowed is None:
        return ForkRegions(region, None)
    if region is not None and region not in allowed:
        raise UserError(
            f"--region {region} is not one of the regions --set allowed_regions lists ({', '.join(allowed)})",
            field="--set allowed_regions",
            hint=f"add {region} to the list, or give --region one of them",
        )
    return ForkRegions(region or allowed[0], allowed)


def region_warnings(regions: ForkRegions, upstream: bp.Blueprint, out_dir: Path) -> list[str]:
    """The upstream allows regions, and the fork's list lets its configs be elsewhere: said, since the
    fork's allowed_regions replaces the upstream's."""
    theirs = upstream.regions
    if regions.allowed is None or theirs.allowed is None or set(regions.allowed) <= set(theirs.allowed):
        return []
    outside = [r for r in regions.allowed if r not in theirs.allowed]
    place = (
        " (" + " + ".join(show_place(s, upstream, out_dir) for s in theirs.allowed_at.sources) + ")"
        if theirs.allowed_at
        else ""
    )
    return [
        f"the upstream allows only {', '.join(theirs.allowed)}{place}; this fork's allowed_regions replaces "
        f"that list and lets its configs be in {', '.join(outside)}"
    ]


def header(name: str, region: str | None, allowed: tuple[str, ...] | None = None) -> list[str]:
    from tierstack.generator.output.schema import DEFAULT_FILES, MODELINE

    lines = [
        f"{MODELINE}{DEFAULT_FILES['blueprint']}",  # for editors: fork writes the schema beside the overlay
        f"{MARK} {name} (written by `tierstack fork`; `fork --force` replaces only a file with this line)",
        "# Only the overrides are here: everything else, and every upstream fix, comes through `extends`.",
        "# `tierstack upstream` shows what a newer upstream release changes; `--accept REF` moves the pin.",
    ]
    if region and allowed == (region,):
        lines.append(f"# Pinned to {region}: configs that write no region: are in it, and may write no other.")
    elif region and allowed:
        lines.append(f"# For {region}: configs that write no region: are in it; they may write {', '.join(allowed)}.")
    elif region:
        lines.append(f"# For {region}: configs that write no region: are in it.")
    return lines


def build(
    name: str,
    upstream_written: bp.BlueprintRef,
    upstream: bp.Blueprint,
    overrides: list[Override],
    region: str | None,
    out_dir: Path,
    regions: ForkRegions | None = None,
) -> str:
    """The overlay's text: header, extends (pinned), tier, description, its regions (default: pinned to
    `region`), then the overrides, commented."""
    regions = regions if regions is not None else ForkRegions(region, (region,) if region else None)
    doc = CommentedMap()
    if isinstance(upstream_written, GitSource):
        extends = CommentedMap(upstream_written.model_dump())
        pin = upstream.links[0].pin
        if pin is not None:
            extends.yaml_add_eol_comment(f"commit {pin.commit[:12]}", "ref")
        doc["extends"] = extends
    else:
        doc["extends"] = upstream_written
    doc["tier"] = upstream.tier
    origin = upstream.links[0]
    what = (
        f"{origin.repo_path} of {origin.pin.location.written}"
        if origin.pin is not None and origin.repo_path
        else upstream.chain[0]
    )
    doc["description"] = f"{name}: a fork of {what}" + (f" for {regions.region}" if regions.region else "")
    if regions.region:
        doc["region"] = regions.region
    if regions.allowed:
        doc["allowed_regions"] = _yaml_value(list(regions.allowed))
    for override in overrides:
        node = doc
        for part in override.key[:-1]:
            if part not in node:
                node[part] = CommentedMap()
            node = node[part]
        node[override.key[-1]] = _yaml_value(override.value)
    annotate(doc, upstream, out_dir)
    text = dump_round_trip(doc)
    return "\n".join(header(name, regions.region, regions.allowed)) + "\n" + text


def _yaml_value(value: Any) -> Any:
    if isinstance(value, list):
        seq = CommentedSeq(_yaml_value(v) for v in value)
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, dict):
        mapping = CommentedMap((k, _yaml_value(v)) for k, v in value.items())
        mapping.fa.set_flow_style()
        return mapping
    return value


def annotate(doc: CommentedMap, upstream: bp.Blueprint, out_dir: Path) -> None:
    """Give every override in `defaults:` and `roles:` a comment: what it replaces in the upstream, and where
    that was set (an existing comment of ours is brought up to date; the user's own comments stay)."""
    texts = {link.name: link.text for link in upstream.links}
    for key in REGION_KEYS:  # the fork's regions: what they replace of the upstream's, like any override
        if key in doc:
            comment = _replaces((key,), upstream.layer, texts, upstream, out_dir)
            if comment.startswith("new:"):
                comment = _NEW_REGIONS[key]
            set_comment(doc, key, comment)
    for section_key in ("defaults", "roles"):
        section = doc.get(section_key)
        if not isinstance(section, CommentedMap):
            continue
        targets = (
            [(("defaults",), section)]
            if section_key == "defaults"
            else [(("roles", str(role)), node) for role, node in section.items() if isinstance(node, CommentedMap)]
        )
        for prefix, node in targets:
            role = prefix[1] if len(prefix) > 1 else None
            layer = upstream.environment_layer(role) if role else upstream.layer.sub("defaults")
            _annotate_map(node, (), layer, texts, upstream, out_dir)


def _annotate_map(
    node: CommentedMap,
    path: tuple[str, ...],
    layer: bp.Layer,
    texts: Mapping[str, str],
    upstream: bp.Blueprint,
    out_dir: Path,
) -> None:
    for key, value in node.items():
        here = (*path, str(key))
        if isinstance(value, CommentedMap) and not value.fa.flow_style():
            _annotate_map(value, here, layer, texts, upstream, out_dir)
            continue
        comment = _replaces(here, layer, texts, upstream, out_dir)
        set_comment(node, key, comment)


def _replaces(
    path: tuple[str, ...], layer: bp.Layer, texts: Mapping[str, str], upstream: bp.Blueprint, out_dir: Path
) -> str:
    target = (*path[:-1], path[-1].removesuffix(bp.APPEND))
    appends = target != path
    node: Any = layer.data
    for part in target:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            break
    prov = layer.prov.get(target) or _nearest(layer.prov, target)
    if node is None and prov is None:
        if len(target) >= 2 and target[0] == "capabilities":
            return "not set upstream (the capability's default)"
        return "new: the upstream does not set it"
    verb = "appends to" if appends else "replaces"
    if prov is None:
        return f"{verb} {_short(node)}"
    place = " + ".join(show_place(source, upstream, out_dir) for source in prov.sources)
    if _computed(prov.innermost, texts):
        return f"{verb} a value computed at {place}"
    return f"{verb} {_short(node)} ({place})"


def _nearest(prov: Mapping[tuple[str, ...], Provenance], path: tuple[str, ...]) -> Provenance | None:
    under = [k for k in prov if k[: len(path)] == path]
    return prov[min(under)] if under else None


def _computed(source: Source, texts: Mapping[str, str]) -> bool:
    name = source.shown_file
    if name is None or source.line is None or name not in texts:
        return False
    lines = texts[name].splitlines()
    return 0 < source.line <= len(lines) and bool(_TEMPLATE.search(lines[source.line - 1]))


def show_place(source: Source, upstream: bp.Blueprint, out_dir: Path) -> str:
    """A place as the fork's file names it: tierstack:NAME:LINE, PATH:LINE @ REF for git, a path from the fork."""
    if source.builtin is not None or source.rule is not None:
        return str(source)
    line = f":{source.line}" if source.line else ""
    for link in upstream.links:
        if link.name == source.file:
            if link.pin is not None:
                return f"{link.repo_path}{line} @ {link.pin.ref}"
            if link.path is not None:
                return Path(os.path.relpath(link.path, out_dir.resolve())).as_posix() + line
    return str(source)


def _short(value: Any, limit: int = 48) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return _TEMPLATE.sub(lambda m: m.group(0)[0] + " " + m.group(0)[1], text)


OUR_COMMENTS = ("# replaces", "# appends", "# new:", "# not set upstream", "# commit ")


def set_comment(node: CommentedMap, key: Any, text: str) -> None:
    """An end-of-line comment on `key`: ours replaced, a user's own left as it is."""
    text = _TEMPLATE.sub(lambda m: m.group(0)[0] + " " + m.group(0)[1], text.replace("\n", " "))
    existing = node.ca.items.get(key)
    old = ""
    if existing and len(existing) > 2 and existing[2] is not None:
        old = existing[2].value.strip()
    if old and not old.startswith(OUR_COMMENTS):
        return  # the user's own comment: leave it
    if key in node.ca.items:
        del node.ca.items[key]
    node.yaml_add_eol_comment(text, key)


def _round_trip() -> YAML:
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.preserve_quotes = True
    return yaml


_OUR_COMMENT = re.compile(r"(\S)[ \t]+(" + "|".join(re.escape(c) for c in OUR_COMMENTS) + ")")


def dump_round_trip(doc: Any) -> str:
    """The document as YAML; tierstack's own comments two spaces after their value."""
    buf = io.StringIO()
    _round_trip().dump(doc, buf)
    return "\n".join(_OUR_COMMENT.sub(r"\1  \2", line) for line in buf.getvalue().split("\n"))


def read_overlay(text: str, name: str) -> tuple[CommentedMap, str]:
    """An overlay tierstack wrote, round-trip (comments kept, the header among them), for another dump."""
    parse(text, name)  # the bounded reader first: limits and errors with lines
    doc = _round_trip().load(text)
    if not isinstance(doc, CommentedMap):
        raise UserError("a blueprint must be a mapping", file=name)
    return doc, ""


# --- the whole command -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    path: Path
    upstream: bp.Blueprint
    extends: bp.BlueprintRef
    warnings: tuple[str, ...]


HEAD_BYTES = 4096  # the header lines tierstack writes take a few hundred bytes


def is_ours(path: Path) -> bool:
    """Whether `tierstack fork` wrote the file: its mark in one of its first HEADER_LINES lines.

    Only the first HEAD_BYTES are read, through the bounded reader: what stands at the fork's path may be
    a FIFO (which would block an open() for ever) or a file of one huge line (which readline() would read
    whole); neither is ours.
    """
    from tierstack.generator.core.fsio import read_head

    try:
        head = read_head(path, "fork", HEAD_BYTES)
    except UserError:
        return False
    text = head.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")  # as open() reads
    first = text.split("\n")[:HEADER_LINES]
    return any(line.startswith(MARK) for line in first)


def fork(
    upstream: str,
    name: str,
    *,
    out: Path | None = None,
    ref: str | None = None,
    path: str | None = None,
    region: str | None = None,
    sets: Iterable[str] = (),
    variables: Mapping[str, Any] | None = None,
    force: bool = False,
) -> Written:
    """Write the overlay (see the module docstring); a UserError, and nothing written, when anything is wrong."""
    from tierstack.generator.config.spec import check_name, check_region
    from tierstack.generator.core.fsio import write_atomic
    from tierstack.generator.plan import gcp_facts

    try:
        check_name(name)
        if region is not None:
            check_region(region)
            gcp_facts.check_region(region)
    except ValueError as err:
        raise UserError(str(err), field="--region" if region and str(region) in str(err) else "--name") from None
    except gcp_facts.FactError as err:
        raise UserError(err.message, field="--region", hint=err.hint) from None
    sets, allowed, allowed_given = region_sets(sets)
    regions = fork_regions(region, allowed, allowed_given)
    target = out if out is not None else Path(f"{name}.yaml.j2")
    if target.exists() or target.is_symlink():
        if not force:
            raise UserError(
                "the file exists; fork never writes over a file without --force",
                file=str(target),
                hint="give another --out, or --force to replace a fork tierstack wrote",
            )
        if not target.is_file() or target.is_symlink() or not is_ours(target):
            raise UserError(
                f"the file exists and tierstack did not write it (no '{MARK}' line at its top): not even --force "
                "replaces it",
                file=str(target),
                hint="give another --out",
            )
    out_dir = Path(os.path.abspath(target.parent))
    if not out_dir.is_dir():
        raise UserError("no such folder", file=str(target.parent), field="--out")
    overrides = [parse_set(item) for item in sets]
    written_ref = upstream_ref(upstream, ref, path, out_dir)
    pins = Pins(None)
    with session(pins):
        the_region, loaded_upstream = _upstream_in_region(written_ref, out_dir, regions.region, pins, variables)
        spec = check_spec(out_dir, the_region, loaded_upstream.tier, None, variables)
        from tierstack.generator.plan.selection import select

        check_overrides(overrides, loaded_upstream, select(spec).ids)
        text = build(name, written_ref, loaded_upstream, overrides, regions.region, out_dir, regions)
        warnings = region_warnings(regions, loaded_upstream, out_dir)
        warnings += _check_overlay(text, target, out_dir, the_region, loaded_upstream.tier, variables, pins)
    write_atomic(target, text)
    return Written(target, loaded_upstream, written_ref, tuple(warnings))


def _upstream_in_region(
    ref: bp.BlueprintRef, out_dir: Path, region: str | None, pins: Pins, variables: Mapping[str, Any] | None
) -> tuple[str, bp.Blueprint]:
    """The region the fork is checked in (its own, else the upstream's default, else us-central1) and the
    upstream rendered for it."""
    first = region or "us-central1"
    upstream = load_upstream(ref, out_dir, first, pins, variables)
    default = upstream.regions.default
    if region is not None or default is None or default == first:
        return first, upstream
    return default, load_upstream(ref, out_dir, default, pins, variables)


def _check_overlay(
    text: str,
    target: Path,
    out_dir: Path,
    region: str,
    tier: int | None,
    variables: Mapping[str, Any] | None,
    pins: Pins,
) -> list[str]:
    """Resolve the overlay for the check use case before it is written; errors name the file to be written.

    Guarantees weakened by the overlay come back as warnings: the config that uses the fork needs waivers.
    """
    import tempfile

    from tierstack.generator.config import guarantees
    from tierstack.generator.plan.resolve import resolve

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".check", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        loaded = check_spec(out_dir, region, tier, f"./{Path(tmp).name}", variables)
        try:
            resolved = resolve(loaded)
        except UserError as err:
            raise _relabelled(err, Path(tmp).name, target) from None
        unwaived = replace(loaded, spec=loaded.spec.model_copy(update={"waivers": []}))
        try:
            guarantees.check(replace(resolved, loaded=unwaived))
        except UserError as err:
            errors = err.errors if isinstance(err, ErrorList) else [err]
            return [
                _relabelled(e, Path(tmp).name, target).render().replace("\n", " ")
                + " (a config using it needs a waiver)"
                for e in errors
            ]
        return []
    finally:
        Path(tmp).unlink(missing_ok=True)


def _relabelled(err: UserError, temporary: str, target: Path) -> UserError:
    if isinstance(err, ErrorList):
        return ErrorList([_relabelled(e, temporary, target) for e in err.errors])

    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        return re.sub(r"[^\s'\"]*" + re.escape(temporary), bp.display_path(target), text)

    return replace(
        err, message=fix(err.message) or err.message, file=fix(str(err.file)) if err.file else None, hint=fix(err.hint)
    )
