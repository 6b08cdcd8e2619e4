"""What a page shows beside its stack (`StackDoc`): the use case as every page of its stacks shows it
(`summary`: what explain says, less what depends on where tierstack runs), with the blueprint chain as
the config's folder sees it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StackDoc:
    """What one page shows: the use case (summary()), one environment, its synthesized stack."""

    stack: str
    summary: dict[str, Any]
    environment: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)  # the stack's cdk.tf.json


def summary(resolved: Any, catalog: Any) -> dict[str, Any]:
    """The use case as every page of its stacks shows it: what explain says, less what depends on where
    tierstack runs (a reason names the config's line, not its path; the blueprint chain is seen from the
    config's folder)."""
    from tierstack.generator.output.report import delivery_warnings
    from tierstack.generator.plan.selection import answer_text

    spec, selection = resolved.loaded.spec, resolved.selection
    config = Path(resolved.loaded.path)
    answers = spec.use_case.model_dump()
    answers["accelerator"] = str(spec.use_case.accelerator)
    return {
        "name": spec.name,
        "team": spec.team,
        "description": spec.description,
        "config": config.name,
        "blueprint": blueprint_chain(list(resolved.blueprint.chain), config),
        "tier": selection.tier,
        "tier_name": catalog.tier(selection.tier).name,
        "recommended_tier": selection.recommended_tier,
        "tier_pinned": selection.pinned,
        "answers": {key: None if value is None else answer_text(value) for key, value in answers.items()},
        "capabilities": [
            {
                "id": cap,
                "name": catalog.capability(cap).name,
                "reasons": [
                    {"answer": r.field, "value": answer_text(r.value), "why": r.why, "line": r.line} for r in reasons
                ],
            }
            for cap, reasons in selection.capabilities.items()
        ],
        "not_selected": [cap for cap in catalog.ids if cap not in selection.capabilities],
        "warnings": [*selection.warnings, *delivery_warnings(resolved)],
        "environments": {
            env.stack: {
                "name": env.name,
                "role": env.role,
                "project": env.project,
                "region": env.region,
                "budget_on": bool((env.settings.get("budget") or {}).get("enabled")),
                "budget": dict(env.settings.get("budget") or {}),
            }
            for env in resolved.environments.values()
        },
    }


def blueprint_chain(chain: list[str], config: Path) -> list[str]:
    """The blueprint chain as the config's folder sees it: `tierstack:NAME` for a built-in, a path relative
    to the config for a file (the chain's paths are relative to the working directory)."""
    shown = []
    for name in chain:
        path = Path(name)
        if name.startswith("tierstack:") or not path.is_file():
            shown.append(name)
        else:
            shown.append(Path(os.path.relpath(path.resolve(), config.resolve().parent)).as_posix())
    return shown
