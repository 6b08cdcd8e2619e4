"""`tierstack diff`: two syntheses (output directories or git refs) compared, resource by resource.

SIGTERM and SIGHUP end the run through Python's unwinding, so the temporary copies of the refs go."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from tierstack.generator.cli.options import (
    exit_codes,
    format_option,
)
from tierstack.generator.cli.views import echo
from tierstack.generator.core.exit_codes import (
    EXIT_DESTRUCTIVE_CHANGE,
    EXIT_OK,
    EXIT_USER_ERROR,
)

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


@click.command(
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
@click.option(
    "--changed-stacks",
    "changed",
    is_flag=True,
    help="With git refs and --committed: the stacks whose committed Terraform changes (the ones to plan), "
    "and the others with why (output unchanged, removed); a fleet's members each count.",
)
@format_option(DIFF_FORMATS)
def diff(base: str, head: str, config_path: str | None, repo: Path, committed: bool, changed: bool, fmt: str) -> None:
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
      tierstack diff origin/main HEAD --config fleet.yaml --committed --changed-stacks --format json
    """
    from tierstack.generator.analysis import diff as diffing
    from tierstack.generator.output.report import as_data

    sides = [(arg, Path(arg).is_dir()) for arg in (base, head)]
    if changed:
        if not committed or config_path is None or any(is_dir for _, is_dir in sides):
            raise click.UsageError("--changed-stacks goes with two git refs, --config and --committed")
        from tierstack.generator.services import changed_stacks

        scope = changed_stacks.changed_stacks(repo, base, head, config_path)
        echo(changed_stacks.render(scope, fmt), nl=False)
        return
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
                echo(f"synthesizing {config_path} at {arg}...", err=True)
            out = stack.enter_context(diffing.synthesis_of_ref(repo, arg, config_path, committed))
            synthesized.append(diffing.load_synthesis(out, arg))
        report = diffing.compare(synthesized[0], synthesized[1], base, head)
    if fmt == "text":
        echo(diffing.render_text(report), nl=False)
    elif fmt == "markdown":
        echo(diffing.render_markdown(report), nl=False)
    else:
        echo(as_data(diffing.to_data(report), fmt), nl=False)
    if report.at_risk:
        raise click.exceptions.Exit(EXIT_DESTRUCTIVE_CHANGE)
