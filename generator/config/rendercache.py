"""A blueprint's rendered YAML, parsed once and shared by every render that differs only in a few values.

Parsing the rendered YAML round-trip (the lines are what provenance and errors need) is most of what
resolving a config costs: a fleet of 3,000 members parsed the same 134-line built-in blueprint 3,000
times. Their renders are not equal, though: level-0 writes `bucket: "<name>-tfstate"`, one line that
differs per member. So a render is compared with an earlier one of the same template, line by line; when
the only lines that differ each write one scalar of a mapping, in both texts, with the same key and the
same kind of value (a double-quoted string, or one of null, true, false and a number), the document is the
earlier one with those values replaced. Each new value is parsed alone by the same parser (yamlio.parse),
so its type and its checks are the same as in a full parse (a quoted string of printable ASCII without
escapes is its text, which is what the parser reads). Anything else (a line added or removed, a value in a
list, two keys on one line, an anchor or a merge key anywhere, a line break other than \\n, a value the
parser refuses) is parsed in full, which gives the errors their lines.

Why a changed line cannot change anything but its own value: the key, its indentation and what follows
the value are the same in both texts; a double-quoted scalar ends on its line, and a plain scalar of the
earlier text did not go on to the next line (its parsed value is exactly what the line writes, checked
here), so the next lines, the same in both texts, are read in the same state.

Documents here are shared: read them, never change them (`Parsed.plain` is copied for each caller by
`copied`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, merge_attrib

from tierstack.generator.core.errors import UserError
from tierstack.generator.core.yamlio import key_line, parse, to_plain

Key = tuple[str, ...]

MAX_CHANGED = 32  # lines that may differ from the earlier render; more, and it is parsed in full
_OTHER_BREAKS = ("\r", "\x85", "\u2028", "\u2029")  # what YAML also counts as a line break; str.split("\n") not

# `key: value  # comment`: a double-quoted string of printable ASCII (escapes included, as tojson writes
# them), or a JSON literal; nothing else on the line but spaces or a comment
_ENTRY = re.compile(
    r"(?P<head> *[A-Za-z0-9_][A-Za-z0-9_.-]*: +)"
    r'(?P<value>"(?:[ !#-\[\]-~]|\\[ -~])*"|null|true|false|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)'
    r"(?P<tail> *| +#.*)"
)
_LITERAL = re.compile(r'"[ !#-\[\]-~]*"')  # printable ASCII but the quote and the backslash: the text is the value


@dataclass(frozen=True)
class Leaf:
    """A leaf as blueprint._to_layer walks the document: a scalar, a list or an empty mapping."""

    path: Key  # the keys as text, as a Layer's provenance names them
    keys: tuple[Any, ...]  # the keys as the document holds them (1, true)
    line: int | None  # 1-based line of its key in the rendered text; None when unknown
    value: Any  # to_plain of the value


@dataclass(frozen=True, eq=False)  # equal only to itself: a key of the caches that share merges (blueprint/shared.py)
class Parsed:
    """A rendered blueprint's document, its leaves in document order, and its plain data."""

    text: str
    doc: CommentedMap
    leaves: tuple[Leaf, ...]
    plain: dict[str, Any]
    scalars: Mapping[int, int] | None  # 0-based line -> the leaf whose scalar is written on it; None: never patched
    base: Parsed | None = None  # the full parse this one is patched from; None: it is one
    changed: tuple[int, ...] = ()  # the leaves whose values differ from the base's

    @property
    def root(self) -> Parsed:
        """The full parse: this one, or the one it was patched from (same leaves, same lines)."""
        return self.base if self.base is not None else self


def parsed(text: str, doc: CommentedMap) -> Parsed:
    """The parse of `text`, with what a later render is compared with."""
    leaves: list[Leaf] = []
    on_line: dict[int, list[int]] = {}

    def walk(node: CommentedMap, path: Key, keys: tuple[Any, ...]) -> None:
        for key, value in node.items():
            here, held = (*path, str(key)), (*keys, key)
            if isinstance(value, CommentedMap) and value:
                walk(value, here, held)
                continue
            position = (node.lc.data or {}).get(key)
            if not isinstance(value, (list, dict)) and position is not None and position[0] == position[2]:
                on_line.setdefault(position[0], []).append(len(leaves))  # a scalar on its key's line
            leaves.append(Leaf(here, held, key_line(node, key), to_plain(value)))

    walk(doc, (), ())
    scalars = {line: found[0] for line, found in on_line.items() if len(found) == 1}
    patchable = not any(mark in text for mark in _OTHER_BREAKS) and _tree(doc)
    return Parsed(text, doc, tuple(leaves), to_plain(doc), scalars if patchable else None)


def _tree(doc: CommentedMap) -> bool:
    """Whether no node is in two places (an alias) and no mapping merges another (`<<:`): a value changed
    in one place then shows in another, which replacing it in one place would miss."""
    seen: set[int] = set()
    todo: list[Any] = [doc]
    while todo:
        node = todo.pop()
        if id(node) in seen or getattr(node, merge_attrib, None):
            return False
        seen.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        todo.extend(child for child in children if isinstance(child, (dict, list)))
    return True


def patched(base: Parsed, text: str) -> Parsed | None:
    """`text` parsed as `base` with the values of its changed lines replaced; None when it must be parsed in full."""
    if base.scalars is None or base.base is not None:  # only a full parse is compared with
        return None
    old, new = base.text.split("\n"), text.split("\n")
    if len(old) != len(new):
        return None
    changes: dict[int, Any] = {}
    for number, (before, after) in enumerate(zip(old, new, strict=True)):
        if before == after:
            continue
        index = base.scalars.get(number)
        if index is None or len(changes) >= MAX_CHANGED:
            return None
        value = _changed_value(before, after, base, base.leaves[index])
        if value is _REFUSED:
            return None
        changes[index] = value
    return _replaced(base, text, changes)


_REFUSED = object()


def _changed_value(before: str, after: str, base: Parsed, leaf: Leaf) -> Any:
    """The new value of a changed line, or _REFUSED when the change is not one scalar for another."""
    was, now = _ENTRY.fullmatch(before), _ENTRY.fullmatch(after)
    if was is None or now is None or (was["head"], was["tail"]) != (now["head"], now["tail"]):
        return _REFUSED
    if was["value"].startswith('"') != now["value"].startswith('"'):
        return _REFUSED  # a quoted string for a plain value, or back: parsed in full
    held: Any = base.doc
    for key in leaf.keys:
        held = held[key]
    old = _value(was["value"])
    if old is _REFUSED or type(old) is not type(held) or to_plain(old) != leaf.value:
        return _REFUSED  # the earlier document does not hold what the line writes: a plain scalar went on
    return _value(now["value"])


@functools.lru_cache(maxsize=4096)
def _value(written: str) -> Any:
    """A scalar as the blueprint parser reads it after `key: `; _REFUSED if the parser refuses it.

    A double-quoted string without escapes is its text (the parser's own reading, without starting it)."""
    if _LITERAL.fullmatch(written):
        return written[1:-1]
    try:
        doc = parse(f"value: {written}\n", "<value>")
    except UserError:
        return _REFUSED
    if not isinstance(doc, CommentedMap) or list(doc) != ["value"]:
        return _REFUSED
    return doc["value"]


def _replaced(base: Parsed, text: str, changes: dict[int, Any]) -> Parsed:
    doc, plain, leaves = base.doc, base.plain, list(base.leaves)
    for index, value in changes.items():
        leaf = leaves[index]
        doc = _with(doc, leaf.keys, value)
        plain = _with_plain(plain, leaf.path, to_plain(value))
        leaves[index] = Leaf(leaf.path, leaf.keys, leaf.line, to_plain(value))
    return Parsed(text, doc, tuple(leaves), plain, base.scalars, base.root, tuple(sorted(changes)))


def _with(node: CommentedMap, keys: tuple[Any, ...], value: Any) -> CommentedMap:
    """A copy of `node` with the value at `keys` replaced; what is not on the way is shared, lines kept."""
    out = CommentedMap()
    for key, item in node.items():
        out[key] = item
    node.copy_attributes(out)  # the lines and columns (shared: they are the same), the comments
    head = keys[0]
    out[head] = _with(node[head], keys[1:], value) if len(keys) > 1 else value
    return out


def _with_plain(data: dict[str, Any], path: Key, value: Any) -> dict[str, Any]:
    head = path[0]
    return {**data, head: _with_plain(data[head], path[1:], value) if len(path) > 1 else value}


def copied(data: Any) -> Any:
    """A copy of plain data (dicts, lists, scalars) that its caller may change."""
    if isinstance(data, dict):
        return {key: copied(value) for key, value in data.items()}
    if isinstance(data, list):
        return [copied(value) for value in data]
    return data
