"""Renders and their parses kept per template and values, and renders made from an earlier one.

A fleet renders the same few blueprints for every member with values that
mostly agree: each render and parse is done once per blueprint and values, and
a render that differs in a variable or two is an earlier one with the lines
that read them rendered again.
"""

from __future__ import annotations

import functools
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes

from tierstack.generator.config import rendercache
from tierstack.generator.config.blueprint.document import _parse_rendered
from tierstack.generator.config.blueprint.lines import unmark
from tierstack.generator.config.blueprint.sandbox import MAX_ITERATIONS, MAX_OUTPUT, MAX_SECONDS, MAX_WORK, _Sandbox
from tierstack.generator.config.blueprint.template import References, _compiled, _render

_RenderKey = tuple[str, str, tuple[tuple[str, str], ...]]  # the template's name and source, the values it reads
_RENDERED: OrderedDict[_RenderKey, tuple[dict[int, int], References, rendercache.Parsed]] = OrderedDict()
MAX_RENDERED = 256  # distinct renders kept, least recently used dropped: a fleet's few blueprints times its values
_BASES: OrderedDict[tuple[str, str], list[rendercache.Parsed]] = OrderedDict()  # per template: full parses
MAX_BASES = 4  # full parses kept per template, that other renders are compared with (generator/config/rendercache.py)


def _rendered(
    name: str, source: str, variables: dict[str, Any]
) -> tuple[dict[int, int], References, rendercache.Parsed]:
    """render() and parse, once per blueprint and values of the variables it reads: the line map, the
    references and the parse are shared, never to be changed.

    Parsing the rendered YAML (round-trip, for the lines) is most of `validate`'s time; the members of a
    fleet mostly render a blueprint with the same values, so they share one parse, and a render that
    differs from an earlier one only in a few scalars is that parse with them replaced (rendercache).
    """
    try:
        _, _, used = _compiled(name, source)
    except Exception:
        _render(name, source, variables)  # compiles again, and says what is wrong as a UserError
        raise
    given = _given(variables, used)
    key = (name, source, tuple(given.items()))
    found = _RENDERED.get(key)
    if found is None:
        again = _rerendered(name, source, variables, given)
        if again is not None:
            text, line_map = again
            references = _compiled(name, source)[1]
        else:
            text, line_map, references = _render(name, source, variables)
            _remember(name, source, variables, given, text, line_map)
        found = (line_map, references, _parsed(name, source, text, line_map))
        _RENDERED[key] = found
        if len(_RENDERED) > MAX_RENDERED:
            _RENDERED.popitem(last=False)
    _RENDERED.move_to_end(key)
    return found


def _given(variables: dict[str, Any], used: frozenset[str]) -> dict[str, str]:
    """Each variable the template reads that the render is given, as JSON: a variable not given is not one
    set to null (`kms_key is defined`)."""
    return {k: json.dumps(variables[k], sort_keys=True, default=repr) for k in sorted(used) if k in variables}


# --- rendering again only the lines that read what differs -----------------------------------------------
#
# A fleet's members render a blueprint with values that differ in a variable or two: level-0 reads `name`
# on one line, `bucket: {{ state_bucket | default(name ~ "-tfstate") | tojson }}`. When every read of the
# variables that differ from an earlier full render (the root) is in an output at the top level of the
# template (not in a block, a loop or a macro, and not a name the template sets), the render is the root's
# with those lines rendered again, each alone: the rest of the template reads the same values as before.
# Each line is checked against the root first: alone, with the root's values, it must render to exactly
# the line the full render gave (so nothing around it, a trim marker say, takes part), and it must still
# render to one line. The sandbox's budgets are the root's, with the lines' own counts swapped. Anything
# else (a line that fails alone, a budget gone over, another variable given or not) is rendered in full,
# which says what is wrong, at its line.

MAX_LINES_AGAIN = 16  # lines rendered again instead of the whole template


@dataclass
class _Root:
    """A full render that later ones are rendered from."""

    variables: dict[str, Any]
    given: dict[str, str]  # as _given says
    lines: list[str]  # the rendered text's
    line_map: dict[int, int]
    counts: tuple[int, int, int]  # the sandbox's budgets used: work, iterations, output
    alone: dict[int, tuple[str, tuple[int, int, int]] | None] = field(default_factory=dict)  # source line ->
    at: dict[int, int] = field(init=False)  # source line -> its rendered line (index), if it renders to one

    def __post_init__(self) -> None:
        seen: dict[int, list[int]] = {}
        for rendered, source_line in self.line_map.items():
            seen.setdefault(source_line, []).append(rendered - 1)
        self.at = {line: found[0] for line, found in seen.items() if len(found) == 1}


_ROOTS: OrderedDict[tuple[str, str], _Root] = OrderedDict()


def _remember(
    name: str, source: str, variables: dict[str, Any], given: dict[str, str], text: str, line_map: dict[int, int]
) -> None:
    """Keep the first full render of a template (and what it used of the sandbox's budgets) as its root."""
    if (name, source) in _ROOTS:
        return
    env = _compiled(name, source)[0].environment  # the render just done: its counts are still there
    _ROOTS[(name, source)] = _Root(
        dict(variables), given, text.split("\n"), line_map, (env.work, env.iterations, env.output)
    )
    if len(_ROOTS) > MAX_RENDERED:
        _ROOTS.popitem(last=False)


def _rerendered(
    name: str, source: str, variables: dict[str, Any], given: dict[str, str]
) -> tuple[str, dict[int, int]] | None:
    """The render of `source` with `variables`, from its root's with the lines that read what differs rendered
    again; None when it must be rendered in full."""
    root = _ROOTS.get((name, source))
    if root is None or given.keys() != root.given.keys():
        return None
    differ = {k for k, value in given.items() if value != root.given[k]}
    reads, elsewhere = _line_reads(name, source)
    lines = sorted(line for line, names in reads.items() if names & differ)
    if not differ or differ & elsewhere or not lines or len(lines) > MAX_LINES_AGAIN:
        return None
    text, counts = list(root.lines), list(root.counts)
    for line in lines:
        at = root.at.get(line)
        if line not in root.alone:
            root.alone[line] = _alone(name, source, line, root.variables)
        before, now = root.alone[line], _alone(name, source, line, variables)
        if at is None or before is None or now is None or before[0] != root.lines[at] or "\n" in now[0]:
            return None
        text[at] = now[0]
        counts = [total - old + new for total, old, new in zip(counts, before[1], now[1], strict=True)]
    if counts[0] > MAX_WORK or counts[1] > MAX_ITERATIONS or counts[2] > MAX_OUTPUT:
        return None
    return "\n".join(text), root.line_map


def _alone(name: str, source: str, line: int, variables: dict[str, Any]) -> tuple[str, tuple[int, int, int]] | None:
    """One source line rendered as a template of its own: its text, and what it used of the budgets."""
    try:
        template = _compiled(name, source.split("\n")[line - 1])[0]
        env = template.environment
        env.work = env.iterations = env.output = 0
        env.deadline = time.monotonic() + MAX_SECONDS
        text = unmark(template.render(**variables))[0]
    except Exception:  # whatever it is, the full render says it, at its line
        return None
    return text, (env.work, env.iterations, env.output)


@functools.lru_cache(maxsize=64)
def _line_reads(name: str, source: str) -> tuple[dict[int, frozenset[str]], frozenset[str]]:
    """Per source line, the variables the outputs at the top level of the template read on it; and every name
    read or set anywhere else (in a tag, a block, a loop, a macro)."""
    reads: dict[int, set[str]] = {}
    elsewhere: set[str] = set()
    for node in _Sandbox().parse(source).body:
        if not isinstance(node, nodes.Output):
            elsewhere |= _names(node, load_only=False)
            if isinstance(node, nodes.Macro):
                elsewhere.add(node.name)
            continue
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                reads.setdefault(child.lineno, set()).update(_names(child, load_only=True))
                elsewhere |= _names(child, load_only=False) - _names(child, load_only=True)
    return {line: frozenset(names) for line, names in reads.items()}, frozenset(elsewhere)


def _names(node: nodes.Node, load_only: bool) -> set[str]:
    found = [node] if isinstance(node, nodes.Name) else []
    return {n.name for n in [*found, *node.find_all(nodes.Name)] if not load_only or n.ctx == "load"}


def _parsed(name: str, source: str, text: str, line_map: dict[int, int]) -> rendercache.Parsed:
    """The rendered text's document: an earlier parse of the template with a few values replaced, or a new one."""
    bases = _BASES.setdefault((name, source), [])
    _BASES.move_to_end((name, source))
    for base in bases:
        found = base if base.text == text else rendercache.patched(base, text)
        if found is not None:
            return found
    parsed = rendercache.parsed(text, _parse_rendered(text, name, line_map))
    bases.insert(0, parsed)
    del bases[MAX_BASES:]
    if len(_BASES) > MAX_RENDERED:
        _BASES.popitem(last=False)
    return parsed
