"""The resolved plan: frozen, and typed where the capabilities read it.

`resolve()` makes one Resolved per config. Each environment carries its settings twice, on purpose:
`settings` is the plain mapping as resolved (what explain, JSON output and provenance print, byte for
byte), and `capabilities` holds each selected capability's settings as an instance of its own model,
validated once, in resolve. The modules, the assembler and the checks read `capabilities`, as
attributes that mypy checks; nothing validates them again. Assigning to a field raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tierstack.generator.config import blueprint as bp
from tierstack.generator.config.blueprint import display_path
from tierstack.generator.config.provenance import Provenance

if TYPE_CHECKING:
    from tierstack.generator.config.blueprint import Blueprint
    from tierstack.generator.config.settings import Settings
    from tierstack.generator.config.spec import LoadedSpec
    from tierstack.generator.plan.selection import Selection


def _none() -> Mapping[str, Settings]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ResolvedEnvironment:
    """One environment of the plan: where it goes, its resolved settings, and its capabilities' typed settings."""

    name: str
    role: str
    stack: str
    project: str
    region: str
    settings: dict[str, Any]  # as resolved, capabilities included as plain mappings: printed, never read for them
    provenance: dict[tuple[str, ...], Provenance]
    # each selected capability's settings, an instance of its model (read-only; empty until resolve checks them)
    capabilities: Mapping[str, Settings] = field(default_factory=_none)


@dataclass(frozen=True)
class Resolved:
    """The plan of record: the spec, what it selects, the blueprint, and every environment."""

    loaded: LoadedSpec
    selection: Selection
    blueprint: Blueprint
    environments: dict[str, ResolvedEnvironment]

    def to_data(self) -> dict[str, Any]:
        spec, sel = self.loaded.spec, self.selection
        return {
            "name": spec.name,
            "team": spec.team,
            "tier": sel.tier,
            "recommended_tier": sel.recommended_tier,
            "blueprint": self.blueprint.chain,
            "capabilities": list(sel.ids),
            "features": sorted(sel.features),
            "environments": {
                env.name: {
                    "stack": env.stack,
                    "role": env.role,
                    "project": env.project,
                    "region": env.region,
                    **env.settings,
                }
                for env in self.environments.values()
            },
        }

    def leaves(self) -> list[tuple[str, Any, Provenance]]:
        """(dotted key, value, where it was set) for every resolved value, in output order."""
        spec_file = Provenance.in_file(display_path(self.loaded.path))
        out: list[tuple[str, Any, Provenance]] = []
        for env in self.environments.values():
            for key in ("stack", "role", "project", "region"):
                out.append((f"environments.{env.name}.{key}", getattr(env, key), env.provenance.get((key,), spec_file)))
            for path in bp.leaf_paths(env.settings):
                value: Any = env.settings
                for part in path:
                    value = value[part]
                out.append((".".join(("environments", env.name, *path)), value, env.provenance.get(path, spec_file)))
        return out

    def provenance(self) -> dict[str, Provenance]:
        return {key: source for key, _, source in self.leaves()}


def typed(resolved: Resolved, capabilities: Mapping[str, Mapping[str, Settings]]) -> Resolved:
    """The plan with each environment's typed capability settings (by environment name), read-only."""
    environments = {
        name: _with(env, MappingProxyType(dict(capabilities[name]))) for name, env in resolved.environments.items()
    }
    return Resolved(resolved.loaded, resolved.selection, resolved.blueprint, environments)


def _with(env: ResolvedEnvironment, capabilities: Mapping[str, Settings]) -> ResolvedEnvironment:
    return ResolvedEnvironment(
        env.name, env.role, env.stack, env.project, env.region, env.settings, env.provenance, capabilities
    )
