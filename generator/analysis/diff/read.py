"""Reading a synthesis: a parsed `cdk.tf.json` as a Stack (its resources without `//` metadata, its `moved`
and `removed` blocks, the rest), and every `stacks/<stack>/cdk.tf.json` of an output directory read through
the bounded reader, so a FIFO, a huge file, deep JSON or a link out of the directory is a UserError.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tierstack.generator.analysis.diff.model import METADATA_KEY, Resource, Stack
from tierstack.generator.analysis.diff.ownership import _capability
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.paths import DEFAULT_OUT
from tierstack.generator.synth.stacks import STACK_FILE


def parse_stack(name: str, data: Mapping[str, Any]) -> Stack:
    """A stack from its parsed `cdk.tf.json`; ValueError when it is not Terraform JSON as cdktn writes it."""
    if not isinstance(data, Mapping):
        raise ValueError("the top level is not a JSON object")
    resources: dict[str, Resource] = {}
    by_type = data.get("resource", {})
    if not isinstance(by_type, Mapping):
        raise ValueError("'resource' is not an object")
    for rtype, named in by_type.items():
        if not isinstance(named, Mapping):
            raise ValueError(f"'resource.{rtype}' is not an object")
        for rname, body in named.items():
            if not isinstance(body, Mapping):
                raise ValueError(f"'resource.{rtype}.{rname}' is not an object")
            resource = Resource(name, rtype, rname, _capability(body), _without_metadata(body))
            resources[resource.address] = resource
    moved = tuple(
        (str(block["from"]), str(block["to"]))
        for block in _blocks(data.get("moved"))
        if isinstance(block, Mapping) and "from" in block and "to" in block
    )
    forgotten = frozenset(
        str(block["from"])
        for block in _blocks(data.get("removed"))
        if isinstance(block, Mapping)
        and "from" in block
        and any(isinstance(lc, Mapping) and lc.get("destroy") is False for lc in _blocks(block.get("lifecycle")))
    )
    blocks = {
        key: _without_metadata(value)
        for key, value in data.items()
        if key not in (METADATA_KEY, "resource", "moved", "removed")
    }
    return Stack(name, resources, moved, forgotten, blocks)


def _blocks(value: Any) -> list[Any]:
    """A Terraform JSON block that may be written as one object or a list of them."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _without_metadata(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_metadata(v) for k, v in value.items() if k != METADATA_KEY}
    if isinstance(value, list):
        return [_without_metadata(v) for v in value]
    return value


def load_synthesis(root: Path, label: str | None = None, stacks: list[str] | None = None) -> dict[str, Stack]:
    """Every `stacks/<stack>/cdk.tf.json` of an output directory (or of the `cdktf.out/` inside `root`).

    `label` names the directory in messages; `stacks` keeps only those stacks.
    """
    shown = label or str(root)
    if not (root / "stacks").is_dir() and (root / DEFAULT_OUT / "stacks").is_dir():
        root = root / DEFAULT_OUT
    folder = root / "stacks"
    if not folder.is_dir():
        raise UserError(
            f"no stacks/<stack>/{STACK_FILE} here: not a cdktf output directory",
            file=shown,
            hint="give the output directory `tierstack generate` wrote (cdktf.out by default), or a git ref",
        )
    found: dict[str, Stack] = {}
    for directory in sorted(folder.iterdir()):
        path = directory / STACK_FILE
        if stacks is not None and directory.name not in stacks:
            continue
        if not (path.exists() or path.is_symlink()):  # a folder without a stack; a FIFO there is read, refused
            continue
        found[directory.name] = _read_stack(root, directory.name, f"{shown}/stacks/{directory.name}/{STACK_FILE}")
    return found


def _read_stack(root: Path, name: str, shown: str) -> Stack:
    """One stack of an output directory, through the bounded reader: a FIFO, a sparse 4 GB file, JSON
    nested past any walk's depth or a link to a file outside `root` is a UserError naming it."""
    from tierstack.generator.core import fsio

    hint = "regenerate it with `tierstack generate`"
    data = fsio.read_json(
        root / "stacks" / name / STACK_FILE, "Terraform JSON stack", fsio.MAX_JSON_BYTES, hint, shown=shown, within=root
    )
    try:
        return parse_stack(name, data)
    except ValueError as exc:
        raise UserError(f"not Terraform JSON: {exc}", file=shown, hint=hint) from None
