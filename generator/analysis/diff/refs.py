"""A git ref's synthesis: the ref's tree extracted with `git archive` into a temporary directory (the working
tree, index and HEAD never touched) and synthesized there by the running tierstack, or its committed output
read; the directory is removed in a `finally`, Ctrl-C included, and errors name `REF:path`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath

from tierstack.generator.core.errors import ErrorList, UserError
from tierstack.generator.core.paths import DEFAULT_OUT, default_out, display_path


def git_toplevel(repo: Path) -> Path:
    """The top of the git repository holding `repo`; a UserError when there is none."""
    result = _git(repo, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise UserError(
            "not inside a git repository: " + (result.stderr.strip().splitlines() or ["git failed"])[-1],
            file=str(repo),
            field="--repo",
            hint="run diff inside the repository, or give it with --repo DIR",
        )
    return Path(result.stdout.strip())


def commit_of(repo: Path, ref: str) -> str:
    """The commit a ref names; a UserError naming it when the repository has no such ref."""
    if ref.startswith("-"):
        raise UserError(f"'{ref}' is not a git ref", hint="refs do not start with '-'")
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0:
        raise UserError(
            f"'{ref}' is neither a directory nor a commit, branch or tag of the repository at {repo}",
            hint="give an output directory (cdktf.out) or a git ref: a branch, a tag, a commit, HEAD~1",
        )
    return result.stdout.strip()


def config_in_repository(top: Path, config: str) -> str:
    """`--config` as a path from the repository's top: an absolute path must be inside the repository,
    and a relative one (from the top) may not climb out of it."""
    path = Path(config)
    if path.is_absolute():
        try:
            relative = path.resolve().relative_to(top.resolve())
        except ValueError:
            raise UserError(
                f"{config} is outside the repository at {top}",
                field="--config",
                hint="give the config's path from the top of the repository (or an absolute path inside it)",
            ) from None
        return relative.as_posix()
    parts = PurePosixPath(path.as_posix()).parts
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            raise UserError(
                f"{config} climbs out of the repository",
                field="--config",
                hint="give the config's path from the top of the repository",
            )
    return PurePosixPath(os.path.normpath(path.as_posix())).as_posix()


@contextmanager
def synthesis_of_ref(repo: Path, ref: str, config: str, committed: bool = False) -> Iterator[Path]:
    """Synthesize `config` (relative to the repository's top) as it is at `ref`; yield the output directory.

    The ref's tree is extracted with `git archive` into a temporary directory: nothing in the repository
    is written (no worktree, no index, no HEAD). The running tierstack synthesizes it; with `committed`,
    the output committed beside the config at that ref (`cdktf.out/`) is yielded instead, so a change to
    the generated files themselves (a tierstack upgrade that renames a construct) is what is compared.
    The temporary directory is removed on the way out, whatever ended the run.
    """
    top = git_toplevel(repo)
    config = config_in_repository(top, config)
    commit = commit_of(top, ref)
    tmp = Path(tempfile.mkdtemp(prefix="tierstack-diff-"))
    try:
        source = tmp / "src"
        source.mkdir()
        _extract(top, commit, source)
        path = source / config
        if not path.is_file():
            raise UserError(
                f"no such file at {ref}",
                file=f"{ref}:{config}",
                field="--config",
                hint="give the config's path from the top of the repository",
            )
        if committed:
            out = default_out(path)
            if not (out / "stacks").is_dir():
                raise UserError(
                    f"no generated output is committed beside the config at {ref}",
                    file=f"{ref}:{PurePosixPath(config).parent / DEFAULT_OUT}",
                    field="--committed",
                    hint="commit the output of `tierstack generate`, or leave out --committed to synthesize",
                )
            yield out
            return
        out = tmp / DEFAULT_OUT
        try:
            _synthesize(path, out)
        except UserError as exc:
            raise _relabelled(exc, source, f"{ref}:") from None
        yield out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _synthesize(config: Path, out: Path) -> None:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve
    from tierstack.generator.synth.stacks import synthesize

    synthesize(resolve(load_spec(config)), out)


def _extract(top: Path, commit: str, target: Path) -> None:
    """`git archive` of a commit, unpacked into target (links that leave it, devices: refused)."""
    with subprocess.Popen(
        ["git", "-C", str(top), "archive", "--format=tar", commit],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(target, filter="data")
            else:  # pragma: no cover  (Python < 3.10.12: regular files and folders only)
                for member in archive:
                    if member.isfile() or member.isdir():
                        archive.extract(member, target)
        error = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise UserError(f"git archive {commit} failed: {error.strip()}", file=str(top))


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, env=_git_env()
        )
    except FileNotFoundError:
        raise UserError("git is not installed", hint="install git, or compare two output directories") from None


def _git_env() -> dict[str, str]:
    """The user's environment without variables that would point git at another repository."""
    return {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}


def _relabelled(exc: UserError, source: Path, label: str) -> UserError:
    """An error from a ref's temporary copy, naming `REF:path` instead of the temporary directory."""
    if isinstance(exc, ErrorList):
        return ErrorList([_relabelled(e, source, label) for e in exc.errors])
    prefixes = sorted({str(source) + os.sep, display_path(source) + os.sep}, key=len, reverse=True)

    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        for prefix in prefixes:
            text = text.replace(prefix, label)
        return text

    return replace(
        exc,
        message=fix(exc.message) or exc.message,
        file=fix(str(exc.file)) if exc.file is not None else None,
        hint=fix(exc.hint),
    )
