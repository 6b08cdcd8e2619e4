"""Where a resolved value came from, as data: formatted only at the edge.

Every resolved value keeps the place that set it: a line of a user's file
(tierstack.yaml, a blueprint of one's own), a line of a built-in blueprint, or
a rule of tierstack itself (the stack is named `<name>-<environment>`). A list
that blueprints append to (`apis+:`) has one place per part, in order.

The places stay typed values from the blueprint loader to the commands; only
`show`, `explain` and error messages turn them into text, the way click keeps
an error's data and formats it when it is shown. Nothing parses that text
back, so a path may hold any character (`C:\\work\\tierstack.yaml`).

How a place is shown:

    examples/recommender/tierstack.yaml:11       a user's file, as the user sees it, and the line
    tierstack:level-1-pipeline-automation:37     a built-in blueprint and its line
                                                 (`tierstack blueprints --show NAME` prints the file)
    tierstack (automatic label)                  tierstack decided, by the rule in parentheses
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tierstack.generator.core.errors import UserError

BUILTIN_PREFIX = "tierstack:"  # tierstack:NAME:LINE names a line of a built-in blueprint


@dataclass(frozen=True)
class Source:
    """One place that set a value: exactly one of `file`, `builtin` and `rule`.

    file:    a user's file, as it is shown to them (relative to the working directory when below it)
    builtin: the name of a built-in blueprint (`level-1-pipeline-automation`)
    rule:    tierstack itself set the value; what it followed (`<name>-<environment>`)
    line:    1-based, in the file or the built-in blueprint's template source; None when unknown
    """

    file: str | None = None
    line: int | None = None
    builtin: str | None = None
    rule: str | None = None

    def __post_init__(self) -> None:
        given = [x for x in (self.file, self.builtin, self.rule) if x is not None]
        if len(given) != 1 or not given[0]:
            raise ValueError(f"a source is one file, built-in blueprint or rule, not {self!r}")
        if self.line is not None and (self.rule is not None or isinstance(self.line, bool) or self.line < 1):
            raise ValueError(f"a source's line is a number from 1, in a file or a blueprint, not {self!r}")

    @classmethod
    def in_file(cls, file: str | Path, line: int | None = None) -> Source:
        return cls(file=str(file), line=line)

    @classmethod
    def in_builtin(cls, name: str, line: int | None = None) -> Source:
        return cls(builtin=name, line=line)

    @classmethod
    def by_tierstack(cls, rule: str) -> Source:
        return cls(rule=rule)

    def at(self, line: int | None) -> Source:
        """The same file or built-in blueprint, at another line."""
        if self.rule is not None:
            return self
        return replace(self, line=line)

    @property
    def shown_file(self) -> str | None:
        """The file as messages name it: the user's path, `tierstack:NAME` for a built-in, None for a rule."""
        if self.builtin is not None:
            return BUILTIN_PREFIX + self.builtin
        return self.file

    def show_hint(self) -> str | None:
        """How to read the place: only a built-in blueprint needs saying (it is inside the installed package)."""
        if self.builtin is None:
            return None
        return f"read {BUILTIN_PREFIX}{self.builtin} with `tierstack blueprints --show {self.builtin}`"

    def __str__(self) -> str:
        if self.rule is not None:
            return f"tierstack ({self.rule})"
        shown = self.shown_file or ""
        return f"{shown}:{self.line}" if self.line is not None else shown

    def to_data(self) -> dict[str, Any]:
        """For JSON and YAML output: {file, line}, {blueprint, line} or {tierstack: rule}."""
        if self.rule is not None:
            return {"tierstack": self.rule}
        key = "blueprint" if self.builtin is not None else "file"
        return {key: self.builtin if self.builtin is not None else self.file, "line": self.line}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Source:
        if "tierstack" in data:
            return cls.by_tierstack(str(data["tierstack"]))
        line = data.get("line")
        if "blueprint" in data:
            return cls.in_builtin(str(data["blueprint"]), line)
        return cls.in_file(str(data["file"]), line)


@dataclass(frozen=True)
class Provenance:
    """Every place that set one value, in the order they did: one, or more for a list appended to."""

    sources: tuple[Source, ...]

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("a provenance has at least one source")

    @classmethod
    def of(cls, *sources: Source) -> Provenance:
        return cls(tuple(sources))

    @classmethod
    def in_file(cls, file: str | Path, line: int | None = None) -> Provenance:
        return cls.of(Source.in_file(file, line))

    @classmethod
    def by_tierstack(cls, rule: str) -> Provenance:
        return cls.of(Source.by_tierstack(rule))

    def __add__(self, appended: Provenance) -> Provenance:
        """The provenance of a list another layer appended to (`name+:`)."""
        return Provenance((*self.sources, *appended.sources))

    @property
    def innermost(self) -> Source:
        """The last place that set the value: what an error about it points at."""
        return self.sources[-1]

    def __str__(self) -> str:
        return " + ".join(str(source) for source in self.sources)

    def to_data(self) -> list[dict[str, Any]]:
        return [source.to_data() for source in self.sources]

    @classmethod
    def from_data(cls, data: Sequence[Mapping[str, Any]]) -> Provenance:
        return cls(tuple(Source.from_data(item) for item in data))

    def error(
        self, message: str, *, fallback: str | Path | None = None, field: str | None = None, hint: str | None = None
    ) -> UserError:
        """A UserError at the innermost place (at `fallback`, the config, when tierstack set the value)."""
        source = self.innermost
        return UserError(
            message,
            file=source.shown_file or fallback,
            line=source.line,
            field=field,
            hint=join_hints(hint, source.show_hint()),
        )


def join_hints(*hints: str | None) -> str | None:
    given = [h for h in hints if h]
    return "; ".join(given) if given else None
