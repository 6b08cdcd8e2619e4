"""Escaping for the pull-request comment: no plan value can write HTML, a marker or a mention."""

from __future__ import annotations

import html
import re

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


_MD_SPECIAL = set("\\`*_[]|~")


_MD_ESCAPES = str.maketrans(
    {
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "@": "@\u2060",  # a word joiner after it: no @mention, the same text on screen
        **{char: "\\" + char for char in _MD_SPECIAL},
    }
)


_BACKTICKS = re.compile("`+")


def md_text(text: str) -> str:
    """Plain text for Markdown: punctuation escaped (no links, HTML or @mentions from a plan), one line."""
    return " ".join(str(text).split()).translate(_MD_ESCAPES)


def html_text(text: str) -> str:
    """Text inside an HTML element (a <summary>), where Markdown is not read: entities, no @mentions."""
    escaped = html.escape(" ".join(str(text).split()), quote=False)
    return escaped.replace("@", "@\u2060").replace("[", "&#91;").replace("]", "&#93;")


_CODE_ESCAPES = str.maketrans({"<": "<\u2060", ">": "\u2060>", "@": "@\u2060"})


def md_code(text: str) -> str:
    """Inline code that holds any text: fenced with more backticks than it contains (_row escapes `|`).

    A word joiner (U+2060, invisible) after each `<` and `@` and before each `>`: the raw comment then holds
    no `<!--`/`-->` (so no plan value can forge the marker the upsert looks for) and no `@mention`.
    """
    flat = " ".join(str(text).split())
    if "<" in flat or ">" in flat or "@" in flat:  # translate is slow, and most values have none of them
        flat = flat.translate(_CODE_ESCAPES)
    longest = max(map(len, _BACKTICKS.findall(flat)), default=0) if "`" in flat else 0
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
