"""The report as JSON-ready data for `--format json`: per stack its counts, resources and settings changed, an
absent before or after left out.
"""

from __future__ import annotations

from typing import Any

from tierstack.generator.analysis.diff.model import ABSENT, AttributeChange, Report, ResourceChange


def to_data(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (an absent before/after is left out)."""

    def attr(a: AttributeChange) -> dict[str, Any]:
        data: dict[str, Any] = {"path": a.path}
        if a.before is not ABSENT:
            data["before"] = a.before
        if a.after is not ABSENT:
            data["after"] = a.after
        if a.ignored:
            data["ignored"] = True
        return data

    def resource(r: ResourceChange) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": r.kind,
            "address": r.address,
            "type": r.type,
            "capability": r.capability,
            "identity": r.identity,
            "stateful": r.stateful,
            "replaced": r.replaced,
        }
        if r.previous_address:
            data["previous_address"] = r.previous_address
            data["moved_block"] = r.declared
        if r.kind == "removed":
            data["removed_block"] = r.declared
        data["data_at_risk"] = r.at_risk
        data["attributes"] = [attr(a) for a in r.attributes]
        return data

    return {
        "base": report.base,
        "head": report.head,
        "changed": report.changed,
        "data_at_risk": [
            {"stack": r.stack, "address": r.address, "type": r.type, "reason": r.at_risk} for r in report.at_risk
        ],
        "stacks": [
            {
                "name": s.name,
                "status": s.status,
                "counts": {
                    "added": s.count("added"),
                    "removed": s.count("removed"),
                    "changed": s.count("changed"),
                    "replaced": s.replaced,
                    "renamed": s.count("renamed"),
                },
                "resources": [resource(r) for r in s.resources],
                "settings": [attr(a) for a in s.blocks],
            }
            for s in report.stacks
        ],
    }
