"""The source-line map of a render: each output line tagged with the template line it came from.

Rendering keeps a map from output lines back to source lines, so `{% if %}`
blocks and loops do not shift the line a value is attributed to.
"""

from __future__ import annotations

import re

_MARK = re.compile(r"\x1f(\d+)\x1e")
_LAST_MARK = re.compile(r".*\x1f(\d+)\x1e", re.DOTALL)  # the last tag of a line (tags cannot overlap)


def mark_lines(source: str) -> str:
    """Tag the end of every source line that is plain template text with its number.

    Lines that end inside a Jinja tag, expression or comment are left alone;
    after rendering, each output line carries the tag of the line it came from.
    """
    out: list[str] = []
    i, line, depth_close = 0, 1, ""
    while i < len(source):
        two = source[i : i + 2]
        if not depth_close and two in ("{{", "{%", "{#"):
            depth_close = {"{{": "}}", "{%": "%}", "{#": "#}"}[two]
            out.append(two)
            i += 2
            continue
        if depth_close and two == depth_close:
            depth_close = ""
            out.append(two)
            i += 2
            continue
        ch = source[i]
        if ch == "\n":
            if not depth_close:
                out.append(f"\x1f{line}\x1e")
            line += 1
        out.append(ch)
        i += 1
    if not depth_close:
        out.append(f"\x1f{line}\x1e")
    return "".join(out)


def unmark(rendered: str) -> tuple[str, dict[int, int]]:
    """Strip the tags; return the text and a map rendered line -> source line (1-based)."""
    mapping: dict[int, int] = {}
    last = 1
    for n, text in enumerate(rendered.split("\n"), start=1):
        found = _LAST_MARK.match(text) if "\x1f" in text else None  # a fleet renders this for every member
        if found:
            last = int(found[1])
        mapping[n] = last
    return _MARK.sub("", rendered), mapping
