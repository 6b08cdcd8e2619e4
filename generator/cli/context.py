"""What a running command leaves for the error handling of generator/cli/__init__.py.

A command's parameters are kept in its context (an OSError from a full disk names no file; the
command's --out or config does), and the SIGINT handler sets `interrupted` for the run in progress.
Both live here, below the commands and the group, so a command module never imports the group.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # errors is imported by the commands that need it, not at start
    from tierstack.generator.core.errors import UserError


PARAMS = "tierstack.command"  # ctx.meta key: the running command's name and parameters
interrupted = threading.Event()  # set by the SIGINT handler for the run in progress


class CommandContext(click.Context):
    """A command's context that leaves its parameters where the error handling can see them.

    An OSError from a full disk names no file; the command's path (--out, the config) does.
    """

    def invoke(self, callback: Any, /, *args: Any, **kwargs: Any) -> Any:
        if self.command.callback is callback:
            self.meta[PARAMS] = (self.command.name, dict(self.params))
        return super().invoke(callback, *args, **kwargs)


class CommandGroup(click.Group):
    """A group below `tierstack` (ci, golden-set): its commands get the context that leaves their parameters."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.context_class = CommandContext
        super().add_command(cmd, name)


def out_as_given(exc: UserError, command: str | None, params: dict[str, Any], said: bool = True) -> UserError:
    """A UserError about --out when no --out was given names the default output instead of the option.

    The engine names `--out` for any problem with the output path; the person who typed no --out
    reads which default it was ("cdktf.out (the default output directory)"). Not `said` (a document for
    scripts), the file stays a path and only the field goes.
    """
    from dataclasses import replace

    from tierstack.generator.core.errors import UserError

    if type(exc) is not UserError or exc.field != "--out" or "out" not in params or params["out"] is not None:
        return exc
    if not said:
        return replace(exc, field=None)
    default = "the default output file" if command == "fork" else "the default output directory"
    file = f"{exc.file} ({default})" if exc.file is not None else default
    return replace(exc, file=file, field=None)
