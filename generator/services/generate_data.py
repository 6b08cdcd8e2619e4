"""`tierstack generate --format json|yaml`: the result for scripts, one document on stdout.

Every run (a tierstack.yaml or a fleet file; generate, --check or --diff) prints one object with
`config`, `mode` (generate, check, diff), `status` and `exit_code` (the process's). Then, for a
tierstack.yaml, the result itself; for a fleet file, `fleet` and `members`, one result each (with
`member`). A result is:

- `status`: `written` (generate), `up to date` or `stale` (--check), `up to date` or `changes`
  (--diff), `error`;
- `out`: the output directory; `stacks`: each stack generated (or, with --check and --diff,
  synthesized), in order, with its `name`, `environment` and `path`;
- generate: per stack the `files` tierstack wrote in its directory (`path`, `sha256`), its
  `resources` and `resources_by_capability`, and `changes` since the last generation (`status`:
  added, removed, changed, unchanged; the counts `added`, `removed`, `changed`, `renamed`,
  `replaced`, `settings`; `data_at_risk`: each stateful resource the new stack would destroy, with
  its `address`, `type` and `reason`), or null when the last generation cannot be read (a warning
  says why). The first generation has every stack `added`. The result's own `files` (manifest.json,
  .tierstack-manifest.json, cdktf.json when it is tierstack's), `carried_over` (the stacks `--env`
  kept as they were), `stacks_removed` (stacks of the last generation no longer in the config);
- --check: `stale`, each file that differs (`path`, `status`: stale, missing or extra);
- --diff: per stack its `changes`, and `diff`, what `tierstack diff --format json` gives;
- generate and --diff: `data_at_risk` over all stacks (with `stack`);
- `warnings`; an error: `problems`, each with `file`, `line`, `field`, `message` and `hint`, as
  `tierstack validate --format json` gives them.

Exit codes stay generate's: 2 for an error (its message on stderr as well), 5 for --check when stale,
3 for --diff when data is at risk. Paths are shown as the text output shows them: relative to the
working directory when below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tierstack.generator.core.errors import ErrorList, UserError
from tierstack.generator.core.fsio import sha256_bounded
from tierstack.generator.core.paths import display_path

if TYPE_CHECKING:
    from tierstack.generator.analysis.diff import Report, StackDiff
    from tierstack.generator.output.generate import StackSummary, StaleFile
    from tierstack.generator.plan.resolve import Resolved
    from tierstack.generator.services.fleet import Fleet, MemberResult

Mode = Literal["generate", "check", "diff"]


def document(config: Path, mode: Mode, exit_code: int, result: dict[str, Any]) -> dict[str, Any]:
    """The document on stdout: what was run and how it ended, then `result` (which has the `status`)."""
    return {"config": display_path(config), "mode": mode, "status": result["status"], "exit_code": exit_code, **result}


def problems(exc: UserError) -> list[dict[str, Any]]:
    """An error's problems, as `tierstack validate --format json` lists them."""
    errors = exc.errors if isinstance(exc, ErrorList) else [exc]
    return [
        {
            "file": None if err.file is None else str(err.file),
            "line": err.line,
            "field": err.field,
            "message": err.message,
            "hint": err.hint,
        }
        for err in errors
    ]


def error(config: Path, mode: Mode, exc: UserError, exit_code: int) -> dict[str, Any]:
    """The document of a run that stopped with an error."""
    return document(config, mode, exit_code, {"status": "error", "problems": problems(exc)})


def changes(stack: StackDiff) -> dict[str, Any]:
    """One stack's changes, counted, with its data at risk."""
    return {
        "status": stack.status,
        "added": stack.count("added"),
        "removed": stack.count("removed"),
        "changed": stack.count("changed"),
        "renamed": stack.count("renamed"),
        "replaced": stack.replaced,
        "settings": len(stack.blocks),
        "data_at_risk": [{"address": r.address, "type": r.type, "reason": r.at_risk} for r in stack.at_risk],
    }


def _at_risk(report: Report | None) -> list[dict[str, Any]]:
    if report is None:
        return []
    return [{"stack": r.stack, "address": r.address, "type": r.type, "reason": r.at_risk} for r in report.at_risk]


def _file(out: Path, rel: str, digest: str) -> dict[str, str]:
    """A file tierstack wrote, `rel` to `out` (`../cdktf.json` is beside it)."""
    path = out.parent / rel.removeprefix("../") if rel.startswith("../") else out / rel
    return {"path": display_path(path), "sha256": digest}


def _stack(resolved: Resolved, out: Path, name: str) -> dict[str, Any]:
    environments = {env.stack: env.name for env in resolved.environments.values()}
    return {"name": name, "environment": environments.get(name), "path": display_path(out / "stacks" / name)}


def generated(
    resolved: Resolved,
    out: Path,
    summaries: list[StackSummary],
    report: Report | None,
    warnings: list[str],
) -> dict[str, Any]:
    """What `generate` wrote into `out`: its stacks, their files and changes, the output's own files."""
    from tierstack.generator.output.generate import MANIFEST, recorded_files

    by_stack = {stack.name: stack for stack in report.stacks} if report is not None else {}
    written = [s.name for s in summaries]
    recorded = recorded_files(out)
    own = [_file(out, rel, digest) for rel, digest in recorded.items() if not rel.startswith("stacks/")]
    own.append(_file(out, MANIFEST, sha256_bounded(out / MANIFEST) or "not a regular file"))
    carried = sorted({rel.split("/")[1] for rel in recorded if rel.startswith("stacks/")} - set(written))
    return {
        "status": "written",
        "out": display_path(out),
        "stacks": [
            {
                **_stack(resolved, out, summary.name),
                "files": [_file(out, rel, digest) for rel, digest in summary.files.items()],
                "resources": summary.total,
                "resources_by_capability": summary.resources_by_capability,
                "changes": changes(by_stack[summary.name]) if summary.name in by_stack else None,
            }
            for summary in summaries
        ],
        "carried_over": carried,
        "stacks_removed": [s.name for s in by_stack.values() if s.status == "removed"],
        "files": sorted(own, key=lambda f: f["path"]),
        "data_at_risk": _at_risk(report),
        "warnings": warnings,
    }


def checked(
    resolved: Resolved, out: Path, stacks: list[str], stale: list[StaleFile], warnings: list[str]
) -> dict[str, Any]:
    """What `generate --check` found: the stale, missing and extra files."""
    return {
        "status": "stale" if stale else "up to date",
        "out": display_path(out),
        "stacks": [_stack(resolved, out, name) for name in stacks],
        "stale": [{"path": f.path, "status": f.status} for f in stale],
        "warnings": warnings,
    }


def diffed(resolved: Resolved, out: Path, stacks: list[str], report: Report, warnings: list[str]) -> dict[str, Any]:
    """What `generate --diff` found: per stack its changes, and the whole diff."""
    from tierstack.generator.analysis import diff as diffing

    by_stack = {stack.name: stack for stack in report.stacks}
    return {
        "status": "changes" if report.changed else "up to date",
        "out": display_path(out),
        "stacks": [
            {**_stack(resolved, out, name), "changes": changes(by_stack[name]) if name in by_stack else None}
            for name in stacks
        ],
        "stacks_removed": [s.name for s in report.stacks if s.status == "removed"],
        "data_at_risk": _at_risk(report),
        "diff": diffing.to_data(report),
        "warnings": warnings,
    }


def member(fleet: Fleet, result: MemberResult, mode: Mode) -> dict[str, Any]:
    """A fleet member's result."""
    found = next((m for m in fleet.members if (m.name or m.label) == result.member), None)
    resolved = found.resolved if found is not None else None
    head: dict[str, Any] = {"member": result.member}
    if result.status == "error" or resolved is None or result.out is None:
        failure = result.error or UserError("not generated")
        return {**head, "status": "error", "problems": problems(failure), "warnings": result.warnings}
    if mode == "generate":
        data = generated(resolved, result.out, result.summaries, result.report, result.warnings)
    elif mode == "check":
        data = checked(resolved, result.out, result.checked, result.stale, result.warnings)
    else:
        data = diffed(resolved, result.out, result.checked, result.report, result.warnings)
    return {**head, **data}


def fleet(config: Path, fleet: Fleet, results: list[MemberResult], mode: Mode, exit_code: int) -> dict[str, Any]:
    """`generate FLEET`: each member's result."""
    members = [member(fleet, result, mode) for result in results]
    statuses = {m["status"] for m in members}
    status = next(
        (s for s in ("error", "stale", "changes") if s in statuses),
        "written" if mode == "generate" else "up to date",
    )
    return document(config, mode, exit_code, {"status": status, "fleet": fleet.name, "members": members})
