"""The built-in blueprints, shipped in tierstack.blueprints: their names, template sources and headers.

A built-in blueprint is named `tierstack:NAME`, its lines `tierstack:NAME:LINE`;
`tierstack blueprints --show NAME` prints it.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

from tierstack.generator.config.provenance import BUILTIN_PREFIX
from tierstack.generator.core.errors import UserError, did_you_mean
from tierstack.generator.core.yamlio import parse, to_plain


def builtin_names() -> list[str]:
    return list(_builtin_names())


@functools.cache
def _builtin_names() -> tuple[str, ...]:
    """The installed package's blueprints, listed once: a fleet's every member looks its blueprint up."""
    files = resources.files("tierstack.blueprints")
    return tuple(sorted(p.name.removesuffix(".yaml.j2") for p in files.iterdir() if p.name.endswith(".yaml.j2")))


def builtin_text(name: str, referrer: str | None = None, field_name: str | None = None, line: int | None = None) -> str:
    """The template source of a built-in blueprint; an unknown name is an error listing the known ones.

    `referrer`, `line` and `field_name` say where the name is written, for that error."""
    names = _builtin_names()
    if name not in names:
        builtins = "built-in blueprints: " + ", ".join(names)
        close = did_you_mean(name, names)
        raise UserError(
            f"'{name}' is not a built-in blueprint",
            file=referrer,
            line=line,
            field=field_name,
            hint=f"{close} {builtins}" if close else builtins,
        )
    return _builtin_source(name)


@functools.cache
def _builtin_source(name: str) -> str:
    return resources.files("tierstack.blueprints").joinpath(f"{name}.yaml.j2").read_text(encoding="utf-8")


_HEADER = re.compile(r"^(extends|tier|description):[ \t]*(\S.*)$")


def builtin_summaries() -> list[dict[str, Any]]:
    """Name, tier, description and what it extends, for each built-in blueprint (`tierstack blueprints`).

    Read from the template source without rendering it: the built-ins write these keys on plain lines.
    """
    out = []
    for name in builtin_names():
        header = "\n".join(
            line for line in builtin_text(name).splitlines() if _HEADER.fullmatch(line) and "{" not in line
        )
        doc = to_plain(parse(header, BUILTIN_PREFIX + name)) or {}
        out.append(
            {
                "name": name,
                "tier": doc.get("tier"),
                "description": doc.get("description") or "",
                "extends": doc.get("extends"),
            }
        )
    return out
