"""YAML reading that remembers where every value came from.

ruamel.yaml's round-trip loader records the line of each key and list item;
we keep that so an error (or a provenance listing) can point at a line.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from tierstack.generator.errors import UserError

Path_ = tuple[str | int, ...]


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def parse(text: str, source: str | Path) -> Any:
    """Parse YAML text; a syntax error becomes a UserError with its line."""
    try:
        return _loader().load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
            # the parser notices an unclosed bracket or quote a line later; say where it began
            problem += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        raise UserError(
            f"this is not valid YAML: {problem}",
            file=source,
            line=line,
            hint="check the indentation and quoting around that line",
        ) from None
    except YAMLError as exc:
        raise UserError(f"this is not valid YAML: {exc}", file=source) from None


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "check the path, or run 'tierstack init' to create one"
        raise UserError(f"{what} not found", file=path, hint=hint) from None
    except IsADirectoryError:
        raise UserError(f"{what} is a directory, not a file", file=path) from None
    except UnicodeDecodeError:
        raise UserError(f"{what} is not UTF-8 text", file=path) from None
    except OSError as exc:
        raise UserError(f"cannot read {what}: {exc.strerror}", file=path) from None


def load_file(path: Path, what: str = "file") -> Any:
    return parse(read_text(path, what), path)


def key_line(node: Any, key: Any) -> int | None:
    """1-based line of a mapping key or a sequence item in a round-trip document."""
    try:
        if isinstance(node, CommentedMap):
            return node.lc.key(key)[0] + 1
        if isinstance(node, CommentedSeq):
            return node.lc.item(key)[0] + 1
    except (KeyError, TypeError, AttributeError, IndexError):
        pass
    return None


def line_of(doc: Any, path: Path_) -> int | None:
    """1-based line of the value at `path` in a round-trip document, if known.

    Walks as deep as the path goes; a missing tail falls back to the deepest
    node found, which is the most useful line for 'missing field' errors.
    """
    node, line = doc, None
    for key in path:
        found = (isinstance(node, CommentedMap) and key in node) or (
            isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node)
        )
        if not found:
            if line is None and hasattr(node, "lc"):
                line = node.lc.line + 1
            break
        line = key_line(node, key) or line
        node = node[key]
    return line


def to_plain(node: Any) -> Any:
    """Round-trip containers to plain dict/list/scalars (keys as str)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if hasattr(node, "__class__") and node.__class__.__module__.startswith("ruamel"):
        # ScalarFloat, ScalarInt, ScalarBoolean, TaggedScalar...: keep the python value
        for base in (bool, int, float, str):
            if isinstance(node, base):
                return base(node)
        return str(node)
    return node


def dump(data: Any) -> str:
    """Plain data to block-style YAML, keys in the order given."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # keep keys in the order given (the safe dumper sorts them otherwise); the output order is part of the UX
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()
