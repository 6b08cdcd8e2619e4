"""The `tierstack` command line.

Only click is imported at start; each command imports what it needs, so
`tierstack --help` stays fast. Nothing the user typed, and nothing the
environment did, produces a traceback. The exit codes (README, "Errors and exit codes"):

  0    success
  1    a bug in tierstack ("internal error"; TIERSTACK_DEBUG=1 shows the traceback)
  2    bad input or a bad environment: a UserError, a usage error, end of input in
       `init`, a full disk, a read-only file system, a permission
  3    review, diff, generate --diff: a stateful resource would be destroyed or replaced (data at risk;
       CI asks for an approval)
  4    review, apply: a change freeze is on for a stack the plans change (no --override-freeze)
  5    generate --check: the output directory is not what the config generates now
  6    verify: the live Vertex AI resources differ from the stacks (missing, differing, unmanaged)
  7    review --reviewed: the new plans differ from the reviewed plans (resource, action or attribute)
  8    golden-set check: no evaluation of the candidate on the current golden set, or too different
  130  interrupted (Ctrl-C, SIGINT): "Aborted!"
  141  the reader of our output went away (a closed pipe): no message

Each command is defined in a module of its own (a small family, such as plan and apply, shares one);
this one holds the group, the error and signal handling every command runs under, and the list of
commands. The options commands share are in options.py, what they print with in views.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from tierstack.generator.cli import (
    blueprints,
    catalog,
    ci,
    cost,
    diff,
    docs,
    explain,
    fork,
    generate,
    golden_set,
    init,
    operate,
    review,
    schema,
    upstream,
    validate,
    verify,
)
from tierstack.generator.cli.context import PARAMS, CommandContext, interrupted, out_as_given
from tierstack.generator.cli.options import exit_codes
from tierstack.generator.cli.views import echo_stream, flush_outputs, output_closed, print_error, silence_closed_outputs
from tierstack.generator.core.exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_BUG,
    EXIT_DESTRUCTIVE_CHANGE,
    EXIT_DRIFT,
    EXIT_FROZEN,
    EXIT_INTERRUPTED,
    EXIT_NOT_PROMOTABLE,
    EXIT_OK,
    EXIT_PLAN_CHANGED,
    EXIT_STALE,
    EXIT_USER_ERROR,
)


class TierstackGroup(click.Group):
    """One clear message and exit code for every way a run can end; "internal error" only for bugs."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.context_class = CommandContext
        super().add_command(cmd, name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        interrupted.clear()
        try:
            return super().main(*args, **kwargs)
        finally:  # what is still buffered goes now, so a closed pipe or a full disk is not noise at exit
            code = flush_outputs()
            if code:
                sys.exit(code)  # replaces the exit code: the output was cut

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        if os.environ.get("NO_COLOR"):  # https://no-color.org: any non-empty value; every command inherits it
            extra.setdefault("color", False)
        with _handled(None):  # `tierstack --help | head -1`, a usage error into a closed pipe
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with _ctrl_c_handled(), _handled(ctx):  # the handler is restored after "Aborted!" is out
            from tierstack.generator.core.fsio import require_working_directory

            require_working_directory()  # every relative path and every message needs it
            return super().invoke(ctx)


@contextlib.contextmanager
def _handled(ctx: click.Context | None) -> Iterator[None]:
    """Every exception becomes its message and exit code (click.exceptions.Exit); bugs stay bugs."""
    try:
        yield
    except click.exceptions.Exit:
        raise
    except (KeyboardInterrupt, click.Abort):  # click.prompt turns Ctrl-C into Abort
        print_error("\nAborted!", color=None)  # the blank line ends the terminal's ^C, as click does
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        if output_closed(exc):
            silence_closed_outputs()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        if interrupted.is_set():  # what Ctrl-C broke on its way (jsii's Node runtime, stopped by it)
            print_error("\nAborted!", color=None)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        raise click.exceptions.Exit(_failure(ctx, exc)) from None


def _failure(ctx: click.Context | None, exc: Exception) -> int:
    """Report exc; return its exit code (or re-raise it, with TIERSTACK_DEBUG)."""
    from tierstack.generator.core.errors import UserError, environment_error

    if isinstance(exc, click.ClickException):  # a usage error: click's message, click's code
        import io

        shown = io.StringIO()  # it quotes what was typed: escaped as every message is (print_error)
        exc.show(file=shown)
        with contextlib.suppress(OSError):
            print_error(shown.getvalue().removesuffix("\n"), color=None)
        return exc.exit_code
    if not isinstance(exc, UserError):
        exc = environment_error(exc, echo_stream(exc) or _command_path(ctx)) or exc
    if isinstance(exc, UserError):
        shown_error = out_as_given(exc, *ctx.meta[PARAMS]) if ctx is not None and PARAMS in ctx.meta else exc
        print_error(f"error: {shown_error.render()}")
        return EXIT_USER_ERROR
    if os.environ.get("TIERSTACK_DEBUG"):
        raise exc
    print_error(
        f"internal error: {type(exc).__name__}: {exc}\n"
        "This is a bug in tierstack, not in your input. Run again with TIERSTACK_DEBUG=1 "
        "for the traceback and include it in a bug report."
    )
    return EXIT_BUG


def _command_path(ctx: click.Context | None) -> Path | None:
    """What the running command writes (generate, init) or reads (the config)."""
    if ctx is None or PARAMS not in ctx.meta:
        return None
    name, params = ctx.meta[PARAMS]
    if name == "generate":
        from tierstack.generator.core.paths import default_out

        out: Path = params.get("out") or default_out(params["config"])
        return out
    given: Path | None = params.get("path") or params.get("config")
    return given


@contextlib.contextmanager
def _ctrl_c_handled() -> Iterator[None]:
    """While a command runs, Ctrl-C stops jsii's Node runtime before KeyboardInterrupt unwinds anything.

    generate removes its temporary tree on the way out; Node must not be writing into it by then. After
    a Ctrl-C the run is ending, and further ones are ignored until the process exits: put back, Python's
    own handler would turn an impatient second Ctrl-C during the exit into a traceback and a death by
    SIGINT (however long the cleanup takes on a busy machine). Without one, the old handler is back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        if not interrupted.is_set():
            signal.signal(signal.SIGINT, previous)


def _on_sigint(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    interrupted.set()
    runtime = sys.modules.get("tierstack.generator.synth.jsii_env")
    if runtime is not None:  # imported only by generate, before the bindings
        runtime.interrupt()
    raise KeyboardInterrupt


@click.group(
    cls=TierstackGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=exit_codes(
        {
            EXIT_OK: "success",
            EXIT_USER_ERROR: "bad input or a bad environment: the message names the file, line, field",
            EXIT_DESTRUCTIVE_CHANGE: "review, diff, generate --diff, upstream: data at risk",
            EXIT_FROZEN: "review, apply: a change freeze is on",
            EXIT_STALE: "generate --check: the output is stale",
            EXIT_DRIFT: "verify: the live resources differ from the stacks",
            EXIT_PLAN_CHANGED: "review --reviewed: the plans differ from the plans reviewed",
            EXIT_NOT_PROMOTABLE: "golden-set check: the candidate may not be promoted",
        }
    ),
)
@click.version_option(package_name="tierstack")
def main() -> None:
    """From an ML use case to MLOps capabilities, a maturity tier and
    CDK-for-Terraform stacks on Google Cloud.

    \b
    Start here:
      tierstack init                     answer a few questions, get tierstack.yaml
      tierstack explain                  capabilities, reasons, tier, environments
      tierstack show --resolved          the resolved blueprint stacks are built from

    Each command's --help ends with the exit codes it returns; README.md,
    "Errors and exit codes", says more.
    """


for command in (
    catalog.capabilities,
    catalog.tiers,
    explain.explain,
    explain.show,
    blueprints.blueprints,
    generate.generate,
    diff.diff,
    review.review,
    validate.validate,
    operate.bootstrap,
    operate.plan,
    operate.apply,
    verify.verify,
    cost.cost,
    golden_set.golden_set,
    ci.ci,
    docs.docs,
    schema.schema,
    fork.fork,
    upstream.upstream,
    init.init,
):
    main.add_command(command)
