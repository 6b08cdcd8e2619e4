"""Production guarantees, and the only way to weaken one: a named waiver with a reason.

An override or a blueprint can change any setting, including the ones that
keep production safe. Each guarantee below is checked on the resolved plan of
every environment it covers; a weakened guarantee without a waiver in
`tierstack.yaml` (`waivers:`) is an error naming the file and line that
weakened it. A waiver names the environments it applies to (never all of them
by default), is shown by `explain` and recorded in the stack it applies to.
Public access prevention on buckets and least-privilege IAM (no basic roles)
are held by the modules' code: no setting can weaken them.

The guarantees hold in the environments of role production, so a role is a
setting that could weaken them all at once: a mission-critical production use
case whose environments all say `role: development` would lose delete
protection and CMEK without any override. Such a use case must have an
environment of role production (`_production_environment`); no waiver lifts
that, as there is no environment for it to name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tierstack.generator.config.provenance import Provenance
from tierstack.generator.core.errors import ErrorList, UserError


@dataclass(frozen=True)
class Guarantee:
    id: str
    what: str  # the promise, for messages
    setting: tuple[str, ...]  # the resolved setting that weakens it, for where it was set
    applies: Callable[[Any, Any], bool]  # (resolved environment, spec) -> does this environment carry it
    holds: Callable[[dict[str, Any]], bool]  # resolved settings -> is it kept


def _production(env: Any, spec: Any) -> bool:
    return bool(env.role == "production")


def _mission_critical_production(env: Any, spec: Any) -> bool:
    return bool(env.role == "production" and spec.use_case.mission_critical)


def _encrypted(settings: dict[str, Any]) -> bool:
    encryption = settings.get("encryption") or {}
    return bool(encryption.get("cmek") or encryption.get("kms_key"))


def _audited(settings: dict[str, Any]) -> bool:
    foundation = (settings.get("capabilities") or {}).get("foundation") or {}
    return "storage.googleapis.com" in (foundation.get("data_access_logs") or [])


GUARANTEES: tuple[Guarantee, ...] = (
    Guarantee(
        "delete_protection",
        "stateful resources in production keep delete protection",
        ("delete_protection",),
        _production,
        lambda s: s.get("delete_protection") is True,
    ),
    Guarantee(
        "cmek",
        "a mission-critical use case encrypts production data with a customer-managed key",
        ("encryption", "cmek"),
        _mission_critical_production,
        _encrypted,
    ),
    Guarantee(
        "audit_logs",
        "production records who read and wrote its buckets (Cloud Audit Logs, data access)",
        ("capabilities", "foundation", "data_access_logs"),
        _production,
        _audited,
    ),
)
# Held outside the stacks, by the deploy workflow (`tierstack ci github`): it reads the production GitHub
# environment's protection rules and refuses to deploy without a required reviewer unless this is waived.
GUARANTEES += (
    Guarantee(
        "production_reviewers",
        "a production deploy waits for a required reviewer of its GitHub environment (the deploy checks)",
        ("waivers",),
        _production,
        lambda s: True,
    ),
)
GUARANTEE_IDS = tuple(g.id for g in GUARANTEES)


def check(resolved: Any) -> None:
    """Every guarantee holds in every environment it covers, or a waiver names it; else one error per breach."""
    spec = resolved.loaded.spec
    errors = [found] if (found := _production_environment(resolved)) is not None else []
    waived = {(w.guarantee, env) for w in spec.waivers for env in w.environments}
    for env in resolved.environments.values():
        for guarantee in GUARANTEES:
            if not guarantee.applies(env, spec) or guarantee.holds(env.settings):
                continue
            if (guarantee.id, env.name) in waived:
                continue
            errors.append(_breach(resolved, env, guarantee))
    for index, waiver in enumerate(spec.waivers):
        for position, name in enumerate(waiver.environments):
            if name not in resolved.environments:
                errors.append(
                    resolved.loaded.error(
                        f"the waiver names environment '{name}', which this use case does not have",
                        f"waivers.{index}.environments.{position}",
                        hint="environments: " + ", ".join(resolved.environments),
                    )
                )
    if errors:
        raise errors[0] if len(errors) == 1 else ErrorList(errors)


def _production_environment(resolved: Any) -> UserError | None:
    """A mission-critical production use case has an environment of role production, where its guarantees hold.

    Said where the roles come from: the last `role:` the file writes, else `environments:` (roles from the
    names and the order), else `use_case.mission_critical`.
    """
    loaded, use_case = resolved.loaded, resolved.loaded.spec.use_case
    envs = list(resolved.environments.values())
    if use_case.stage != "production" or not use_case.mission_critical or any(e.role == "production" for e in envs):
        return None
    roles = ", ".join(f"{env.name}: {env.role}" for env in envs)
    written = [env.name for env in envs if _writes(loaded.doc, ("environments", env.name, "role"))]
    if written:
        field = f"environments.{written[-1]}.role"
    elif _writes(loaded.doc, ("environments",)):
        field = "environments"
    else:
        field = "use_case.mission_critical"
    production = next((env.name for env in reversed(envs) if env.role != "development"), envs[-1].name)
    found: UserError = loaded.error(
        "a mission-critical production use case needs an environment of role production, where the "
        f"production guarantees hold ({', '.join(GUARANTEE_IDS)}); here none is ({roles})",
        field,
        hint=f"give the environment that serves production role: production (environments.{production}.role), "
        "or add one; if the use case is not mission critical, set use_case.mission_critical: false",
    )
    return found


def _writes(doc: Any, path: tuple[str, ...]) -> bool:
    """Whether the document writes the key at `path` itself."""
    node = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _breach(resolved: Any, env: Any, guarantee: Guarantee) -> UserError:
    message = f"this weakens a production guarantee in {env.name}: {guarantee.what}"
    field = f"environments.{env.name}.{'.'.join(guarantee.setting)}"
    hint = (
        f"remove the override, or add to tierstack.yaml: waivers: [{{guarantee: {guarantee.id}, "
        f'environments: [{env.name}], reason: "why this is acceptable"}}]'
    )
    where = _source(env.provenance, guarantee.setting)
    if where is None:
        return UserError(message, file=str(resolved.loaded.path), field=field, hint=hint)
    return where.error(message, fallback=str(resolved.loaded.path), field=field, hint=hint)


def _source(provenance: dict[tuple[str, ...], Provenance], setting: tuple[str, ...]) -> Provenance | None:
    """Where the weakening value came from: the setting itself or the closest provenance under it."""
    if setting in provenance:
        return provenance[setting]
    under = [key for key in provenance if key[: len(setting)] == setting]
    return provenance[min(under)] if under else None


def applied(resolved: Any, env_name: str) -> list[dict[str, str]]:
    """The waivers in force for one environment (they weaken something there), for explain and the stack."""
    spec, env = resolved.loaded.spec, resolved.environments[env_name]
    out = []
    for waiver in spec.waivers:
        if env_name not in waiver.environments:
            continue
        guarantee = next(g for g in GUARANTEES if g.id == waiver.guarantee)
        if guarantee.applies(env, spec) and not guarantee.holds(env.settings):
            out.append({"guarantee": guarantee.id, "promise": guarantee.what, "reason": waiver.reason})
    return out
