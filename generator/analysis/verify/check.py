"""The run: every resource of every stack read back, concurrently, and compared; the data sources checked.

Reads run concurrently on a thread pool (one client per thread and region); the first access problem of
each project is reported, all of them in one message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tierstack.generator.analysis import data_sources_check
from tierstack.generator.analysis.verify.compare import compare, ours
from tierstack.generator.analysis.verify.live import AccessError, Reader, _quiet
from tierstack.generator.analysis.verify.model import (
    LABELLED,
    TITLES,
    Finding,
    Kind,
    Live,
    Report,
    StackExpectation,
    StackReport,
)
from tierstack.generator.core.errors import UserError


def verify(
    stacks: Sequence[StackExpectation],
    reader: Reader,
    extra_regions: Sequence[str] = (),
    workers: int = 16,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Read every resource of every stack back, concurrently, and compare."""
    reports = [StackReport(s.stack, s.environment, s.project, s.region) for s in stacks]
    scanned = {s.stack: sorted({s.region, *(r.region for r in s.resources), *extra_regions}) for s in stacks}
    gets = [(i, r) for i, s in enumerate(stacks) for r in s.resources]
    lists = [(i, kind, region) for i, s in enumerate(stacks) for region in scanned[s.stack] for kind in LABELLED]
    if progress:
        progress(f"reading {len(gets)} resources and {len(lists)} listings in {len(stacks)} stacks...")
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(gets) + len(lists))))
    errors: dict[str, AccessError] = {}
    results: list[Any] = []
    try:
        with _quiet():
            futures: list[Future[Any]] = [
                pool.submit(reader.get, r.kind, r.project, r.region, r.resource_id) for _, r in gets
            ]
            futures += [pool.submit(reader.list, kind, stacks[i].project, region) for i, kind, region in lists]
            for future in futures:
                try:
                    results.append(future.result())
                except AccessError as exc:
                    errors.setdefault(exc.project, exc)
                    results.append(None)
    finally:  # Ctrl-C or a bug: the reads not started yet are dropped, not waited for
        pool.shutdown(wait=False, cancel_futures=True)
    if errors:
        lines = [f"{e.message}\n  hint: {e.hint}" for e in errors.values()]
        raise UserError("verify could not read the live resources:\n" + "\n".join(lines))
    live_by_get = results[: len(gets)]
    live_by_list = results[len(gets) :]
    found: dict[int, list[Live]] = {}
    for (i, _, _), items in zip(lists, live_by_list, strict=True):
        found.setdefault(i, []).extend(items or [])
    for i, s in enumerate(stacks):
        report = reports[i]
        elsewhere = {(x.kind, x.resource_id): x for x in found.get(i, []) if x.region != s.region}
        claimed: set[tuple[Kind, str, str]] = set()
        for (j, expected), live in zip(gets, live_by_get, strict=True):
            if j != i:
                continue
            if live is None:
                other = elsewhere.get((expected.kind, expected.resource_id))
                if other is not None and other.region != expected.region:
                    claimed.add((other.kind, other.resource_id, other.region))
                    report.findings.append(
                        Finding(
                            s.stack,
                            "missing",
                            expected.title,
                            f"not in {expected.region}: found in {other.region} "
                            f"(the stack sets region {expected.region})",
                            expected.address,
                            "region",
                            expected.region,
                            other.region,
                        )
                    )
                else:
                    report.findings.append(
                        Finding(
                            s.stack,
                            "missing",
                            expected.title,
                            f"not found in project {expected.project}, region {expected.region}",
                            expected.address,
                        )
                    )
                continue
            claimed.add((live.kind, live.resource_id, live.region))
            report.checked.append(expected.title)
            report.findings.extend(compare(expected, live, s.stack))
        for item in found.get(i, []):
            if (item.kind, item.resource_id, item.region) in claimed or not ours(
                item.labels, s.use_case, s.environment
            ):
                continue
            report.findings.append(
                Finding(
                    s.stack,
                    "unmanaged",
                    f"{TITLES[item.kind]} {item.resource_id}",
                    f"labelled managed-by=tierstack, use-case={s.use_case} in {item.region}, but no resource of "
                    f"this stack: created by hand, or left behind by an older generation ({item.name})",
                )
            )
        missing = [f for f in report.findings if f.kind == "missing" and f.field is None]
        if s.resources and len(missing) == len(s.resources):
            report.findings.append(
                Finding(
                    s.stack,
                    "note",
                    "stack",
                    f"none of its {len(s.resources)} Vertex AI resources exists: has it been applied? "
                    f"`tierstack apply --env {s.environment}`",
                )
            )
    _check_data_sources(stacks, reports, reader)
    return Report(reports, scanned, reader.requests)


def _check_data_sources(stacks: Sequence[StackExpectation], reports: list[StackReport], reader: Reader) -> None:
    """Each declared data source exists and is fresh (generator/analysis/data_sources_check.py), each read once."""
    if not any(s.data_sources for s in stacks):
        return
    sources = data_sources_check.SourceReader(reader.credentials)
    with _quiet():
        for s, report in zip(stacks, reports, strict=True):
            report.checked += data_sources_check.checked(s.data_sources, sources)
            report.findings += [Finding(**f) for f in data_sources_check.findings(s.stack, s.data_sources, sources)]
    reader.requests += sources.requests
