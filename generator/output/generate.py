"""`tierstack generate`: resolved plan -> cdktf.out/ with one stack per environment.

`out` is the cdktf output directory (`cdktf.out` by default, `--out DIR`
otherwise). It receives `manifest.json`, `stacks/<stack>/cdk.tf.json` and
`.tierstack-manifest.json`; `cdktf.json` goes beside it, in `out`'s parent.

`out` must be a directory of its own (`check_out`): not `/`, the home
directory, the current directory or one above it, a repository's top (`.git`),
the config's folder, a symlink, a path under a file or ending in `..`, or a
place the user cannot write. Each is a UserError naming `--out`, raised before
anything is written.

The output directory is replaced as a whole, atomically: synthesis goes to a
temporary sibling (`.<out>.new-XXXXXXXX`, marked by a `.tierstack-new` file
until the swap), and only a complete tree is swapped in, so a crash leaves the
previous output intact; the next run removes such a marked leftover. For the
swap, the previous output is moved into a directory tierstack has just made
beside it and marked as its own (`.<out>.old-XXXXXXXX`, holding `.tierstack-old`
and the tree): a crash between the two renames leaves it there, and the next
run puts it back. Only such a marked directory is ever removed: a directory of
the user's beside the output, whatever its name, is never touched. A file
the user edited by hand since tierstack wrote it (tracked by hash in
.tierstack-manifest.json, which also records cdktf.json's) is never replaced
without --force. A file tierstack did not write is never deleted, not even
with --force: the run stops and names it. A stack carried over by `--env`
keeps the hashes recorded for it, so a hand edit in it stays one.

Only one generate at a time writes an output directory: each holds an
exclusive lock on `.<out>.lock` beside it (removed when the run ends); a second
run waits for it, up to LOCK_TIMEOUT seconds, then stops with a clear error.

Terraform's own files in a stack's directory (what `terraform init`, `plan
-out` and a local state leave there: `.terraform/`, `.terraform.lock.hcl`,
`*.tfplan`, `terraform.tfstate*`, `.terraform.tfstate.lock.info`) belong to
the user. They are not hand edits, they are never hashed or followed, and
every regeneration carries them into the new tree before the swap, as hard
links where the file system allows it (so even a large `.terraform/` costs
nothing, and a crash before the swap leaves the originals where they were).
A stack that leaves the config while its directory holds such files stops
`generate` unless `--force`; with `--force`, its directory stays with only
those files, so a state is never lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tierstack.generator import __version__
from tierstack.generator.core.errors import UserError, did_you_mean
from tierstack.generator.core.fsio import MAX_JSON_BYTES, follow_umask, read_bytes_bounded, sha256_bounded, write_atomic
from tierstack.generator.core.paths import display_path
from tierstack.generator.facts import providers
from tierstack.generator.plan.resolve import Resolved

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: no advisory locks; generate runs unlocked)
    fcntl = None  # type: ignore[assignment]

MANIFEST = ".tierstack-manifest.json"
MARKER = ".tierstack-new"  # in a temporary tree until it is swapped in: a leftover with it is tierstack's
OLD_MARKER = ".tierstack-old"  # in the directory that holds the previous output during the swap
CDKTF_JSON_MARK = "written by tierstack generate; edit tierstack.yaml instead"
PROVIDERS = providers.PINNED
LOCK_TIMEOUT = 120.0  # seconds a generate waits for another one writing the same output directory
# The output is meant to be committed; what Terraform leaves in a stack's directory is not. Patterns without a
# slash match in every stack directory below. `.terraform.lock.hcl` is left out on purpose: HashiCorp asks
# for it to be committed, so every run of a stack uses the providers that were reviewed.
GITIGNORE = """\
# Written by tierstack generate (and rewritten by every run, like the stacks): Terraform's own files in
# each stack's directory are not for git. The state lives in the GCS backend; a saved plan holds every
# value in clear, sensitive ones too. Commit .terraform.lock.hcl: it pins the providers a stack uses.
.terraform/
.terraform.tfstate.lock.info
terraform.tfstate
terraform.tfstate.*
*.tfplan
*.tfplan.json
crash.log
crash.*.log
"""


@dataclass
class StackSummary:
    name: str
    resources_by_capability: dict[str, int] = field(default_factory=dict)
    # the files tierstack wrote in the stack's directory: path relative to the output directory -> sha256
    files: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.resources_by_capability.values())


# Called with the current output directory and the complete new tree, before the swap (generate's summary
# of what changes since the last generation); an exception from it leaves the output as it was.
BeforeSwap = Callable[[Path, Path, list[str]], None]


def generate(
    resolved: Resolved,
    out: Path,
    environments: list[str] | None = None,
    force: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    before_swap: BeforeSwap | None = None,
    app: str | None = None,
) -> list[StackSummary]:
    """Synthesize and swap the new tree into `out`; return a summary per stack written.

    `app` is the command cdktf.json gives the CDK CLI (default: `tierstack generate CONFIG --out OUT`;
    a fleet member's names the fleet file and the member).
    """
    _check_environments(resolved, environments)
    shown = display_path(out)
    out = check_out(out, resolved.loaded.path)
    with _output_lock(out, shown, progress):
        return _generate(resolved, out, shown, environments, force, progress, before_swap, app)


def _generate(
    resolved: Resolved,
    out: Path,
    shown: str,
    environments: list[str] | None,
    force: bool,
    progress: Callable[[str], None],
    before_swap: BeforeSwap | None = None,
    app: str | None = None,
) -> list[StackSummary]:
    _recover_interrupted_swap(out)
    _clean_leftovers(out)
    recorded = _read_manifest(out, shown)
    cdktf_text = _cdktf_json_text(resolved, out, app)
    cdktf_action, cdktf_note = _cdktf_json_action(out, cdktf_text, recorded.get("beside", {}).get("cdktf.json"))
    _check_output(out, shown, recorded, cdktf_action == "edited", force)
    kept = terraform_files(out)
    removed = [] if environments else _removed_stacks(out, {env.stack for env in resolved.environments.values()}, kept)
    if removed and not force:
        listing = ", ".join(f"stacks/{stack}/{entry}" for stack in removed for entry in kept[stack])
        which = ("stacks " if len(removed) > 1 else "stack ") + ", ".join(removed)
        raise UserError(
            f"{which} left the config, but Terraform's files are in "
            f"{'their directories' if len(removed) > 1 else 'its directory'}: {listing}",
            file=shown,
            field="--out",
            hint="run `terraform destroy` there first if its resources should go, or pass --force to "
            "regenerate and keep only Terraform's files in that directory",
        )
    progress("synthesizing (loading the Google provider bindings takes a few seconds)...")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        (tmp / MARKER).write_text(
            "a temporary tree of tierstack generate; the next generate removes it\n", encoding="utf-8"
        )
        ours = cdktf_action in ("write", "same", "edited")  # "edited" gets this far only with --force
        names = _build_tree(resolved, out, tmp, environments, recorded, cdktf_text if ours else None)
        if before_swap is not None:
            before_swap(out, tmp, names)
        # mkdtemp made tmp 0700, and jsii's Node, started once per process, may predate the umask. Before
        # the links below: a chmod through a hard link would change the user's original file.
        follow_umask(tmp)
        _keep_terraform_files(out, tmp, kept)
        _check_unchanged_since(out, shown, recorded.get("files", {}), kept)
        if cdktf_action in ("write", "edited"):  # before the swap: a crash between the two leaves a cdktf.json
            write_atomic(out.parent / "cdktf.json", cdktf_text)  # that matches what the next run writes
        _swap(tmp, out)
        (out / MARKER).unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for stack in sorted(kept):
        if stack not in names and not (out / "stacks" / stack / "cdk.tf.json").exists():
            progress(
                f"kept Terraform's files of {stack}, a stack no longer in the config: "
                + ", ".join(f"stacks/{stack}/{entry}" for entry in kept[stack])
            )
    if cdktf_note:
        progress(cdktf_note)
    order = list(resolved.selection.ids)
    return [summarize(out, name, order) for name in names]


def _build_tree(
    resolved: Resolved,
    out: Path,
    tmp: Path,
    environments: list[str] | None,
    recorded: dict[str, dict[str, str]],
    cdktf_text: str | None,
) -> list[str]:
    """The complete new output tree in `tmp`: stacks, manifest.json, .tierstack-manifest.json; its stacks.

    `cdktf_text` is the cdktf.json tierstack owns beside `out` (recorded in the manifest), None if it
    is the user's.
    """
    from tierstack.generator.output.docs import write_stack_docs
    from tierstack.generator.synth.stacks import synthesize

    names = synthesize(resolved, tmp, environments)
    write_stack_docs(resolved, tmp, names)  # stacks/<stack>/README.md, hashed in the manifest like the rest
    (tmp / ".gitignore").write_text(GITIGNORE, encoding="utf-8")  # tierstack's own file, hashed like the rest
    carried = _write_cdktf_manifest(out, tmp, names, carry_over=bool(environments))
    beside = {"cdktf.json": _sha256(cdktf_text.encode())} if cdktf_text is not None else {}
    _write_manifest(tmp, recorded.get("files", {}), carried, beside)
    return names


def _check_environments(resolved: Resolved, environments: list[str] | None) -> None:
    for env in environments or []:
        if env not in resolved.environments:
            known = list(resolved.environments)
            hint = did_you_mean(env, known) or "environments: " + ", ".join(known)
            raise UserError(
                f"no environment '{env}' in this use case",
                file=display_path(resolved.loaded.path),
                field="--env",
                hint=hint,
            )


# --- --out: a directory of its own, and one generate at a time -----------------------------------


def check_out(out: Path, config: Path) -> Path:
    """The output directory as an absolute path, or a UserError naming --out if generate must not replace it.

    Only the parent is resolved: a symlink as `out` itself is refused rather than followed.
    """
    typed = str(out)

    def refuse(
        message: str,
        hint: str = "generate replaces the output directory as a whole: give it a "
        "directory of its own, e.g. --out cdktf.out beside your tierstack.yaml",
    ) -> UserError:
        return UserError(message, file=typed, field="--out", hint=hint)

    if out.name == "..":
        raise refuse("ends in '..': --out must name the output directory itself")
    try:
        return _check_out(out, config, refuse)
    except (OSError, RuntimeError) as exc:  # an unreadable ancestor, a symlink loop
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise refuse(f"cannot be written: {reason}", hint="choose a directory you can write to") from None


def _check_out(out: Path, config: Path, refuse: Callable[..., UserError]) -> Path:
    target = out.parent.resolve() / out.name if out.name else out.resolve()
    if target == Path(target.anchor):
        raise refuse("is the root directory")
    with suppress(OSError):  # a working directory that was deleted is above nothing
        cwd = Path.cwd().resolve()
        if target == cwd or target in cwd.parents:
            raise refuse("is the current directory" if target == cwd else "contains the current directory")
    with suppress(RuntimeError, KeyError):  # no home directory to protect
        home = Path.home().resolve()
        if target == home or target in home.parents:
            raise refuse("is your home directory" if target == home else "contains your home directory")
    if target in config.resolve().parents:
        raise refuse(f"contains the config file {display_path(config)}")
    if target.is_symlink():
        raise refuse("is a symbolic link", hint="give the directory it points to, or a directory of its own")
    if target.exists() and not target.is_dir():
        raise refuse("exists and is not a directory")
    if (target / ".git").exists() or (target / ".git").is_symlink():
        raise refuse("holds a .git: it is the top of a repository")
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not existing.is_dir():
        raise refuse(f"is under a file: {display_path(existing)}", hint="give a path of directories")
    for directory in (target, target.parent) if existing == target else (existing,):
        if not os.access(directory, os.W_OK | os.X_OK):
            raise refuse(
                f"cannot be written: no permission to write in {display_path(directory)}",
                hint="choose a directory you can write to, or change its permissions",
            )
    return target


@contextmanager
def _output_lock(out: Path, shown: str, progress: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive lock on `.<out>.lock` beside `out`; wait up to LOCK_TIMEOUT for another holder.

    The file holds the holder's process id and is removed by the holder, while it still holds the lock. A
    waiter that then gets the lock on the removed file sees that the path names another file (or none) and
    starts over, so two runs can never both hold "the" lock.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot be written: {exc.strerror}", file=shown, field="--out", hint="choose a directory you can write to"
        ) from None
    if fcntl is None:  # pragma: no cover
        yield
        return
    path = out.parent / f".{out.name}.lock"
    deadline = time.monotonic() + LOCK_TIMEOUT
    waited = False
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o666)  # never through a link
        except OSError as exc:
            raise UserError(
                f"cannot be written: {exc.strerror}: {display_path(path)}",
                file=shown,
                field="--out",
                hint="choose a directory you can write to",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                raise UserError(
                    f"another tierstack generate ({holder}) is writing this directory; gave up after "
                    f"{LOCK_TIMEOUT:g} s",
                    file=shown,
                    field="--out",
                    hint=f"run generate again once it has finished (its lock is {display_path(path)})",
                ) from None
            if not waited:
                progress(
                    f"waiting for another tierstack generate ({holder}) writing {shown}, up to {LOCK_TIMEOUT:g} s..."
                )
                waited = True
            time.sleep(0.05)
            continue
        except OSError as exc:  # a file system without locks
            os.close(fd)
            raise UserError(
                f"cannot lock {display_path(path)}: {exc.strerror}",
                file=shown,
                field="--out",
                hint="choose an output directory on a local file system",
            ) from None
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            break
        os.close(fd)  # the previous holder removed that file: start over with the one the path names now
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _lock_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        pid = ""
    return f"process {pid}" if pid.isdigit() else "process unknown"


def _clean_leftovers(out: Path) -> None:
    """Remove the temporary trees of runs killed before they could (under the lock: none is in use):
    new trees that were never swapped in, and previous outputs set aside by a swap that was done."""
    for path in _marked(out, "new", MARKER):
        shutil.rmtree(path, ignore_errors=True)
    for holder in _marked(out, "old", OLD_MARKER):
        _discard(holder)


def _marked(out: Path, kind: str, marker: str) -> list[Path]:
    """tierstack's own temporary directories beside `out`: `.<out>.<kind>-XXXXXXXX` (mkdtemp's names),
    real directories holding `marker` as a regular file. Nothing else is ever removed."""
    pattern = re.compile(re.escape(f".{out.name}.{kind}-") + r"[a-z0-9_]{8}")
    return sorted(
        path
        for path in out.parent.iterdir()
        if pattern.fullmatch(path.name)
        and path.is_dir()
        and not path.is_symlink()
        and (path / marker).is_file()
        and not (path / marker).is_symlink()
    )


# --- Terraform's files, hand edits and the manifest ----------------------------------------------

TERRAFORM_NAMES = (".terraform", ".terraform.lock.hcl", ".terraform.tfstate.lock.info")


def is_terraform_file(name: str) -> bool:
    """Whether an entry of a stack's directory is Terraform's (the user's), not tierstack's."""
    return (
        name in TERRAFORM_NAMES
        or name.startswith("terraform.tfstate")
        or name.endswith((".tfplan", ".tfplan.json"))  # `tierstack plan` saves both beside the stack
    )


def terraform_files(out: Path) -> dict[str, list[str]]:
    """Stack name -> the Terraform entries directly in its directory (files, directories or symlinks)."""
    stacks = out / "stacks"
    if not stacks.is_dir() or stacks.is_symlink():
        return {}
    found = {}
    for stack in sorted(stacks.iterdir()):
        if stack.is_dir() and not stack.is_symlink():
            entries = sorted(p.name for p in stack.iterdir() if is_terraform_file(p.name))
            if entries:
                found[stack.name] = entries
    return found


def _removed_stacks(out: Path, current: set[str], kept: dict[str, list[str]]) -> list[str]:
    """Stacks with Terraform's files whose directory still holds tierstack's files but that left the config."""
    return [
        stack
        for stack in kept
        if stack not in current and any(not is_terraform_file(p.name) for p in (out / "stacks" / stack).iterdir())
    ]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _digest(path: Path) -> str:
    if path.is_symlink():  # tierstack writes no symlinks; vouch for where one points, never follow it
        return "symlink:" + _sha256(os.readlink(path).encode())
    digest = sha256_bounded(path)  # a FIFO, a device or a file of gigabytes where tierstack wrote one: not read
    return "not a regular file of tierstack's size" if digest is None else digest


def _walk_outside_terraform(root: Path) -> Iterator[tuple[Path, tuple[str, ...], list[str], list[str]]]:
    """os.walk under root, without Terraform's files in the stack directories (the user's, never walked).

    Yields (folder, its parts relative to root, sub-folder names, file names); the caller may prune the
    sub-folder names in place, as with os.walk.
    """
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        parts = here.relative_to(root).parts
        if len(parts) == 2 and parts[0] == "stacks":
            dirnames[:] = [d for d in dirnames if not is_terraform_file(d)]
            filenames = [f for f in filenames if not is_terraform_file(f)]
        yield here, parts, dirnames, filenames


def _files(root: Path) -> list[Path]:
    """Every file and symlink under root, except the manifest, the marker and Terraform's files in stacks.

    Symlinks are listed, never followed: `.terraform/` can hold links to provider directories and
    binaries of hundreds of megabytes, and it is skipped as a whole.
    """
    found = []
    for here, _parts, dirnames, filenames in _walk_outside_terraform(root):
        found += [here / d for d in dirnames if (here / d).is_symlink()]  # os.walk does not descend them
        found += [here / f for f in filenames if here != root or f not in (MANIFEST, MARKER)]
    return sorted(found)


def _write_manifest(root: Path, recorded: dict[str, str], carried: list[str], beside: dict[str, str]) -> None:
    """Record the hash of every file in the new tree, and of the files tierstack wrote beside it.

    A stack carried over from the previous tree (`--env`) keeps the hashes recorded when tierstack wrote it:
    a hand edit carried over with --force is not tierstack's, and stays a hand edit.
    """
    files = {}
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        if any(rel.startswith(f"stacks/{stack}/") for stack in carried):
            if rel in recorded:
                files[rel] = recorded[rel]
        else:
            files[rel] = _digest(path)
    data: dict[str, object] = {"generator": f"tierstack {__version__}", "files": files}
    if beside:
        data["beside"] = beside
    (root / MANIFEST).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_manifest(out: Path, shown: str) -> dict[str, dict[str, str]]:
    """The previous run's record: {"files": {relative path: hash}, "beside": {"cdktf.json": hash}}, or {}."""
    manifest = out / MANIFEST
    if not out.is_dir() or not (manifest.exists() or manifest.is_symlink()):
        return {}
    try:
        if manifest.is_symlink() or not manifest.is_file():
            raise ValueError(manifest)
        data = json.loads(read_bytes_bounded(manifest, MANIFEST, MAX_JSON_BYTES, limit_of="tierstack's record"))
        record = {"files": data["files"], "beside": data.get("beside", {})}
        if not all(
            isinstance(table, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in table.items())
            for table in record.values()
        ):
            raise ValueError(manifest)
    except (ValueError, KeyError, TypeError, RecursionError):
        raise UserError(
            f"its {MANIFEST} is unreadable, so tierstack cannot tell which files it wrote",
            file=shown,
            field="--out",
            hint=f"restore the file; or, if nothing in {shown} is yours, delete {shown} and run "
            "generate again (tierstack never deletes a file it did not write)",
        ) from None
    return record


def _listing(paths: list[str]) -> str:
    return ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def _check_output(out: Path, shown: str, recorded: dict[str, dict[str, str]], cdktf_edited: bool, force: bool) -> None:
    """Refuse to replace an output tree holding files tierstack did not write, or (without --force) edited."""
    if out.exists() and not out.is_dir():  # check_out refuses it; a race since is still no reason to delete it
        raise UserError("the output path exists and is not a directory", file=shown, field="--out")
    known = recorded.get("files", {})
    unknown = _unknown_entries(out, known) if out.is_dir() else []
    changed = (
        []
        if force or not out.is_dir()
        else [
            rel
            for rel in (p.relative_to(out).as_posix() for p in _files(out))
            if rel in known and known[rel] != _digest(out / rel)
        ]
    )
    if cdktf_edited and not force:
        changed.append("../cdktf.json")
    never = "tierstack never deletes a file it did not write, not even with --force"
    if unknown and not recorded:
        raise UserError(
            f"this directory was not written by tierstack (no {MANIFEST}); it holds {_listing(unknown)}",
            file=shown,
            field="--out",
            hint=f"{never}: choose another --out, or move those out of it",
        )
    if unknown:
        also = f"\n  and files changed by hand since tierstack wrote them: {_listing(changed)}" if changed else ""
        raise UserError(
            f"files that tierstack did not write: {_listing(unknown)}{also}",
            file=shown,
            field="--out",
            hint=f"{never}: move them out of {shown}"
            + (
                "; then move your changes into tierstack.yaml, or pass --force to replace the changed files"
                if changed
                else ""
            ),
        )
    if changed:
        raise UserError(
            f"files were changed by hand since tierstack wrote them: {_listing(changed)}",
            file=shown,
            field="--out",
            hint="move your changes into tierstack.yaml (overrides:) or a blueprint, or pass --force to replace them",
        )


def _check_unchanged_since(out: Path, shown: str, known: dict[str, str], kept: dict[str, list[str]]) -> None:
    """Just before the swap: stop if a file of the user's appeared in `out` while synthesis ran."""
    late = _unknown_entries(out, known) if out.is_dir() else []
    late += [
        f"stacks/{stack}/{name}"
        for stack, names in terraform_files(out).items()
        for name in names
        if name not in kept.get(stack, [])
    ]
    if late:
        raise UserError(
            f"files appeared while generate ran: {_listing(sorted(late))}; nothing was replaced",
            file=shown,
            field="--out",
            hint="run generate again once nothing else writes there",
        )


def _unknown_entries(out: Path, known: dict[str, str]) -> list[str]:
    """Files, symlinks and directories under `out` that tierstack did not write (directories end in `/`).

    Terraform's files in stack directories are the user's and stay; `stacks/` and the stack directories are
    tierstack's even when only Terraform's files are left in them.
    """
    ours = {parent.as_posix() for rel in known for parent in PurePosixPath(rel).parents} | {"stacks"}
    found = []
    for here, parts, dirnames, filenames in _walk_outside_terraform(out):
        for name in list(dirnames):
            rel = (here / name).relative_to(out).as_posix()
            if (here / name).is_symlink():
                dirnames.remove(name)
                if rel not in known:
                    found.append(rel)
            elif rel not in ours and parts != ("stacks",):
                dirnames.remove(name)
                found.append(rel + "/")
        found += [
            rel
            for rel in ((here / f).relative_to(out).as_posix() for f in filenames)
            if rel not in known and (parts or rel not in (MANIFEST, MARKER))
        ]
    return sorted(found)


# --- the swap ------------------------------------------------------------------------------------


def _swap(new: Path, out: Path) -> None:
    """Put `new` in place of `out`: the previous output is set aside in a marked directory, then removed."""
    holder = _set_aside(out) if out.exists() or out.is_symlink() else None
    os.replace(new, out)
    if holder is not None:
        _discard(holder)


def _set_aside(out: Path) -> Path:
    """Move the output into a new directory beside it, marked as tierstack's; that directory.

    The directory is made (mkdtemp: a name no one has) and marked before the output moves into it, so
    whatever the moment of a crash, a directory holding a previous output carries the mark, and a
    directory without it is not tierstack's.
    """
    holder = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    (holder / OLD_MARKER).write_text(
        "the previous output of tierstack generate, set aside for the swap; the next generate removes it\n",
        encoding="utf-8",
    )
    os.replace(out, holder / out.name)
    return holder


def _discard(holder: Path) -> None:
    """Remove a directory _set_aside made (and what it holds); the mark goes last."""
    for entry in holder.iterdir():
        if entry.name != OLD_MARKER:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    shutil.rmtree(holder, ignore_errors=True)


def _recover_interrupted_swap(out: Path) -> None:
    """A crash between the two renames leaves the output set aside and none in its place: put it back."""
    if out.exists() or out.is_symlink():
        return
    for holder in sorted(_marked(out, "old", OLD_MARKER), key=lambda path: path.stat().st_mtime, reverse=True):
        previous = holder / out.name  # the newest set aside: an older one is from a swap completed since
        if previous.is_dir() and not previous.is_symlink():
            os.replace(previous, out)
            return


def _write_cdktf_manifest(out: Path, new: Path, written: list[str], carry_over: bool) -> list[str]:
    """Make cdktn's manifest.json name only files that exist; with --env, keep the other stacks as they were.

    Returns the stacks carried over from the previous tree.

    cdktn lists a `stackMetadataPath` (stacks/<stack>/metadata.json) for every stack but writes that file
    only for HCL output. For JSON output the stack metadata is in cdk.tf.json under "//", and the CDK CLI
    reads `stackMetadataPath` only when the stack is not a .tf.json file. So the entry is dropped.
    """
    new_manifest = json.loads(read_bytes_bounded(new / "manifest.json", "manifest.json", MAX_JSON_BYTES))
    carried = []
    if carry_over and (out / "manifest.json").is_file():
        old_manifest = _carried_manifest(out)
        for name, entry in sorted(old_manifest.get("stacks", {}).items()):
            source = out / "stacks" / name
            if name in written or not source.is_dir() or source.is_symlink():
                continue
            shutil.copytree(source, new / "stacks" / name, symlinks=True, ignore=_terraform_entries_of(source))
            new_manifest["stacks"][name] = entry
            carried.append(name)
    for entry in new_manifest["stacks"].values():
        entry.pop("stackMetadataPath", None)
    new_manifest["stacks"] = dict(sorted(new_manifest["stacks"].items()))
    text = json.dumps(new_manifest, indent=2, sort_keys=True)
    (new / "manifest.json").write_text(text + "\n", encoding="utf-8")
    return carried


def _carried_manifest(out: Path) -> dict[str, Any]:
    """The manifest.json --env carries stacks over from (with --force it may have been edited): its stacks,
    each a mapping; a UserError naming it otherwise."""
    try:
        data: dict[str, Any] = json.loads(read_bytes_bounded(out / "manifest.json", "manifest.json", MAX_JSON_BYTES))
        stacks = data.get("stacks", {}) if isinstance(data, dict) else None
        if not isinstance(stacks, dict) or not all(isinstance(entry, dict) for entry in stacks.values()):
            raise ValueError(out / "manifest.json")
    except (ValueError, RecursionError):
        raise UserError(
            "its manifest.json is unreadable, so --env cannot tell which stacks to carry over",
            file=display_path(out),
            field="--out",
            hint="run generate without --env (every stack is then written anew), or restore the file",
        ) from None
    return data


def _terraform_entries_of(stack: Path) -> Callable[[str, list[str]], list[str]]:
    """A copytree `ignore` that leaves out Terraform's entries at the top of a stack's directory."""
    top = os.fspath(stack)
    return lambda directory, names: [n for n in names if is_terraform_file(n)] if directory == top else []


def _keep_terraform_files(out: Path, new: Path, kept: dict[str, list[str]]) -> None:
    """Put Terraform's files of every stack directory into the new tree, before the swap.

    Hard links (copies where the file system refuses them), symlinks recreated as they are: the
    originals stay in place until the swap, so a crash before it loses nothing.
    """
    for stack, entries in kept.items():
        target = new / "stacks" / stack
        target.mkdir(parents=True, exist_ok=True)
        for name in entries:
            source = out / "stacks" / stack / name
            if source.is_symlink():
                os.symlink(os.readlink(source), target / name)
            elif source.is_dir():
                shutil.copytree(source, target / name, symlinks=True, copy_function=_link_or_copy)
            else:
                _link_or_copy(source, target / name)


def _link_or_copy(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=False)


# --- cdktf.json and summaries --------------------------------------------------------------------


def _cdktf_json_text(resolved: Resolved, out: Path, app: str | None = None) -> str:
    """cdktf.json, for users who also want the CDK CLI; it goes beside the output directory."""
    # the CDK CLI runs `app` from the folder holding cdktf.json
    config = os.path.relpath(resolved.loaded.path.resolve(), out.parent)
    data = {
        "//": CDKTF_JSON_MARK,
        "language": "python",
        "app": app or f"tierstack generate {config} --out {out.name}",
        "output": out.name,
        "projectId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tierstack:{resolved.loaded.spec.name}")),
        "sendCrashReports": "false",
        "terraformProviders": PROVIDERS,
        "terraformModules": [],
        "context": {},
    }
    return json.dumps(data, indent=2) + "\n"


def _cdktf_json_action(out: Path, text: str, recorded: str | None) -> tuple[str, str | None]:
    """What to do with cdktf.json beside `out`, and a note for the user when it is left alone.

    "write": absent, or as tierstack recorded writing it; "same": already `text`; "edited": tierstack's for
    this output but changed since (replaced only with --force); "foreign": the user's own (no tierstack mark,
    or not a regular file) or tierstack's for another output directory beside it: never replaced.
    """
    target = out.parent / "cdktf.json"
    if not target.exists() and not target.is_symlink():
        return "write", None
    if target.is_symlink() or not target.is_file():
        return "foreign", "left cdktf.json as it is: it is not tierstack's (not a regular file)"
    try:
        current = read_bytes_bounded(target, "cdktf.json", MAX_JSON_BYTES)
    except UserError:  # far larger than tierstack writes it, or gone since: not tierstack's
        return "foreign", "left cdktf.json as it is: it is not tierstack's (larger than tierstack writes it)"
    if current == text.encode():
        return "same", None
    if recorded == _sha256(current):
        return "write", None
    try:
        data = json.loads(current)
    except (ValueError, RecursionError):  # not JSON, or nested a thousand levels deep: not tierstack's
        data = None
    if not isinstance(data, dict) or data.get("//") != CDKTF_JSON_MARK:
        return "foreign", f'left cdktf.json as it is: it is not tierstack\'s (no "//" mark in {display_path(target)})'
    if data.get("output") != out.name:
        return "foreign", (
            f"left cdktf.json as it is: tierstack wrote it for the output directory "
            f"'{data.get('output')}' beside it, not '{out.name}' (delete it to get one for "
            f"'{out.name}')"
        )
    return "edited", None


def summarize(out: Path, stack: str, order: list[str]) -> StackSummary:
    data = json.loads(read_bytes_bounded(out / "stacks" / stack / "cdk.tf.json", "cdk.tf.json", MAX_JSON_BYTES))
    counts: dict[str, int] = {}
    for resources in data.get("resource", {}).values():
        for body in resources.values():
            capability = body["//"]["metadata"]["path"].split("/")[1]
            counts[capability] = counts.get(capability, 0) + 1
    files = {rel: digest for rel, digest in recorded_files(out).items() if rel.startswith(f"stacks/{stack}/")}
    return StackSummary(stack, {c: counts[c] for c in order if c in counts}, files)


def recorded_files(out: Path) -> dict[str, str]:
    """What the last generate recorded writing into `out`: path relative to it -> sha256, in path order.

    The manifest itself is not in it; cdktf.json beside `out` is, as `../cdktf.json`, when it is tierstack's.
    """
    data = json.loads(read_bytes_bounded(out / MANIFEST, MANIFEST, MAX_JSON_BYTES, limit_of="tierstack's record"))
    files = {str(rel): str(digest) for rel, digest in data["files"].items()}
    files.update({f"../{name}": str(digest) for name, digest in data.get("beside", {}).items()})
    return dict(sorted(files.items()))


# --- --check and --diff: what generate would write, written nowhere near the output -------------


@dataclass(frozen=True)
class Preview:
    """What generate would write: the new tree, its stacks, and the cdktf.json it would put beside it."""

    out: Path  # the output directory it is for (absolute)
    tree: Path  # the new tree, in a temporary directory
    stacks: list[str]  # the stacks synthesized (the others are carried over with --env)
    cdktf_json: str | None  # the cdktf.json generate would write beside `out`; None when it leaves it alone


@contextmanager
def preview(
    resolved: Resolved, out: Path, environments: list[str] | None = None, app: str | None = None
) -> Iterator[Preview]:
    """Synthesize what `generate` would write into `out`, in a temporary directory removed on the way out.

    Reads `out` (its manifest, the stacks --env carries over) and writes nothing near it: no lock, no
    temporary sibling, no cdktf.json.
    """
    _check_environments(resolved, environments)
    shown = display_path(out)
    out = out.parent.resolve() / out.name if out.name else out.resolve()
    if out.exists() and not out.is_dir():
        raise UserError("the output path exists and is not a directory", file=shown, field="--out")
    try:
        recorded = _read_manifest(out, shown)
    except UserError:  # unreadable: every file is then simply compared with what generate writes
        recorded = {}
    cdktf_text = _cdktf_json_text(resolved, out, app)
    action, _note = _cdktf_json_action(out, cdktf_text, recorded.get("beside", {}).get("cdktf.json"))
    ours = action in ("write", "same", "edited")
    parent = Path(tempfile.mkdtemp(prefix="tierstack-preview-"))
    try:
        tree = parent / out.name
        tree.mkdir()
        names = _build_tree(resolved, out, tree, environments, recorded, cdktf_text if ours else None)
        yield Preview(out, tree, names, cdktf_text if action in ("write", "edited") else None)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@dataclass(frozen=True)
class StaleFile:
    path: str  # as the user would type it: relative to the working directory when below it
    status: str  # "stale" (differs), "missing" (generate would write it), "extra" (generate would not)


def stale_files(new: Preview, environments: list[str] | None = None) -> list[StaleFile]:
    """The files of the output directory that differ from what generate would write now, in path order.

    With `environments`, only those stacks' files. Terraform's own files are never compared; a cdktf.json
    beside the output that is not tierstack's is left out, as generate leaves it.
    """
    out = new.out
    prefixes = tuple(f"stacks/{stack}/" for stack in new.stacks) if environments else ("",)

    def listed(root: Path) -> dict[str, Path]:
        if not root.is_dir():
            return {}
        found = {p.relative_to(root).as_posix(): p for p in _files(root)}
        if (root / MANIFEST).exists() or (root / MANIFEST).is_symlink():
            found[MANIFEST] = root / MANIFEST
        return {rel: p for rel, p in found.items() if rel.startswith(prefixes)}

    wanted, present = listed(new.tree), listed(out)
    found = []
    for rel in sorted(set(wanted) | set(present)):
        if rel not in present:
            found.append(StaleFile(display_path(out / rel), "missing"))
        elif rel not in wanted:
            found.append(StaleFile(display_path(out / rel), "extra"))
        elif _digest(present[rel]) != _digest(wanted[rel]):
            found.append(StaleFile(display_path(out / rel), "stale"))
    beside = out.parent / "cdktf.json"
    if not environments and new.cdktf_json is not None:
        if not beside.exists():
            found.append(StaleFile(display_path(beside), "missing"))
        elif sha256_bounded(beside) != _sha256(new.cdktf_json.encode()):
            found.append(StaleFile(display_path(beside), "stale"))
    return found
