"""The plan of record: spec + selection + blueprint, resolved per environment.

Layers, last wins: blueprint defaults, the blueprint's role overrides, the
spec's top-level labels/budget/overrides, then the environment's own entries.
Only selected capabilities survive into an environment's settings.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from tierstack.generator.config import blueprint as bp
from tierstack.generator.config import guarantees
from tierstack.generator.config import settings as typed_settings
from tierstack.generator.config.blueprint import display_path
from tierstack.generator.config.provenance import Provenance, Source
from tierstack.generator.config.rendercache import copied
from tierstack.generator.config.spec import LoadedSpec, check_label_key, check_label_value, check_project
from tierstack.generator.core.errors import UserError, did_you_mean
from tierstack.generator.core.grammars import shown
from tierstack.generator.facts.catalog import Catalog, load_catalog
from tierstack.generator.plan import gcp_facts, regions
from tierstack.generator.plan.plan import Resolved, ResolvedEnvironment, typed
from tierstack.generator.plan.selection import Selection, answer_text, select

__all__ = ["Resolved", "ResolvedEnvironment", "resolve"]  # the plan's types, where callers have imported them

ROLE_NAMES = {
    "development": ("dev", "development", "sandbox", "sbx", "test"),
    "staging": ("staging", "stage", "stg", "qa", "preprod", "uat"),
    "production": ("prod", "production", "prd", "live"),
}


def template_variables(loaded: LoadedSpec, selection: Selection) -> dict[str, Any]:
    spec = loaded.spec
    uc = spec.use_case
    builtins: dict[str, Any] = {
        "name": spec.name,
        "team": spec.team,
        "region": spec.region,
        "tier": selection.tier,
        "use_case": {k: answer_text(v) for k, v in uc.model_dump().items()} | {"accelerator": str(uc.accelerator)},
        "mission_critical": uc.mission_critical,
        "serving": uc.serving,
        "schedule": uc.schedule,
        "capabilities": list(selection.ids),
        "features": sorted(selection.features),
        "accelerator": {
            "kind": uc.accelerator.kind,
            "type": uc.accelerator.type,
            "count": uc.accelerator.count,
            "machine_type": uc.accelerator.machine_type,
            # the smallest machine that takes the GPU(s), for a notebook (generator/data/machine_families.yaml)
            "workbench_machine_type": gcp_facts.default_machine_type(uc.accelerator.type, uc.accelerator.count)
            if uc.accelerator.kind == "gpu"
            else None,
        },
    }
    given = spec.variables.given()
    for key in given:
        if key in builtins:
            raise loaded.error(
                f"variable '{key}' would hide the built-in template variable of that name",
                f"variables.{key}",
                hint="rename it; built-ins: " + ", ".join(sorted(builtins)),
            )
    if spec.state_bucket:
        given = {**given, "state_bucket": spec.state_bucket}
    return builtins | given


def variable_origins(loaded: LoadedSpec, spec_file: str) -> dict[tuple[str, ...], Source]:
    """Where tierstack.yaml writes the value of each template variable it sets (see blueprint.load).

    Keyed by the variable as templates read it: ('schedule',) and ('use_case', 'schedule') are both
    use_case.schedule; ('accelerator',) covers accelerator.type and the rest. Only what the file writes.
    """
    written: dict[tuple[str, ...], tuple[str, ...]] = {
        ("name",): ("name",),
        ("team",): ("team",),
        ("region",): ("region",),
        ("tier",): ("tier",),
        ("state_bucket",): ("state_bucket",),
        ("mission_critical",): ("use_case", "mission_critical"),
        ("serving",): ("use_case", "serving"),
        ("schedule",): ("use_case", "schedule"),
        ("accelerator",): ("use_case", "accelerator"),
    }
    written |= {("use_case", key): ("use_case", key) for key in type(loaded.spec.use_case).model_fields}
    written |= {(key,): ("variables", key) for key in loaded.spec.variables.given()}
    origins: dict[tuple[str, ...], Source] = {}
    for variable, path in written.items():
        line = _written_line(loaded, path)
        if line is not None:
            origins[variable] = Source.in_file(spec_file, line)
    return origins


def _written_line(loaded: LoadedSpec, path: tuple[str, ...]) -> int | None:
    """The line of `path` in tierstack.yaml, only if the file writes that very key."""
    node: Any = loaded.doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return loaded.line(*path)


def resolve(loaded: LoadedSpec, catalog: Catalog | None = None) -> Resolved:
    catalog = catalog or load_catalog()
    # a config without region: is in its blueprint's default region; one that writes a region is allowed there
    loaded, selection, blueprint = regions.in_blueprint_region(loaded, lambda at: _selected_blueprint(at, catalog))
    regions.check_allowed(loaded, blueprint)
    spec_file = display_path(loaded.path)
    _check_blueprint(loaded, selection, blueprint, catalog)

    names = _environment_names(loaded, selection, catalog)
    spec_layer = _spec_layer(loaded, spec_file)
    environments: dict[str, ResolvedEnvironment] = {}
    for index, env in enumerate(names):
        environments[env] = _resolve_env(loaded, selection, blueprint, spec_layer, env, index, len(names), spec_file)
    resolved = Resolved(loaded, selection, blueprint, environments)
    # typed settings: every environment, every capability, all errors at once; the only validation they get
    resolved = typed(resolved, typed_settings.check_resolved(resolved))
    gcp_facts.check_resolved(resolved)  # zones, machine types and GPUs, networks: what Google would reject
    guarantees.check(resolved)  # production guarantees hold, or a waiver says why not
    return resolved


def _selected_blueprint(loaded: LoadedSpec, catalog: Catalog) -> tuple[Selection, bp.Blueprint]:
    """The selection and the blueprint chain rendered for it (the config's blueprint, else its tier's)."""
    selection = select(loaded, catalog)
    spec_file = display_path(loaded.path)
    ref = loaded.spec.blueprint or catalog.tier(selection.tier).blueprint
    variables = template_variables(loaded, selection)
    origins = variable_origins(loaded, spec_file)
    line = _written_line(loaded, ("blueprint",))
    return selection, bp.load(ref, variables, loaded.path, spec_file, origins=origins, line=line)


def default_settings(cap_id: str) -> dict[str, Any] | None:
    """A capability's settings when no blueprint configures it: its model's defaults, if every field has one."""
    model = typed_settings.settings_model(cap_id)
    if model is None:
        return None
    defaults = _model_defaults(model)
    return None if defaults is None else copied(defaults)


def _without_defaults(cap_id: str) -> bool:
    """Whether default_settings(cap_id) is None, without the copy it makes."""
    model = typed_settings.settings_model(cap_id)
    return model is None or _model_defaults(model) is None


@functools.lru_cache(maxsize=256)
def _model_defaults(model: type[typed_settings.Settings]) -> dict[str, Any] | None:
    """A model's defaults, made once per model (every member of a fleet asks for them); callers get a copy."""
    try:
        return model().model_dump()
    except ValidationError:  # a required field: the blueprint must configure it
        return None


def _with_default_settings(base: bp.Layer, selection: Selection) -> bp.Layer:
    """The blueprint's settings, plus the defaults of each selected capability it does not configure."""
    configured = base.data.get("capabilities") or {}
    defaults = {c: d for c in selection.ids if c not in configured and (d := default_settings(c)) is not None}
    if not defaults:
        return base
    prov = {
        ("capabilities", c, *path): _rule(f"the defaults of {c}")
        for c, values in defaults.items()
        for path in bp.leaf_paths(values)
    }
    return bp.merge(bp.Layer({"capabilities": defaults}, prov), base)


ErrorAt = Callable[[str, str, str], UserError]  # (message, field, hint) -> the error where the value is written

# the settings every environment reads as mappings: a blueprint or an override that writes a scalar or a list
# there is the user's error, caught before anything iterates over it
MAPPINGS = {
    "labels": ("label keys to values", "labels: {cost-center: cc-100}"),
    "capabilities": (
        "capability ids to their settings",
        "capabilities: {model_training: {noncurrent_version_days: 30}}",
    ),
}


def _shape_error(key: tuple[str, ...], value: Any, field: str, at: ErrorAt) -> UserError | None:
    """The error for `value` at settings path `key` when it is not a mapping (None: it is one, or empty)."""
    if value is None or isinstance(value, dict):
        return None
    kind = "a list" if isinstance(value, list) else "text" if isinstance(value, str) else "a single value"
    wrote = f"{json.dumps(value, default=str)[:40]} ({kind})"
    if len(key) == 1:
        what, example = MAPPINGS[key[0]]
        message, hint = f"'{key[0]}' is a mapping of {what}, not {wrote}", f"write it as {example}"
    else:
        model = typed_settings.settings_model(key[1])
        fields = ", ".join(model.model_fields) if model is not None else ""
        message = f"the settings of {key[1]} are a mapping, not {wrote}"
        hint = f"write {key[1]}: {{SETTING: VALUE}}" + (f"; {key[1]} settings: {fields}" if fields else "")
    return at(message, field, hint)


def _shape_errors(data: Any, at: ErrorAt, prefix: str = "") -> UserError | None:
    """The first of `labels`, `capabilities` and each capability's settings in `data` that is not a mapping.

    `at(message, field, hint)` makes the error where the value is written; `prefix` is the field's section.
    """
    if not isinstance(data, dict):
        return None
    for name in MAPPINGS:
        found = _shape_error((name,), data.get(name), prefix + name, at)
        if found is not None:
            return found
    for cap_id, values in (data.get("capabilities") or {}).items():
        if typed_settings.settings_model(str(cap_id)) is None:
            continue  # not a capability: said as such where the ids are checked
        found = _shape_error(("capabilities", str(cap_id)), values, f"{prefix}capabilities.{cap_id}", at)
        if found is not None:
            return found
    return None


def _check_blueprint_shapes(blueprint: bp.Blueprint) -> None:
    """defaults and each role of the blueprint chain write labels and capabilities as mappings."""
    data = blueprint.layer.data
    sections: list[tuple[str, ...]] = [("defaults",)]
    for role, node in (data.get("roles") or {}).items():
        sections.append(("roles", str(role)))
        if node is not None and not isinstance(node, dict):
            message = f"role '{role}' is a mapping of settings, not {json.dumps(node, default=str)[:40]}"
            hint = f"write roles: {{{role}: {{SETTING: VALUE}}}}, e.g. {{{role}: {{delete_protection: true}}}}"
            raise _blueprint_error(blueprint, ("roles", str(role)), message, hint)
    for section in sections:
        node = bp.Layer(data).sub(*section).data

        def at(message: str, field: str, hint: str) -> UserError:
            return _blueprint_error(blueprint, tuple(field.split(".")), message, hint)

        found = _shape_errors(node, at, ".".join(section) + ".")
        if found is not None:
            raise found


def _blueprint_error(blueprint: bp.Blueprint, path: tuple[str, ...], message: str, hint: str | None) -> UserError:
    src = blueprint.layer.prov.get(path)
    field = ".".join(path)
    if src is None:
        return UserError(message, file=blueprint.chain[0], field=field, hint=hint)
    return src.error(message, field=field, hint=hint)


def _check_override_shapes(loaded: LoadedSpec, over: Any, path: tuple[str, ...]) -> None:
    """Overrides in tierstack.yaml write labels and capabilities as mappings too."""

    def at(message: str, field: str, hint: str) -> UserError:
        return loaded.error(message, field, hint=hint)

    found = _shape_errors(over, at, ".".join(path) + ".")
    if found is not None:
        raise found


def _check_blueprint(loaded: LoadedSpec, selection: Selection, blueprint: bp.Blueprint, catalog: Catalog) -> None:
    _check_blueprint_shapes(blueprint)
    configured = (blueprint.layer.data.get("defaults") or {}).get("capabilities") or {}
    where = blueprint.layer.prov
    known = catalog.ids  # a tuple made anew at each look
    for cap_id in configured:
        if cap_id not in known:
            hint = did_you_mean(cap_id, known) or "capabilities: " + ", ".join(known)
            path = ("defaults", "capabilities", cap_id)
            # the capability's key is a leaf when it holds nothing; else its first setting, in document order
            src = where.get(path) or next((where[p] for p in where if p[:3] == path), None)
            message, field = f"'{cap_id}' is not a capability", f"defaults.capabilities.{cap_id}"
            if src is None:
                raise UserError(message, file=blueprint.chain[0], field=field, hint=hint)
            raise src.error(message, field=field, hint=hint)
    for cap_id in selection.ids:
        if cap_id not in configured and _without_defaults(cap_id):
            raise UserError(
                f"the blueprint does not configure {cap_id}, which this use case needs",
                file=blueprint.chain[0],
                field=f"defaults.capabilities.{cap_id}",
                hint=f"add defaults.capabilities.{cap_id} to the blueprint, extend a tier blueprint that "
                f"has it, or remove it with capabilities.remove in {display_path(loaded.path)}",
            )
    if blueprint.tier is not None and blueprint.tier != selection.tier and loaded.spec.blueprint:
        selection.warnings.append(
            f"blueprint {blueprint.chain[0]} implements tier {blueprint.tier}, the use case is tier {selection.tier}"
        )


def _environment_names(loaded: LoadedSpec, selection: Selection, catalog: Catalog) -> list[str]:
    tier = catalog.tier(selection.tier)
    given = loaded.spec.environments
    if not given:
        return list(tier.environments)
    if len(given) < len(tier.environments):
        raise loaded.error(
            f"tier {tier.level} ({tier.name}) promotes through {len(tier.environments)} environments "
            f"({', '.join(tier.environments)}), but {len(given)} are listed",
            "environments",
            hint="add environments: " + ", ".join(e for e in tier.environments if e not in given),
        )
    return list(given)


def environment_role(name: str, index: int, count: int, explicit: str | None) -> str:
    """Explicit role, else from a well-known name, else from the promotion order."""
    if explicit:
        return explicit
    for role, names in ROLE_NAMES.items():
        if name in names:
            return role
    if count == 1 or index == 0:
        return "development"
    return "production" if index == count - 1 else "staging"


def _spec_layer(loaded: LoadedSpec, spec_file: str) -> bp.Layer:
    """The spec's top-level settings as a layer over the blueprint (labels, budget, overrides)."""
    spec, doc = loaded.spec, loaded.doc
    layer = bp.Layer({}, {})
    given: dict[str, Any] = {}
    if "labels" in spec.model_fields_set:
        given["labels"] = spec.labels
    if spec.budget is not None:
        # only what the user wrote (plus 'enabled'), so the blueprint's defaults keep their provenance
        given["budget"] = spec.budget.model_dump(exclude_unset=True) | {"enabled": spec.budget.enabled}
    for key, value in given.items():
        prov = {(key, *p): _spec_line(loaded, spec_file, (key, *p)) for p in bp.leaf_paths(value)}
        layer = bp.merge(layer, bp.Layer({key: value}, prov))
    if spec.data_sources:  # the data_sources capability's settings, set where tierstack.yaml lists them
        sources = [source.model_dump(exclude_none=True) for source in spec.data_sources]
        path: tuple[str, ...] = ("capabilities", "data_sources", "sources")
        written = {path: _spec_line(loaded, spec_file, ("data_sources",))}
        layer = bp.merge(layer, bp.Layer({path[0]: {path[1]: {path[2]: sources}}}, written))
    if spec.golden_set is not None:  # the golden_set capability's settings, set where tierstack.yaml declares it
        golden = spec.golden_set.model_dump(exclude_none=True)
        prov = {("capabilities", "golden_set", k): _spec_line(loaded, spec_file, ("golden_set", k)) for k in golden}
        layer = bp.merge(layer, bp.Layer({"capabilities": {"golden_set": golden}}, prov))
    # overrides are deep overrides of the resolved settings: they win over the spec's own fields too
    return bp.merge(layer, bp.layer_from(doc, spec_file, ("overrides",)))


def _spec_line(loaded: LoadedSpec, spec_file: str, path: tuple[str, ...]) -> Provenance:
    """The line of `path` in tierstack.yaml, or of the nearest key above it the file writes."""
    return Provenance.in_file(spec_file, loaded.line(*path))


def _resolve_env(
    loaded: LoadedSpec,
    selection: Selection,
    blueprint: bp.Blueprint,
    spec_layer: bp.Layer,
    env: str,
    index: int,
    count: int,
    spec_file: str,
) -> ResolvedEnvironment:
    spec = loaded.spec
    settings = spec.environments.get(env) if spec.environments else None
    role = environment_role(env, index, count, settings.role if settings else None)
    base = _with_default_settings(blueprint.environment_layer(role), selection)
    _check_override_shapes(loaded, loaded.spec.overrides, ("overrides",))
    _check_known(loaded, base.data, loaded.spec.overrides, ("overrides",))
    layer = bp.merge(base, spec_layer)
    if settings is not None:
        env_doc = ("environments", env)
        _check_override_shapes(loaded, settings.overrides, (*env_doc, "overrides"))
        _check_known(loaded, layer.data, settings.overrides, (*env_doc, "overrides"))
        layer = bp.merge(layer, bp.layer_from(loaded.doc, spec_file, (*env_doc, "overrides")))
        for key in ("labels", "serving_class"):
            if key in settings.model_fields_set:
                layer = bp.merge(layer, _field_layer(loaded, spec_file, env_doc, key, getattr(settings, key)))
        if settings.budget is not None and settings.budget.amount is not None:
            layer = bp.merge(
                layer,
                _field_layer(
                    loaded, spec_file, (*env_doc, "budget"), "amount", settings.budget.amount, prefix=("budget",)
                ),
            )
    data = layer.data
    caps = data.get("capabilities", {}) or {}
    data["capabilities"] = {c: caps[c] for c in selection.ids}
    labels = _labels(loaded, selection, env, data.get("labels") or {}, layer.prov)
    data["labels"] = labels
    selected = set(selection.ids)
    prov = {p: v for p, v in layer.prov.items() if p[0] != "capabilities" or p[1] in selected}
    for key in labels:
        prov.setdefault(("labels", key), _rule("automatic label"))
    project = (settings.project if settings and settings.project else None) or f"{spec.name}-{env}"
    try:  # the default <name>-<env> can reach 31 characters, or hold 'google'
        check_project(project)
    except ValueError as exc:
        raise loaded.error(
            f"the default project id {shown(project)} ({len(project)} characters), <name>-<environment>, is "
            f"refused: {exc}",
            f"environments.{env}" if _written_line(loaded, ("environments", env)) else "name",
            hint=f"give environments.{env}.project, or change the name",
        ) from None
    region = (settings.region if settings and settings.region else None) or spec.region
    named = _rule("<name>-<environment>")
    prov.update(
        {
            ("stack",): named,
            ("role",): _where(loaded, spec_file, ("environments", env, "role")) or _rule("from the name or order"),
            ("project",): _where(loaded, spec_file, ("environments", env, "project")) or named,
            ("region",): _where(loaded, spec_file, ("environments", env, "region"))
            or _where(loaded, spec_file, ("region",))
            or blueprint.regions.default_at
            or _rule("default region"),
        }
    )
    return ResolvedEnvironment(env, role, f"{spec.name}-{env}", project, region, dict(sorted_settings(data)), prov)


@functools.lru_cache(maxsize=256)
def _rule(rule: str) -> Provenance:
    """Provenance.by_tierstack, made once per rule: immutable, so every environment of every member shares it."""
    return Provenance.by_tierstack(rule)


def sorted_settings(data: dict[str, Any]) -> list[tuple[str, Any]]:
    """Settings in a stable order: capabilities last, so the per-environment scalars read first."""
    return sorted(data.items(), key=lambda kv: (kv[0] == "capabilities", kv[0]))


def _where(loaded: LoadedSpec, spec_file: str, path: tuple[str, ...]) -> Provenance | None:
    """tierstack.yaml's line for `path`, if the file writes it."""
    line = _written_line(loaded, path)
    return Provenance.in_file(spec_file, line) if line is not None else None


def _field_layer(
    loaded: LoadedSpec, spec_file: str, doc_path: tuple[str, ...], key: str, value: Any, prefix: tuple[str, ...] = ()
) -> bp.Layer:
    """A layer for a field of an environment in tierstack.yaml (`labels`), each leaf at its own line."""
    data: Any = {key: value}
    for part in reversed(prefix):
        data = {part: data}
    paths = bp.leaf_paths(data)
    return bp.Layer(data, {p: _spec_line(loaded, spec_file, (*doc_path, *p[len(prefix) :])) for p in paths})


def _check_known(loaded: LoadedSpec, base: Any, over: Any, path: tuple[str, ...]) -> None:
    """Overrides in tierstack.yaml may only change settings the blueprint has (typos are errors)."""
    if not isinstance(over, dict) or not isinstance(base, dict):
        return
    for key, value in over.items():
        target = key.removesuffix(bp.APPEND)
        if target not in base:
            known = sorted(base)
            hint = did_you_mean(target, known) or ("settings here: " + ", ".join(known) if known else None)
            raise loaded.error(f"the blueprint has no setting '{target}' here", ".".join((*path, key)), hint=hint)
        _check_known(loaded, base[target], value, (*path, key))


def _labels(
    loaded: LoadedSpec,
    selection: Selection,
    env: str,
    given: dict[str, Any],
    prov: dict[tuple[str, ...], Provenance],
) -> dict[str, str]:
    """The common cost labels, automatic ones first, validated against GCP's rules."""
    spec = loaded.spec
    automatic = {
        "use-case": spec.name,
        "team": spec.team,
        "environment": env,
        "tier": f"tier-{selection.tier}",
        "managed-by": "tierstack",
    }
    labels = automatic | {str(k): str(v) for k, v in given.items()}
    for key, value in labels.items():
        try:
            check_label_key(key)
            check_label_value(value)
        except ValueError as exc:
            src = prov.get(("labels", key), Provenance.in_file(display_path(loaded.path)))
            raise src.error(str(exc), fallback=display_path(loaded.path), field=f"labels.{key}") from None
    if len(labels) > 64:
        raise loaded.error(f"{len(labels)} labels; GCP allows at most 64 per resource", "labels")
    return dict(sorted(labels.items()))
