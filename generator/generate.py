"""`tierstack generate`: resolved plan -> cdktf.out/ with one stack per environment.

`out` is the cdktf output directory (`cdktf.out` by default, `--out DIR`
otherwise). It receives `manifest.json`, `stacks/<stack>/cdk.tf.json` and
`.tierstack-manifest.json`; `cdktf.json` goes beside it, in `out`'s parent.

The output directory is replaced as a whole, atomically: synthesis goes to a
temporary sibling, and only a complete tree is swapped in, so a crash leaves
the previous output intact. A file the user edited by hand since tierstack
wrote it (tracked by hash in .tierstack-manifest.json) is never replaced
without --force.

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
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tierstack.generator import __version__
from tierstack.generator.blueprint import display_path
from tierstack.generator.errors import UserError, did_you_mean
from tierstack.generator.fsio import follow_umask, write_atomic
from tierstack.generator.resolve import Resolved

MANIFEST = ".tierstack-manifest.json"
CDKTF_JSON_MARK = "written by tierstack generate; edit tierstack.yaml instead"
PROVIDERS = ["hashicorp/google@8.7.0", "hashicorp/google-beta@8.7.0"]


@dataclass
class StackSummary:
    name: str
    resources_by_capability: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.resources_by_capability.values())


def generate(resolved: Resolved, out: Path, environments: list[str] | None = None,
             force: bool = False, progress: Callable[[str], None] = lambda _: None) -> list[StackSummary]:
    """Synthesize and swap the new tree into `out`; return a summary per stack written."""
    _check_environments(resolved, environments)
    _recover_interrupted_swap(out)
    if not force:
        check_hand_edits(out)
    kept = terraform_files(out)
    removed = [] if environments else _removed_stacks(out, {env.stack for env in resolved.environments.values()},
                                                       kept)
    if removed and not force:
        listing = ", ".join(f"stacks/{stack}/{entry}" for stack in removed for entry in kept[stack])
        which = ("stacks " if len(removed) > 1 else "stack ") + ", ".join(removed)
        raise UserError(f"{which} left the config, but Terraform's files are in "
                        f"{'their directories' if len(removed) > 1 else 'its directory'}: {listing}",
                        file=display_path(out), field="--out",
                        hint="run `terraform destroy` there first if its resources should go, or pass --force to "
                        "regenerate and keep only Terraform's files in that directory")
    progress("synthesizing (loading the Google provider bindings takes a few seconds)...")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        from tierstack.generator.stacks import synthesize

        names = synthesize(resolved, tmp, environments)
        _write_cdktf_manifest(out, tmp, names, carry_over=bool(environments))
        _write_manifest(tmp)
        # mkdtemp made tmp 0700, and jsii's Node, started once per process, may predate the umask. Before
        # the links below: a chmod through a hard link would change the user's original file.
        follow_umask(tmp)
        _keep_terraform_files(out, tmp, kept)
        _swap(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for stack in sorted(kept):
        if stack not in names and not (out / "stacks" / stack / "cdk.tf.json").exists():
            progress(f"kept Terraform's files of {stack}, a stack no longer in the config: "
                     + ", ".join(f"stacks/{stack}/{entry}" for entry in kept[stack]))
    _write_cdktf_json(resolved, out)
    order = list(resolved.selection.ids)
    return [summarize(out, name, order) for name in names]


def _check_environments(resolved: Resolved, environments: list[str] | None) -> None:
    for env in environments or []:
        if env not in resolved.environments:
            known = list(resolved.environments)
            hint = did_you_mean(env, known) or "environments: " + ", ".join(known)
            raise UserError(f"no environment '{env}' in this use case", file=display_path(resolved.loaded.path),
                            field="--env", hint=hint)


# --- Terraform's files, hand edits and the manifest ----------------------------------------------

TERRAFORM_NAMES = (".terraform", ".terraform.lock.hcl", ".terraform.tfstate.lock.info")


def is_terraform_file(name: str) -> bool:
    """Whether an entry of a stack's directory is Terraform's (the user's), not tierstack's."""
    return name in TERRAFORM_NAMES or name.startswith("terraform.tfstate") or name.endswith(".tfplan")


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
    return [stack for stack in kept if stack not in current
            and any(not is_terraform_file(p.name) for p in (out / "stacks" / stack).iterdir())]


def _digest(path: Path) -> str:
    if path.is_symlink():  # tierstack writes no symlinks; vouch for where one points, never follow it
        return "symlink:" + hashlib.sha256(os.readlink(path).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> list[Path]:
    """Every file and symlink under root, except the manifest and Terraform's files in stack directories.

    Symlinks are listed, never followed: `.terraform/` can hold links to provider directories and
    binaries of hundreds of megabytes, and it is skipped as a whole.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        parts = here.relative_to(root).parts
        if len(parts) == 2 and parts[0] == "stacks":
            dirnames[:] = [d for d in dirnames if not is_terraform_file(d)]
            filenames = [f for f in filenames if not is_terraform_file(f)]
        found += [here / d for d in dirnames if (here / d).is_symlink()]  # os.walk does not descend them
        found += [here / f for f in filenames if here != root or f != MANIFEST]
    return sorted(found)


def _write_manifest(root: Path) -> None:
    files = {p.relative_to(root).as_posix(): _digest(p) for p in _files(root)}
    text = json.dumps({"generator": f"tierstack {__version__}", "files": files}, indent=2, sort_keys=True)
    (root / MANIFEST).write_text(text + "\n", encoding="utf-8")


def check_hand_edits(out: Path) -> None:
    """Refuse to replace an output tree with files tierstack did not write as they are now."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError("the output path exists and is not a directory", file=display_path(out), field="--out")
    manifest = out / MANIFEST
    present = _files(out)
    if not manifest.exists():
        if present:
            raise UserError("this directory was not written by tierstack (no .tierstack-manifest.json); "
                            "not replacing it", file=display_path(out), field="--out",
                            hint="choose another --out, or pass --force to replace it")
        return
    try:
        known = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError):
        raise UserError("its .tierstack-manifest.json is unreadable", file=display_path(out), field="--out",
                        hint="pass --force to regenerate the directory") from None
    changed = [p.relative_to(out).as_posix() for p in present
               if known.get(p.relative_to(out).as_posix()) != _digest(p)]
    if changed:
        listing = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise UserError(f"files were changed or added by hand since tierstack wrote them: {listing}",
                        file=display_path(out), field="--out",
                        hint="move your changes into tierstack.yaml (overrides:) or a blueprint, "
                        "or pass --force to replace them")


# --- the swap ------------------------------------------------------------------------------------


def _backup_of(out: Path) -> Path:
    return out.with_name(f".{out.name}.previous")


def _swap(new: Path, out: Path) -> None:
    backup = _backup_of(out)
    shutil.rmtree(backup, ignore_errors=True)
    if out.exists():
        os.replace(out, backup)
    os.replace(new, out)
    shutil.rmtree(backup, ignore_errors=True)


def _recover_interrupted_swap(out: Path) -> None:
    """A crash between the two renames leaves only the backup: put it back."""
    backup = _backup_of(out)
    if backup.is_dir() and not out.exists():
        os.replace(backup, out)


def _write_cdktf_manifest(out: Path, new: Path, written: list[str], carry_over: bool) -> None:
    """Make cdktn's manifest.json name only files that exist; with --env, keep the other stacks as they were.

    cdktn lists a `stackMetadataPath` (stacks/<stack>/metadata.json) for every stack but writes that file
    only for HCL output. For JSON output the stack metadata is in cdk.tf.json under "//", and the CDK CLI
    reads `stackMetadataPath` only when the stack is not a .tf.json file. So the entry is dropped.
    """
    new_manifest = json.loads((new / "manifest.json").read_text(encoding="utf-8"))
    if carry_over and (out / "manifest.json").is_file():
        old_manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        for name, entry in sorted(old_manifest.get("stacks", {}).items()):
            source = out / "stacks" / name
            if name in written or not source.is_dir() or source.is_symlink():
                continue
            shutil.copytree(source, new / "stacks" / name, symlinks=True, ignore=_terraform_entries_of(source))
            new_manifest["stacks"][name] = entry
    for entry in new_manifest["stacks"].values():
        entry.pop("stackMetadataPath", None)
    new_manifest["stacks"] = dict(sorted(new_manifest["stacks"].items()))
    text = json.dumps(new_manifest, indent=2, sort_keys=True)
    (new / "manifest.json").write_text(text + "\n", encoding="utf-8")


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


def _write_cdktf_json(resolved: Resolved, out: Path) -> None:
    """For users who also want the CDK CLI: written beside the output, never over someone else's file."""
    target = out.parent / "cdktf.json"
    # the CDK CLI runs `app` from the folder holding cdktf.json
    config = os.path.relpath(resolved.loaded.path.resolve(), out.parent.resolve())
    data = {
        "//": CDKTF_JSON_MARK,
        "language": "python",
        "app": f"tierstack generate {config} --out {out.name}",
        "output": out.name,
        "projectId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tierstack:{resolved.loaded.spec.name}")),
        "sendCrashReports": "false",
        "terraformProviders": PROVIDERS,
        "terraformModules": [],
        "context": {},
    }
    text = json.dumps(data, indent=2) + "\n"
    if target.exists():
        try:
            ours = json.loads(target.read_text(encoding="utf-8")).get("//") == CDKTF_JSON_MARK
        except (ValueError, AttributeError):
            ours = False
        if not ours or target.read_text(encoding="utf-8") == text:
            return
    write_atomic(target, text)


def summarize(out: Path, stack: str, order: list[str]) -> StackSummary:
    data = json.loads((out / "stacks" / stack / "cdk.tf.json").read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    for resources in data.get("resource", {}).values():
        for body in resources.values():
            capability = body["//"]["metadata"]["path"].split("/")[1]
            counts[capability] = counts.get(capability, 0) + 1
    return StackSummary(stack, {c: counts[c] for c in order if c in counts})
