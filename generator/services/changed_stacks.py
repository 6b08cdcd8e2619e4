"""Which stacks a change plans: the committed output of two commits, stack by stack (issue 23).

A pull request's CI need not plan a stack whose Terraform is what it was: `terraform plan` of the same
`cdk.tf.json` against the same state says what the last plan said, and drift is for `tierstack verify`.
So, from the base and head commits, a stack is planned when its committed `cdk.tf.json` changes (beyond
tierstack's `//` metadata, as `tierstack diff` reads it) or its provider lock file `.terraform.lock.hcl`
does, or it is new; a stack whose output is unchanged, or that left the output, is not planned, and the
comment says why. The committed output is what is compared, not the config: `generate --check` in the same
workflow proves the committed output is what the config generates, so a change to a shared blueprint or a
fleet's defaults shows up in exactly the members whose output it changes, and in no other.

Nothing is synthesized and nothing is extracted: git lists both trees (`ls-tree`), equal blobs are
unchanged without being read, and only the stacks whose files differ are read (`cat-file`) and compared.
The output of a tierstack.yaml is `cdktf.out/` beside it; of a fleet file, each member's
`<member>/cdktf.out/` beside it (generator/services/fleet.py).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from tierstack.generator.analysis import diff as diffing
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.paths import DEFAULT_OUT
from tierstack.generator.synth.stacks import STACK_FILE

LOCK_FILE = ".terraform.lock.hcl"  # the providers' versions: a plan of the same JSON with others is another plan
PLANNED_FILES = (STACK_FILE, LOCK_FILE)  # what a stack's plan reads; its README.md page is for people

Why = Literal["new stack", "Terraform changed", "provider lock changed", "output unchanged", "removed"]
WHY_WORDS: dict[str, str] = {
    "new stack": "new: no output committed for it at the base",
    "Terraform changed": "its Terraform (cdk.tf.json) changes",
    "provider lock changed": "its provider lock file (.terraform.lock.hcl) changes",
    "output unchanged": "output unchanged: its cdk.tf.json and lock file are what the base has",
    "removed": "removed from the output: nothing to plan at the head (tierstack diff says what it destroys)",
}


@dataclass(frozen=True)
class StackScope:
    """One stack of either commit, planned or not, and why."""

    stack: str  # the stack's name, its directory under stacks/
    directory: str  # the stack's directory from the repository's top, where `terraform plan` runs
    planned: bool
    why: Why


@dataclass(frozen=True)
class Scope:
    base: str  # the commits compared
    head: str
    config: str  # from the repository's top
    stacks: tuple[StackScope, ...]  # in the order of their directories

    @property
    def planned(self) -> tuple[StackScope, ...]:
        return tuple(s for s in self.stacks if s.planned)

    @property
    def not_planned(self) -> tuple[StackScope, ...]:
        return tuple(s for s in self.stacks if not s.planned)


# a stack directory's files at one commit: directory -> {file name: blob id}
Tree = dict[str, dict[str, str]]


def changed_stacks(repo: Path, base: str, head: str, config: str) -> Scope:
    """Which stacks of `config`'s committed output a change from `base` to `head` plans, and why the others
    are not planned. `repo`: a directory in the repository; refs are anything git resolves."""
    top = diffing.git_toplevel(repo)
    config = diffing.config_in_repository(top, config)
    commits = diffing.commit_of(top, base), diffing.commit_of(top, head)
    if _blob(top, commits[1], config) is None:
        raise UserError(
            f"no such file at {head}",
            file=f"{head}:{config}",
            field="--config",
            hint="give the config's path from the top of the repository",
        )
    folder = str(PurePosixPath(config).parent)
    fleet = _is_fleet(top, commits[1], config)
    before, after = (_stack_files(top, commit, folder, fleet) for commit in commits)
    stacks = []
    for directory in sorted(before.keys() | after.keys()):
        why = _why(top, commits, directory, before.get(directory), after.get(directory))
        planned = why in ("new stack", "Terraform changed", "provider lock changed")
        stacks.append(StackScope(PurePosixPath(directory).name, directory, planned, why))
    return Scope(commits[0], commits[1], config, tuple(stacks))


def _why(
    top: Path, commits: tuple[str, str], directory: str, old: Mapping[str, str] | None, new: Mapping[str, str] | None
) -> Why:
    if new is None or STACK_FILE not in new:
        return "removed"
    if old is None or STACK_FILE not in old:
        return "new stack"
    if old[STACK_FILE] != new[STACK_FILE] and _terraform_differs(top, commits, directory):
        return "Terraform changed"
    if old.get(LOCK_FILE) != new.get(LOCK_FILE):
        return "provider lock changed"
    return "output unchanged"


def _terraform_differs(top: Path, commits: tuple[str, str], directory: str) -> bool:
    """The two blobs of a stack's cdk.tf.json differ in more than tierstack's `//` metadata, read as
    `tierstack diff` reads them (a stack whose JSON was only reformatted, or re-stamped, plans nothing new)."""
    path = f"{directory}/{STACK_FILE}"
    sides = []
    for commit in commits:
        text = _blob(top, commit, path)
        try:
            data = json.loads(text or "")
            sides.append(diffing.parse_stack(PurePosixPath(directory).name, data))
        except (ValueError, TypeError):
            return True  # not Terraform JSON on one side: `generate --check` says why; plan it to be safe
    return diffing.compare_stacks(sides[1].name, sides[0], sides[1]).status != "unchanged"


def _stack_files(top: Path, commit: str, folder: str, fleet: bool) -> Tree:
    """The planned files of every committed stack of the config's output (a fleet: of every member's)."""
    prefix = "" if folder == "." else folder + "/"
    listed = _git(top, "ls-tree", "-r", "-z", "--full-tree", commit, "--", prefix or ".")
    out: Tree = {}
    for entry in listed.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        kind, blob = meta.split()[1:3]
        if kind != "blob" or not path.startswith(prefix):
            continue
        parts = PurePosixPath(path[len(prefix) :]).parts
        # <output>/stacks/<stack>/<file>; a fleet member's output is one folder down: <member>/<output>/...
        at = 1 if fleet else 0
        if len(parts) != at + 4 or parts[at] != DEFAULT_OUT or parts[at + 1] != "stacks":
            continue
        if parts[-1] not in PLANNED_FILES:
            continue
        directory = prefix + "/".join(parts[:-1])
        out.setdefault(directory, {})[parts[-1]] = blob
    return out


def _is_fleet(top: Path, commit: str, config: str) -> bool:
    """The config at the head is a fleet file: a mapping with a `fleet` key (generator/services/fleet.py)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from tierstack.generator.services.fleet import FLEET_KEY

    try:
        doc = YAML(typ="safe", pure=True).load(_blob(top, commit, config) or "")
    except YAMLError:
        return False  # not YAML: `generate --check` says where; its output is read as a config's
    return isinstance(doc, dict) and FLEET_KEY in doc


def _blob(top: Path, commit: str, path: str) -> str | None:
    """A file's text at a commit, or None when the commit has no such file."""
    done = subprocess.run(
        ["git", "-C", str(top), "cat-file", "blob", f"{commit}:{path}"],
        capture_output=True,
        check=False,
        env=diffing._git_env(),
    )
    return done.stdout.decode("utf-8", errors="replace") if done.returncode == 0 else None


def _git(top: Path, *args: str) -> str:
    done = diffing._git(top, *args)
    if done.returncode != 0:
        raise UserError(f"git {args[0]} failed: {done.stderr.strip()}", file=str(top))
    return done.stdout


def to_data(scope: Scope) -> dict[str, Any]:
    """For the workflow: the stacks to plan as a matrix (`include`, one entry a job), and the others with why."""
    return {
        "base": scope.base,
        "head": scope.head,
        "config": scope.config,
        "planned": [_entry(s) for s in scope.planned],
        "not_planned": [_entry(s) for s in scope.not_planned],
        "matrix": {"include": [{"stack": s.stack, "directory": s.directory} for s in scope.planned]},
    }


def _entry(s: StackScope) -> dict[str, str]:
    return {"stack": s.stack, "directory": s.directory, "why": WHY_WORDS[s.why]}


def to_text(scope: Scope) -> str:
    """For people: each stack, planned or not, and why."""
    lines = [f"{len(scope.planned)} of {len(scope.stacks)} stacks to plan ({scope.base[:12]}..{scope.head[:12]}):"]
    for s in scope.stacks:
        lines.append(f"  {'plan' if s.planned else 'skip'}  {s.stack}: {WHY_WORDS[s.why]}")
    return "\n".join(lines) + "\n"


def to_markdown(scope: Scope) -> str:
    """For the pull-request comment: the stacks not planned, and why (the planned ones have their review)."""
    if not scope.stacks:
        return "_No stack output is committed at either commit: nothing to plan._\n"
    if not scope.not_planned:
        return f"_Every stack planned ({len(scope.planned)}): each one's output changes._\n"
    from tierstack.generator.analysis.review.escape import md_code, md_text  # a pull request names the folders
    from tierstack.generator.analysis.review.markdown import _row  # a `|` in a cell, escaped

    lines = ["| not planned | why |", "|---|---|"]
    lines += [_row([md_code(s.stack), md_text(WHY_WORDS[s.why])]) for s in scope.not_planned]
    return "\n".join(lines) + "\n"


def render(scope: Scope, fmt: str) -> str:
    """`tierstack diff BASE HEAD --config C --committed --changed-stacks --format FMT`: text, markdown, json, yaml."""
    if fmt == "text":
        return to_text(scope)
    if fmt == "markdown":
        return to_markdown(scope)
    from tierstack.generator.core.errors import printable
    from tierstack.generator.output.report import as_data

    return as_data(to_data(scope), fmt) if fmt == "json" else printable(as_data(to_data(scope), fmt))
