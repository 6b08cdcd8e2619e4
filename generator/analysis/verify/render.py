"""The report as JSON data (`--format json`) and as text."""

from __future__ import annotations

from typing import Any

from tierstack.generator.analysis.verify.model import Report


def to_data(report: Report) -> dict[str, Any]:
    return {
        "ok": not report.differences,
        "differences": len(report.differences),
        "stacks": [
            {
                "stack": s.stack,
                "environment": s.environment,
                "project": s.project,
                "region": s.region,
                "regions_scanned": report.regions_scanned.get(s.stack, []),
                "checked": s.checked,
                "findings": [f.to_data() for f in s.findings],
            }
            for s in report.stacks
        ],
    }


def to_text(report: Report) -> str:
    lines = []
    for s in report.stacks:
        count = len(s.differences)
        verdict = "matches the stack" if not count else f"{count} difference{'s' if count != 1 else ''}"
        lines.append(f"{s.stack} (project {s.project}, {s.region}): {verdict}")
        if s.checked:
            lines.append(f"  read back: {', '.join(s.checked)}")
        for f in s.findings:
            where = f" [{f.address}]" if f.address and f.kind != "note" else ""
            lines.append(f"  {f.kind:<9} {f.resource}: {f.message}{where}")
    total = len(report.differences)
    lines.append(
        f"{len(report.stacks)} stack{'s' if len(report.stacks) != 1 else ''} verified: "
        + ("no differences" if not total else f"{total} difference{'s' if total != 1 else ''}")
    )
    return "\n".join(lines) + "\n"
