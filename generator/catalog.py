"""The capability catalog, tiers and accelerators, loaded from data files.

The data ships inside the package (generator/data/) and is validated with
pydantic on first use, so a broken catalog fails loudly at start, not halfway
through a generation.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tierstack.generator.yamlio import parse, to_plain


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Capability(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z_]*$")
    name: str
    definition: str
    process: str
    provisions: tuple[str, ...]
    min_tier: int = Field(ge=0, le=2)
    always: bool = False
    requires: tuple[str, ...] = ()


class Tier(_Strict):
    level: int = Field(ge=0, le=2)
    name: str
    blueprint: str
    summary: str
    environments: tuple[str, ...]
    ci_cd: bool


class Accelerator(_Strict):
    name: str
    kind: Literal["gpu", "tpu"]
    machine_types: dict[int, str]
    regions: tuple[str, ...]

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(sorted(self.machine_types))

    @property
    def default_count(self) -> int:
        return next(iter(self.machine_types))


class Catalog(_Strict):
    capabilities: tuple[Capability, ...]
    tiers: tuple[Tier, ...]
    accelerators: tuple[Accelerator, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        ids = [c.id for c in self.capabilities]
        if len(set(ids)) != len(ids):
            raise ValueError("capability ids repeat")
        for cap in self.capabilities:
            for req in cap.requires:
                if req not in ids:
                    raise ValueError(f"{cap.id} requires unknown capability {req}")
        if [t.level for t in self.tiers] != list(range(len(self.tiers))):
            raise ValueError("tiers must be listed 0, 1, 2 in order")
        return self

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.capabilities)

    def capability(self, cap_id: str) -> Capability:
        for cap in self.capabilities:
            if cap.id == cap_id:
                return cap
        raise KeyError(cap_id)

    def tier(self, level: int) -> Tier:
        return self.tiers[level]

    def tier_capabilities(self, level: int) -> tuple[str, ...]:
        """Capabilities the built-in blueprint of a tier provisions."""
        return tuple(c.id for c in self.capabilities if c.min_tier <= level)

    def accelerator(self, name: str) -> Accelerator | None:
        for acc in self.accelerators:
            if acc.name == name:
                return acc
        return None


def _data(name: str) -> object:
    text = resources.files("tierstack.generator").joinpath("data", name).read_text(encoding="utf-8")
    return to_plain(parse(text, f"tierstack/generator/data/{name}"))


@cache
def load_catalog() -> Catalog:
    caps = _data("capabilities.yaml")["capabilities"]  # type: ignore[index]
    tiers = _data("tiers.yaml")["tiers"]  # type: ignore[index]
    accs = _data("accelerators.yaml")["accelerators"]  # type: ignore[index]
    try:
        return Catalog(
            capabilities=caps,
            tiers=tiers,
            accelerators=[{"name": k, **v} for k, v in accs.items()],  # type: ignore[union-attr]
        )
    except ValidationError as exc:  # a packaging bug, not a user error: say where
        raise RuntimeError(f"the bundled catalog in tierstack/generator/data is invalid:\n{exc}") from exc
