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
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import click

from tierstack.generator.choices import FORMATS
from tierstack.generator.exit_codes import (
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

if TYPE_CHECKING:  # errors is imported by the commands that need it, not at start
    from tierstack.generator.errors import UserError

DEFAULT_CONFIG = "tierstack.yaml"

# every command can end these ways too (README, "Errors and exit codes")
_EVERY_COMMAND = {
    EXIT_BUG: "a bug in tierstack: internal error, and how to report it",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): Aborted!",
    EXIT_BROKEN_PIPE: "the program reading the output stopped first: no message",
}
BAD_INPUT = "bad input or a bad environment"


def exit_codes(codes: dict[int, str]) -> str:
    """A command's help ends with this: each code it can return and what it means (the epilog).

    `codes` are the command's own (0 and 2 always among them); 1, 130 and 141 follow, as every command
    can end so. A meaning may hold newlines: its further lines are indented under the first.
    """
    rows = {**codes, **_EVERY_COMMAND}
    lines = ["\b", "Exit codes:"]
    for code in sorted(rows):
        first, *more = rows[code].split("\n")
        lines.append(f"  {code:<4} {first}")
        lines += [f"       {line}" for line in more]
    return "\n".join(lines)


_PARAMS = "tierstack.command"  # ctx.meta key: the running command's name and parameters
_interrupted = threading.Event()  # set by the SIGINT handler for the run in progress


class _CommandContext(click.Context):
    """A command's context that leaves its parameters where the error handling can see them.

    An OSError from a full disk names no file; the command's path (--out, the config) does.
    """

    def invoke(self, callback: Any, /, *args: Any, **kwargs: Any) -> Any:
        if self.command.callback is callback:
            self.meta[_PARAMS] = (self.command.name, dict(self.params))
        return super().invoke(callback, *args, **kwargs)


class TierstackGroup(click.Group):
    """One clear message and exit code for every way a run can end; "internal error" only for bugs."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.context_class = _CommandContext
        super().add_command(cmd, name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        _interrupted.clear()
        try:
            return super().main(*args, **kwargs)
        finally:  # what is still buffered goes now, so a closed pipe or a full disk is not noise at exit
            code = _flush_outputs()
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
            from tierstack.generator.fsio import require_working_directory

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
        _report("\nAborted!", color=None)  # the blank line ends the terminal's ^C, as click does
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        if _output_closed(exc):
            _silence_closed_outputs()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        if _interrupted.is_set():  # what Ctrl-C broke on its way (jsii's Node runtime, stopped by it)
            _report("\nAborted!", color=None)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        raise click.exceptions.Exit(_failure(ctx, exc)) from None


def _failure(ctx: click.Context | None, exc: Exception) -> int:
    """Report exc; return its exit code (or re-raise it, with TIERSTACK_DEBUG)."""
    from tierstack.generator.errors import UserError, environment_error

    if isinstance(exc, click.ClickException):  # a usage error: click's message, click's code
        import io

        shown = io.StringIO()  # it quotes what was typed: escaped as every message is (_report)
        exc.show(file=shown)
        with contextlib.suppress(OSError):
            _report(shown.getvalue().removesuffix("\n"), color=None)
        return exc.exit_code
    if not isinstance(exc, UserError):
        exc = environment_error(exc, _echo_stream(exc) or _command_path(ctx)) or exc
    if isinstance(exc, UserError):
        shown_error = _out_as_given(exc, *ctx.meta[_PARAMS]) if ctx is not None and _PARAMS in ctx.meta else exc
        _report(f"error: {shown_error.render()}")
        return EXIT_USER_ERROR
    if os.environ.get("TIERSTACK_DEBUG"):
        raise exc
    _report(
        f"internal error: {type(exc).__name__}: {exc}\n"
        "This is a bug in tierstack, not in your input. Run again with TIERSTACK_DEBUG=1 "
        "for the traceback and include it in a bug report."
    )
    return EXIT_BUG


def _out_as_given(exc: UserError, command: str | None, params: dict[str, Any], said: bool = True) -> UserError:
    """A UserError about --out when no --out was given names the default output instead of the option.

    The engine names `--out` for any problem with the output path; the person who typed no --out
    reads which default it was ("cdktf.out (the default output directory)"). Not `said` (a document for
    scripts), the file stays a path and only the field goes.
    """
    from dataclasses import replace

    from tierstack.generator.errors import UserError

    if type(exc) is not UserError or exc.field != "--out" or "out" not in params or params["out"] is not None:
        return exc
    if not said:
        return replace(exc, field=None)
    default = "the default output file" if command == "fork" else "the default output directory"
    file = f"{exc.file} ({default})" if exc.file is not None else default
    return replace(exc, file=file, field=None)


def _command_path(ctx: click.Context | None) -> Path | None:
    """What the running command writes (generate, init) or reads (the config)."""
    if ctx is None or _PARAMS not in ctx.meta:
        return None
    name, params = ctx.meta[_PARAMS]
    if name == "generate":
        out: Path = params.get("out") or params["config"].parent / "cdktf.out"
        return out
    given: Path | None = params.get("path") or params.get("config")
    return given


def _report(text: str, color: str | None = "red") -> None:
    """A message on stderr; if stderr is a closed pipe, the message is lost and the exit code stays.

    Control characters in it (from a key, a value, a file name) are escaped: shown, never obeyed.
    """
    from tierstack.generator.errors import printable

    try:
        click.secho(printable(text), err=True, fg=color)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        _silence_closed_outputs()


# --- a closed pipe -------------------------------------------------------------------------------


def _output_closed(exc: BaseException) -> bool:
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


def _silence_closed_outputs() -> None:
    """Point a closed stdout or stderr at /dev/null, so the flush at exit is not another BrokenPipeError.

    What Python's documentation recommends (signal module, "Note on SIGPIPE"); SIGPIPE itself stays
    ignored, as Python sets it, or a dead jsii Node process would kill tierstack without a word.
    """
    for fd in _std_fds():
        if _is_closed(fd):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)


def _flush_outputs() -> int:
    """Flush stdout and stderr; 0, or the exit code for the output that could not be written."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                _silence_closed_outputs()
                return EXIT_BROKEN_PIPE
            with contextlib.suppress(OSError):
                sys.stderr.write(f"error: {getattr(stream, 'name', 'output')}: {exc.strerror or exc}\n")
            return EXIT_USER_ERROR
        except (AttributeError, ValueError):  # closed or replaced
            pass
    return 0


def _echo_stream(exc: BaseException) -> str | None:
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


# --- Ctrl-C --------------------------------------------------------------------------------------


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
        if not _interrupted.is_set():
            signal.signal(signal.SIGINT, previous)


def _on_sigint(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _interrupted.set()
    runtime = sys.modules.get("tierstack.generator.jsii_env")
    if runtime is not None:  # imported only by generate, before the bindings
        runtime.interrupt()
    raise KeyboardInterrupt


_F = TypeVar("_F", bound=Callable[..., Any])


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 file', '2 files': every count in a message agrees with its noun (and `agrees` with its verb)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def agrees(count: int, singular: str, plural: str) -> str:
    """The verb for `count` things: agrees(1, "differs", "differ") is "differs"."""
    return singular if count == 1 else plural


# what each output format is for: every command's --format names its choices in this order, with these words
FORMAT_USES = {
    "text": "text for people",
    "markdown": "markdown for a pull-request comment",
    "json": "json for scripts",
    "yaml": "yaml for scripts",
}


def _format_option(choices: tuple[str, ...] = FORMATS, default: str = "text", note: str = "") -> Callable[[_F], _F]:
    """--format FORMAT, the same in every command: one option name, one metavar, the choices of FORMAT_USES."""
    chosen = tuple(name for name in FORMAT_USES if name in choices)  # the one order, whatever the caller's
    uses = [FORMAT_USES[name] for name in chosen]
    if "json for scripts" in uses and "yaml for scripts" in uses:  # "json or yaml for scripts", said once
        uses[uses.index("json for scripts")] = "json or yaml for scripts"
        uses.remove("yaml for scripts")
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(chosen),
        default=default,
        show_default=True,
        metavar="FORMAT",
        help="; ".join(uses) + (f" {note}" if note else "") + ".",
    )


config_argument = click.argument(
    "config",
    required=False,
    default=DEFAULT_CONFIG,
    type=click.Path(dir_okay=False, path_type=Path),
)


member_option = click.option(
    "--member",
    metavar="NAME",
    help="CONFIG is a fleet file: the member to read (docs/fleets.md).",
)

# the options every command that reads synthesized stacks shares, defined once
stacks_out_option = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="The cdktf output directory generate wrote [default: cdktf.out beside the config].",
)
environments_option = click.option(
    "--env", "environments", multiple=True, metavar="ENV", help="Only these environments (repeatable)."
)
members_option = click.option(
    "--member",
    "members",
    multiple=True,
    metavar="NAME",
    help="CONFIG is a fleet file: only this member's stacks (repeatable) [default: every member's].",
)


def _fleet_member(config: Path, name: str, resolved: bool = True) -> Any:
    """A fleet member's plan (or, not resolved, its validated config), as a tierstack.yaml's would be."""
    from tierstack.generator import fleet

    return fleet.resolved_member(config, name) if resolved else fleet.loaded_member(config, name)


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


@main.command(
    short_help="The MLOps capabilities tierstack knows.",
    epilog=exit_codes({EXIT_OK: "listed", EXIT_USER_ERROR: "a usage error (an unknown option or --format)"}),
)
@_format_option()
def capabilities(fmt: str) -> None:
    """List the MLOps capabilities tierstack knows.

    \b
    Example:
      tierstack capabilities --format yaml
    """
    from tierstack.generator.catalog import load_catalog
    from tierstack.generator.report import as_data, catalog_data

    catalog = load_catalog()
    if fmt != "text":
        click.echo(as_data(catalog_data(catalog), fmt), nl=False)
        return
    for cap in catalog.capabilities:
        note = "always" if cap.always else f"tier {cap.min_tier}+"
        click.echo(f"{cap.id:<24}{cap.name} ({note}; {cap.process})")
        click.echo(f"{'':<24}{cap.definition}")


@main.command(
    short_help="The maturity tiers and what each provides.",
    epilog=exit_codes({EXIT_OK: "listed", EXIT_USER_ERROR: "a usage error (an unknown option or --format)"}),
)
@_format_option()
def tiers(fmt: str) -> None:
    """List the maturity tiers and what each provides.

    \b
    Example:
      tierstack tiers
    """
    from tierstack.generator.catalog import load_catalog
    from tierstack.generator.report import as_data, tiers_data

    data = tiers_data(load_catalog())
    if fmt != "text":
        click.echo(as_data(data, fmt), nl=False)
        return
    for tier in data:
        click.echo(f"tier {tier['level']}: {tier['name']} (blueprint {tier['blueprint']})")
        click.echo(f"  {tier['summary']}")
        click.echo(f"  environments: {', '.join(tier['environments'])}; CI/CD: {'yes' if tier['ci_cd'] else 'no'}")
        click.echo(f"  capabilities: {', '.join(tier['capabilities'])}")


@main.command(
    short_help="Why each capability, which tier, which stacks.",
    epilog=exit_codes({EXIT_OK: "explained", EXIT_USER_ERROR: "bad input: the config, a blueprint, --member"}),
)
@config_argument
@_format_option()
@member_option
def explain(config: Path, fmt: str, member: str | None) -> None:
    """Explain a use case: capabilities with reasons, tier, and what each
    provisions in each environment, read from the stacks synthesized as
    generate would (a few seconds: the Google provider bindings load); what a
    capability can provision and this plan does not comes with why (the
    setting and where it was set) and how to have it. For a check in about a
    second that never synthesizes, use `tierstack validate`.

    \b
    Example:
      tierstack explain examples/fraud-detection/tierstack.yaml
    """
    from tierstack.generator.catalog import load_catalog
    from tierstack.generator.report import as_data, explain_data, explain_text
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    catalog = load_catalog()
    plan = _fleet_member(config, member) if member is not None else resolve(load_spec(config), catalog)
    data = explain_data(plan, catalog)
    click.echo(explain_text(data) if fmt == "text" else as_data(data, fmt), nl=False)


@main.command(
    short_help="The spec, or the resolved plan with provenance.",
    epilog=exit_codes({EXIT_OK: "shown", EXIT_USER_ERROR: "bad input: the config, a blueprint, --member"}),
)
@config_argument
@click.option("--resolved", is_flag=True, help="Show the resolved blueprint, per environment.")
@click.option(
    "--provenance",
    is_flag=True,
    help="With --resolved: where each value was set (a file and line; tierstack:BLUEPRINT:LINE in a built-in "
    "blueprint). A listing, or data with an explicit --format json or yaml.",
)
@_format_option(default="yaml")
@member_option
def show(config: Path, resolved: bool, provenance: bool, fmt: str, member: str | None) -> None:
    """Show the validated spec, or with --resolved the plan stacks are built from.

    With --provenance, each value is followed by the place that set it: a
    line of tierstack.yaml or of a blueprint of your own, or a line of a
    built-in blueprint, written tierstack:NAME:LINE (tierstack blueprints
    --show NAME prints that file).

    \b
    Examples:
      tierstack show examples/recommender/tierstack.yaml
      tierstack show --resolved --provenance
      tierstack show --resolved --format json | jq '.environments.prod'
      tierstack show --resolved --provenance --format json | jq '.provenance'
    """
    from click.core import ParameterSource

    from tierstack.generator.report import as_data, resolved_provenance_data, resolved_text
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    if provenance and not resolved:
        raise click.UsageError("--provenance goes with --resolved")
    if member is not None and resolved:
        plan = _fleet_member(config, member)
    else:
        loaded = _fleet_member(config, member, resolved=False) if member is not None else load_spec(config)
        if not resolved:
            click.echo(as_data(loaded.spec.model_dump(mode="json"), "json" if fmt == "json" else "yaml"), nl=False)
            return
        plan = resolve(loaded)
    listing = fmt == "yaml" and click.get_current_context().get_parameter_source("fmt") is ParameterSource.DEFAULT
    if fmt == "text" or (provenance and listing):
        click.echo(resolved_text(plan, provenance), nl=False)
    elif provenance:
        click.echo(as_data(resolved_provenance_data(plan), fmt), nl=False)
    else:
        click.echo(as_data(plan.to_data(), fmt), nl=False)


@main.command(
    short_help="The built-in blueprints, or the text of one; local and remote ones with their lineage.",
    epilog=exit_codes(
        {EXIT_OK: "listed or printed", EXIT_USER_ERROR: "bad input: no such blueprint, a --config or --dir"}
    ),
)
@click.option(
    "--show",
    "name",
    metavar="NAME",
    help="Print the built-in blueprint NAME as it is shipped (what tierstack:NAME:LINE points into).",
)
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also the blueprint chain of this tierstack.yaml: local, git (with the pinned commit) and built-in "
    "(repeatable).",
)
@click.option(
    "--dir",
    "folders",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    metavar="DIR",
    help="Also every *.yaml.j2 in DIR, each with what it extends (repeatable).",
)
@_format_option()
def blueprints(name: str | None, configs: tuple[Path, ...], folders: tuple[Path, ...], fmt: str) -> None:
    """List the built-in blueprints: name, tier, what each is and what it extends.

    Provenance and error messages name a line of a built-in blueprint as
    tierstack:NAME:LINE; --show NAME prints that file. A blueprint of your
    own builds on one with `extends: NAME` (docs/blueprints.md), or on one
    in a git repository with `extends: {git: URL, ref: REF, path: PATH}`.

    With --config or --dir, local blueprints follow, each with its lineage:
    the `extends` chain down to a built-in, a blueprint from git shown as
    REPOSITORY@REF:PATH with the commit it is pinned to (tierstack.lock).
    A folder's blueprints are rendered for a production use case.

    \b
    Examples:
      tierstack blueprints
      tierstack blueprints --show level-1-pipeline-automation
      tierstack blueprints --show level-1-pipeline-automation | sed -n 37p   # tierstack:level-1-pipeline-automation:37
      tierstack blueprints --config examples/regional-propensity/us/tierstack.yaml
      tierstack blueprints --dir blueprints/ --format json
    """
    from tierstack.generator.blueprint import builtin_summaries, builtin_text
    from tierstack.generator.report import as_data

    if name is not None:
        if fmt != "text" or configs or folders:
            raise click.UsageError(
                "--show prints the blueprint's own text; --format goes with the list, as do --config and --dir"
            )
        click.echo(builtin_text(name), nl=False)
        return
    data = builtin_summaries()
    if configs or folders:
        _blueprint_lineage(data, configs, folders, fmt)
        return
    if fmt != "text":
        click.echo(as_data(data, fmt), nl=False)
        return
    width = max(len(b["name"]) for b in data)
    for blueprint in data:
        extends = f", extends {blueprint['extends']}" if blueprint["extends"] else ""
        click.echo(f"{blueprint['name']:<{width}}  tier {blueprint['tier']}{extends}")
        click.echo(f"{'':<{width}}  {blueprint['description']}")
    click.echo("\nprint one with: tierstack blueprints --show NAME")


@main.command(
    short_help="Synthesize one Terraform stack per environment.",
    epilog=exit_codes(
        {
            EXIT_OK: "written; with --check: DIR is up to date; with --diff: no data at risk",
            EXIT_USER_ERROR: BAD_INPUT + " (a fleet: a member failed)",
            EXIT_DESTRUCTIVE_CHANGE: "with --diff: data at risk (a stateful resource removed, renamed\n"
            "without a moved block, or replaced)",
            EXIT_STALE: "with --check: DIR is stale; the files are listed",
        }
    ),
)
@config_argument
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="The cdktf output directory, what cdktf.out is by default [default: cdktf.out beside the config].",
)
@environments_option
@click.option(
    "--force",
    is_flag=True,
    help="Replace files tierstack wrote that were edited by hand, cdktf.json included. Files it did "
    "not write are never deleted, and Terraform's own files are always kept.",
)
@click.option(
    "--check",
    is_flag=True,
    help=f"Write nothing; exit {EXIT_STALE} listing the stale, missing and extra files when DIR is not what "
    "the config generates now (like `terraform fmt -check`).",
)
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Write nothing; show what a regeneration would change, resource by resource, as `tierstack diff` "
    f"does (exit {EXIT_DESTRUCTIVE_CHANGE} when data is at risk).",
)
@click.option(
    "--only",
    multiple=True,
    metavar="KEY=VALUE",
    help="A fleet file: only the members' stacks with this name, team, region or environment (repeatable: "
    "one key given twice means either value, two keys must both match).",
)
@click.option(
    "--update",
    is_flag=True,
    help="Resolve every git upstream from its ref again (fetching) and record the commits in tierstack.lock, "
    "instead of building from the locked ones.",
)
@_format_option()
def generate(
    config: Path,
    out: Path | None,
    environments: tuple[str, ...],
    force: bool,
    check: bool,
    show_diff: bool,
    only: tuple[str, ...],
    update: bool,
    fmt: str,
) -> None:
    """Generate CDK-for-Terraform stacks, one per environment, as Terraform JSON.

    \b
    Writes, with DIR = --out (default: cdktf.out beside the config):
      DIR/stacks/<name>-<env>/cdk.tf.json   one stack per environment
      DIR/manifest.json                     the stacks and their paths (CDK CLI, Atlantis)
      DIR/.tierstack-manifest.json          what tierstack wrote, to spot hand edits
      cdktf.json beside DIR                 for the CDK CLI (never over your own)

    The new tree replaces DIR atomically: a failure leaves the previous output
    as it was. DIR must be a directory of its own: not the config's folder, a
    repository's top, your home, the current directory or /. A file there
    that tierstack did not write stops generate, even with --force; one it
    wrote and you edited (cdktf.json too) stops it unless --force. Terraform's
    files in a stack directory (.terraform/, .terraform.lock.hcl, *.tfplan,
    terraform.tfstate*) are yours: they are carried over into every
    regeneration. A stack that leaves the config while its directory holds
    them stops generate unless --force, which keeps them. A second generate
    into the same DIR waits for the first (up to 2 minutes).

    Before it writes, generate prints per stack the resources added, removed
    and changed since the last generation, and warns when a stateful resource
    (a bucket, a dataset, ...) would be destroyed: it still writes; review the
    change with --diff or `tierstack diff`. --diff and --check write nothing.

    --format json (or yaml) prints one document on stdout, for scripts: per
    stack (per member of a fleet) its path, the files written with their
    sha256, the changes since the last generation and the data at risk;
    --check's files and --diff's changes; and the exit status. Everything
    for people goes to stderr. An error is still exit 2 with its message on
    stderr, and the document says "status": "error" with its "problems".
    See docs/stacks.md.

    A fleet file (docs/fleets.md) generates every member, in one process,
    into DIR/<member>/cdktf.out (DIR: --out, default the fleet file's
    folder), with a line per member (a progress bar on a terminal); a member
    with errors is reported and the others are still generated (exit 2).
    --only KEY=VALUE selects members' stacks; --env ENV is --only environment=ENV.

    \b
    Examples:
      tierstack generate examples/fraud-detection/tierstack.yaml
      tierstack generate --env prod --out build/cdktf.out   # build/cdktf.out/stacks/<name>-prod/
      tierstack generate fleet.yaml --only team=uk          # uk/cdktf.out beside fleet.yaml
      tierstack generate --diff                             # what a regeneration changes; writes nothing
      tierstack generate --check                            # in CI: is the committed output current?
      tierstack generate --format json | jq '.stacks[].changes'
    """
    from tierstack.generator.report import as_data

    mode: Literal["generate", "check", "diff"] = "check" if check else "diff" if show_diff else "generate"
    data_wanted = fmt != "text"
    try:
        code, data = _generate(
            config, out, list(environments), force, check, show_diff, list(only), update, data_wanted
        )
    except Exception as exc:
        failed = _generate_error_data(exc, config, out, mode) if data_wanted else None
        if failed is not None:
            with contextlib.suppress(OSError):  # stdout itself may be what failed: the message still goes out
                click.echo(as_data(failed, fmt), nl=False)
        raise
    if data is not None:
        click.echo(as_data(data, fmt), nl=False)
    if code:
        raise click.exceptions.Exit(code)


def _generate(
    config: Path,
    out: Path | None,
    environments: list[str],
    force: bool,
    check: bool,
    show_diff: bool,
    only: list[str],
    update: bool,
    data_wanted: bool,
) -> tuple[int, dict[str, Any] | None]:
    """generate's run: its exit code and, with `data_wanted` (--format json|yaml), its document.

    What the text output prints on stdout goes to stderr when the document is wanted.
    """
    from tierstack.generator import fleet as fleets
    from tierstack.generator import generate_data
    from tierstack.generator.generate import generate as run_generate
    from tierstack.generator.report import delivery_warnings

    if check and show_diff:
        raise click.UsageError("--check and --diff are two different runs: give one")
    if force and (check or show_diff):
        raise click.UsageError(f"--force replaces files, and --{'check' if check else 'diff'} writes nothing")
    if update and (check or show_diff):
        raise click.UsageError(f"--update writes tierstack.lock, and --{'check' if check else 'diff'} writes nothing")
    if fleets.is_fleet_file(config):
        selected = [*only, *(f"environment={env}" for env in environments)]
        return _generate_fleet(config, out, selected, force, check, show_diff, data_wanted, update)
    if only:
        raise click.UsageError(f"--only selects members of a fleet file; {_shown(config)} is one use case (--env)")
    plan, pins = _pinned_resolve(config, update)
    warnings = delivery_warnings(plan)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    target = out or config.parent / "cdktf.out"
    chosen = environments or None
    if check or show_diff:
        return _generate_dry_run(plan, config, out, target, chosen, check, data_wanted, warnings)
    _record_pins(pins)
    reports: list[Any] = []
    summaries = run_generate(
        plan,
        target,
        chosen,
        force,
        progress=lambda text: click.echo(text, err=True),
        before_swap=lambda old, new, names: reports.append(
            _print_changes(old, new, None if chosen is None else names, err=data_wanted)
        ),
    )
    for summary in summaries:
        parts = ", ".join(f"{cap} {n}" for cap, n in summary.resources_by_capability.items())
        click.echo(f"{summary.name}: {summary.total} resources ({parts})", err=data_wanted)
    click.echo(f"wrote {target}/ ({counted(len(summaries), 'stack')})", err=data_wanted)
    if not data_wanted:
        return EXIT_OK, None
    result = generate_data.generated(plan, target, summaries, reports[0] if reports else None, warnings)
    return EXIT_OK, generate_data.document(config, "generate", EXIT_OK, result)


def _generate_error_data(
    exc: Exception, config: Path, out: Path | None, mode: Literal["generate", "check", "diff"]
) -> dict[str, Any] | None:
    """generate --format json|yaml stopped by an error: the document saying so, or None (a bug, Ctrl-C, a
    closed pipe: no document)."""
    from tierstack.generator import generate_data
    from tierstack.generator.errors import UserError, environment_error

    if _interrupted.is_set() or _output_closed(exc):
        return None
    problem: UserError | None
    if isinstance(exc, click.UsageError):
        problem = UserError(exc.format_message())
    elif isinstance(exc, UserError):
        problem = exc
    else:
        problem = environment_error(exc, _echo_stream(exc) or out or config.parent / "cdktf.out")
    if problem is None:
        return None
    return generate_data.error(
        config, mode, _out_as_given(problem, "generate", {"out": out}, said=False), EXIT_USER_ERROR
    )


def _generate_fleet(
    config: Path,
    out: Path | None,
    only: list[str],
    force: bool,
    check: bool,
    diff: bool,
    data_wanted: bool,
    update: bool = False,
) -> tuple[int, dict[str, Any] | None]:
    """generate FLEET: each member in turn; exit 2 if one failed, else 5 (--check: stale), 3 (--diff: data at risk)."""
    from tierstack.generator import fleet as fleets
    from tierstack.generator import generate_data

    mode: Literal["generate", "check", "diff"] = "check" if check else "diff" if diff else "generate"
    fleet, results = fleets.run(
        config, out, only, force, mode, tty=_stderr_is_tty(), stdout=not data_wanted, update=update
    )
    code = EXIT_OK
    if any(r.status == "error" for r in results):
        code = EXIT_USER_ERROR
    elif check and any(r.status == "stale" for r in results):
        code = EXIT_STALE
    elif diff and any(r.at_risk for r in results):
        code = EXIT_DESTRUCTIVE_CHANGE
    return code, generate_data.fleet(config, fleet, results, mode, code) if data_wanted else None


def _print_changes(old: Path, new: Path, stacks: list[str] | None, err: bool = False) -> Any:
    """Before generate swaps the new tree in: per stack, what changes since the last generation (on stderr
    with `err`). Returns the diff.Report (the first generation's: every stack added), or None when the last
    generation cannot be read."""
    from tierstack.generator import diff as diffing
    from tierstack.generator.errors import UserError

    after = diffing.load_synthesis(new, stacks=stacks)
    if not (old / "stacks").is_dir():  # the first generation: nothing to compare with
        return diffing.compare({}, after, "last generation", "this one")
    try:
        before = diffing.load_synthesis(old, stacks=stacks)
    except UserError as exc:  # a hand edit replaced with --force, say: no comparison, generate goes on
        click.echo(f"warning: cannot compare with the last generation: {exc.message}", err=True)
        return None
    report = diffing.compare(before, after, "last generation", "this one")
    click.echo("since the last generation:", err=err)
    for line in diffing.summary_lines(report):
        click.echo(f"  {line}", err=err)
    _warn_data_at_risk(report, "generate writes the new stacks anyway: `tierstack generate --diff` shows every change")
    return report


def _warn_data_at_risk(report: Any, note: str) -> None:
    at_risk = report.at_risk
    if not at_risk:
        return
    click.secho(
        f"warning: DATA AT RISK: {counted(len(at_risk), 'stateful resource')} would be destroyed by "
        f"`terraform apply`; {note}",
        err=True,
        fg="red",
        bold=True,
    )
    for change in at_risk:
        click.secho(f"  {change.stack}: {change.address}: {change.at_risk}", err=True, fg="red")


def _generate_dry_run(
    plan: Any,
    config: Path,
    out: Path | None,
    target: Path,
    environments: list[str] | None,
    check: bool,
    data_wanted: bool = False,
    warnings: list[str] | None = None,
) -> tuple[int, dict[str, Any] | None]:
    """generate --check and --diff: synthesize to a temporary directory and compare; write nothing."""
    from tierstack.generator import diff as diffing
    from tierstack.generator import generate_data
    from tierstack.generator.blueprint import display_path
    from tierstack.generator.generate import preview, stale_files

    click.echo("synthesizing (loading the Google provider bindings takes a few seconds)...", err=True)
    shown = display_path(target)
    with preview(plan, target, environments) as new:
        stacks = list(new.stacks)
        if check:
            stale = stale_files(new, environments)
        else:
            chosen = None if environments is None else new.stacks
            before = diffing.load_synthesis(new.out, shown, chosen) if (new.out / "stacks").is_dir() else {}
            after = diffing.load_synthesis(new.tree, shown, chosen)
            report = diffing.compare(before, after, shown, f"generate {display_path(config)}")
    if not check:
        click.echo(diffing.render_text(report), nl=False, err=data_wanted)
        code = EXIT_DESTRUCTIVE_CHANGE if report.at_risk else EXIT_OK
        result = generate_data.diffed(plan, target, stacks, report, warnings or []) if data_wanted else None
        return code, None if result is None else generate_data.document(config, "diff", code, result)
    code = EXIT_STALE if stale else EXIT_OK
    data = None
    if data_wanted:
        result = generate_data.checked(plan, target, stacks, stale, warnings or [])
        data = generate_data.document(config, "check", code, result)
    if not stale:
        click.echo(f"{shown}/ is up to date with {display_path(config)}", err=data_wanted)
        return code, data
    for file in stale:
        click.echo(f"{file.status}: {file.path}", err=data_wanted)
    command = " ".join(
        ["tierstack generate", display_path(config)]
        + ([f"--out {display_path(out)}"] if out else [])
        + [f"--env {env}" for env in environments or []]
    )
    _report(
        f"error: {shown}/ is stale: {counted(len(stale), 'file')} {agrees(len(stale), 'differs', 'differ')} from what "
        f"{display_path(config)} generates now\n  hint: run `{command}` and commit the result"
    )
    return code, data


DIFF_FORMATS = ("text", "markdown", "json", "yaml")


@contextlib.contextmanager
def _signals_end_the_run() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run through Python's unwinding (exit 128 + the signal), so `finally`
    blocks and context managers clean up, as Ctrl-C's KeyboardInterrupt does; the old handlers come back."""
    import signal

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    wanted = [signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])]
    try:
        previous = {sig: signal.signal(sig, stop) for sig in wanted}
    except ValueError:  # not the main thread (an embedding caller): leave signals to it
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@main.command(
    short_help="What changes between two syntheses; exit 3 when data is at risk.",
    epilog=exit_codes(
        {
            EXIT_OK: "nothing is at risk (whether or not anything changed)",
            EXIT_USER_ERROR: "bad input: not an output directory, no such ref, no config at a ref,\n"
            "a config that does not resolve",
            EXIT_DESTRUCTIVE_CHANGE: "data at risk: `terraform apply` would destroy a stateful resource\n"
            "(a CI job can gate on it)",
        }
    ),
)
@click.argument("base")
@click.argument("head")
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="With git refs: the tierstack.yaml to synthesize at each ref, as a path from the repository's top.",
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    metavar="DIR",
    help="With git refs: the repository [default: the current directory's].",
)
@click.option(
    "--committed",
    is_flag=True,
    help="With git refs: compare the output committed beside the config at each ref (its cdktf.out/) "
    "instead of synthesizing the config: what a regenerated output in a pull request would do.",
)
@_format_option(DIFF_FORMATS)
def diff(base: str, head: str, config_path: str | None, repo: Path, committed: bool, fmt: str) -> None:
    """Compare two syntheses: resources added, removed, changed (attribute by
    attribute) and renamed, per stack and capability, with the data at risk.

    BASE and HEAD are each an output directory (cdktf.out) or a git ref of
    the repository (a branch, a tag, a commit, HEAD~1). A ref's tree is
    extracted with `git archive` into a temporary directory and the config
    given by --config is synthesized there by this tierstack: your working
    tree, index and HEAD are never touched, not even by Ctrl-C or a SIGTERM
    (the temporary directory goes too). With --committed, the output
    committed beside the config at each ref is compared instead: what the
    regenerated files of a pull request would do. Offline; no credentials.
    A path that exists is a directory, anything else a ref.

    A rename is a resource of the same type and identity (what names it in
    Google Cloud: name, bucket, dataset_id, account_id, ..., project,
    location) at a new address; a `moved` block in HEAD declares it. A
    stateful resource (buckets, datasets, metadata and feature stores,
    endpoints, keys, pools, ...) that is removed, renamed without a `moved`
    block, or replaced (its identity changes) is DATA AT RISK. See docs/diff.md.

    \b
    Examples:
      tierstack diff old/cdktf.out cdktf.out
      tierstack diff main HEAD --config examples/recommender/tierstack.yaml
      tierstack diff main HEAD --config tierstack.yaml --committed
      tierstack diff origin/main HEAD --config tierstack.yaml --format markdown > comment.md
    """
    from tierstack.generator import diff as diffing
    from tierstack.generator.report import as_data

    sides = [(arg, Path(arg).is_dir()) for arg in (base, head)]
    if all(is_dir for _, is_dir in sides) and (config_path or committed):
        raise click.UsageError("--config and --committed go with git refs, and BASE and HEAD are both directories")
    for arg, is_dir in sides:
        if not is_dir and not config_path:
            raise click.UsageError(
                f"'{arg}' is not a directory; as a git ref it needs --config FILE "
                "(the tierstack.yaml to synthesize, from the repository's top)"
            )
    if not all(is_dir for _, is_dir in sides):  # both refs exist, before a synthesis takes seconds
        top = diffing.git_toplevel(repo)
        for arg, is_dir in sides:
            if not is_dir:
                diffing.commit_of(top, arg)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_signals_end_the_run())  # so the temporary copies go whatever stops the run
        synthesized = []
        for arg, is_dir in sides:
            if is_dir:
                synthesized.append(diffing.load_synthesis(Path(arg), arg))
                continue
            assert config_path is not None
            if not committed:
                click.echo(f"synthesizing {config_path} at {arg}...", err=True)
            out = stack.enter_context(diffing.synthesis_of_ref(repo, arg, config_path, committed))
            synthesized.append(diffing.load_synthesis(out, arg))
        report = diffing.compare(synthesized[0], synthesized[1], base, head)
    if fmt == "text":
        click.echo(diffing.render_text(report), nl=False)
    elif fmt == "markdown":
        click.echo(diffing.render_markdown(report), nl=False)
    else:
        click.echo(as_data(diffing.to_data(report), fmt), nl=False)
    if report.at_risk:
        raise click.exceptions.Exit(EXIT_DESTRUCTIVE_CHANGE)


REVIEW_FORMATS = ("text", "markdown", "json")


@main.command(
    short_help="Summarise terraform plans for a pull request; enforce change freezes.",
    epilog=exit_codes(
        {
            EXIT_OK: "nothing destructive touches a stateful resource",
            EXIT_USER_ERROR: "bad input: not a plan, an old plan format, an unreadable file,\na bad config",
            EXIT_DESTRUCTIVE_CHANGE: "data at risk (destroyed, replaced or lost in place), or a plan not\n"
            "complete (-target, deferred): ask for an approval",
            EXIT_FROZEN: "a change freeze is on for a stack with changes",
            EXIT_PLAN_CHANGED: "with --reviewed: the plans differ from the plans reviewed",
        }
    ),
)
@click.argument("plans", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@_format_option(REVIEW_FORMATS, default="markdown")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The tierstack.yaml whose freezes apply [default: found from each plan's stack directory].",
)
@click.option(
    "--at",
    "at",
    metavar="TIMESTAMP",
    help="Check the freezes at this ISO 8601 time, UTC unless it has an offset [default: now].",
)
@click.option(
    "--override-freeze",
    "override",
    metavar="REASON",
    help="Apply inside a change freeze anyway (an emergency); the reason is recorded in the review.",
)
@click.option(
    "--reviewed",
    "reviewed",
    metavar="REVIEWED.json",
    multiple=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="A plan the review approved (repeat per stack): compare PLANS with it instead; exit 7 when they differ.",
)
def review(
    plans: tuple[str, ...],
    fmt: str,
    config: Path | None,
    at: str | None,
    override: str | None,
    reviewed: tuple[str, ...] = (),
) -> None:
    """Summarise plans (`terraform show -json`): a verdict, counts, what is destroyed or replaced and
    the data at risk, moves, imports, drift, outputs, per stack and capability.

    Change freezes (`freezes:` in tierstack.yaml) block a plan that changes a stack inside a window;
    --override-freeze REASON lets it through and records why. The config is found from a plan in its
    stack directory (DIR/stacks/<stack>/<stack>.tfplan.json, where `tierstack plan` saves it), or given
    with --config.

    \b
    Examples:
      tierstack review cdktf.out/stacks/*/*.tfplan.json > comment.md   # as plan saved them
      terraform plan -out=churn-prod.tfplan                            # or by hand
      terraform show -json churn-prod.tfplan > churn-prod.tfplan.json
      tierstack review churn-prod.tfplan.json --format text --at 2026-11-27T09:00:00Z
      tierstack review --reviewed pr/plan.json deploy/plan.json   # at deploy: the plan reviewed, or exit 7
    """
    from tierstack.generator import freeze
    from tierstack.generator.analysis import review as plan_review
    from tierstack.generator.errors import json_printable, printable

    if reviewed:
        from tierstack.generator.analysis.review import compare as review_compare

        old = [(source, plan_review.load_plan(source)) for source in reviewed]
        new = [(source, plan_review.load_plan(source)) for source in plans]
        differences = review_compare.compare(old, new)
        click.echo(review_compare.to_text(differences, len(old), len(new)), nl=False)
        if differences:
            raise click.exceptions.Exit(EXIT_PLAN_CHANGED)
        return

    try:
        when = freeze.parse_at(at) if at is not None else freeze.now()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--at") from None
    if override is not None and not override.strip():
        raise click.BadParameter(
            "say why the freeze is overridden: it goes into the review", param_hint="--override-freeze"
        )
    stacks = [plan_review.review_stack(plan_review.load_plan(source), source) for source in plans]
    plan_review.check_one_plan_per_stack(stacks)
    changing = [(s.stack, s.environment, s.source) for s in stacks if s.has_changes]
    check = freeze.check_plans(changing, config, when, override.strip() if override else None)
    result = plan_review.Review(tuple(stacks), check)
    if fmt == "json":
        # compact, as `terraform show -json` writes: the C encoder, a third of the time on a large plan
        click.echo(json_printable(json.dumps(plan_review.to_data(result), ensure_ascii=False, separators=(",", ":"))))
    elif fmt == "text":
        click.echo(printable(plan_review.to_text(result)), nl=False)  # a plan's strings: shown, never obeyed
    else:
        click.echo(printable(plan_review.to_markdown(result)), nl=False)
    if result.blocked:
        raise click.exceptions.Exit(EXIT_FROZEN)
    if result.approval_required:
        raise click.exceptions.Exit(EXIT_DESTRUCTIVE_CHANGE)


@main.command(
    short_help="Check a config without synthesizing: every problem, in about a second.",
    epilog=exit_codes(
        {
            EXIT_OK: "valid (warnings, such as alerts nobody receives, go to stderr)",
            EXIT_USER_ERROR: "a problem: each is listed with its file, line, field and hint",
        }
    ),
)
@config_argument
@_format_option(("text", "json"), note="(the problems with file, line, field, message and hint)")
def validate(config: Path, fmt: str) -> None:
    """Run every check that needs no synthesis and report every problem found:
    the spec's fields, contradictions between answers, the blueprint, Google
    Cloud facts (zones, machines, GPUs, networks), every capability's typed
    settings in every environment, the production guarantees. Nothing is
    written and the Google provider bindings are not loaded.

    A fleet file is checked member by member (docs/fleets.md).

    \b
    Examples:
      tierstack validate
      tierstack validate examples/fraud-detection/tierstack.yaml --format json | jq '.problems'
    """
    from tierstack.generator import fleet
    from tierstack.generator import validate as checks
    from tierstack.generator.report import as_data

    if fleet.is_fleet_file(config):
        _validate_fleet(config, fmt)
        return
    result = checks.validate(config)
    if fmt == "json":
        click.echo(as_data(checks.to_data(result), "json"), nl=False)
    else:
        for problem in result.problems:
            _report(f"error: {problem.render()}")
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(checks.summary(result), err=not result.valid)
    if not result.valid:
        raise click.exceptions.Exit(EXIT_USER_ERROR)


def _validate_fleet(config: Path, fmt: str) -> None:
    """validate FLEET: every member, each problem with its member's field (members[NAME].FIELD)."""
    from tierstack.generator import fleet
    from tierstack.generator.report import as_data

    problems, members = fleet.validate_fleet(config)
    data = fleet.validation_data(config, problems, members)
    if fmt == "json":
        click.echo(as_data(data, "json"), nl=False)
    else:
        for problem in problems:
            _report(f"error: {problem.render()}")
        for kind, text in fleet.validation_lines(config, members) if not problems else []:
            if kind == "error":
                _report(f"error: {text}")
            elif kind == "warning":
                click.echo(f"warning: {text}", err=True)
            else:
                click.echo(text, err=not data["valid"])
    if not data["valid"]:
        raise click.exceptions.Exit(EXIT_USER_ERROR)


# --- operate: the state bucket, terraform plan and apply ------------------------------------------


@main.command(
    short_help="Create each environment's Terraform state bucket (before the first plan).",
    epilog=exit_codes(
        {
            EXIT_OK: "every bucket exists with the right settings (with --dry-run: listed)",
            EXIT_USER_ERROR: "a bucket that cannot be used, no credentials, a missing project or\npermission",
        }
    ),
)
@config_argument
@environments_option
@click.option("--dry-run", is_flag=True, help="Read only: say what would be created or found; change nothing.")
@click.option(
    "--soft-delete-days",
    type=click.IntRange(7, 90),
    default=30,
    show_default=True,
    help="How long Cloud Storage keeps a deleted or overwritten state object for restoring.",
)
def bootstrap(config: Path, environments: tuple[str, ...], dry_run: bool, soft_delete_days: int) -> None:
    """Create the GCS bucket each stack's Terraform backend keeps its state in.

    Terraform cannot create its own backend: run this once before the first
    `tierstack plan`. Each environment's bucket (state_bucket in tierstack.yaml,
    default <name>-tfstate; each stack keeps its own prefix) is created in the
    environment's project and region, with object versioning, uniform
    bucket-level access, public access prevention enforced, soft delete and
    the environment's cost labels. Running it again is safe: an existing
    bucket with compatible settings is left alone; one whose settings differ,
    or a name another project holds, is an error saying what to do.

    Uses Application Default Credentials (`gcloud auth application-default
    login`); with STORAGE_EMULATOR_HOST set, that storage emulator. --dry-run
    needs neither credentials nor a network: without them it lists each bucket
    and says what it could not check.

    \b
    Examples:
      tierstack bootstrap --dry-run
      tierstack bootstrap examples/recommender/tierstack.yaml --env prod
    """
    from tierstack.generator import bootstrap as state
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    buckets = state.wanted_buckets(resolve(load_spec(config)), environments or None, soft_delete_days)
    failed = 0
    for outcome in state.bootstrap(buckets, dry_run):
        for line in state.report(outcome):
            click.echo(line)
        failed += outcome.failed
    if failed:
        _report(f"error: {counted(failed, 'state bucket')} cannot be used as {agrees(failed, 'is', 'they are')}")
        raise click.exceptions.Exit(EXIT_USER_ERROR)


def _terraform_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options plan and apply share: the config, the output directory, the binary."""
    command = click.option(
        "--binary",
        envvar="TERRAFORM_BINARY_NAME",
        default="terraform",
        show_default=True,
        metavar="NAME",
        help="The Terraform CLI to run, e.g. tofu for OpenTofu [env: TERRAFORM_BINARY_NAME].",
    )(command)
    command = stacks_out_option(command)
    command = environments_option(command)
    command = _old_config_option(command)
    return config_argument(command)


# `tierstack plan ENV --config FILE`, as plan, apply and verify were called before CONFIG was their argument
_old_config_option = click.option(
    "--config", "old_config", hidden=True, type=click.Path(path_type=Path), help="Replaced by CONFIG."
)


def _not_an_environment(command: str, config: Path, old_config: Path | None, environments: tuple[str, ...]) -> None:
    """Stop an old command line (`plan prod`, `plan prod --config FILE`) with the line that replaces it (exit 2).

    CONFIG used to be an environment: `prod` that is no file but an environment of the config is said to
    be one. Anything else is left to load_spec, whose message names the missing file.
    """
    from tierstack.generator.errors import UserError

    given = config != Path(DEFAULT_CONFIG)
    if old_config is not None:
        envs = [*([str(config)] if given else []), *environments]
        raise UserError(
            f"{command} takes the config as its argument, not with --config",
            field="--config",
            hint=f"run `{_command_line(command, old_config, envs)}`",
        )
    if not given or config.exists() or config.suffix in (".yaml", ".yml") or len(config.parts) != 1:
        return
    import difflib

    names = _environment_names(Path(DEFAULT_CONFIG))
    close = difflib.get_close_matches(str(config), names, n=1, cutoff=0.6)  # as did_you_mean finds one
    if not close:
        return
    meant = close[0]
    line = _command_line(command, None, [*environments, meant])
    exact = meant == str(config)
    raise UserError(
        f"'{config}' is not a file{': it is' if exact else ', nor'} an environment of {DEFAULT_CONFIG}; {command} "
        "takes the config as its argument and the environment with --env",
        field="CONFIG",
        hint=f"run `{line}`" if exact else f"did you mean `{line}`?",
    )


def _environment_names(config: Path) -> list[str]:
    """The environments of a config, or none when it cannot be read (its own error comes later)."""
    from tierstack.generator.errors import UserError
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    if not config.is_file():
        return []
    try:
        return list(resolve(load_spec(config)).environments)
    except (UserError, OSError):
        return []


def _command_line(command: str, config: Path | None, environments: list[str]) -> str:
    return " ".join(
        ["tierstack", command, *([_shown(config)] if config is not None else [])]
        + [f"--env {env}" for env in dict.fromkeys(environments)]
    )


def _chosen_environments(resolved: Any, environments: tuple[str, ...]) -> list[str] | None:
    """The environments named with --env, checked against the config (None: every environment)."""
    from tierstack.generator.blueprint import display_path
    from tierstack.generator.errors import UserError, did_you_mean

    known = list(resolved.environments)
    for env in environments:
        if env not in known:
            raise UserError(
                f"no environment '{env}' in this use case",
                file=display_path(resolved.loaded.path),
                field="--env",
                hint=did_you_mean(env, known) or "environments: " + ", ".join(known),
            )
    return list(environments) or None


def _operate(config: Path, out: Path | None, environments: tuple[str, ...]) -> tuple[Any, Path, list[Any]]:
    """The resolved config, the output directory and the stacks to run (promotion order), checked to be
    synthesized."""
    from tierstack.generator import operate
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    resolved = resolve(load_spec(config))
    target = out or config.parent / "cdktf.out"
    chosen = _chosen_environments(resolved, environments)
    runs = [run for run in operate.stack_runs(resolved, target) if chosen is None or run.environment in chosen]
    operate.check_synthesized(runs, config, target)
    return resolved, target, runs


@main.command(
    short_help="terraform plan each stack in promotion order; save the plans.",
    epilog=exit_codes(
        {
            EXIT_OK: "planned; the plans are saved and their review printed",
            EXIT_USER_ERROR: "bad input or a bad environment: stale or missing stacks, no terraform,\n"
            "no credentials, terraform failed",
        }
    ),
)
@_terraform_options
def plan(config: Path, old_config: Path | None, environments: tuple[str, ...], out: Path | None, binary: str) -> None:
    """Run `terraform init` and `terraform plan` in each stack, in promotion
    order (every environment, or those of --env), and save each plan for
    `tierstack apply`.

    First the stacks are synthesized again in a temporary directory: output
    the config no longer generates is stale and is not planned (run
    `tierstack generate`). Then, in DIR/stacks/<stack>/: `terraform init
    -input=false`, `terraform plan -out=<stack>.tfplan` (its output streams to
    stderr), and `terraform show -json` saved as <stack>.tfplan.json, what
    `tierstack review` reads. A summary of each plan goes to stdout.

    The state lives in the GCS bucket `tierstack bootstrap` creates; terraform
    uses Application Default Credentials (`gcloud auth application-default
    login`). Terraform's own environment variables work as usual.

    \b
    Examples:
      tierstack plan                       # every environment, dev first
      tierstack plan examples/fraud-detection/tierstack.yaml --env prod
      tierstack plan --binary tofu         # OpenTofu
    """
    from tierstack.generator import operate

    _not_an_environment("plan", config, old_config, environments)
    resolved, target, runs = _operate(config, out, environments)
    tf_binary = operate.find_binary(binary)
    click.echo("checking that the stacks are current (synthesizing takes a few seconds)...", err=True)
    operate.check_current(resolved, runs, config, target)
    terraform = operate.Terraform(tf_binary, lambda line: click.echo(line, err=True), _stderr_is_tty())
    reviewed = []
    for run in runs:
        click.echo(f"{run.stack}: terraform init", err=True)
        operate.init(terraform, run, config)
        click.echo(f"{run.stack}: terraform plan -out={run.plan_file.name}", err=True)
        reviewed.append(operate.stack_review(operate.plan(terraform, run, config), run))
        click.echo(f"{run.stack}: saved {_shown(run.plan_file)} and {_shown(run.plan_json)}", err=True)
    changing = [run for run, stack in zip(runs, reviewed, strict=True) if stack.has_changes]
    check = operate.freeze_check(resolved, changing, config, _freeze_clock())
    click.echo(operate.review_text(reviewed, check), nl=False)


@main.command(
    short_help="Apply the saved plans, after confirmation, in promotion order.",
    epilog=exit_codes(
        {
            EXIT_OK: "applied (or nothing to apply)",
            EXIT_USER_ERROR: "no saved plan, a stale plan, no confirmation, terraform failed",
            EXIT_FROZEN: "a change freeze is on for a stack to apply, without --override-freeze",
        }
    ),
)
@_terraform_options
@click.option("--auto-approve", is_flag=True, help="Apply without asking (CI, after the plan was reviewed).")
@click.option(
    "--override-freeze",
    "override",
    metavar="REASON",
    help="Apply to a stack inside a change freeze anyway (an emergency); the reason is printed with the apply.",
)
def apply(
    config: Path,
    old_config: Path | None,
    environments: tuple[str, ...],
    out: Path | None,
    binary: str,
    auto_approve: bool,
    override: str | None,
) -> None:
    """Apply exactly the plan `tierstack plan` saved for each stack (every
    environment in promotion order, or those of --env): `terraform apply
    <stack>.tfplan`.

    Nothing new is planned. Before anything is applied, every chosen stack
    must have a saved plan made from the cdk.tf.json now in its directory (a
    regeneration since the plan makes it stale: plan again), and no change
    freeze from tierstack.yaml may be on for it (production, unless the
    freeze names environments) without --override-freeze REASON. Each plan's
    summary is shown and confirmed before it is applied; without a terminal,
    only --auto-approve applies. A plan without changes is skipped. Once
    applied, a stack's plan files are removed. When Google refuses a resource
    where it documents a delay (a grant made seconds before, docs/operate.md),
    apply says what it waits for, waits, plans what is left of the reviewed
    plan (nothing more) and applies that.

    \b
    Examples:
      tierstack apply --env dev
      tierstack apply --auto-approve                  # CI, every environment
      tierstack apply --env prod --override-freeze "INC-4711: revert the bad model"
    """
    from tierstack.generator import operate
    from tierstack.generator.errors import UserError

    _not_an_environment("apply", config, old_config, environments)
    if override is not None and not override.strip():
        raise click.BadParameter("say why the freeze is overridden", param_hint="--override-freeze")
    resolved, _target, runs = _operate(config, out, environments)
    tf_binary = operate.find_binary(binary)
    for run in runs:
        operate.check_plan_saved(run)
        operate.check_plan_current(run, config)
    terraform = operate.Terraform(tf_binary, lambda line: click.echo(line, err=True), _stderr_is_tty())
    saved = [operate.stack_review(operate.show(terraform, run, config)[0], run) for run in runs]
    changing = [run for run, stack in zip(runs, saved, strict=True) if stack.has_changes]
    reason = override.strip() if override is not None else None
    check = operate.freeze_check(resolved, changing, config, _freeze_clock(), reason)
    if check.blocked:
        for hit in check.hits:
            _report(f"error: change freeze '{hit.freeze}' is on for {hit.stack} ({hit.window}): {hit.reason}")
        _report("  hint: apply after the freeze, or pass --override-freeze REASON in an emergency", color=None)
        raise click.exceptions.Exit(EXIT_FROZEN)
    if changing and not auto_approve and not _stdin_is_tty():
        raise UserError(
            "apply asks for a confirmation, and there is no terminal to ask on",
            hint="review the plans (`tierstack review`), then pass --auto-approve",
        )
    for run, stack in zip(runs, saved, strict=True):
        click.echo(operate.review_text([stack], check if run in changing else None), nl=False)
        if not stack.has_changes:
            click.echo(f"{run.stack}: nothing to apply")
            continue
        question = f"Apply this plan to {run.stack} (project {run.project})?"
        if not auto_approve and not click.confirm(question, default=False):
            raise UserError(
                f"apply cancelled: {run.stack} was not applied"
                + (", nor the environments after it" if run is not runs[-1] else ""),
                hint=f"run `{_command_line('apply', _given_config(config), [run.environment])}` when ready",
            )
        operate.apply(terraform, run, config)
        click.echo(f"{run.stack}: applied")


def _given_config(config: Path) -> Path | None:
    """The config as a command line should name it: None for the default, which needs no naming."""
    return None if config == Path(DEFAULT_CONFIG) else config


def _shown(path: Path) -> str:
    from tierstack.generator.blueprint import display_path

    return display_path(path)


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def _freeze_clock() -> Any:
    from tierstack.generator import freeze

    return freeze.now()


# --- operate: verify the live resources, estimate the cost -----------------------------------------


@main.command(
    short_help=f"Read the live Vertex AI resources back; exit {EXIT_DRIFT} when they differ.",
    epilog=exit_codes(
        {
            EXIT_OK: "every stack matches what runs",
            EXIT_USER_ERROR: "no credentials, a permission denied (403), a project that does not\n"
            "exist (404), a stack never generated, a bad config",
            EXIT_DRIFT: "a difference: missing, differing or unmanaged resources (listed)",
        }
    ),
)
@config_argument
@_old_config_option
@environments_option
@stacks_out_option
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="REGION",
    help="Also look in REGION for resources labelled as ours (one created in the wrong region); repeatable.",
)
@members_option
@_format_option()
def verify(
    config: Path,
    old_config: Path | None,
    environments: tuple[str, ...],
    out: Path | None,
    regions: tuple[str, ...],
    members: tuple[str, ...],
    fmt: str,
) -> None:
    """Compare the Vertex AI resources each stack manages with what runs in
    Google Cloud: endpoints and the replicas of the models deployed on them,
    deployment resource pools, the metadata store, persistent resources
    (machine, accelerators, replicas) and feature online stores, with their
    region, labels and CMEK key. Expected values come from the synthesized
    DIR/stacks/<stack>/cdk.tf.json (run `tierstack generate` first).

    Reports what is missing, what differs from the stack, and what is
    labelled as ours (managed-by: tierstack, use-case: <name>) but in no
    stack. A fleet file as CONFIG verifies every member's stacks, or those
    of --member NAME. Read only; the reads run concurrently. Uses Application Default
    Credentials (`gcloud auth application-default login`); the identity needs
    roles/aiplatform.viewer on each project.

    \b
    Examples:
      tierstack verify examples/fraud-detection/tierstack.yaml --env prod
      tierstack verify --format json | jq '.stacks[].findings'
      tierstack verify churn.fleet.yaml --env prod --member churn-de
    """
    from tierstack.generator import verify as checking
    from tierstack.generator.blueprint import display_path
    from tierstack.generator.report import as_data

    _not_an_environment("verify", config, old_config, environments)
    stacks = []
    for env, path in checking.synthesized_stacks(config, out, environments, members):
        shown = display_path(path)
        data = checking.load_stack(path, shown)
        use_case = env.settings.get("labels", {}).get("use-case", "")
        stacks.append(checking.expectation(env.stack, env.name, use_case, data, shown))
    reader = checking.connect()
    report = checking.verify(stacks, reader, regions, progress=lambda text: click.echo(text, err=True))
    if fmt == "text":
        click.echo(checking.to_text(report), nl=False)
    else:
        click.echo(as_data(checking.to_data(report), fmt), nl=False)
    if report.differences:
        raise click.exceptions.Exit(EXIT_DRIFT)


@main.command(
    short_help="A monthly cost estimate per stack and capability, against the budget.",
    epilog=exit_codes(
        {
            EXIT_OK: "estimated (a budget warning is not an error)",
            EXIT_USER_ERROR: "bad input: the config, a stack never generated, a file that is not\n"
            "a plan (--diff); with --prices catalog or --refresh-prices: no\n"
            "credentials, a 403 or no network (the Cloud Billing Catalog API)",
        }
    ),
)
@config_argument
@click.argument("plans", nargs=-1, metavar="[PLAN.json]...", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--diff",
    "diff",
    is_flag=True,
    help="The arguments are plans (`terraform show -json`, `-` for stdin): price the change of each per "
    "capability: before, after, change.",
)
@stacks_out_option
@environments_option
@members_option
@click.option(
    "--prices",
    "prices",
    type=click.Choice(["auto", "catalog", "table"]),
    default="auto",
    show_default=True,
    help="Where prices come from: the Cloud Billing Catalog API (cached), the shipped table, or auto: "
    "the catalog when a fresh cache or credentials are found, else the table.",
)
@click.option(
    "--refresh-prices",
    is_flag=True,
    help="Fetch the catalog's prices again now, whatever the cache's age (needs credentials).",
)
@_format_option()
def cost(
    config: Path,
    plans: tuple[str, ...],
    diff: bool,
    out: Path | None,
    environments: tuple[str, ...],
    members: tuple[str, ...],
    prices: str,
    refresh_prices: bool,
    fmt: str,
) -> None:
    """Estimate what each generated stack costs a month, per capability, from
    Google's Cloud Billing Catalog API where credentials (or a cache younger
    than 30 days) allow, else from the shipped table generator/data/prices.yaml
    (on-demand list prices in USD, each with its source and the date it was
    read). The output says which source and which date it used.

    Always-on items (deployment pool nodes at min replicas, persistent
    training pools, feature store nodes, scheduler jobs) are billed every
    hour; usage items (bucket sizes, pipeline runs from the schedule, log
    volume) rest on assumptions the table states. An item whose price the
    table lacks is "not priced", never zero. Each stack is compared with its
    budget (budget.amount): a warning when the always-on baseline alone
    passes the first threshold. An estimate, not a quote; it says what it
    leaves out.

    With --diff, the arguments are plans (`terraform show -json`, read as
    `tierstack review` reads them), and the change they make is priced
    instead: per stack and capability, the monthly figure before and after
    the plan and the change, and what is not priced and why.

    \b
    Examples:
      tierstack cost examples/fraud-detection/tierstack.yaml
      tierstack cost --env prod --format json | jq '.stacks[0].by_capability'
      tierstack cost churn.fleet.yaml                       # every member of a fleet
      tierstack cost --prices catalog --refresh-prices      # today's catalog prices (docs/operate.md)
      tierstack cost --diff cdktf.out/stacks/*/*.tfplan.json  # what the plans change, per capability
    """
    from tierstack.generator import cost as costing
    from tierstack.generator import price_catalog
    from tierstack.generator.report import as_data

    paths = _cost_paths(config, plans, diff, out, environments, members)
    mode: price_catalog.Mode = "catalog" if prices == "catalog" else "table" if prices == "table" else "auto"
    table = price_catalog.price_table(mode, refresh_prices, progress=lambda text: click.echo(text, err=True))
    if diff:
        change = costing.diff_plans(paths, table)
        click.echo(costing.diff_to_text(change) if fmt == "text" else as_data(change.to_data(), fmt), nl=False)
        if fmt != "text":
            for note in table.notes:
                click.echo(f"note: {note}", err=True)
        return
    result = costing.estimate(config, out, environments, members, table)
    if fmt == "text":  # the warnings are in the text
        click.echo(costing.to_text(result), nl=False)
        return
    click.echo(as_data(result.to_data(), fmt), nl=False)
    for stack in result.stacks:  # and beside the data, for the person running the script
        for warning in stack.warnings:
            click.echo(f"warning: {stack.stack}: {warning}", err=True)
    for note in table.notes:  # where the prices came from, when it is not what was asked
        click.echo(f"note: {note}", err=True)


def _cost_paths(
    config: Path,
    plans: tuple[str, ...],
    diff: bool,
    out: Path | None,
    environments: tuple[str, ...],
    members: tuple[str, ...],
) -> tuple[str, ...]:
    """With --diff, the plans: every argument given (CONFIG's place holds the first); else checks that one
    config was given at most."""
    from click.core import ParameterSource

    given_config = click.get_current_context().get_parameter_source("config") != ParameterSource.DEFAULT
    if diff:
        paths = ((str(config),) if given_config else ()) + plans
        if not paths:
            raise click.UsageError("--diff prices plans: give one or more (terraform show -json PLAN > PLAN.json)")
        given = [name for name, value in (("--out", out), ("--env", environments), ("--member", members)) if value]
        if given:
            verb = "is" if len(given) == 1 else "are"
            raise click.UsageError(f"--diff prices the plans given; {', '.join(given)} {verb} for a config's stacks")
        return paths
    if plans:
        count = 1 + len(plans)
        raise click.UsageError(f"cost reads one config, and {count} paths were given; to price plans, add --diff")
    if str(config) == "-":
        raise click.UsageError("cost reads a config file, not standard input; plans from stdin: --diff -")
    return ()


class _CiGroup(click.Group):
    """`tierstack ci`: its commands get the context that leaves their parameters to the error handling."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.context_class = _CommandContext
        super().add_command(cmd, name)


@main.group(
    "golden-set",
    cls=_CiGroup,
    short_help="The golden set that gates promotion: check a candidate, print the version.",
    epilog=exit_codes({EXIT_OK: "--help", EXIT_USER_ERROR: "no command, or one golden-set does not have"}),
)
def golden_set() -> None:
    """Gate promotion on the golden set tierstack.yaml declares (golden_set:):
    questions with defined answers the model team runs every candidate
    through. Evaluations are recorded in each stack's results table; a
    candidate without one on the current golden set, or differing by more
    than max_difference, does not ship. See docs/golden-sets.md.
    """


@golden_set.command(
    "check",
    short_help=f"Exit {EXIT_NOT_PROMOTABLE} unless the candidate passed the current golden set.",
    epilog=exit_codes(
        {
            EXIT_OK: "the candidate may be promoted (each metric within max_difference)",
            EXIT_USER_ERROR: "bad input: the config, no golden_set declared, --env; no credentials,\n"
            "a golden set or results table that is missing or unreadable",
            EXIT_NOT_PROMOTABLE: "no evaluation of MODEL VERSION on the golden set's current version,\n"
            "or a difference above max_difference (the numbers are printed)",
        }
    ),
)
@config_argument
@environments_option
@click.option("--model", required=True, metavar="MODEL", help="The model, as the evaluations record it.")
@click.option("--version", "model_version", required=True, metavar="VERSION", help="The candidate's version.")
def golden_set_check(config: Path, environments: tuple[str, ...], model: str, model_version: str) -> None:
    """Refuse a candidate model the golden set has not passed: read the
    golden set's current version (the newest object generation under the
    prefix, or the table's lastModifiedTime) and the evaluations of MODEL
    at VERSION in the results table of --env (the environment promoted to;
    default: the last in promotion order); exit 0 only when one on the
    current version has every metric within max_difference.

    Run it as a pipeline step before a deploy, or by hand. Uses Application
    Default Credentials; at tier 2 the generated deploy workflow runs it as
    production's deployer before the production apply.

    \b
    Examples:
      tierstack golden-set check --model demand --version 7
      tierstack golden-set check examples/fraud-detection/tierstack.yaml --env prod --model fraud --version 12
    """
    from tierstack.generator import golden_set_check as gate
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    if len(environments) > 1:
        raise click.UsageError("golden-set check gates one promotion: give one --env (the environment promoted to)")
    checked = gate.gate_for(resolve(load_spec(config)), environments[0] if environments else None)
    verdict = gate.check(checked, model, model_version)
    for line in verdict.lines:
        click.echo(line)
    if not verdict.promotable:
        raise click.exceptions.Exit(EXIT_NOT_PROMOTABLE)


@golden_set.command(
    "version",
    short_help="Print the golden set's current version, for the evaluation to record.",
    epilog=exit_codes(
        {
            EXIT_OK: "printed",
            EXIT_USER_ERROR: "bad input: the config, no golden_set declared; no credentials, a golden\n"
            "set that is missing, empty or unreadable",
        }
    ),
)
@config_argument
def golden_set_version(config: Path) -> None:
    """Print the golden set's current version: what an evaluation records
    as golden_set_version, and what `golden-set check` compares with (the
    newest object generation under the prefix, or the table's
    lastModifiedTime in ms).

    \b
    Examples:
      tierstack golden-set version
    """
    from tierstack.generator import golden_set_check as gate
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    click.echo(gate.version(gate.gate_for(resolve(load_spec(config)), None)))


@main.group(
    cls=_CiGroup,
    short_help="CI definitions: GitHub Actions workflows, Cloud Build configs.",
    epilog=exit_codes({EXIT_OK: "--help", EXIT_USER_ERROR: "no command, or one ci does not have"}),
)
def ci() -> None:
    """Write the CI definitions that review and apply the stacks of a config.

    \b
    On a pull request: generate --check, checkov, terraform plan of every
    stack in promotion order, each plan through `tierstack review`, and the
    result as one comment (GitHub) or in the build log (Cloud Build). On the
    default branch: apply per environment in promotion order, production
    behind an approval, change freezes enforced (an emergency override is an
    explicit input with a reason, recorded in the review). Sign-in through
    Workload Identity Federation or the build's own service account: no keys.

    Below tier 2 there is no CI identity: only the pull-request checks are
    written (generate --check, checkov, terraform validate). See docs/ci.md.
    """


def _ci_options(target: str, folder: str) -> Callable[[_F], _F]:
    def decorate(function: _F) -> _F:
        for option in reversed(
            [
                config_argument,
                click.option(
                    "--out",
                    type=click.Path(path_type=Path),
                    metavar="DIR",
                    help=f"Where to write the files [default: {folder} at the repository's top].",
                ),
                click.option(
                    "--branch",
                    default="main",
                    metavar="BRANCH",
                    show_default=True,
                    help="The default branch: pushes to it apply; pull requests into it are reviewed.",
                ),
                click.option(
                    "--install",
                    metavar="REQUIREMENT",
                    envvar="TIERSTACK_CI_INSTALL",
                    help="What the jobs `pip install`, pinned: tierstack==X.Y.Z, 'tierstack @ "
                    "git+https://...@COMMIT' or an https wheel with #sha256=. [default: where this tierstack "
                    "was installed from; env: TIERSTACK_CI_INSTALL]",
                ),
                click.option(
                    "--force",
                    is_flag=True,
                    help="Replace a file tierstack wrote that was edited by hand. A file tierstack did not "
                    "write is never replaced.",
                ),
            ]
        ):
            function = option(function)
        return function

    return decorate


def _write_ci(target: str, config: Path, out: Path | None, branch: str, install: str | None, force: bool) -> None:
    from tierstack.generator import ci as ci_files
    from tierstack.generator.blueprint import display_path
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    kind: ci_files.Target = "github" if target == "github" else "cloudbuild"
    requirement = ci_files.requirement(install)
    plan = ci_files.plan_for(resolve(load_spec(config)), config, branch, requirement)
    files = ci_files.render(plan, kind)
    folder = out if out is not None else ci_files.default_out(config, kind)
    written = ci_files.write(files, folder, force, f"tierstack ci {target} {display_path(config)}")
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    for item in written:
        click.echo(f"{item.status}: {display_path(item.path)}")


@ci.command(
    "github",
    short_help="GitHub Actions workflows: review pull requests, apply in promotion order.",
    epilog=exit_codes(
        {EXIT_OK: "written", EXIT_USER_ERROR: "bad input: the config, --out, --install, a file edited by hand"}
    ),
)
@_ci_options("github", ".github/workflows")
def ci_github(config: Path, out: Path | None, branch: str, install: str | None, force: bool) -> None:
    """Write GitHub Actions workflows for CONFIG: tierstack-NAME-pr.yml and,
    from tier 2, tierstack-NAME-deploy.yml.

    Each environment's jobs run in the GitHub environment of the same name
    and sign in with google-github-actions/auth through the workload identity
    provider tier 2 creates: set TIERSTACK_WORKLOAD_IDENTITY_PROVIDER and
    TIERSTACK_CI_SERVICE_ACCOUNT in each GitHub environment (the comments in
    the workflow say which Terraform output holds each). Give production its
    required reviewers there.

    \b
    Examples:
      tierstack ci github                                  # .github/workflows/
      tierstack ci github services/churn/tierstack.yaml --branch trunk
    """
    _write_ci("github", config, out, branch, install, force)


@ci.command(
    "cloudbuild",
    short_help="Cloud Build configs: review pull requests, apply in promotion order.",
    epilog=exit_codes(
        {EXIT_OK: "written", EXIT_USER_ERROR: "bad input: the config, --out, --install, a file edited by hand"}
    ),
)
@_ci_options("cloudbuild", "cloudbuild/")
def ci_cloudbuild(config: Path, out: Path | None, branch: str, install: str | None, force: bool) -> None:
    """Write Cloud Build configs for CONFIG: NAME-pr.yaml and, from tier 2,
    NAME-deploy-ENV.yaml per environment, each starting the next one's
    trigger in promotion order.

    Each deploy build runs as its environment's CI service account; the
    header of each file has the `gcloud builds triggers create` command
    (production's with --require-approval).

    \b
    Examples:
      tierstack ci cloudbuild                              # cloudbuild/
      tierstack ci cloudbuild examples/fraud-detection/tierstack.yaml --out build/ci
    """
    _write_ci("cloudbuild", config, out, branch, install, force)


@main.command(
    short_help="A Markdown page per stack: capabilities, a diagram, resources, budget.",
    epilog=exit_codes(
        {
            EXIT_OK: "printed (warnings about stale pages go to stderr)",
            EXIT_USER_ERROR: "bad input: the config, --env, a stack never generated",
        }
    ),
)
@config_argument
@stacks_out_option
@environments_option
def docs(config: Path, out: Path | None, environments: tuple[str, ...]) -> None:
    """Print each stack's page, in promotion order: the use case and its
    answers, the capabilities and why each was selected, a Mermaid diagram
    of the capabilities, their resources and identities and how data moves
    between them, the resources with their labels, the outputs, the budget
    and the alert thresholds.

    The diagram is read from the synthesized stack (DIR/stacks/<stack>/cdk.tf.json):
    its IAM grants and the references between its resources. generate writes
    the same page beside each stack, DIR/stacks/<stack>/README.md, and keeps
    it current; this command prints it again. It warns on stderr when the
    config is newer than the stacks the pages describe (changed since the
    last generate: run it again), and when that README.md differs from the
    page printed. See docs/docs-command.md.

    \b
    Examples:
      tierstack docs examples/recommender/tierstack.yaml
      tierstack docs --env prod > prod.md
    """
    from tierstack.generator.docs import synthesized_pages
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    target = out or config.parent / "cdktf.out"
    resolved = resolve(load_spec(config))
    texts, warnings = synthesized_pages(resolved, target, list(environments))
    stacks = [env.stack for env in resolved.environments.values() if not environments or env.name in environments]
    for warning in [*_config_newer(config, target, stacks, out), *warnings]:
        click.echo(f"warning: {warning}", err=True)
    click.echo("\n".join(texts), nl=False)


# how much newer than a stack the config must be to count as changed since: a git checkout or an unpacked
# archive writes the config and its committed output moments apart, in either order
NEWER_BY = 2.0  # seconds


def _config_newer(config: Path, target: Path, stacks: list[str], out: Path | None) -> list[str]:
    """A warning when the config was saved after generate wrote these stacks: the pages describe the
    stacks as they were generated then, not what the config says now (docs never synthesizes)."""
    from tierstack.generator.stacks import stack_file

    changed = config.stat().st_mtime
    older = [stack for stack in stacks if stack_file(target, stack).stat().st_mtime + NEWER_BY < changed]
    if not older:
        return []
    command = f"tierstack generate {_shown(config)}" + (f" --out {_shown(out)}" if out is not None else "")
    return [
        f"{_shown(config)} changed after generate wrote {', '.join(older)} in {_shown(target)}: "
        f"{agrees(len(older), 'its page describes the stack', 'their pages describe the stacks')} generated "
        f"before the change; run `{command}` to bring {agrees(len(older), 'it', 'them')} up to date"
    ]


@main.command(
    short_help="JSON Schema of tierstack.yaml or of blueprints, for editors and CI.",
    epilog=exit_codes(
        {EXIT_OK: "printed or written", EXIT_USER_ERROR: "bad input: an --out that is not a tierstack schema"}
    ),
)
@click.option(
    "--kind",
    type=click.Choice(("config", "blueprint", "fleet")),
    default="config",
    show_default=True,
    help="config: tierstack.yaml; blueprint: a blueprint file after Jinja2 rendering; fleet: a fleet file.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write FILE instead of printing; a file that is not a tierstack schema is never replaced.",
)
def schema(kind: str, out: Path | None) -> None:
    """Print (or write) the JSON Schema of tierstack.yaml or of a blueprint,
    made from the pydantic models tierstack validates with.

    `tierstack init` starts tierstack.yaml with the line
    `# yaml-language-server: $schema=tierstack.schema.json`: write that file
    beside it, and an editor with the YAML language server (VS Code's YAML
    extension, Neovim, JetBrains, ...) completes the keys, shows what each
    means and flags a typo as you type. Write it again after upgrading
    tierstack. See docs/schema.md.

    \b
    Examples:
      tierstack schema --out tierstack.schema.json
      tierstack schema --kind blueprint --out blueprint.schema.json
      tierstack schema --kind fleet --out fleet.schema.json
      check-jsonschema --schemafile tierstack.schema.json tierstack.yaml
    """
    from tierstack.generator.schema import schema_text, write_schema

    text = schema_text(kind)
    if out is None:
        click.echo(text, nl=False)
        return
    write_schema(out, text)
    click.echo(f"wrote {out}", err=True)


# --- upstreams in git: tierstack.lock, fork, upstream (generator/lockfile.py, fork.py, upstream.py) --------------


def _pinned_resolve(config: Path, update: bool) -> tuple[Any, Any]:
    """resolve() with the config's tierstack.lock (or, with update, every ref anew); notes go to stderr."""
    from tierstack.generator.lockfile import Pins, session
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    with session(Pins(config.parent, update=update)) as pins:
        plan = resolve(load_spec(config))
    for note in pins.notes:
        click.echo(f"note: {note}", err=True)
    return plan, pins


def _record_pins(pins: Any) -> None:
    """Write tierstack.lock when what was pinned differs from it (before the stacks are written)."""
    if pins.write_lock():
        click.echo(
            f"wrote {_shown(pins.lock_path)} ({counted(len(pins.pinned), 'upstream')})",
            err=True,
        )


def _blueprint_lineage(
    builtins: list[dict[str, Any]], configs: tuple[Path, ...], folders: tuple[Path, ...], fmt: str
) -> None:
    from tierstack.generator import upstream as upstreams
    from tierstack.generator.report import as_data

    local = [upstreams.lineage_of_config(config) for config in configs]
    for folder in folders:
        local += upstreams.lineage_of_folder(folder)
    if fmt != "text":
        click.echo(as_data({"builtin": builtins, "local": local}, fmt), nl=False)
        return
    width = max(len(b["name"]) for b in builtins)
    click.echo("built-in:")
    for blueprint in builtins:
        extends = f", extends {blueprint['extends']}" if blueprint["extends"] else ""
        click.echo(f"  {blueprint['name']:<{width}}  tier {blueprint['tier']}{extends}")
    click.echo("\nlocal, with their lineage:")
    for line in upstreams.lineage_text(local):
        click.echo(f"  {line}")


@main.command(
    short_help="Write an overlay blueprint that extends a pinned upstream: only your overrides.",
    epilog=exit_codes(
        {EXIT_OK: "written", EXIT_USER_ERROR: "bad input: the upstream, a --set, a file fork did not write"}
    ),
)
@click.argument("upstream")
@click.option(
    "--name",
    required=True,
    metavar="NAME",
    help="The fork's name: the file is NAME.yaml.j2 unless --out says otherwise.",
)
@click.option("--ref", metavar="REF", help="A git upstream's tag, branch or commit [default: its newest tag].")
@click.option(
    "--path",
    "repo_path",
    metavar="PATH",
    help="A git upstream's blueprint, as a path in the repository [default: its only *.yaml.j2].",
)
@click.option(
    "--region", metavar="REGION", help="The region the fork is for: the upstream is rendered and checked for it."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="An override (repeatable): KEY a setting of the upstream (labels.team=uk, "
    "roles.production.capabilities.model_serving.min_replicas=3, ...apis+=[x] appends), VALUE as YAML.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="A template variable the upstream reads, to render it here (repeatable).",
)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE", help="[default: NAME.yaml.j2 here]"
)
@click.option("--force", is_flag=True, help="Replace FILE if `tierstack fork` wrote it (never a file of your own).")
def fork(
    upstream: str,
    name: str,
    ref: str | None,
    repo_path: str | None,
    region: str | None,
    sets: tuple[str, ...],
    variables: tuple[str, ...],
    out: Path | None,
    force: bool,
) -> None:
    """Write an overlay blueprint that extends UPSTREAM and holds only your
    overrides, each commented with what it replaces upstream and where that
    is set. Upstream fixes keep arriving through `extends`; `tierstack
    upstream` shows what a newer release changes (docs/forks.md).

    UPSTREAM is a built-in blueprint, a blueprint file, or a git repository
    (https://, ssh://, user@host:path, file:///path, or a local path): the
    overlay extends {git: URL, ref: REF, path: PATH}, pinned to --ref or the
    newest tag. Each --set is checked against the upstream's settings (an
    unknown key is an error with a did-you-mean), and the overlay is resolved
    for a production use case in --region before it is written (a wrong type
    gets the typed settings' message). Nothing is written when anything is
    wrong; an existing file only with --force, and only one fork wrote.

    \b
    Examples:
      tierstack fork level-1-pipeline-automation --name acme-emea --region europe-west4 \\
          --set labels.data-residency=eu --set roles.production.encryption.cmek=true
      tierstack fork https://github.com/acme/platform-blueprints.git --ref v1.4.0 \\
          --path blueprints/org.yaml.j2 --name propensity-uk --region europe-west2
    """
    from tierstack.generator import fork as forks
    from tierstack.generator.errors import UserError
    from tierstack.generator.yamlio import parse, to_plain

    given: dict[str, Any] = {}
    for item in variables:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise UserError(f"'{item}' is not NAME=VALUE", field="--var")
        given[key] = to_plain(parse(text, "--var")) if text.strip() else None
    written = forks.fork(
        upstream,
        name,
        out=out,
        ref=ref,
        path=repo_path,
        region=region,
        sets=sets,
        variables=given,
        force=force,
    )
    for warning in written.warnings:
        click.echo(f"warning: {warning}", err=True)
    origin = written.upstream.links[0]
    what = origin.name
    if origin.pin is not None:
        pin = origin.pin
        what = f"{pin.location.written} {pin.source.path} at {pin.ref} (commit {pin.commit[:12]})"
    click.echo(f"wrote {_shown(written.path)}: {counted(len(sets), 'override')} of {what}")
    click.echo(
        f"use it from tierstack.yaml: blueprint: ./{written.path.name}" + (f" and region: {region}" if region else "")
    )
    from tierstack.generator.schema import write_beside

    schema_file, wrote = write_beside(written.path, "blueprint")
    if not wrote:
        click.echo(f"note: {_shown(schema_file)} is not a schema tierstack wrote; left as it is", err=True)


@main.command(
    short_help="What a newer upstream release changes in this fork; --accept moves the pin.",
    epilog=exit_codes(
        {
            EXIT_OK: "shown (and, with --accept, moved)",
            EXIT_USER_ERROR: "bad input: no upstream in git, no such ref, unreachable and not cached",
            EXIT_DESTRUCTIVE_CHANGE: "without --accept: the new upstream would destroy a stateful resource",
        }
    ),
)
@config_argument
@click.option("--to", "to_ref", metavar="REF", help="Compare with REF instead of the upstream's newest tag.")
@click.option(
    "--accept",
    "accept_ref",
    metavar="REF",
    help="After showing the effect, move the pin to REF: the ref: in the file that writes it, and tierstack.lock.",
)
@click.option("--no-resources", is_flag=True, help="Compare the resolved plans only; do not synthesize (faster).")
@_format_option()
def upstream(config: Path, to_ref: str | None, accept_ref: str | None, no_resources: bool, fmt: str) -> None:
    """What changes between the upstream this fork is pinned to and its
    newest tag (or --to REF): the upstream's own changes, with the ones this
    fork overrides marked as conflicts (!); the effect on the resolved plan,
    with where each value is set; and the effect on the generated resources
    (both synthesized and compared as `tierstack diff` does).

    --accept REF shows the same and then moves the pin: the `ref:` in
    tierstack.yaml or in the overlay that writes it (only that line; an
    overlay `tierstack fork` wrote is rewritten round-trip with its comments
    brought up to date), and tierstack.lock.

    \b
    Examples:
      tierstack upstream examples/regional-propensity/us/tierstack.yaml
      tierstack upstream --to main --no-resources
      tierstack upstream --accept v1.1.0
    """
    from tierstack.generator import upstream as upstreams
    from tierstack.generator.report import as_data

    if to_ref and accept_ref and to_ref != accept_ref:
        raise click.UsageError("--to and --accept name two refs: give the one to accept")
    if not no_resources:
        click.echo("synthesizing both (loading the Google provider bindings takes a few seconds)...", err=True)
    comparison = upstreams.compare(config, accept_ref or to_ref, resources=not no_resources)
    if fmt == "text":
        click.echo(upstreams.render_text(comparison), nl=False)
    else:
        click.echo(as_data(upstreams.to_data(comparison), fmt), nl=False)
    at_risk = comparison.resources is not None and comparison.resources.at_risk
    if accept_ref:
        if comparison.up_to_date and comparison.pin.ref == comparison.target.ref:
            click.echo(f"already pinned to {accept_ref}: nothing to move", err=True)
            return
        if at_risk:
            _warn_data_at_risk(comparison.resources, "the pin moves anyway: review before `tierstack generate`")
        for path in upstreams.accept(comparison):
            click.echo(f"wrote {path}", err=True)
        click.echo(
            f"pinned to {accept_ref}: run `tierstack generate {_shown(config)}` to regenerate the stacks", err=True
        )
        return
    if at_risk:
        raise click.exceptions.Exit(EXIT_DESTRUCTIVE_CHANGE)


from tierstack.generator.init_cli import init  # noqa: E402  (a command module; imports click only)

init.epilog = exit_codes(  # init's module imports click only: its exit codes are given here
    {
        EXIT_OK: "written",
        EXIT_USER_ERROR: "a bad answer or flag, an existing file (without --force), input that\n"
        "ended before the last question (use --no-input with flags)",
    }
)
main.add_command(init)
