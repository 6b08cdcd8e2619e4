"""Terraform values in the plugin protocol: msgpack with cty's unknown marker, shaped by a schema.

Types are cty types as `terraform providers schema -json` writes them:
"string", "number", "bool", "dynamic", ["list", T], ["set", T], ["map", T],
["object", {name: T}]. A block's type is implied by its attributes and nested
blocks (list and set blocks are lists and sets of objects, single ones objects).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgpack


class _Unknown:
    """A value Terraform will only know after apply (cty's unknown)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
# cty encodes an unknown as msgpack extension 0; Terraform >= 1.6 may send refined unknowns as extension 12
_UNKNOWN_EXTS = (0, 12)


def _ext_hook(code: int, data: bytes) -> Any:
    if code in _UNKNOWN_EXTS:
        return UNKNOWN
    raise ValueError(f"unexpected msgpack extension {code}")


def decode(raw: bytes) -> Any:
    if not raw:
        return None
    return msgpack.unpackb(raw, ext_hook=_ext_hook, raw=False, strict_map_key=False)


def _default(value: Any) -> Any:
    if value is UNKNOWN:
        return msgpack.ExtType(0, b"\x00")
    raise TypeError(f"cannot encode {value!r}")


def encode(value: Any) -> bytes:
    return msgpack.packb(value, default=_default, use_bin_type=True)


def block_type(block: dict[str, Any]) -> list[Any]:
    """The object type a schema block implies."""
    attrs: dict[str, Any] = {name: a["type"] for name, a in block.get("attributes", {}).items()}
    for name, nested in block.get("block_types", {}).items():
        inner = block_type(nested["block"])
        mode = nested["nesting_mode"]
        attrs[name] = inner if mode == "single" else [mode if mode in ("list", "set") else "list", inner]
    return ["object", attrs]


def conform(value: Any, ty: Any) -> Any:
    """Value shaped to the type: objects get exactly their attributes (missing ones null)."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(ty, list):
        kind = ty[0]
        if kind == "object":
            source = value if isinstance(value, dict) else {}
            return {name: conform(source.get(name), sub) for name, sub in ty[1].items()}
        if kind in ("list", "set"):
            return [conform(v, ty[1]) for v in value]
        if kind == "map":
            return {k: conform(v, ty[1]) for k, v in value.items()}
    if ty == "number" and isinstance(value, str):
        return float(value) if "." in value else int(value)
    return value


def seed_of(*parts: Any) -> str:
    """A stable digest of known values, the root of every value the stand-in invents."""
    text = json.dumps(parts, sort_keys=True, default=lambda v: "<unknown>")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def number_from(seed: str, digits: int = 12) -> int:
    """A deterministic number of `digits` digits (project numbers have 12)."""
    return 10 ** (digits - 1) + int(seed[:16], 16) % (9 * 10 ** (digits - 1))


def invent(ty: Any, seed: str, name: str) -> Any:
    """A deterministic value of the type, for an attribute only the real API would know."""
    if ty == "string":
        return f"standin-{name}-{seed[:10]}"
    if ty == "number":
        return number_from(seed_of(seed, name), 6)
    if ty == "bool":
        return False
    if isinstance(ty, list) and ty[0] in ("list", "set", "map"):
        return {} if ty[0] == "map" else []
    if isinstance(ty, list) and ty[0] == "object":
        return {k: invent(sub, seed_of(seed, k), k) for k, sub in ty[1].items()}
    return None
