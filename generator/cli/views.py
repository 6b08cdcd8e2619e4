"""What the commands print, and where: counts that agree with their nouns, paths as given, a message on
stderr that a closed pipe cannot turn into a traceback, the DATA AT RISK warning.

A closed stdout or stderr is detected here too (the group's error handling ends the run with exit 141),
because a message written to it is where that shows first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pathlib import Path

from tierstack.generator.core.exit_codes import EXIT_BROKEN_PIPE, EXIT_USER_ERROR


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 file', '2 files': every count in a message agrees with its noun (and `agrees` with its verb)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def agrees(count: int, singular: str, plural: str) -> str:
    """The verb for `count` things: agrees(1, "differs", "differ") is "differs"."""
    return singular if count == 1 else plural


def shown_path(path: Path) -> str:
    from tierstack.generator.core.paths import display_path

    return display_path(path)


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def echo(
    text: str = "", *, err: bool = False, nl: bool = True, fg: str | None = None, bold: bool | None = None
) -> None:
    """What every command prints, on stdout or (err) stderr: the one way text reaches the terminal.

    Control characters in it are escaped (errors.printable): a key, a value, a file name or a plan's string
    is shown, never obeyed. JSON and YAML from report.as_data carry none left, so their text is unchanged.
    """
    from tierstack.generator.core.errors import printable

    if fg is None and bold is None:  # plain text as click.echo writes it: no reset code on a terminal
        click.echo(printable(text), err=err, nl=nl)
    else:
        click.secho(printable(text), err=err, nl=nl, fg=fg, bold=bold)


# A Select Graphic Rendition sequence (colour, bold): the only escape another tool's output may keep.
_SGR = re.compile(r"(\x1b\[[0-9;]*m)")


def relay(line: str) -> None:
    """A line of another tool's output (terraform's) on stderr: its colours kept, every other control
    character escaped as echo does, since the line may quote a value from a config or a plan."""
    from tierstack.generator.core.errors import printable

    parts = _SGR.split(line)
    click.echo("".join(part if index % 2 else printable(part) for index, part in enumerate(parts)), err=True)


def print_error(text: str, color: str | None = "red") -> None:
    """A message on stderr; if stderr is a closed pipe, the message is lost and the exit code stays.

    Control characters in it (from a key, a value, a file name) are escaped: shown, never obeyed.
    """
    from tierstack.generator.core.errors import printable

    try:
        click.secho(printable(text), err=True, fg=color)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        silence_closed_outputs()


def warn_data_at_risk(report: Any, note: str) -> None:
    at_risk = report.at_risk
    if not at_risk:
        return
    echo(
        f"warning: DATA AT RISK: {counted(len(at_risk), 'stateful resource')} would be destroyed by "
        f"`terraform apply`; {note}",
        err=True,
        fg="red",
        bold=True,
    )
    for change in at_risk:
        echo(f"  {change.stack}: {change.address}: {change.at_risk}", err=True, fg="red")


def output_closed(exc: BaseException) -> bool:
    """EPIPE, and our stdout or stderr is what broke (not, say, the pipe to jsii's Node process)."""
    if not (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
        return False
    return any(_is_closed(fd) for fd in _std_fds())


def _std_fds() -> list[int]:
    fds = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):  # CliRunner's streams have none
            fds.append(stream.fileno())
    return fds


def _is_closed(fd: int) -> bool:
    """The reading end of this pipe or socket is gone (poll reports an error or a hang-up)."""
    try:
        import select

        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows): take EPIPE to be ours
        return True


def silence_closed_outputs() -> None:
    """Point a closed stdout or stderr at /dev/null, so the flush at exit is not another BrokenPipeError.

    What Python's documentation recommends (signal module, "Note on SIGPIPE"); SIGPIPE itself stays
    ignored, as Python sets it, or a dead jsii Node process would kill tierstack without a word.
    """
    for fd in _std_fds():
        if _is_closed(fd):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)


def flush_outputs() -> int:
    """Flush stdout and stderr; 0, or the exit code for the output that could not be written."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                silence_closed_outputs()
                return EXIT_BROKEN_PIPE
            with contextlib.suppress(OSError):
                sys.stderr.write(f"error: {getattr(stream, 'name', 'output')}: {exc.strerror or exc}\n")
            return EXIT_USER_ERROR
        except (AttributeError, ValueError):  # closed or replaced
            pass
    return 0


def echo_stream(exc: BaseException) -> str | None:
    """'<stdout>' or '<stderr>' when exc was raised writing to it (a full disk under `> file`), else None."""
    tb = exc.__traceback__
    name = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get("__name__") == "click.utils" and frame.f_code.co_name == "echo":
            stream_name = getattr(frame.f_locals.get("file"), "name", None)
            name = stream_name if isinstance(stream_name, str) else "<output>"
        tb = tb.tb_next
    return name
