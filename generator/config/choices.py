"""The spec's closed choices and the output formats: one definition each.

generator/config/spec.py types the spec's fields with these; `tierstack init`, the
rules table, the blueprint loader and the CLI list them with `choices()`.
Only `typing` is imported, so the CLI can build its options (`tierstack --help`)
without loading pydantic.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

Stage = Literal["research", "production"]
Retraining = Literal["none", "on_degradation", "scheduled"]
# on_degradation: "manual" (monitoring tells the owners, who retrain) or "automatic" (the alert starts a pipeline)
RetrainingTrigger = Literal["manual", "automatic"]
CodeChanges = Literal["rare", "frequent"]
Serving = Literal["none", "batch", "online"]
ServingClass = Literal["experimental", "production"]
Role = Literal["development", "staging", "production"]
Format = Literal["text", "json", "yaml"]


def choices(literal: Any) -> tuple[str, ...]:
    """The values of a Literal type, in order."""
    return tuple(get_args(literal))


FORMATS = choices(Format)
# the questionnaire's answers with closed choices: use_case field -> its values
ANSWER_CHOICES: dict[str, tuple[str, ...]] = {
    "stage": choices(Stage),
    "retraining": choices(Retraining),
    "retraining_trigger": choices(RetrainingTrigger),
    "code_changes": choices(CodeChanges),
    "serving": choices(Serving),
}
