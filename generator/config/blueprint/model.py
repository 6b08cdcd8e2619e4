"""What loading a blueprint gives: the Blueprint, the Links of its chain and the Regions it allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierstack.generator.config.blueprint.layer import Key, Layer, merge
from tierstack.generator.config.blueprint.shared import _Shared
from tierstack.generator.config.lockfile import Pinned
from tierstack.generator.config.provenance import Provenance


@dataclass(frozen=True)
class Link:
    """One blueprint of a chain, for lineage listings (`tierstack blueprints`) and upstream comparisons."""

    name: str  # as the chain names it: tierstack:NAME, a path, or REPOSITORY@REF:PATH
    kind: str  # "built-in", "local" or "git"
    tier: int | None
    description: str
    pin: Pinned | None = None  # from git: the pinned upstream (commit, ref, lock entry)
    repo_path: str | None = None  # from git: the file's path in the repository
    path: Path | None = None  # local: the file
    text: str = field(default="", compare=False, repr=False)  # the template source, to read a line of


@dataclass
class Blueprint:
    name: str  # built-in name, the path as given, or the git source's REPOSITORY@REF:PATH
    chain: list[str]  # this blueprint first, then what it extends, as messages name them (tierstack:NAME, a path)
    layer: Layer
    tier: int | None
    description: str
    links: list[Link] = field(default_factory=list)  # the chain, with what each link is
    notes: list[str] = field(default_factory=list)  # for the user: an upstream tag moved, fetched offline, ...
    # the merge this layer is a copy of, with `changes` (path, value, provenance) set: see _Shared
    shared: _Shared | None = field(default=None, repr=False, compare=False)
    changes: tuple[tuple[Key, Any, Provenance], ...] = field(default=(), repr=False, compare=False)

    @property
    def upstreams(self) -> list[Pinned]:
        """The git upstreams this chain pinned, nearest first."""
        out: list[Pinned] = []
        for link in self.links:
            if link.pin is not None and link.pin not in out:
                out.append(link.pin)
        return out

    def environment_layer(self, role: str) -> Layer:
        """defaults merged with the overrides for `role`."""
        found = self.shared.environment_layer(role, self.changes) if self.shared is not None else None
        return found if found is not None else merge(self.layer.sub("defaults"), self.layer.sub("roles", role))

    @property
    def regions(self) -> Regions:
        """The chain's `region:` and `allowed_regions:` (the nearest blueprint that writes each), checked by load."""
        return regions_of(self.layer)


@dataclass(frozen=True)
class Regions:
    """Where a blueprint lets its configs be: the default region and the allowed ones, each with where it is set.

    `default` is the blueprint's `region:`, else the first of `allowed_regions`, else None (tierstack's own
    default applies); `allowed` is None when the blueprint allows every region.
    """

    default: str | None = None
    default_at: Provenance | None = None
    allowed: tuple[str, ...] | None = None
    allowed_at: Provenance | None = None

    def allows(self, region: str) -> bool:
        return self.allowed is None or region in self.allowed


def regions_of(layer: Layer) -> Regions:
    """The Regions a merged blueprint layer sets (values as load checked them)."""
    region, allowed = layer.data.get("region"), layer.data.get("allowed_regions")
    allowed_at = layer.prov.get(("allowed_regions",))
    listed = tuple(str(r) for r in allowed) if isinstance(allowed, list) else None
    if isinstance(region, str):
        return Regions(region, layer.prov.get(("region",)), listed, allowed_at)
    if listed:
        return Regions(listed[0], allowed_at, listed, allowed_at)
    return Regions(None, None, listed, allowed_at)
