"""`tierstack generate`: the stacks of a config or of a fleet, written, checked (--check) or compared (--diff).

Before the new tree replaces the old, the changes since the last generation are printed, and data at
risk is a loud warning. With --format json|yaml the text for people goes to stderr and stdout gets one
document, an error included (generate_data.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Literal

import click

from tierstack.generator.cli.context import interrupted, out_as_given
from tierstack.generator.cli.options import (
    BAD_INPUT,
    config_argument,
    environments_option,
    exit_codes,
    format_option,
    jobs_option,
)
from tierstack.generator.cli.views import (
    agrees,
    counted,
    echo,
    echo_stream,
    output_closed,
    print_error,
    shown_path,
    stderr_is_tty,
    warn_data_at_risk,
)
from tierstack.generator.core.exit_codes import (
    EXIT_DESTRUCTIVE_CHANGE,
    EXIT_OK,
    EXIT_STALE,
    EXIT_USER_ERROR,
)


@click.command(
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
@jobs_option("A fleet file: synthesize the members in N worker processes, each loading the bindings")
@format_option()
def generate(
    config: Path,
    out: Path | None,
    environments: tuple[str, ...],
    force: bool,
    check: bool,
    show_diff: bool,
    only: tuple[str, ...],
    update: bool,
    jobs: int | None,
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

    A fleet file (docs/fleets.md) generates every member, over --jobs
    worker processes (byte for byte what one process writes),
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
    from tierstack.generator.output.report import as_data

    mode: Literal["generate", "check", "diff"] = "check" if check else "diff" if show_diff else "generate"
    data_wanted = fmt != "text"
    try:
        code, data = _generate(
            config, out, list(environments), force, check, show_diff, list(only), update, data_wanted, jobs
        )
    except Exception as exc:
        failed = _generate_error_data(exc, config, out, mode) if data_wanted else None
        if failed is not None:
            with contextlib.suppress(OSError):  # stdout itself may be what failed: the message still goes out
                echo(as_data(failed, fmt), nl=False)
        raise
    if data is not None:
        echo(as_data(data, fmt), nl=False)
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
    jobs: int | None = None,
) -> tuple[int, dict[str, Any] | None]:
    """generate's run: its exit code and, with `data_wanted` (--format json|yaml), its document.

    What the text output prints on stdout goes to stderr when the document is wanted.
    """
    from tierstack.generator.core.paths import default_out
    from tierstack.generator.output.generate import generate as run_generate
    from tierstack.generator.output.report import delivery_warnings
    from tierstack.generator.services import fleet as fleets
    from tierstack.generator.services import generate_data

    if check and show_diff:
        raise click.UsageError("--check and --diff are two different runs: give one")
    if force and (check or show_diff):
        raise click.UsageError(f"--force replaces files, and --{'check' if check else 'diff'} writes nothing")
    if update and (check or show_diff):
        raise click.UsageError(f"--update writes tierstack.lock, and --{'check' if check else 'diff'} writes nothing")
    if fleets.is_fleet_file(config):
        selected = [*only, *(f"environment={env}" for env in environments)]
        return _generate_fleet(config, out, selected, force, check, show_diff, data_wanted, update, jobs)
    if jobs is not None and jobs > 1:
        raise click.UsageError(f"--jobs shares a fleet's members out; {shown_path(config)} is one use case")
    if only:
        raise click.UsageError(f"--only selects members of a fleet file; {shown_path(config)} is one use case (--env)")
    plan, pins = _pinned_resolve(config, update)
    warnings = delivery_warnings(plan)
    for warning in warnings:
        echo(f"warning: {warning}", err=True)
    target = out or default_out(config)
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
        progress=lambda text: echo(text, err=True),
        before_swap=lambda old, new, names: reports.append(
            _print_changes(old, new, None if chosen is None else names, err=data_wanted)
        ),
    )
    for summary in summaries:
        parts = ", ".join(f"{cap} {n}" for cap, n in summary.resources_by_capability.items())
        echo(f"{summary.name}: {summary.total} resources ({parts})", err=data_wanted)
    echo(f"wrote {target}/ ({counted(len(summaries), 'stack')})", err=data_wanted)
    if not data_wanted:
        return EXIT_OK, None
    result = generate_data.generated(plan, target, summaries, reports[0] if reports else None, warnings)
    return EXIT_OK, generate_data.document(config, "generate", EXIT_OK, result)


def _generate_error_data(
    exc: Exception, config: Path, out: Path | None, mode: Literal["generate", "check", "diff"]
) -> dict[str, Any] | None:
    """generate --format json|yaml stopped by an error: the document saying so, or None (a bug, Ctrl-C, a
    closed pipe: no document)."""
    from tierstack.generator.core.errors import UserError, environment_error
    from tierstack.generator.core.paths import default_out
    from tierstack.generator.services import generate_data

    if interrupted.is_set() or output_closed(exc):
        return None
    problem: UserError | None
    if isinstance(exc, click.UsageError):
        problem = UserError(exc.format_message())
    elif isinstance(exc, UserError):
        problem = exc
    else:
        problem = environment_error(exc, echo_stream(exc) or out or default_out(config))
    if problem is None:
        return None
    return generate_data.error(
        config, mode, out_as_given(problem, "generate", {"out": out}, said=False), EXIT_USER_ERROR
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
    jobs: int | None = None,
) -> tuple[int, dict[str, Any] | None]:
    """generate FLEET: each member, over `jobs` workers; exit 2 if one failed, else 5 (--check: stale),
    3 (--diff: data at risk)."""
    from tierstack.generator.cli.fleet_view import reporter
    from tierstack.generator.services import fleet as fleets
    from tierstack.generator.services import generate_data

    mode: Literal["generate", "check", "diff"] = "check" if check else "diff" if diff else "generate"
    view = reporter(tty=stderr_is_tty(), stdout=not data_wanted)
    fleet, results = fleets.run(config, out, only, force, mode, report=view, update=update, jobs=jobs)
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
    from tierstack.generator.analysis import diff as diffing
    from tierstack.generator.services.generation import since_last

    since = since_last(old, new, stacks)
    report = since.report
    if since.first:
        return report
    if report is None:  # a hand edit replaced with --force, say: no comparison, generate goes on
        echo(f"warning: cannot compare with the last generation: {since.unreadable}", err=True)
        return None
    echo("since the last generation:", err=err)
    for line in diffing.summary_lines(report):
        echo(f"  {line}", err=err)
    warn_data_at_risk(report, "generate writes the new stacks anyway: `tierstack generate --diff` shows every change")
    return report


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
    from tierstack.generator.analysis import diff as diffing
    from tierstack.generator.core.paths import display_path
    from tierstack.generator.output.generate import preview, stale_files
    from tierstack.generator.services import generate_data
    from tierstack.generator.services.generation import preview_diff

    echo("synthesizing (loading the Google provider bindings takes a few seconds)...", err=True)
    shown = display_path(target)
    with preview(plan, target, environments) as new:
        stacks = list(new.stacks)
        if check:
            stale = stale_files(new, environments)
        else:
            report = preview_diff(new, environments, shown, f"generate {display_path(config)}")
    if not check:
        echo(diffing.render_text(report), nl=False, err=data_wanted)
        code = EXIT_DESTRUCTIVE_CHANGE if report.at_risk else EXIT_OK
        result = generate_data.diffed(plan, target, stacks, report, warnings or []) if data_wanted else None
        return code, None if result is None else generate_data.document(config, "diff", code, result)
    code = EXIT_STALE if stale else EXIT_OK
    data = None
    if data_wanted:
        result = generate_data.checked(plan, target, stacks, stale, warnings or [])
        data = generate_data.document(config, "check", code, result)
    if not stale:
        echo(f"{shown}/ is up to date with {display_path(config)}", err=data_wanted)
        return code, data
    for file in stale:
        echo(f"{file.status}: {file.path}", err=data_wanted)
    command = " ".join(
        ["tierstack generate", display_path(config)]
        + ([f"--out {display_path(out)}"] if out else [])
        + [f"--env {env}" for env in environments or []]
    )
    print_error(
        f"error: {shown}/ is stale: {counted(len(stale), 'file')} {agrees(len(stale), 'differs', 'differ')} from what "
        f"{display_path(config)} generates now\n  hint: run `{command}` and commit the result"
    )
    return code, data


def _pinned_resolve(config: Path, update: bool) -> tuple[Any, Any]:
    """resolve() with the config's tierstack.lock (or, with update, every ref anew); notes go to stderr."""
    from tierstack.generator.config.lockfile import Pins, session
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

    with session(Pins(config.parent, update=update)) as pins:
        plan = resolve(load_spec(config))
    for note in pins.notes:
        echo(f"note: {note}", err=True)
    return plan, pins


def _record_pins(pins: Any) -> None:
    """Write tierstack.lock when what was pinned differs from it (before the stacks are written)."""
    if pins.write_lock():
        echo(
            f"wrote {shown_path(pins.lock_path)} ({counted(len(pins.pinned), 'upstream')})",
            err=True,
        )
