"""Reading and writing files: every file read through one bounded reader; no write leaves half a file.

Reading: configs, blueprints, lock files, manifests, stack files, plans and price tables come from pull
requests and other people's machines, so each is read by `read_bytes_bounded`: a regular file (a FIFO
would block, /dev/zero never end), opened without blocking, at most its kind's limit read, whatever its
size claims (a sparse file of 4 GB is refused at limit + 1 bytes). Standard input (a plan piped to
`review -`) is read the same way by `read_stdin_bounded`. JSON (`read_json`, `loads`) is bounded in depth too:
a document nested past what any walk over it can take is refused, so no caller meets a RecursionError.

Writing: a temporary file beside the target, fsync, rename, with the permissions any other file gets.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from tierstack.generator.core.errors import UserError, unwritable


class Unreadable(UserError):
    """The path leads to no regular file that can be read: missing, a directory, a FIFO, a device, a loop.

    `reason` is the message without the subject ("not found", "is a directory, not a file", ...),
    for callers that word the error around the reference (a blueprint named in another file).
    """

    reason: str = ""


# JSON tierstack wrote and reads back (its manifests, cdktn's manifest.json, a stack's cdk.tf.json): the
# largest stack of the examples is under 1 MiB; a file far over this was not written by tierstack
MAX_JSON_BYTES = 64 * 1024 * 1024


def _unreadable(what: str, reason: str, path: Path, hint: str | None = None) -> Unreadable:
    err = Unreadable(f"{what} {reason}", file=path, hint=hint)
    err.reason = reason
    return err


_KINDS = (
    (stat.S_ISDIR, "is a directory, not a file"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    return next((reason for test, reason in _KINDS if test(mode)), "is not a regular file")


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "not found"
    if exc.errno == errno.ELOOP:
        return "is a loop of symbolic links"
    if exc.errno == errno.EISDIR:
        return "is a directory, not a file"
    if exc.errno == errno.ENOTDIR:
        return "not found (a part of its path is not a directory)"
    return f"cannot be read: {exc.strerror or exc}"


def read_bytes_bounded(
    path: Path,
    what: str,
    limit: int,
    *,
    limit_of: str | None = None,
    too_large_hint: str | None = None,
    missing_hint: str | None = None,
) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; anything else is a UserError.

    `what` names the file in messages ("use-case spec", "plan"); `limit_of` says what the limit is for
    ("a config or a blueprint"), `too_large_hint` what to do about a file over it, `missing_hint` about
    one that is not there.

    The type is checked before opening (so a device or a FIFO is never opened
    for reading), then again on the open descriptor (so a file swapped in
    between cannot slip through); the open never blocks (O_NONBLOCK), and at
    most limit + 1 bytes are read, whatever the file claims its size is.
    """
    if "\0" in os.fspath(path):  # no file system has such a name, and os.stat would raise ValueError
        raise _unreadable(what, "cannot be read: its name holds a NUL character (\\x00)", path)
    try:
        reason = _not_regular(os.stat(path).st_mode)
    except OSError as exc:
        reason = _os_reason(exc)
    if reason is not None:
        raise _unreadable(what, reason, path, missing_hint if reason == "not found" else None)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _unreadable(what, _os_reason(exc), path) from None
    try:
        info = os.fstat(fd)
        reason = _not_regular(info.st_mode)
        if reason is not None:
            raise _unreadable(what, reason, path)
        if info.st_size > limit:
            raise _too_large(what, path, limit, limit_of, too_large_hint)
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, limit + 1 - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise _too_large(what, path, limit, limit_of, too_large_hint)
        return b"".join(chunks)
    except OSError as exc:
        raise _unreadable(what, _os_reason(exc), path) from None
    finally:
        os.close(fd)


def sha256_bounded(path: Path, limit: int = MAX_JSON_BYTES) -> str | None:
    """The sha256 of a regular file of at most `limit` bytes, read in chunks; None for anything else.

    For vouching for files in an output tree a pull request may have replaced: a link is not followed
    (O_NOFOLLOW), a FIFO never blocks, and a sparse file of gigabytes costs at most `limit` bytes read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        digest = hashlib.sha256()
        got = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - got)):
            digest.update(chunk)
            got += len(chunk)
            if got > limit:
                return None
        return digest.hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


def size_text(limit: int) -> str:
    """128 KiB, 1 MiB, 1,000 bytes."""
    for unit, name in ((1024 * 1024, "MiB"), (1024, "KiB")):
        if limit % unit == 0:
            return f"{limit // unit} {name}"
    return f"{limit:,} bytes"


def _too_large(what: str, path: Path | str, limit: int, limit_of: str | None, hint: str | None) -> UserError:
    return UserError(
        f"{what} is larger than {size_text(limit)}, the limit for {limit_of or 'it'}",
        file=path,
        hint=hint or "is this the right file?",
    )


def read_text(path: Path, what: str, limit: int, **limits: str | None) -> str:
    """A bounded, regular, UTF-8 file as text, newlines normalised as open() does (limits: read_bytes_bounded's)."""
    data = read_bytes_bounded(path, what, limit, **limits)
    return _decoded(data, what, path).replace("\r\n", "\n").replace("\r", "\n")


def read_json(
    path: Path,
    what: str,
    limit: int,
    hint: str | None = None,
    *,
    shown: str | Path | None = None,
    missing_hint: str | None = None,
    within: Path | None = None,
) -> Any:
    """A bounded JSON file tierstack wrote or reads (a manifest, a stack): damaged JSON is a UserError.

    `shown` is the name messages give the file (default: `path`); `hint` says what to do about a file that
    is too large, damaged or nested too deeply, `missing_hint` about one that is not there. With `within`
    (the output directory a stack file belongs to), a file whose links lead outside that directory is
    refused: an output directory checked out from a pull request could link its cdk.tf.json to the
    reader's credentials, which `diff` would then print attribute by attribute. A document
    nested more than MAX_JSON_DEPTH levels is refused here, once, so no caller's recursive walk over it
    can end in a RecursionError.
    """
    label = path if shown is None else shown
    if within is not None:
        _inside(path, within, what, label, hint)
    try:
        data = read_bytes_bounded(
            path, what, limit, limit_of=f"a {what}", too_large_hint=hint, missing_hint=missing_hint
        )
    except UserError as err:  # not there, not a regular file, too large: named as the caller names it
        err.file = label
        raise
    text = _decoded(data, what, label)
    return loads(text, what, label, hint)


def _inside(path: Path, within: Path, what: str, label: str | Path, hint: str | None) -> None:
    """Refuse `path` when, its symbolic links followed, it is not inside `within` (also followed)."""
    target = os.path.realpath(path)
    root = os.path.realpath(within)
    if os.path.commonpath([target, root]) != root:
        raise UserError(
            f"{what} leads outside {within} through a symbolic link (to {target}): not read",
            file=label,
            hint=hint or "replace the link with the file itself",
        )


# The deepest JSON tierstack reads (a plan, the provider schema) nests under 20 levels; a walk over a value
# takes a few Python frames a level, so this keeps every walk far from the interpreter's recursion limit
MAX_JSON_DEPTH = 128
_TOO_DEEP = object()  # json.loads ran out of stack


def loads(text: str, what: str, file: str | Path, hint: str | None = None) -> Any:
    """JSON text read from `file`, nested at most MAX_JSON_DEPTH levels: anything else a UserError naming it.

    json's own errors say where (line, column); a document nested past Python's recursion limit
    (`[[[[...` a hundred thousand times) makes json raise RecursionError, which is bad input here too.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} is not valid JSON: {exc.msg}", file=file, line=exc.lineno, hint=hint) from None
    except ValueError as exc:  # a number of more than 4,300 digits
        raise UserError(f"{what} is not valid JSON: {exc}", file=file, hint=hint) from None
    except RecursionError:
        data = _TOO_DEEP
    if data is _TOO_DEEP or too_deep(data):
        raise UserError(
            f"{what} nests arrays and objects more than {MAX_JSON_DEPTH} levels deep: no file tierstack reads "
            "is nested like this",
            file=file,
            hint=hint or "is this the right file?",
        )
    return data


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a parsed JSON value nests lists and dicts more than `limit` levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _decoded(data: bytes, what: str, path: Path | str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{what} is not UTF-8 text", file=path) from None


def read_stdin_bounded(
    what: str, limit: int, *, limit_of: str | None = None, too_large_hint: str | None = None
) -> bytes:
    """Standard input's bytes, at most `limit` (a pipe, a file, a terminal); closed or unreadable: a UserError."""
    stream = sys.stdin
    buffer = getattr(stream, "buffer", None) if stream is not None else None
    if stream is None or buffer is None or getattr(stream, "closed", False):
        raise UserError(
            f"standard input is closed, so there is no {what} to read",
            file="<stdin>",
            hint="pipe it in (... | tierstack COMMAND -), or give a file name instead of -",
        )
    try:
        data: bytes = buffer.read(limit + 1)
    except (OSError, ValueError) as exc:
        raise UserError(f"standard input cannot be read ({exc})", file="<stdin>") from None
    if len(data) > limit:
        raise _too_large(what, "<stdin>", limit, limit_of, too_large_hint)
    return data


# --- writing --------------------------------------------------------------------------------------


def umask() -> int:
    """The process's umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(root: Path) -> None:
    """Give root and everything under it the mode a new file or directory gets now (symlinks untouched)."""
    mask = umask()
    for dirpath, _, filenames in os.walk(root):
        os.chmod(dirpath, 0o777 & ~mask)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o666 & ~mask)


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it.

    The file keeps the mode of the file it replaces; a new file gets 0o666 less the umask, as with
    `open()` (tempfile.mkstemp alone would leave it 0600). A path under a file (`a.yaml/b.yaml`), or in
    a directory that takes no new files (/proc), is a UserError naming it.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~umask()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except (FileNotFoundError, FileExistsError, NotADirectoryError) as exc:
        raise unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def require_working_directory() -> Path:
    """The working directory, or a UserError when it was deleted (or made unreadable) under the shell.

    Every message names paths relative to it, and every relative path is read from it, so a command
    cannot run without one; the shell's PWD still names the directory that is gone.
    """
    try:
        return Path(os.getcwd())
    except OSError as exc:
        gone = os.environ.get("PWD") or "the working directory"
        problem = (
            "no longer exists (it was deleted)" if exc.errno == errno.ENOENT else f"cannot be used: {exc.strerror}"
        )
        raise UserError(
            f"the working directory {problem}",
            file=gone,
            hint='cd to a directory that exists (cd "$PWD" again if it was made anew) and run the command again',
        ) from None


def read_head(path: Path, what: str, size: int) -> bytes:
    """The first `size` bytes (or fewer) of a regular file; anything else is the Unreadable of read_bytes_bounded.

    For a look at a file's top (is this a file tierstack wrote?) that must not hang or read a whole file:
    a FIFO is refused before it is opened and the open never blocks, and a file of one 100 MB line, sparse
    or not, costs `size` bytes read, whatever its size.
    """
    if "\0" in os.fspath(path):
        raise _unreadable(what, "cannot be read: its name holds a NUL character (\\x00)", path)
    try:
        reason = _not_regular(os.stat(path).st_mode)
    except OSError as exc:
        reason = _os_reason(exc)
    if reason is not None:
        raise _unreadable(what, reason, path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _unreadable(what, _os_reason(exc), path) from None
    try:
        reason = _not_regular(os.fstat(fd).st_mode)
        if reason is not None:
            raise _unreadable(what, reason, path)
        chunks: list[bytes] = []
        got = 0
        while got < size and (chunk := os.read(fd, size - got)):
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise _unreadable(what, _os_reason(exc), path) from None
    finally:
        os.close(fd)
