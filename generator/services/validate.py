"""`tierstack validate`: every check that needs no synthesis, every problem found, in about a second.

It loads the config (the spec's types: every field error at once), then
resolves it as `explain` and `generate` do: the contradictions between
answers, the blueprint, the Google Cloud facts (regions, zones, machines and
GPUs, networks, the batch schedule's model and table), the typed settings of every capability in every environment, and
the production guarantees. What only the synthesis sees (the cdktn bindings
take seconds to load) is left to `generate`. The cdktn bindings are never
imported here (tests/test_cli.py checks it).

A stage stops at its own errors, all of them reported: a config that does not
load is not resolved, since every later check reads the loaded values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tierstack.generator.core.errors import ErrorList, UserError


@dataclass
class Validation:
    """What `validate` found for one config."""

    config: Path
    problems: list[UserError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    name: str | None = None
    tier: int | None = None
    stacks: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def validate(config: Path) -> Validation:
    """Load and resolve config; collect the problems and warnings instead of stopping at the first."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.report import delivery_warnings
    from tierstack.generator.plan.resolve import resolve

    result = Validation(config)
    try:
        loaded = load_spec(config)
        plan = resolve(loaded)
    except UserError as err:
        result.problems = flatten(err)
        return result
    result.name = loaded.spec.name
    result.tier = plan.selection.tier
    result.stacks = [env.stack for env in plan.environments.values()]
    result.warnings = [*plan.selection.warnings, *delivery_warnings(plan)]
    return result


def flatten(err: UserError) -> list[UserError]:
    """The single errors of an ErrorList (which may hold lists), in order."""
    if isinstance(err, ErrorList):
        return [single for inner in err.errors for single in flatten(inner)]
    return [err]


def to_data(result: Validation) -> dict[str, Any]:
    """The result for scripts (`--format json`)."""
    return {
        "config": str(result.config),
        "valid": result.valid,
        "problems": [
            {
                "file": None if err.file is None else str(err.file),
                "line": err.line,
                "field": err.field,
                "message": err.message,
                "hint": err.hint,
            }
            for err in result.problems
        ],
        "warnings": result.warnings,
        "name": result.name,
        "tier": result.tier,
        "stacks": result.stacks,
    }


def summary(result: Validation) -> str:
    """One line for people: what was checked and the verdict."""
    if not result.valid:
        count = len(result.problems)
        return f"{result.config}: {count} problem{'s' if count != 1 else ''}; nothing was synthesized"
    stacks = ", ".join(result.stacks)
    return (
        f"{result.config}: valid: {result.name}, tier {result.tier}, {len(result.stacks)} "
        f"stack{'s' if len(result.stacks) != 1 else ''} ({stacks}); checked without synthesis"
    )
