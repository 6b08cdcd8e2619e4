"""A layer: plain data with the provenance of every leaf, and the deep merge of two.

Merging: mappings merge key by key; anything else, lists included, replaces
the inherited value. A key written `name+:` appends its list to the inherited
one. Every resolved leaf keeps its provenance (generator/config/provenance.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tierstack.generator.config.provenance import Provenance
from tierstack.generator.core.errors import UserError

APPEND = "+"


Key = tuple[str, ...]


@dataclass
class Layer:
    """Plain data plus the provenance of every leaf path."""

    data: dict[str, Any]
    prov: dict[Key, Provenance] = field(default_factory=dict)

    def sub(self, *path: str) -> Layer:
        node: Any = self.data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return Layer({}, {})
        n = len(path)
        return Layer(node, {k[n:]: v for k, v in self.prov.items() if k[:n] == path and len(k) > n})


def merge(base: Layer, over: Layer) -> Layer:
    """Deep-merge `over` onto `base`; lists replace unless the key ends in '+'."""
    data = _merge_data(base.data, over.data, (), over)
    prov: dict[Key, Provenance] = {}
    appends = any(path and path[-1].endswith(APPEND) for path in over.prov)  # else no leaf has a `name+:`
    for path in leaf_paths(data):
        appended = over.prov.get(_append_key(path)) if appends else None
        inherited = base.prov.get(path)
        chosen = inherited + appended if appended and inherited else over.prov.get(path) or appended or inherited
        if chosen is not None:
            prov[path] = chosen
    return Layer(data, prov)


def _append_key(path: Key) -> Key:
    return (*path[:-1], path[-1] + APPEND) if path else path


def _merge_data(base: Any, over: Any, path: Key, over_layer: Layer) -> Any:
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    out = dict(base)
    for key, value in over.items():
        if key.endswith(APPEND) and len(key) > 1:
            target = key[: -len(APPEND)]
            inherited = out.get(target, [])
            if not isinstance(inherited, list) or not isinstance(value, list):
                message = f"'{key}' appends a list, but the inherited '{target}' is not a list"
                hint = f"write '{target}:' to replace the value instead"
                field_name = ".".join((*path, key))
                written = over_layer.prov.get((*path, key))
                if written is None:
                    raise UserError(message, field=field_name, hint=hint)
                raise written.error(message, field=field_name, hint=hint)
            out[target] = inherited + value
        elif key in out:
            out[key] = _merge_data(out[key], value, (*path, key), over_layer)
        else:
            out[key] = value
    return out


def leaf_paths(data: Any, path: Key = ()) -> list[Key]:
    """The paths of the leaves (scalars, lists, empty mappings) of `data`, in order; every merge walks them."""
    if not (isinstance(data, dict) and data):
        return [path] if path else []
    found: list[Key] = []
    _leaves(data, path, found)
    return found


def _leaves(data: dict[str, Any], path: Key, found: list[Key]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and value:
            _leaves(value, (*path, key), found)
        else:
            found.append((*path, key))
