"""YAML reading that remembers where every value came from.

ruamel.yaml's round-trip loader records the line of each key and list item;
we keep that so an error (or a provenance listing) can point at a line.

Configs and blueprints are untrusted input (they come from pull requests), so
reading and parsing are bounded: a file must be a regular file of at most
MAX_FILE_BYTES; a document may nest at most MAX_DEPTH levels, counting the
levels that aliases bring in; and aliases may bring in at most
MAX_ALIAS_NODES nodes in all, and never a node that contains the alias. All
of this is checked on the composed node graph, before anything walks the
document recursively, so an alias bomb costs milliseconds, not gigabytes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode
from ruamel.yaml.scanner import RoundTripScanner

from tierstack.generator.core import fsio
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.fsio import Unreadable, size_text

__all__ = ["Unreadable", "size_text"]  # re-exported: the reader lives in fsio, shared with plans and manifests

Path_ = tuple[str | int, ...]

# A config or a blueprint. The largest shipped file is 6 KiB; parsing is the cost this bounds: ruamel's
# round-trip parser reads about 50 KiB/s of dense YAML, so 1 MiB took 30-40 s and 600 MB, 128 KiB a few s.
MAX_FILE_BYTES = 128 * 1024
MAX_DEPTH = 64  # nesting levels of mappings and lists; tierstack's own documents use under 10
MAX_ALIAS_NODES = 10_000  # nodes that aliases bring in, summed over every alias of a document


class _Refused(Exception):
    """A document over one of the limits, or a value Python cannot hold; `parse` makes it a UserError."""

    def __init__(self, message: str, line: int | None, hint: str) -> None:
        super().__init__(message)
        self.message, self.line, self.hint = message, line, hint


def _line_of_mark(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


class _BoundedComposer(Composer):
    """ruamel's composer with a depth limit and an alias budget, checked before construction.

    An alias is composed as a reference to the anchored node, so the node graph
    stays small; it is walking the document afterwards (constructing plain
    data, validating) that expands it. Here the graph is measured once, each
    node once (memoised), before anything expands it.
    """

    def compose_document(self) -> Any:
        self._ts_depth = 0
        self._ts_aliases: list[tuple[Node, Any]] = []
        node = super().compose_document()
        if node is not None and self._ts_aliases:
            _check_aliases(node, self._ts_aliases)
        return node

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            mark = self.parser.peek_event().start_mark
            node = super().compose_node(parent, index)
            self._ts_aliases.append((node, mark))
            return node
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor: Any) -> Any:
        return self._nested(super().compose_sequence_node, anchor)

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = self._nested(super().compose_mapping_node, anchor)
        for key, _ in node.value:
            _check_key(key)
        return node

    def _nested(self, compose: Any, anchor: Any) -> Any:
        self._ts_depth += 1
        if self._ts_depth > MAX_DEPTH:
            mark = self.parser.peek_event().start_mark
            raise _Refused(
                f"the document nests more than {MAX_DEPTH} levels deep",
                _line_of_mark(mark),
                f"tierstack reads at most {MAX_DEPTH} levels of mappings and lists",
            )
        try:
            return compose(anchor)
        finally:
            self._ts_depth -= 1


def _tag(node: Node) -> str:
    tag = node.tag
    return tag if isinstance(tag, str) else str(getattr(tag, "value", tag))


def _check_key(key: Node) -> None:
    """A mapping key is one value that names something: a list, a mapping or null (`? [a, b]`, `~:`) is refused.

    Every key tierstack reads names a field, a label, an environment or a setting. A list or a mapping as a
    key would reach messages as Python's repr of it, and null as 'None'; refusing them here, at their line,
    is one rule for every file.
    """
    if isinstance(key, (SequenceNode, MappingNode)):
        kind = "a list" if isinstance(key, SequenceNode) else "a mapping"
        raise _Refused(
            f"a key must be a single name, not {kind}",
            _line_of_mark(key.start_mark),
            "write the key as text, e.g. cost-center:, or quote it",
        )
    if _tag(key) == "tag:yaml.org,2002:null":
        written = str(key.value)
        if not written:
            raise _Refused("this key is empty (null in YAML)", _line_of_mark(key.start_mark), "write the name")
        raise _Refused(
            f"a key must name something; '{written}' is null in YAML",
            _line_of_mark(key.start_mark),
            f"write the name; to mean the text {written}, quote it: '{written}':",
        )


class _BoundedScanner(RoundTripScanner):
    """ruamel's scanner, stopping at MAX_DEPTH open collections.

    The scanner looks ahead over every open flow collection for each token, so
    `[[[[…` costs quadratic time long before the composer sees the depth;
    refusing here keeps a deeply nested file linear.
    """

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: Any) -> None:
        if len(self.flow_context) >= MAX_DEPTH:
            self._too_deep()
        super().fetch_flow_collection_start(TokenClass, to_push)

    def add_indent(self, column: int) -> bool:
        if self.indent < column and len(self.indents) > MAX_DEPTH:
            self._too_deep()
        return bool(super().add_indent(column))

    def _too_deep(self) -> None:
        raise _Refused(
            f"the document nests more than {MAX_DEPTH} levels deep",
            _line_of_mark(self.reader.get_mark()),
            f"tierstack reads at most {MAX_DEPTH} levels of mappings and lists",
        )


class _CheckedConstructor(RoundTripConstructor):
    """ruamel's constructor; a scalar Python refuses (an integer of 5,000 digits, 2024-13-45) gets its line."""

    def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
        try:
            return super().construct_non_recursive_object(node, tag)
        except (ValueError, OverflowError) as exc:
            raise _Refused(
                f"this value cannot be read: {exc}", _line_of_mark(node.start_mark), "quote it to keep it as text"
            ) from None


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_aliases(root: Node, aliases: list[tuple[Node, Any]]) -> None:
    """Refuse a cycle through an alias, alias expansion over budget, or depth through aliases.

    Sizes (nodes when fully expanded) and heights are computed once per node,
    iteratively, so neither a wide nor a deep graph costs more than its nodes.
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    cycle_at: dict[int, Node] = {}
    for start in [root, *(node for node, _ in aliases)]:
        if id(start) in size:
            continue
        stack: list[tuple[Node, bool]] = [(start, False)]
        while stack:
            node, done = stack.pop()
            key = id(node)
            if done:
                on_path.discard(key)
                kids = _children(node)
                size[key] = min(1 + sum(size[id(k)] for k in kids), MAX_ALIAS_NODES + 1)
                level = 1 if isinstance(node, (SequenceNode, MappingNode)) else 0
                height[key] = level + max((height[id(k)] for k in kids), default=0)
                continue
            if key in size:
                continue
            on_path.add(key)
            stack.append((node, True))
            for kid in _children(node):
                if id(kid) in on_path:
                    cycle_at[id(kid)] = kid
                    continue
                if id(kid) not in size:
                    stack.append((kid, False))
            if cycle_at:
                break
        if cycle_at:
            break
    if cycle_at:
        for node, mark in aliases:
            if id(node) in cycle_at:
                raise _Refused(
                    "this alias refers to a node that contains it, so it would never end",
                    _line_of_mark(mark),
                    "an alias may only repeat a node that is complete where it is used",
                )
    if height.get(id(root), 0) > MAX_DEPTH:
        deepest = max(aliases, key=lambda pair: height.get(id(pair[0]), 0))
        raise _Refused(
            f"with its aliases expanded, the document nests more than {MAX_DEPTH} levels deep",
            _line_of_mark(deepest[1]),
            f"tierstack reads at most {MAX_DEPTH} levels of mappings and lists",
        )
    total = 0
    for node, mark in aliases:
        total += size[id(node)]
        if total > MAX_ALIAS_NODES:
            raise _Refused(
                f"aliases repeat more than {MAX_ALIAS_NODES:,} values in all (an alias bomb?)",
                _line_of_mark(mark),
                "write the values out, or use fewer and smaller aliases",
            )


def _loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Scanner = _BoundedScanner
    yaml.Composer = _BoundedComposer
    yaml.Constructor = _CheckedConstructor
    return yaml


def parse(text: str, source: str | Path) -> Any:
    """Parse YAML text; a syntax error or a document over a limit becomes a UserError with its line."""
    try:
        return _loader().load(io.StringIO(text))
    except _Refused as exc:
        raise UserError(exc.message, file=source, line=exc.line, hint=exc.hint) from None
    except RecursionError:
        raise UserError(f"the document nests too deeply to read (more than {MAX_DEPTH} levels)", file=source) from None
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


def read_bytes_bounded(path: Path, what: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """A config's or a blueprint's bytes, through the one bounded reader every file goes through (fsio)."""
    return fsio.read_bytes_bounded(path, what, limit, **_LIMITS)


_LIMITS: dict[str, str] = {
    "limit_of": "a config or a blueprint",
    "too_large_hint": "tierstack's own blueprints are under 10 KiB, a tierstack.yaml is about 1 KiB; is this the "
    "right file?",
    "missing_hint": "check the path, or run 'tierstack init' to create one",
}


def read_text(path: Path, what: str) -> str:
    """A config or a blueprint as text: a bounded, regular, UTF-8 file, newlines normalised as open() does."""
    return fsio.read_text(path, what, MAX_FILE_BYTES, **_LIMITS)


def load_file(path: Path, what: str = "file") -> Any:
    return parse(read_text(path, what), path)


def plain_key(key: Any) -> str:
    """A mapping key as to_plain gives it to the models, and so as error locations name it: as text, as
    the file writes it (`1:` is '1', `true:` is 'true')."""
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def document_key(node: Any, key: Any) -> Any:
    """The key of the round-trip mapping `node` that `key` names, as written or as plain_key gives it; None if none.

    A validation error names `1:` as '1'; the document holds the integer 1, and that is the key to look up.
    """
    if not isinstance(node, CommentedMap):
        return None
    try:
        if key in node:
            return key
    except TypeError:  # an unhashable key
        return None
    wanted = plain_key(key)
    return next((k for k in node if plain_key(k) == wanted), None)


def key_line(node: Any, key: Any) -> int | None:
    """1-based line of a mapping key or a sequence item in a round-trip document."""
    try:
        if isinstance(node, CommentedMap):
            written = document_key(node, key)
            if written is None:
                return None
            line: int = node.lc.key(written)[0]
            return line + 1
        if isinstance(node, CommentedSeq):
            line = node.lc.item(key)[0]
            return line + 1
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
        if isinstance(node, CommentedMap):
            written = document_key(node, key)
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            written = key
        else:
            written = None
        if written is None:
            if line is None and hasattr(node, "lc"):
                line = node.lc.line + 1
            break
        line = key_line(node, written) or line
        node = node[written]
    return line


def to_plain(node: Any) -> Any:
    """Round-trip containers to plain dict/list/scalars (keys as str)."""
    if isinstance(node, dict):
        return {plain_key(k): to_plain(v) for k, v in node.items()}
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
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # ruamel annotates it as None
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()
