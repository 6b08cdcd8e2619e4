"""What `generate FLEET` prints as its members are done: the fleet's Reporter (generator/services/fleet.py).

generator/services/fleet.py runs the members and tells a Reporter; printing is the command line's, so click (and rich,
for the progress bar) stay in generator/cli/. `reporter(tty, stdout)` picks the view: plain lines (CI logs,
pipes) or, on a terminal, a progress bar on stderr with each member's result printed above it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from tierstack.generator.cli.views import echo
from tierstack.generator.core.errors import printable
from tierstack.generator.services.fleet import MemberResult, Reporter, result_lines


def reporter(tty: bool, stdout: bool) -> Callable[[int], Reporter]:
    """The view for a run over `total` members: a progress bar on a terminal (`tty`), else plain lines.

    With `stdout=False` (`generate --format json`: stdout is the data), every line goes to stderr."""

    def make(total: int) -> Reporter:
        return ProgressBar(total, stdout) if tty else Lines(total, stdout)

    return make


class Lines:
    """Plain lines: one per member as it is done (what CI logs and pipes get)."""

    def __init__(self, total: int, stdout: bool = True) -> None:
        self.total = total
        self.done = 0
        self.stdout = stdout

    def running(self) -> AbstractContextManager[object]:
        return self._running()

    @contextmanager
    def _running(self) -> Iterator[object]:
        yield self

    def say(self, text: str) -> None:
        echo(text, err=True)

    def start(self, member: str) -> None:
        pass

    def note(self, text: str) -> None:
        echo(text, err=True)

    def finish(self, result: MemberResult) -> None:
        self.done += 1
        width = len(str(self.total))
        prefix = f"[{self.done:>{width}}/{self.total}] "
        head, *rest = result_lines(result)
        colour = "red" if result.status == "error" else None
        err = result.status == "error" or not self.stdout
        echo(prefix + head, err=err, fg=colour)
        for line in rest:
            echo(" " * len(prefix) + line, err=err, fg=colour)
        for risk in result.at_risk:
            echo(f"{' ' * len(prefix)}DATA AT RISK: {risk}", err=True, fg="red", bold=True)


class ProgressBar(Lines):
    """On a terminal: a progress bar on stderr, each member's result printed above it."""

    @contextmanager
    def _running(self) -> Iterator[object]:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True, highlight=False)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            redirect_stdout=sys.stdout.isatty(),  # only our own terminal: a redirected stdout stays a file
            redirect_stderr=False,
        )
        self.task = self.progress.add_task("members", total=self.total)
        with self.progress:
            yield self

    def start(self, member: str) -> None:
        self.progress.update(self.task, description=member)

    def note(self, text: str) -> None:
        self.progress.console.print(
            printable(text), markup=False, style="yellow" if text.startswith("warning") else None
        )

    def finish(self, result: MemberResult) -> None:
        self.done += 1
        style = "red" if result.status == "error" else "green" if result.status in ("ok", "up to date") else "yellow"
        head, *rest = result_lines(result)
        if result.status != "error" and self.stdout and not sys.stdout.isatty():  # to a redirected stdout, plain
            echo("\n".join([head, *("  " + line for line in rest)]))
        else:  # the terminal: above the bar
            self.progress.console.print(printable(head), markup=False, style=style)
            for line in rest:
                self.progress.console.print(printable("  " + line), markup=False)
        for risk in result.at_risk:
            self.progress.console.print(printable(f"  DATA AT RISK: {risk}"), markup=False, style="bold red")
        self.progress.advance(self.task)
