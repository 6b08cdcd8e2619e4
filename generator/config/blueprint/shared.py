"""One merge of a chain, shared by the renders that differ from it only in a few values."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tierstack.generator.config import rendercache
from tierstack.generator.config.blueprint.document import PassedOn, _layer_of, _provenance_at
from tierstack.generator.config.blueprint.layer import APPEND, Key, Layer, _append_key, leaf_paths, merge
from tierstack.generator.config.blueprint.template import References
from tierstack.generator.config.provenance import Provenance, Source
from tierstack.generator.core.errors import UserError

# Merging a chain's layers walks every leaf of every layer, for every member of a fleet, though members
# mostly render the same chain but for a few values (level-0's `<name>-tfstate`) and for where a value they
# wrote themselves is attributed (a line that passes a variable on). So the chain is merged once from its
# full parses with nothing passed on (_Shared), and each render's differences are set on a copy: a value
# that differs, and the provenance of each leaf whose line passes on the user's value. That is what merge()
# gives as long as no blueprint merged later writes that leaf, a key above it, one below it, or appends to
# it (`name+:`): then the leaf is the later blueprint's, or combined with it, and the chain is merged anew.


@dataclass(frozen=True)
class _Rendered:
    """One blueprint of a chain as load() read it."""

    parsed: rendercache.Parsed
    origin: Source
    line_map: dict[int, int]
    references: References
    passed_on: PassedOn


Change = tuple[Key, Any, Provenance]  # a leaf of a render that differs from the shared merge's: path, value, where
Written = tuple[frozenset[Key], frozenset[Key]]  # the leaves of layers (names without the '+'), and every key above


@dataclass(frozen=True)
class _Shared:
    """A chain merged from its full parses, nothing passed on (read-only), and what says how a render differs."""

    layer: Layer
    candidates: tuple[tuple[int, ...], ...]  # per blueprint: its leaves on lines that may pass a variable on
    later: tuple[Written, ...]  # per blueprint: what the blueprints merged after it write
    roles: dict[str, _Role] = field(default_factory=dict)

    def environment_layer(self, role: str, changes: tuple[Change, ...]) -> Layer | None:
        """Blueprint.environment_layer of a render with these changes: the shared one's, with them set; None when
        the role's overrides write one of them otherwise than by replacing it (then only a merge of its own says
        what wins)."""
        if role not in self.roles:
            over = self.layer.sub("roles", role)
            self.roles[role] = _Role(merge(self.layer.sub("defaults"), over), over)
        found = self.roles[role]
        own: list[Change] = []
        for path, value, where in changes:
            if path[0] == "defaults" and _own(path[1:], found.written):
                own.append((path[1:], value, where))
            elif path[0] == "defaults" and found.replaces(path[1:]):
                continue  # the role's value and place win, whatever the default
            elif path[:2] == ("roles", role) and len(path) > 2:
                own.append((path[2:], value, where))
            elif path[0] == "defaults" or path[:2] == ("roles", role):
                return None
        return _with_changes(found.layer, own)


class _Role:
    """A shared chain's environment_layer for one role, and what the role's overrides write."""

    def __init__(self, layer: Layer, over: Layer) -> None:
        self.layer = layer
        self.leaves = frozenset(leaf_paths(over.data)) | frozenset(over.prov)  # as written, '+' kept
        self.written = _later([_written(over)])
        self.replacing = frozenset(leaf_paths(over.data)) & frozenset(over.prov)

    def replaces(self, path: Key) -> bool:
        """Whether the role writes this very leaf, not appending to it: merge() then gives the role's value
        and provenance there, whatever the default was."""
        return path in self.replacing and _append_key(path) not in self.leaves


_SHARED: OrderedDict[tuple[Any, ...], _Shared | None] = OrderedDict()
MAX_SHARED = 64  # chains kept: a fleet's few blueprint chains


def _merged_chain(rendered: list[_Rendered]) -> tuple[Layer, _Shared | None, tuple[Change, ...]]:
    """The chain's layers merged, the first blueprint's last (it wins); `extends` dropped. With the shared merge
    it is a copy of, and the changes set on it."""
    shared = _shared(rendered)
    changes = _differing(shared, rendered) if shared is not None else None
    if shared is not None and changes is not None:
        return _with_changes(shared.layer, changes), shared, changes
    return _merge_layers([_layer_of(r.parsed, r.origin, r.line_map, r.passed_on) for r in rendered]), None, ()


def _merge_layers(layers: list[Layer]) -> Layer:
    merged = Layer({}, {})
    for layer in reversed(layers):
        merged = merge(merged, layer)
    merged.data.pop("extends", None)
    return merged


def _shared(rendered: list[_Rendered]) -> _Shared | None:
    """The chain merged from its full parses, once per chain; None when that merge fails (each render's says
    why, with its own provenance)."""
    key = tuple((r.parsed.root, r.origin, tuple(r.line_map.values())) for r in rendered)
    if key in _SHARED:
        _SHARED.move_to_end(key)
        return _SHARED[key]
    try:
        layer = _merge_layers([_layer_of(r.parsed.root, r.origin, r.line_map, _nothing_passed_on) for r in rendered])
    except UserError:
        found = None
    else:
        candidates = tuple(_passing_on(r.parsed.root, r.line_map, r.references) for r in rendered)
        leaves = [frozenset(_unappended(leaf.path) for leaf in r.parsed.root.leaves) for r in rendered]
        later = tuple(_later(leaves[:index]) for index in range(len(leaves)))  # merged after: those before
        found = _Shared(layer, candidates, later)
    _SHARED[key] = found
    if len(_SHARED) > MAX_SHARED:
        _SHARED.popitem(last=False)
    return found


def _nothing_passed_on(line: int, value: Any) -> Source | None:
    return None


def _passing_on(parsed: rendercache.Parsed, line_map: dict[int, int], references: References) -> tuple[int, ...]:
    """The leaves on template lines that write a variable out (only those can be attributed to the user)."""
    return tuple(
        index
        for index, leaf in enumerate(parsed.leaves)
        if leaf.line and line_map.get(leaf.line, leaf.line) in references
    )


def _unappended(path: Key) -> Key:
    return (*path[:-1], path[-1].removesuffix(APPEND)) if path else path


def _written(layer: Layer) -> frozenset[Key]:
    """The leaves a layer writes (its data's and its provenance's), names without the '+'."""
    return frozenset(_unappended(path) for path in (*leaf_paths(layer.data), *layer.prov))


def _later(leaf_sets: list[frozenset[Key]]) -> Written:
    """The leaves of the blueprints merged after one, and every key path above them."""
    leaves = frozenset().union(*leaf_sets)
    return leaves, frozenset(path[:end] for path in leaves for end in range(1, len(path)))


def _differing(shared: _Shared, rendered: list[_Rendered]) -> tuple[Change, ...] | None:
    """This chain's own values and attributions, where they differ from the shared merge's; None when a later
    blueprint writes one of those leaves (then only a merge of its own says what wins)."""
    changes: list[Change] = []
    for index, r in enumerate(rendered):
        changed = set(r.parsed.changed)
        for leaf_index in sorted(changed.union(shared.candidates[index])):
            leaf = r.parsed.leaves[leaf_index]
            line = r.line_map.get(leaf.line, leaf.line) if leaf.line else None
            written = r.passed_on(line, leaf.value) if line else None
            if written is None and leaf_index not in changed:
                continue
            if not _own(leaf.path, shared.later[index]):
                return None
            where = Provenance.of(written) if written is not None else _provenance_at(r.origin, line)
            changes.append((leaf.path, leaf.value, where))
    return tuple(changes)


def _with_changes(layer: Layer, changes: Iterable[Change]) -> Layer:
    """A copy of a shared layer (its caller's to change) with these leaves set; each leaf is in the layer."""
    data, prov = rendercache.copied(layer.data), dict(layer.prov)
    for path, value, where in changes:
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = rendercache.copied(value)
        prov[path] = where
    return Layer(data, prov)


def _own(path: Key, later: Written) -> bool:
    """Whether a leaf is the merged chain's as its blueprint wrote it: no later blueprint writes it, a key
    above it or below it; not an append (`name+:`) nor under `extends` (which the merge drops)."""
    leaves, above = later
    if not path or path[0] == "extends" or any(part.endswith(APPEND) for part in path):
        return False
    return path not in above and not any(path[:end] in leaves for end in range(1, len(path) + 1))
