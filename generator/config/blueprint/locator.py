"""Finding a blueprint: a path relative to the file naming it, a built-in name, or a git source."""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierstack.generator.config.blueprint.builtin import builtin_names, builtin_text
from tierstack.generator.config.gitsource import GitFailed, GitSource, check_path
from tierstack.generator.config.lockfile import Pinned, Pins, pins_for
from tierstack.generator.config.provenance import Source
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.paths import display_path as display_path  # re-exported: blueprint.display_path
from tierstack.generator.core.yamlio import Unreadable, read_text


def _is_path(ref: str) -> bool:
    return "/" in ref or ref.endswith((".j2", ".yaml", ".yml"))


@dataclass(frozen=True)
class Located:
    origin: Source  # a user's file as shown, or a built-in blueprint; no line
    text: str
    path: Path | None  # on disk (a fork); None for a built-in or a blueprint from git
    pin: Pinned | None = None  # from git: the pinned upstream it was read from
    repo_path: str | None = None  # from git: its path in that repository

    @property
    def name(self) -> str:
        """How messages and the blueprint chain name it: the path as shown, tierstack:NAME, REPOSITORY@REF:PATH."""
        return str(self.origin)

    @property
    def kind(self) -> str:
        return "git" if self.pin is not None else "local" if self.path is not None else "built-in"


BlueprintRef = str | GitSource  # what `blueprint:` and `extends:` name


def locate(
    ref: BlueprintRef,
    relative_to: Path | None,
    referrer: str,
    field_name: str,
    *,
    parent: Located | None = None,
    pins: Pins | None = None,
    line: int | None = None,
    lines: Mapping[str, int | None] | None = None,
) -> Located:
    """Find a blueprint: a path relative to the file naming it, a built-in name, or a git source.

    `referrer`, `line` and `field_name` say where `ref` is written, for the errors about it. A path
    that leads to no regular file (missing, a directory, a FIFO, a device, a loop of symbolic links, a
    name holding a NUL) is an error of the reference, reported at the file, line and field that name
    it; a file too large or not UTF-8 is an error of the blueprint itself. In a blueprint from git
    (`parent`), a path names another file of the same repository at the same commit, and must stay
    inside it.
    """
    where: dict[str, Any] = {"file": referrer, "line": line, "field": field_name, "lines": lines or {}}
    if isinstance(ref, GitSource):
        base = None if parent is not None and parent.pin is not None else _folder(relative_to)
        pinned = (pins or pins_for(None)).pin(ref, base, where)
        return Located(Source.in_file(pinned.name), pinned.text, None, pinned, ref.path)
    if parent is not None and parent.pin is not None and parent.repo_path is not None:
        at = {k: where[k] for k in ("file", "line", "field")}
        return _locate_in_repository(ref, parent.pin, parent.repo_path, at)
    if _is_path(ref):
        base = relative_to.parent if relative_to else Path.cwd()
        path = Path(ref)
        if not path.is_absolute():
            path = Path.cwd() / base / ref
            with contextlib.suppress(OSError, RuntimeError, ValueError):  # a loop of symbolic links, a NUL: below
                path = path.resolve()
        try:
            text = read_text(path, "blueprint")
        except Unreadable as err:
            missing = err.reason == "not found"
            raise UserError(
                f"blueprint '{ref}' {err.reason} ({'looked for' if missing else 'at'} {display_path(path)})",
                file=referrer,
                line=line,
                field=field_name,
                hint="paths are relative to the file that names them; built-in blueprints: "
                + ", ".join(builtin_names())
                + " (`tierstack blueprints` lists them)"
                if missing
                else "a blueprint must be a regular file",
            ) from None
        except UserError as err:  # too large, not UTF-8: name the file as everywhere else
            err.file = display_path(path)
            raise
        return Located(Source.in_file(display_path(path)), text, path)
    return Located(Source.in_builtin(ref), builtin_text(ref, referrer, field_name, line), None)


def _folder(relative_to: Path | None) -> Path:
    return Path.cwd() / (relative_to.parent if relative_to else Path())


def _locate_in_repository(ref: str, pin: Pinned, parent_path: str, where: dict[str, Any]) -> Located:
    """`extends: ./base.yaml.j2` in a blueprint from git: that file at the same commit, inside the repository."""
    if not _is_path(ref):
        return Located(Source.in_builtin(ref), builtin_text(ref, where["file"], where["field"], where["line"]), None)
    hint = "a blueprint from git extends files of its own repository by relative path, or another by {git, ref, path}"
    if ref.startswith("/"):
        raise UserError(f"'{ref}' is an absolute path; {hint}", **where)
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(parent_path), ref))
    if joined == ".." or joined.startswith("../"):
        raise UserError(f"'{ref}' leads out of the repository", hint=hint, **where)
    try:
        check_path(joined)
        text = pin.read(joined)
    except ValueError as err:
        raise UserError(str(err), hint=hint, **where) from None
    except GitFailed as err:
        raise UserError(f"blueprint '{ref}' ({joined} at {pin.ref}): {err.reason}", hint=hint, **where) from None
    return Located(Source.in_file(pin.name_of(joined)), text, None, pin, joined)
