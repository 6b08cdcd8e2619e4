"""A blueprint's regions: the default of a config that writes no `region:`, and the only ones allowed.

A regional fork (`tierstack fork --region europe-west2`) writes both at its top:

    region: europe-west2
    allowed_regions: [europe-west2]

so a config that uses it and says nothing lands in London, not in tierstack's us-central1 with a
`data-residency: uk` label, and a config (or one of its environments) that says another region is an
error at its own line, naming the blueprint line that allows the regions. The blueprint's values are
checked where they are written (generator/config/blueprint/loader.py, `_check_regions`); resolve() calls these two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from tierstack.generator.config import blueprint as bp
from tierstack.generator.config.spec import AcceleratorChoice, LoadedSpec
from tierstack.generator.core.errors import ErrorList, UserError

Selected = TypeVar("Selected")  # what resolve's loader gives beside the blueprint: the selection


def writes_region(loaded: LoadedSpec) -> bool:
    """Whether tierstack.yaml (or a fleet member's merged config) writes a top-level `region:` itself."""
    return isinstance(loaded.doc, dict) and "region" in loaded.doc


def in_default_region(loaded: LoadedSpec, blueprint: bp.Blueprint) -> LoadedSpec:
    """The config in the blueprint's default region when it writes no region of its own and the blueprint
    has one that differs; otherwise the config itself (the same object)."""
    default = blueprint.regions.default
    if default is None or writes_region(loaded) or loaded.spec.region == default:
        return loaded
    return replace(loaded, spec=loaded.spec.model_copy(update={"region": default}))


def in_blueprint_region(
    loaded: LoadedSpec, load: Callable[[LoadedSpec], tuple[Selected, bp.Blueprint]]
) -> tuple[LoadedSpec, Selected, bp.Blueprint]:
    """The config, moved to its blueprint's default region when it writes none, with `load`'s selection and
    blueprint for it. The blueprint is rendered for tierstack's default region first (to read its `region:`),
    and again only when that moves the config.

    A config that fails in tierstack's default region may be fine in the blueprint's (a TPU offered in
    europe-west4, not in us-central1): then the blueprint is read once more without the accelerator, only
    to learn its region, and the config is loaded there; when that says nothing new, the first error stands.
    """
    if writes_region(loaded):
        return (loaded, *load(loaded))
    try:
        selection, blueprint = load(loaded)
    except UserError as first:
        if loaded.spec.use_case.accelerator.kind == "none":
            raise
        use_case = loaded.spec.use_case.model_copy(update={"accelerator": AcceleratorChoice()})
        try:
            _, blueprint = load(replace(loaded, spec=loaded.spec.model_copy(update={"use_case": use_case})))
        except UserError:
            raise first from None
        moved = in_default_region(loaded, blueprint)
        if moved is loaded:
            raise first
        return (moved, *load(moved))
    moved = in_default_region(loaded, blueprint)
    return (loaded, selection, blueprint) if moved is loaded else (moved, *load(moved))


def check_allowed(loaded: LoadedSpec, blueprint: bp.Blueprint) -> None:
    """Every region the config writes (top level and per environment) is one the blueprint allows; all
    problems at once, each at the config's line, naming the blueprint's line and the fix."""
    regions = blueprint.regions
    if regions.allowed is None:
        return
    written: list[tuple[str, str]] = []
    if writes_region(loaded):
        written.append(("region", loaded.spec.region))
    for env, settings in (loaded.spec.environments or {}).items():
        if settings.region:
            written.append((f"environments.{env}.region", settings.region))
    errors = [_outside(loaded, field, region, regions) for field, region in written if not regions.allows(region)]
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorList(errors)


def _outside(loaded: LoadedSpec, field: str, region: str, regions: bp.Regions) -> UserError:
    allowed = ", ".join(regions.allowed or ())
    at = regions.allowed_at
    place = str(at) if at is not None else "the blueprint"
    only = "only " if len(regions.allowed or ()) == 1 else ""
    if field == "region":
        fix = f"write region: {regions.default}, or leave region: out for the blueprint's default ({regions.default})"
    else:
        fix = (
            f"write {regions.default} there, or leave it out for the config's region "
            f"({loaded.spec.region if loaded.spec.region in (regions.allowed or ()) else regions.default})"
        )
    hint = f"{fix}; to be in {region}, it must first be added to allowed_regions at {place}"
    if at is not None and at.innermost.show_hint():
        hint += f" ({at.innermost.show_hint()})"
    return loaded.error(
        f"{region} is not a region the blueprint allows: {place} allows {only}{allowed}", field, hint=hint
    )
