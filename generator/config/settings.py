"""Typed settings: what each capability (and each environment) accepts, checked when the plan is resolved.

Blueprints and overrides may set anything; these models say what is valid, so
`explain`, `show` and `generate` agree: a wrong override (`max_replicas:
"lots"`, replicas 1.9, `apis` as a string, `serving_class: PRODUCTION`) is an
error naming the file, the line and the path the user wrote, all errors in one
run, before anything is synthesized. The defaults live in the tier blueprints
(one place); a field here is required where every tier blueprint sets it.
Strict: no string becomes a number, no float an integer, no number a boolean.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from tierstack.generator.config.choices import ServingClass
from tierstack.generator.core import grammars
from tierstack.generator.core.pydantic_errors import described
from tierstack.generator.facts import settings_shapes as shapes


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def check(check: Any) -> Any:
    """A check for an optional value: None passes (tierstack.yaml's variables and settings use it)."""
    return AfterValidator(lambda v: v if v is None else check(v))


def cidr(value: str) -> str:
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IP range such as 10.10.0.0/24") from None
    if not network.is_private:
        raise ValueError(f"'{value}' is not a private range (RFC 1918)")
    return value


def matching(regex: str, what: str) -> Any:
    pattern = re.compile(regex)

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"'{value}' is not {what}")
        return value

    return AfterValidator(check)


def _unique(values: list[Any]) -> list[Any]:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} listed more than once")
    return values


Unique = AfterValidator(_unique)
ApiName = Annotated[str, matching(r"^[a-z0-9-]+\.googleapis\.com$", "an API name such as storage.googleapis.com")]
Purpose = Annotated[
    str, matching(r"^[a-z][a-z0-9_]{0,29}$", "a name part: lowercase letters, digits and '_', starting with a letter")
]
Email = Annotated[str, check(grammars.check_email)]
Cron = Annotated[str, check(grammars.check_cron)]
TimeZone = Annotated[str, check(grammars.check_time_zone)]
Network = Annotated[str, check(grammars.check_network)]
KmsKey = Annotated[str, check(grammars.check_kms_key)]
Replicas = Annotated[int, Field(ge=1, le=1000)]
Identity = Literal["pipelines", "training", "serving", "ci"]
MachineType = Annotated[str, matching(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$", "a machine type such as n1-standard-4")]


class ReplicaRange(Settings):
    """Settings with min_replicas and max_replicas, in that order."""

    @model_validator(mode="after")
    def _replicas(self) -> ReplicaRange:
        low, high = getattr(self, "min_replicas"), getattr(self, "max_replicas")  # noqa: B009 - set by subclasses
        if low > high:
            raise ValueError(f"max_replicas ({high}) is below min_replicas ({low})")
        return self


class Budget(Settings):
    enabled: bool
    amount: Annotated[float | None, check(grammars.check_budget_amount)] = None
    currency: Annotated[str | None, check(grammars.check_currency)] = None
    billing_account: Annotated[str | None, check(grammars.check_billing_account)] = None
    thresholds: Annotated[list[float], check(grammars.check_thresholds)]
    forecast_thresholds: Annotated[list[float], check(grammars.check_thresholds)]


class Encryption(Settings):
    cmek: bool
    kms_key: KmsKey | None = None


class State(Settings):
    bucket: Annotated[str, check(grammars.check_bucket_name)]


class EnvironmentSettings(Settings):
    """An environment's resolved settings, capabilities aside (each checked by its own model)."""

    serving_class: ServingClass
    delete_protection: bool
    encryption: Encryption
    labels: dict[str, str]
    budget: Budget
    state: State
    capabilities: dict[str, Any]


def settings_model(capability: str) -> type[Settings] | None:
    """The settings model a capability declares (modules/), or None for an id that is no capability."""
    return _settings_models().get(capability)


_MODELS: dict[tuple[Any, ...], dict[str, type[Settings]]] = {}  # the classes registered -> their settings models


def _settings_models() -> dict[str, type[Settings]]:
    """Every capability's settings model. registry() builds two mappings each call, and resolving a member asks
    some forty times: the models are kept for as long as the same classes are registered (a test may add one)."""
    from tierstack.modules import registry
    from tierstack.modules.base import registered

    found = _MODELS.get(tuple(registered().values()))
    if found is None:
        found = {name: cls.settings_model for name, cls in registry().items()}  # loads the package the first time
        _MODELS.clear()
        _MODELS[tuple(registered().values())] = found
    return found


Problem = tuple[tuple[str | int, ...], str]  # (path in the resolved settings, message)


def problems(settings: dict[str, Any]) -> list[Problem]:
    """(path in the resolved settings, message) for everything invalid, all at once."""
    return checked(settings)[1]


def checked(settings: dict[str, Any]) -> tuple[dict[str, Settings], list[Problem]]:
    """Each capability's settings as an instance of its model, validated here once for the whole plan, and
    everything invalid (the capabilities whose settings are invalid have no instance)."""
    found: list[Problem] = []
    typed: dict[str, Settings] = {}
    models = _settings_models()
    found += _located((), EnvironmentSettings, settings)
    for capability, values in (settings.get("capabilities") or {}).items():
        model = models.get(capability)
        if model is None:
            continue
        try:
            typed[capability] = model.model_validate(values or {})
        except ValidationError as error:
            found += _errors(("capabilities", capability), error)
    return typed, _serving_class_problems(settings, typed) + found + _template_problems(settings)


def _located(prefix: tuple[str, ...], model: type[Settings], values: Any) -> list[Problem]:
    try:
        model.model_validate(values)
    except ValidationError as error:
        return _errors(prefix, error)
    return []


def _errors(prefix: tuple[str, ...], error: ValidationError) -> list[Problem]:
    found: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and "[" in p))
        found.append(((*prefix, *loc), _message(item)))
    return found


def _serving_class_problems(settings: dict[str, Any], typed: Mapping[str, Settings]) -> list[Problem]:
    """The production serving class serves online from at least 2 replicas."""
    serving = shapes.serving(typed)
    if serving is None or settings.get("serving_class") != "production" or serving.mode != "online":
        return []
    if serving.min_replicas >= 2:
        return []
    return [
        (
            ("capabilities", "model_serving", "min_replicas"),
            f"the production serving class needs at least 2 replicas, not {serving.min_replicas}; raise "
            "min_replicas, or ask for serving_class: experimental (in production, a waiver-worthy choice)",
        )
    ]


def _template_problems(settings: dict[str, Any]) -> list[Problem]:
    """grammars.template_problems, walked only when the settings written as JSON hold a '${' or '%{': JSON
    escapes neither character and writes every string and key whole, so a string holding one shows it there,
    and '$' or '%' occurs nowhere else. One C call instead of a walk over every value, per environment."""
    try:
        text = json.dumps(settings, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # not JSON data: the walk says what it finds
        return grammars.template_problems(settings)
    if any(start in text for start in grammars.TERRAFORM_TEMPLATE_STARTS):
        return grammars.template_problems(settings)
    return []


def _message(item: Any) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return "no such setting"
    if kind == "missing":
        return "this setting is required (the tier blueprints set it; a blueprint of your own must too)"
    return described(item)


# --- checking a resolved plan ---------------------------------------------------------------------

from tierstack.generator.config.provenance import Provenance  # noqa: E402  (what the checks below report at)

Typed = dict[str, dict[str, Settings]]  # environment -> capability -> its settings, an instance of its model


def check_resolved(resolved: Any) -> Typed:
    """Every environment's settings against the models, and no override for an unselected capability: all
    errors at once. Returns each environment's capability settings as instances of their models, the only
    validation they get (the plan carries them to the modules)."""
    from tierstack.generator.core.errors import ErrorList, UserError

    loaded = resolved.loaded
    typed: Typed = {}
    found_errors: list[UserError] = []
    seen: set[tuple[object, str]] = set()
    for env in resolved.environments.values():
        typed[env.name], found = checked(env.settings)
        for path, message in found:
            where = _provenance(env.provenance, path)
            written = _written_path(loaded, where) or f"environments.{env.name}." + ".".join(map(str, path))
            key = (".".join(map(str, path)), message)
            if key in seen or (where, message) in seen:  # one problem shared by every environment: say it once
                continue
            seen.update({key, (where, message)})
            if where is None:
                found_errors.append(UserError(message, file=str(loaded.path), field=written, hint=_hint(path)))
            else:
                found_errors.append(where.error(message, fallback=str(loaded.path), field=written, hint=_hint(path)))
    errors: list[UserError] = [
        *_unselected_overrides(resolved),
        *_missing_identities(resolved, typed),
        *_ci_repository(resolved, typed),
        *found_errors,
    ]
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorList(errors)
    return typed


def _provenance(provenance: dict[tuple[str, ...], Provenance], path: tuple[str | int, ...]) -> Provenance | None:
    """The source of a resolved path, or of the nearest enclosing setting that has one."""
    keys = tuple(str(p) for p in path if not isinstance(p, int))
    for end in range(len(keys), 0, -1):
        if keys[:end] in provenance:
            return provenance[keys[:end]]
    under = [k for k in provenance if k[: len(keys)] == keys]
    return provenance[min(under)] if under else None


def _written_path(loaded: Any, where: Provenance | None) -> str | None:
    """The dotted path in tierstack.yaml written on the line that set a value (`overrides.capabilities...`)."""
    from tierstack.generator.config.blueprint import display_path
    from tierstack.generator.core.yamlio import key_line

    source = where.innermost if where is not None else None
    if source is None or source.line is None or source.file != display_path(loaded.path):
        return None
    line = source.line

    def walk(node: Any, prefix: tuple[str, ...]) -> str | None:
        if not isinstance(node, dict):
            return None
        for key, value in node.items():
            here = (*prefix, str(key))
            found = walk(value, here)  # the deepest key on the line: `budget: {amount: -100}` is budget.amount
            if found:
                return found
            if key_line(node, key) == line:
                return ".".join(here)
        return None

    return walk(loaded.doc, ())


def _hint(path: tuple[str | int, ...]) -> str | None:
    if len(path) >= 2 and path[0] == "capabilities":
        model = settings_model(str(path[1]))
        if model is not None:
            return f"{path[1]} settings: " + ", ".join(model.model_fields)
    return None


def _missing_identities(resolved: Any, typed: Typed) -> list[Any]:
    from tierstack.generator.core.errors import UserError
    from tierstack.modules import registry

    out: list[Any] = []
    classes = registry()  # the identities each capability needs (its class's `identities`)
    for env in resolved.environments.values():
        foundation = shapes.foundation(typed[env.name])
        if foundation is None:  # invalid: its model's errors say why
            return out
        made = set(foundation.service_accounts)
        for capability in env.settings["capabilities"]:
            cls = classes.get(capability)
            missing = [i for i in (cls.identities if cls is not None else ()) if i not in made]
            if missing:
                where = _provenance(env.provenance, ("capabilities", "foundation", "service_accounts"))
                message = (
                    f"{capability} needs the {', '.join(missing)} identity, which foundation.service_accounts "
                    "does not create"
                )
                field = (
                    _written_path(resolved.loaded, where)
                    or f"environments.{env.name}.capabilities.foundation.service_accounts"
                )
                hint = f"keep {', '.join(missing)} in service_accounts"
                fallback = str(resolved.loaded.path)
                out.append(
                    UserError(message, file=fallback, field=field, hint=hint)
                    if where is None
                    else where.error(message, fallback=fallback, field=field, hint=hint)
                )
                return out  # the same gap in every environment: once is enough
    return out


def _ci_repository(resolved: Any, typed: Typed) -> list[Any]:
    """A CI identity needs the repository it trusts: the user's to give, so the error points at tierstack.yaml."""
    for env in resolved.environments.values():
        foundation = shapes.foundation(typed[env.name])
        if foundation is None:
            return []  # invalid: its model's errors say why
        ci = foundation.ci
        if "ci" in foundation.service_accounts and not (ci is not None and ci.repository):
            return [
                resolved.loaded.error(
                    "CI deploys this tier, and needs the repository allowed to deploy (OWNER/NAME)",
                    "variables.ci_repository",
                    hint="add variables: {ci_repository: your-org/your-repo} to tierstack.yaml",
                )
            ]
        ids = {"repository_id": ci.repository_id, "repository_owner_id": ci.repository_owner_id} if ci else {}
        wanted = ("repository_id", "repository_owner_id") if "ci" in foundation.service_accounts else ()
        missing = [key for key in wanted if not ids.get(key)]
        if missing:  # the provider trusts these numbers, never the name alone (a name can be renamed and reused)
            return [
                resolved.loaded.error(
                    f"CI signs in by the repository's immutable ids, and {key} is not set",
                    f"variables.ci_{key}",
                    hint="add variables: {ci_repository_id: N, ci_repository_owner_id: M} to tierstack.yaml; "
                    "GitHub's numbers, which a rename does not change: gh api repos/OWNER/NAME --jq .id,.owner.id",
                )
                for key in missing
            ]
    return []


def _unselected_overrides(resolved: Any) -> list[Any]:
    """An override for a capability this use case does not select would silently do nothing."""

    loaded, selected = resolved.loaded, set(resolved.selection.ids)
    spec = loaded.spec
    places: list[tuple[tuple[str, ...], dict[str, Any]]] = [(("overrides",), spec.overrides)]
    places += [(("environments", name, "overrides"), env.overrides) for name, env in (spec.environments or {}).items()]
    out = []
    for prefix, overrides in places:
        for capability in (overrides.get("capabilities") or {}) if isinstance(overrides, dict) else {}:
            if settings_model(capability) is not None and capability not in selected:
                out.append(
                    loaded.error(
                        f"'{capability}' is not selected for this use case (no answer switches it on), so this "
                        "override would do nothing",
                        ".".join((*prefix, "capabilities", capability)),
                        hint=f"add it with capabilities: {{add: [{capability}]}}, or remove the override",
                    )
                )
    return out
