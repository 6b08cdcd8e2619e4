"""Writing files so that a crash never leaves half of one, with the permissions any other file gets."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from tierstack.generator.errors import UserError, unwritable


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
