"""A fleet's members over worker processes: `validate FLEET` and `generate FLEET --jobs N` use every core.

Two kinds of worker, for two kinds of work:

- `validate` resolves members and nothing else, so its workers are forked: the parsed fleet is already in
  memory, a fork costs milliseconds, and nothing is sent to a worker but the bounds of its slice.
- `generate` synthesizes, and synthesis runs a jsii kernel (a Node process talking over pipes) that must
  not be shared by a copy of the process: its workers are spawned, each a fresh interpreter that loads the
  fleet, the lock and the bindings of its own. That costs a few seconds a worker, so a fleet gets a worker
  for every MIN_MEMBERS_PER_WORKER members at most, and no more workers than the memory holds.

Either way a member's result is computed exactly as in one process and the results come back in member
order: the output, the lines printed and the files written are the same whatever the number of workers.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Literal

from tierstack.generator.config.lockfile import Pins, session
from tierstack.generator.core.errors import UserError, memory_limits
from tierstack.generator.services.fleet import (
    Chosen,
    Fleet,
    Member,
    MemberResult,
    _load_member,
    _validated,
    check_member,
    diff_member,
    generate_member,
    load_fleet,
)

# validate: a forked worker pays for itself from about this many members (each warms its own render caches)
MIN_MEMBERS_PER_JOB = 150
# generate: a spawned worker loads the bindings (some 4 s of CPU) before its first member, and a member's
# two stacks take about 0.8 s: below this many members a worker, one process is as fast
MIN_MEMBERS_PER_WORKER = 6
# what one synthesizing worker may take at its peak (bench/fleet_bench.py measures about 1.1 GB)
WORKER_BYTES = 3 * (1 << 29)  # 1.5 GiB

Mode = Literal["generate", "check", "diff"]


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which containers and `taskset` narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes that can be taken without pushing anything out: the kernel's MemAvailable, or a lower cgroup
    memory.max; None where neither can be read (not Linux)."""
    found: list[int] = []
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        if limit.isdigit():
            found.append(int(limit))
    return min(found) if found else None


def _forks() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()  # not on Windows; validate then uses one process


def validation_jobs(members: int, jobs: int | None) -> int:
    """Forked workers for validating `members` members: `jobs` if given, else the usable cores, never more
    than the members fill (MIN_MEMBERS_PER_JOB each). 1: no worker, this process checks them all."""
    if jobs is None:
        jobs = min(usable_cores(), members // MIN_MEMBERS_PER_JOB)
    return max(1, min(jobs, members)) if _forks() else 1


def synthesis_jobs(members: int, jobs: int | None) -> int:
    """Spawned workers for generating `members` members: `jobs` if given (never more than the members),
    else the usable cores that fit in memory (WORKER_BYTES each), a worker per MIN_MEMBERS_PER_WORKER."""
    if jobs is not None:
        return max(1, min(jobs, members))
    memory = available_memory()
    fit = usable_cores() if memory is None else max(1, memory // WORKER_BYTES)
    return max(1, min(usable_cores(), fit, members // MIN_MEMBERS_PER_WORKER))


# --- validate: forked workers ---------------------------------------------------------------------

_SHARED_WORK: tuple[list[Member], Path, Any] | None = None  # what forked workers read (never pickled)


def validations(members: list[Member], path: Path, catalog: Any, jobs: int) -> list[Any]:
    """Each member's Validation, in order: in this process, or in `jobs` forked workers, each taking
    contiguous slices (so its render caches serve neighbours, which mostly share a blueprint)."""
    global _SHARED_WORK
    if jobs <= 1:
        return [_validated(item, path, catalog) for item in members]
    size = max(1, -(-len(members) // (jobs * 4)))  # four slices a worker: one slow slice does not hold the rest
    slices = [(start, min(start + size, len(members))) for start in range(0, len(members), size)]
    _SHARED_WORK = (members, path, catalog)
    try:
        with _pool(jobs, "fork") as pool:
            parts = list(_unbroken(pool.map(_validated_slice, slices)))
    finally:
        _SHARED_WORK = None
    return [result for part in parts for result in part]


def _pool(jobs: int, method: str, **start: Any) -> ProcessPoolExecutor:
    """Worker processes started by `method`. An executor, not multiprocessing.Pool: a worker that dies (the
    kernel's OOM killer, a signal) breaks it with an error instead of leaving the parent waiting forever."""
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context(method), **start)


def _unbroken(results: Iterator[Any]) -> Iterator[Any]:
    """The workers' results; a worker that died is the environment's fault, said as such (exit 2)."""
    try:
        yield from results
    except BrokenProcessPool:
        raise UserError(
            "a worker process stopped before it finished (killed, or out of memory)",
            hint=f"{memory_limits()}; run again with --jobs 1 (one process), or where more memory is free",
        ) from None


def _validated_slice(bounds: tuple[int, int]) -> list[Any]:
    """In a forked worker: the Validations of members[start:end], under the parent's lock session."""
    assert _SHARED_WORK is not None, "set by validations() before the fork"
    members, path, catalog = _SHARED_WORK
    with session(Pins(path.parent)):
        return [_validated(item, path, catalog) for item in members[bounds[0] : bounds[1]]]


# --- generate, --check, --diff: spawned workers -----------------------------------------------------

_WORKER: tuple[Fleet, Path, bool, Mode, Any] | None = None  # a spawned worker's fleet, root, force, mode, catalog
_START_ERROR: Exception | None = None  # what stopped _start_worker, for the first task to raise
_WORKER_SESSION = contextlib.ExitStack()  # its read-only pinning session, open for the worker's life


def _start_worker(path: Path, root: Path, force: bool, mode: Mode) -> None:
    """A spawned worker's start: the fleet loaded (members resolved as tasks come), under a read-only session
    over the lock the parent has just written, so every member resolves to the parent's commits."""
    from tierstack.generator.facts.catalog import load_catalog

    global _WORKER, _START_ERROR
    try:
        _WORKER_SESSION.enter_context(session(Pins(path.parent)))
        _WORKER = (load_fleet(path, members=()), root, force, mode, load_catalog())
    except Exception as exc:  # raised again by the first task, so the parent says why (see _member_task)
        _START_ERROR = exc


def _member_task(task: tuple[int, list[str] | None]) -> tuple[MemberResult, list[str]]:
    """In a spawned worker: one member generated (checked, compared) as one process does it, with the notes
    it would have printed, for the parent to print in member order."""
    if _START_ERROR is not None:  # the fleet file changed since the parent read it, say: the parent says why
        raise _START_ERROR
    assert _WORKER is not None, "set by _start_worker"
    fleet, root, force, mode, catalog = _WORKER
    member = fleet.members[task[0]]
    _load_member(member, fleet.path, catalog)
    chosen = Chosen(member, task[1])
    notes: list[str] = []
    if mode == "generate":
        result = generate_member(fleet, chosen, root, force, notes.append)
    elif mode == "check":
        result = check_member(fleet, chosen, root)
    else:
        result = diff_member(fleet, chosen, root)
    member.resolved = None  # a plan is tens of KB: let it go once its member is done
    return result, notes


def member_results(
    fleet: Fleet, chosen: list[Chosen], root: Path, force: bool, mode: Mode, jobs: int
) -> Iterator[tuple[Chosen, MemberResult, list[str]]]:
    """The chosen members' results in order, from `jobs` spawned workers: (member, result, its notes).

    Only members that resolved go to a worker; the caller handles the others (their error is their result)."""
    index = {id(member): i for i, member in enumerate(fleet.members)}
    tasks = [(index[id(item.member)], item.environments) for item in chosen]
    with _pool(jobs, "spawn", initializer=_start_worker, initargs=(fleet.path, root, force, mode)) as pool:
        for item, (result, notes) in zip(chosen, _unbroken(pool.map(_member_task, tasks)), strict=True):
            yield item, result, notes
