"""Escaping for a page: text inside a quoted Mermaid label (`mermaid_text`: everything but a few plain
characters as entity codes, so no name from a config can close a label or start a directive, a click
callback or HTML), and Markdown text and code spans (`markdown_text`, `code`: no markup, no HTML, no line
or table break)."""

from __future__ import annotations

import re

SAFE_LABEL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:/@()")


def mermaid_text(text: str) -> str:
    """Text for inside a quoted Mermaid label: everything but a few plain characters as entity codes."""
    return "".join(c if c in SAFE_LABEL else f"#{ord(c)};" for c in str(text))


def markdown_text(text: str) -> str:
    """Text for a Markdown paragraph or table cell: no markup, no HTML, no line break, no table break."""
    out = []
    for c in " ".join(str(text).split()):
        if c in "<&":
            out.append(f"&#{ord(c)};")
        elif c in "\\`*_[]|~#":
            out.append("\\" + c)
        else:
            out.append(c)
    escaped = re.sub(r"^(\d+)([.)])", r"\1\\\2", "".join(out))  # `1. ` would start a list
    return "\\" + escaped if escaped[:1] in ("-", "+", "=", ">") else escaped


def code(text: str) -> str:
    """A code span, or escaped text when a code span could not hold the text."""
    text = " ".join(str(text).split())
    if not text or "`" in text:
        return markdown_text(text)
    return f"`{text.replace('|', chr(92) + '|')}`"
