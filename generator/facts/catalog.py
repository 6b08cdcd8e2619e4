"""The capability catalog, tiers and accelerators, and the Google Cloud facts.

Each capability's catalog entry is declared by its class in modules/; the
tiers, accelerators and facts are data files shipped inside the package
(generator/data/). All are validated with pydantic on first use, so a broken
catalog fails loudly at start, not halfway through a generation.
"""

from __future__ import annotations

import datetime
import re
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tierstack.generator.core.yamlio import parse, to_plain


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
    always_because: str = ""  # why every use case gets it (explain's reason)
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

    @property
    def always_selected(self) -> tuple[Capability, ...]:
        """The capabilities every stack has, whatever the use case: the modules that say so (`always`).

        The one place that picks them out: selection adds them, review counts them in every plan.
        """
        return tuple(c for c in self.capabilities if c.always)

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


def _data(name: str) -> Any:
    text = resources.files("tierstack.generator").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return to_plain(parse(text, f"tierstack/generator/data/{name}"))


def load_catalog() -> Catalog:
    """The capabilities (each declared by its class in modules/), the tiers and the accelerators."""
    from tierstack.modules import registry

    return _catalog(tuple(registry().values()))


@cache
def _catalog(classes: tuple[Any, ...]) -> Catalog:
    """Cached per set of capability classes, so a capability defined later (a test's) is seen."""
    tiers = _data("tiers.yaml")["tiers"]
    accs = _data("accelerators.yaml")["accelerators"]
    try:
        return Catalog.model_validate(
            {
                "capabilities": [cls.catalog_entry() for cls in classes],
                "tiers": tiers,
                "accelerators": [{"name": k, **v} for k, v in accs.items()],
            }
        )
    except ValidationError as exc:  # a packaging bug, not a user error: say where
        raise RuntimeError(f"the capability catalog (modules/, generator/data/) is invalid:\n{exc}") from exc


# --- Google Cloud facts: zones per region, machine families and their GPUs ---------------------------

ZONE_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")


class Source(_Strict):
    """Where a facts table comes from: Google's page and the day it was read."""

    title: str
    url: str = Field(pattern=r"^https://(docs\.)?cloud\.google\.com/")
    read: datetime.date


class Zone(_Strict):
    gpus: bool = False  # the zone offers GPUs that attach to N1 machines
    series: tuple[str, ...] | None = None  # the machine series it offers; None when not known


class Region(_Strict):
    location: str
    zones: dict[str, Zone] = Field(min_length=1)  # in Google's order


class MachineFamily(_Strict):
    description: str
    # GPUs attached to the family's machine types: {GPU: {count: most vCPUs}}
    attached: dict[str, dict[int, int]] = {}
    defaults: dict[int, str] = {}  # attached GPUs: the machine type for each count, when none is named
    # machine types with built-in GPUs: {machine type: (GPU, count)}, smallest first per count
    machine_types: dict[str, tuple[str, int]] = {}


class GcpFacts(_Strict):
    zones_source: Source
    regions: dict[str, Region]
    machines_source: Source
    families: dict[str, MachineFamily]

    @model_validator(mode="after")
    def _consistent(self) -> GcpFacts:
        for name, region in self.regions.items():
            for zone in region.zones:
                if not ZONE_RE.fullmatch(zone) or zone.rsplit("-", 1)[0] != name:
                    raise ValueError(f"zone {zone} is not a zone name of region {name}")
        for name, family in self.families.items():
            for machine in [*family.machine_types, *family.defaults.values()]:
                if machine.split("-")[0] != name:
                    raise ValueError(f"machine type {machine} is not of the {name} family")
            for gpu, limits in family.attached.items():
                for count, most in limits.items():
                    default = family.defaults.get(count)
                    if default is None or int(default.rsplit("-", 1)[-1]) > most:
                        raise ValueError(f"{name}: no default machine type for {count}x{gpu} within {most} vCPUs")
        return self


@cache
def load_gcp_facts() -> GcpFacts:
    """zones.yaml and machine_families.yaml, validated, and checked against accelerators.yaml."""
    zones, machines = _data("zones.yaml"), _data("machine_families.yaml")
    try:
        facts = GcpFacts(
            zones_source=zones["source"],
            regions=zones["regions"],
            machines_source=machines["source"],
            families=machines["families"],
        )
    except ValidationError as exc:
        raise RuntimeError(f"the bundled Google Cloud facts in tierstack/generator/data are invalid:\n{exc}") from exc
    problems = _against_accelerators(facts, load_catalog())
    if problems:
        raise RuntimeError("the bundled Google Cloud facts disagree with accelerators.yaml:\n" + "\n".join(problems))
    return facts


def _against_accelerators(facts: GcpFacts, catalog: Catalog) -> list[str]:
    """Every GPU the facts name is in the catalog; every region with an accelerator has its zones."""
    known = {acc.name for acc in catalog.accelerators if acc.kind == "gpu"}
    named = {gpu for f in facts.families.values() for gpu in [*f.attached, *(g for g, _ in f.machine_types.values())]}
    problems = [
        f"machine_families.yaml names {gpu}, which accelerators.yaml does not list" for gpu in sorted(named - known)
    ]
    problems += [
        f"accelerators.yaml offers {acc.name} in {region}, which zones.yaml does not list"
        for acc in catalog.accelerators
        for region in acc.regions
        if region not in facts.regions
    ]
    return problems
