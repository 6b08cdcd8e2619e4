"""The provision rows' model: `Provision` (something a capability can provision that depends on the plan's
settings, and how to find it in a stack), `Absence` (why a plan does not generate it, how to have it,
where the deciding setting was set), `PlanView` (one environment's resolved settings as the reasons
quote them) and `ProvisionCheck` (one provision in one environment)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from tierstack.generator.config import guarantees
from tierstack.generator.config.provenance import Provenance
from tierstack.generator.plan.resolve import Resolved, ResolvedEnvironment


@dataclass(frozen=True)
class Absence:
    """Why a plan does not generate something its capability can provision, and how to have it."""

    why: str
    fix: str | None = None
    set_at: Provenance | None = None  # where the setting that decided it was set


@dataclass(frozen=True)
class PlanView:
    """One environment's resolved settings, read the way the reasons quote them."""

    resolved: Resolved
    env: ResolvedEnvironment

    def value(self, *path: str) -> Any:
        node: Any = self.env.settings
        for part in path:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node

    def where(self, *path: str) -> Provenance | None:
        """Where the setting was set: itself, else the first value under it, else the nearest key above it."""
        provenance = self.env.provenance
        if path in provenance:
            return provenance[path]
        under = sorted(key for key in provenance if key[: len(path)] == path)
        if under:
            return provenance[under[0]]
        for end in range(len(path) - 1, 0, -1):
            if path[:end] in provenance:
                return provenance[path[:end]]
        return None

    def setting(self, *path: str) -> str:
        """`encryption.cmek = false`; where it was set goes beside the reason (`set_at`)."""
        return f"{'.'.join(path)} = {json.dumps(self.value(*path), ensure_ascii=False)}"

    def absence(self, why: str, fix: str | None, *path: str) -> Absence:
        return Absence(why, fix, self.where(*path))

    def capability(self, capability: str) -> dict[str, Any]:
        return dict((self.env.settings.get("capabilities") or {}).get(capability) or {})

    def selected(self, capability: str) -> bool:
        return capability in (self.env.settings.get("capabilities") or {})

    @property
    def online(self) -> bool:
        return self.selected("model_serving") and self.capability("model_serving").get("mode", "online") == "online"

    @property
    def batch(self) -> bool:
        return self.selected("model_serving") and self.capability("model_serving").get("mode") == "batch"

    def waiver(self, guarantee: str) -> str | None:
        """The reason of the waiver that weakens `guarantee` in this environment, if one does."""
        return next(
            (w["reason"] for w in guarantees.applied(self.resolved, self.env.name) if w["guarantee"] == guarantee),
            None,
        )

    def env_override(self, text: str) -> str:
        """A fix in the environment's own overrides (named once the environments it is for are grouped)."""
        return f"add {ENV_OVERRIDES}: {text} to tierstack.yaml"


ENV_OVERRIDES = "environments.<environment>.overrides"  # in a fix: each environment it is for


def _always(plan: PlanView) -> bool:
    return True


@dataclass(frozen=True)
class Provision:
    """Something a capability can provision that depends on the plan's settings.

    Generated when the capability's resource `<type>.<capability>_<name>` is in the stack (any name
    matching one of `names`), and, with `attribute`, sets that argument. `absent` reads the resolved
    settings: None when they ask for it, else why not; `applies` keeps it out where it has no sense
    (endpoint alerts without an online endpoint), as the declared lines do.
    """

    capability: str
    what: str
    resource_type: str
    names: tuple[str, ...]
    absent: Callable[[PlanView], Absence | None]
    attribute: str | None = None
    applies: Callable[[PlanView], bool] = _always

    def generated(self, stack: Mapping[str, Any]) -> bool:
        bodies = (stack.get("resource") or {}).get(self.resource_type) or {}
        patterns = [f"{self.capability}_{name}" for name in self.names]
        return any(
            any(fnmatchcase(name, pattern) for pattern in patterns)
            and (self.attribute is None or body.get(self.attribute) not in (None, {}, []))
            for name, body in bodies.items()
        )


UNEXPLAINED = Absence(
    "not generated, though the settings ask for it",
    "this is a bug in tierstack: please report it with this tierstack.yaml",
)


@dataclass(frozen=True)
class ProvisionCheck:
    """One conditional provision in one environment: generated or not, and what the settings say."""

    provision: Provision
    environment: str
    generated: bool  # read from the synthesized stack
    absence: Absence | None  # read from the resolved settings: None when they ask for it

    @property
    def capability(self) -> str:
        return self.provision.capability
