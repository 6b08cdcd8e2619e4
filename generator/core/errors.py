"""One error type for everything a user can get wrong.

Every message names the file, the line where known, the field, and what would
be valid, so the CLI can print it and exit 2 without a traceback.

The environment can be wrong too: a full disk, a read-only file system, a
permission. `environment_error` turns such an OSError (or the same failure
inside jsii's Node runtime, which reaches Python as a RuntimeError carrying
Node's `ENOSPC: ...` message) into a UserError naming the path; any other
exception stays what it is, a bug. The process's limits are the environment too: a memory cap (MemoryError, or
jsii's Node process killed for want of memory), jsii's package cache that cannot be used (a HOME that is
a file or read-only), a working directory deleted under the run.

Whatever a message quotes (a key, a value, a file name) may hold terminal control characters: a key
"ESC ] 0 ; ... BEL" would retitle the terminal, "ESC [ 2 J" clear it. `printable` escapes them, and `render`
applies it, so every message tierstack prints shows them as text (backslash, x1b).
"""

from __future__ import annotations

import difflib
import errno
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierstack.generator.core.paths import display_path


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
        return printable(text)

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by its fields, not its message: `validate FLEET` brings errors back from worker processes,
        and a subclass's own __init__ (ErrorList's) cannot be called with the rendered text."""
        return (_restored, (type(self), dict(self.__dict__)))


def _restored(cls: type[UserError], state: dict[str, Any]) -> UserError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err.render())
    return err


class ErrorList(UserError):
    """Several independent problems found in one pass, reported together."""

    def __init__(self, errors: list[UserError]) -> None:
        self.errors = errors
        super().__init__(message="\n".join(e.render() for e in errors))

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)


def _escape_table() -> dict[int, str]:
    controls = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
    bidi = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
    table = {code: f"\\x{code:02x}" for code in controls}
    table.update({code: f"\\u{code:04x}" for code in bidi})
    for kept in ("\n", "\t"):
        del table[ord(kept)]
    return table


_ESCAPES = _escape_table()


_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in _ESCAPES if code > 0x7E}  # json.dumps escapes C0 itself


def _finder(table: dict[int, str]) -> re.Pattern[str]:
    """A pattern matching any character of a translate table: a search finds one at C speed, where
    str.translate looks every character up (a quarter of a second on the JSON of a 10,000-change review)."""
    return re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(table)) + "]")


_NEEDS_ESCAPE, _JSON_NEEDS_ESCAPE = _finder(_ESCAPES), _finder(_JSON_ESCAPES)


def json_printable(text: str) -> str:
    """JSON text (json.dumps with ensure_ascii=False) with DEL, C1 controls and bidi overrides as \\u
    escapes: the same document, since outside strings JSON is ASCII, and safe to show on a terminal."""
    return text.translate(_JSON_ESCAPES) if _JSON_NEEDS_ESCAPE.search(text) else text


def printable(text: str) -> str:
    """text with every character that would steer a terminal escaped as Python writes them (ESC as backslash x1b).

    C0 and C1 controls (ESC, BEL, CR, the 8-bit CSI 0x9b...), DEL, and the bidirectional overrides that
    reorder what is shown (Trojan Source); newlines and tabs stay, a message is lines. Applying it twice
    changes nothing more: the escapes are plain text.
    """
    return text.translate(_ESCAPES) if _NEEDS_ESCAPE.search(text) else text


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' suggestion, or None when nothing is close."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


def one_of(choices: Iterable[str]) -> str:
    return "valid values: " + ", ".join(f"'{c}'" for c in choices)


# --- the environment's failures ------------------------------------------------------------------

_WRITE_ELSEWHERE = "or write somewhere else (generate --out DIR, init PATH)"
_PERMISSIONS = "check the permissions of the file and of the directories above it"
_ENVIRONMENT = {  # errno name -> (the problem, what to do); getattr below: not every platform has each
    "EACCES": ("permission denied", _PERMISSIONS),
    "EPERM": ("operation not permitted", _PERMISSIONS),
    "ENOSPC": ("no space left on the device", f"free some space on that file system, {_WRITE_ELSEWHERE}"),
    "EDQUOT": ("disk quota exceeded", f"free some space or ask for a larger quota, {_WRITE_ELSEWHERE}"),
    "EROFS": ("read-only file system", f"remount it read-write, {_WRITE_ELSEWHERE}"),
    "EFBIG": ("file too large for this file system or its limits", "check `ulimit -f` and the file system"),
    "EIO": ("input/output error", "the disk or the network file system failed; check it and run again"),
    "EMFILE": ("too many open files", "raise the limit (ulimit -n) and run again"),
    "ENFILE": ("too many open files in the system", "close other programs, or raise the system's limit"),
    "ENAMETOOLONG": ("file name too long", "use a shorter path"),
    "ELOOP": ("too many levels of symbolic links", "check the symbolic links in the path"),
    "ENOTDIR": ("a part of the path is a file, not a directory", f"move that file away, {_WRITE_ELSEWHERE}"),
    "EEXIST": ("something already exists where a file or directory is to be made", f"move it away, {_WRITE_ELSEWHERE}"),
}
ENVIRONMENT_ERRNOS: dict[int, tuple[str, str]] = {
    getattr(errno, name): text for name, text in _ENVIRONMENT.items() if hasattr(errno, name)
}
# Node's fs errors, as jsii passes them on: "Error: ENOSPC: no space left on device, open '/x/y'"
_NODE_ERROR = re.compile(r"^(?:\w*Error: )?(E[A-Z]+): [^,\n]*, (\w+)(?: '([^'\n]*)')?")


def environment_error(exc: BaseException, path: str | Path | None = None) -> UserError | None:
    """The UserError for an OSError the environment caused (or None): the path, the problem, what to do.

    `path` names what the command was reading or writing, for errors that carry no file name (a full
    disk fails a write on a descriptor). Only the errnos in ENVIRONMENT_ERRNOS count; an explicit
    `raise ... from` chain is followed, an implicit context is not (that would be a bug while handling).
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        found = _one_cause(cause, path)
        if found is not None:
            return found
        cause = cause.__cause__
    return None


def _one_cause(exc: BaseException, path: str | Path | None) -> UserError | None:
    if isinstance(exc, OSError):
        return _from_os_error(exc, path)
    if isinstance(exc, MemoryError):
        return out_of_memory("tierstack ran out of memory (MemoryError)", path)
    return _from_jsii_cache_error(exc) or _from_node_error(exc, path)


# jsii's PackageCacheError, as its Node runtime words it (jsii/lib/tar-cache): the cache directory, why
# (an errno message, or that others may write it), and its own advice, which we pass on
_JSII_CACHE = re.compile(r"Cannot use the jsii package cache in (.+?): (.+?)\. Fix the directory", re.DOTALL)


def _from_jsii_cache_error(exc: BaseException) -> UserError | None:
    """jsii could not use its package cache (in HOME, unless JSII_RUNTIME_PACKAGE_CACHE_ROOT moves it)."""
    if not isinstance(exc, Exception) or type(exc).__name__ not in ("JSIIError", "RuntimeError"):
        return None
    match = _JSII_CACHE.search(str(exc))
    if match is None:
        return None
    root, why = match.group(1), match.group(2)
    return UserError(
        f"jsii cannot use its package cache, where it unpacks the Google provider bindings: {why}",
        file=display_path(root),
        hint="fix that directory (or HOME, which it is under by default), point JSII_RUNTIME_PACKAGE_CACHE_ROOT "
        "at a directory of your own that you can write, or set JSII_RUNTIME_PACKAGE_CACHE=disabled "
        "(each run then unpacks the bindings again, which takes longer)",
    )


def out_of_memory(message: str, path: str | Path | None = None) -> UserError:
    """The run hit a memory limit: say which limits are set, and how to raise them."""
    return UserError(
        message,
        file=display_path(path) if path is not None else None,
        hint=f"{memory_limits()}; raise the limit or run where more memory is free, then run again",
    )


def memory_limits() -> str:
    """The limits that cap this process's memory, in words: `ulimit -v`, a cgroup's memory.max, or none."""
    found = []
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            found.append(f"the address space is limited to {_size(soft)} (ulimit -v {soft // 1024})")
    except (ImportError, OSError, ValueError):
        pass
    try:
        cgroup = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        if cgroup.isdigit():
            found.append(f"the container (cgroup) may use {_size(int(cgroup))} (memory.max)")
    except OSError:
        pass
    return "; ".join(found) if found else "no memory limit is set for this process, so the machine is short of memory"


def _size(count: int) -> str:
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB")):
        if count >= unit:
            return f"{count / unit:.1f} {name}"
    return f"{count:,} bytes"


def _from_os_error(exc: OSError, path: str | Path | None) -> UserError | None:
    if exc.errno not in ENVIRONMENT_ERRNOS:
        return None
    problem, hint = ENVIRONMENT_ERRNOS[exc.errno]
    code = errno.errorcode[exc.errno]
    names = [os.fsdecode(n) for n in (exc.filename, exc.filename2) if n is not None]
    if not names:
        return UserError(f"{problem} ({code})", file=display_path(path) if path is not None else None, hint=hint)
    if path is not None and not any(os.path.lexists(n) for n in names):
        # a temporary file that is gone now (removed by the cleanup, or never created): name the
        # user's path, and the temporary one only beside it
        return UserError(
            f"{problem} ({code}, at {' -> '.join(display_path(n) for n in names)})", file=display_path(path), hint=hint
        )
    return UserError(f"{problem} ({code})", file=" -> ".join(display_path(n) for n in names), hint=hint)


def _from_node_error(exc: BaseException, path: str | Path | None) -> UserError | None:
    if not isinstance(exc, RuntimeError):
        return None
    match = _NODE_ERROR.match(str(exc))
    code = getattr(errno, match.group(1), None) if match else None
    if match is None or code not in ENVIRONMENT_ERRNOS:
        return None
    problem, hint = ENVIRONMENT_ERRNOS[code]
    where = match.group(3) or path
    if not match.group(3):
        hint += (
            "; Node writes the new stacks beside the output directory, and unpacks the bindings into "
            "jsii's package cache (JSII_RUNTIME_PACKAGE_CACHE_ROOT moves it)"
        )
    return UserError(
        f"{problem} ({match.group(1)}, while Node.js synthesized the stacks: {match.group(2)})",
        file=display_path(where) if where is not None else None,
        hint=hint,
    )


def unwritable(path: str | Path, exc: OSError) -> UserError:
    """Why no file can be made at `path` (ENOENT, ENOTDIR, EEXIST while creating it): a file where a directory
    should be, or a directory that takes no new files (/proc), named by the user's path."""
    code = errno.errorcode.get(exc.errno or 0, "OSError")
    blocker = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        message = f"cannot create the file: {display_path(blocker)} is a file, not a directory ({code})"
        hint = f"give a path whose directories are directories, or move {display_path(blocker)} away"
    else:
        message = f"cannot create a file in {display_path(Path(path).parent)} ({code}: {exc.strerror or exc})"
        hint = "write somewhere else: a directory you can create files in"
    return UserError(message, file=display_path(path), hint=hint)
