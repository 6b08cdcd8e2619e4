"""One error type for everything a user can get wrong.

Every message names the file, the line where known, the field, and what would
be valid, so the CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class UserError(Exception):
    """A problem in the user's input, reported as one readable message."""

    message: str
    file: str | Path | None = None
    line: int | None = None
    field: str | None = None
    hint: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def where(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(str(self.file) + (f":{self.line}" if self.line else ""))
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def render(self) -> str:
        where = self.where()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.render()


class ErrorList(UserError):
    """Several independent problems found in one pass, reported together."""

    def __init__(self, errors: list[UserError]) -> None:
        self.errors = errors
        super().__init__(message="\n".join(e.render() for e in errors))

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' suggestion, or None when nothing is close."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def one_of(choices: Iterable[str]) -> str:
    return "valid values: " + ", ".join(f"'{c}'" for c in choices)
