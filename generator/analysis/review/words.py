"""Terraform's actions and reasons in words, shared by the Markdown and the text renderings."""

from __future__ import annotations

from collections.abc import Sequence

from tierstack.generator.analysis.review.model import Change

REASONS = {  # action_reason -> words (internal/command/jsonplan)
    "replace_because_cannot_update": "an argument cannot be updated in place",
    "replace_because_tainted": "the object is tainted",
    "replace_by_request": "replacement requested (-replace)",
    "replace_by_triggers": "replace_triggered_by changed",
    "delete_because_no_resource_config": "no longer in the configuration",
    "delete_because_wrong_repetition": "count/for_each changed how the resource repeats",
    "delete_because_count_index": "its count index is out of range",
    "delete_because_each_key": "its for_each key is gone",
    "delete_because_no_module": "its module is gone",
    "delete_because_no_move_target": "the target of its moved block is not in the configuration",
}


ACTION_WORDS = {
    "create": "create",
    "update": "update in place",
    "replace": "replace",
    "delete": "destroy",
    "forget": "forget (leaves state, not destroyed)",
    "create-forget": "replace, old object kept (forgotten)",
    "no-op": "no change",
}


def action_kind(actions: Sequence[str]) -> str:
    key = tuple(actions)
    if key in (("delete", "create"), ("create", "delete")):
        return "replace"
    if key in (("create", "forget"), ("forget", "create")):
        return "create-forget"
    if len(key) == 1 and key[0] in ("create", "update", "delete", "forget", "no-op", "read"):
        return key[0]
    return "+".join(key) or "no-op"


def change_words(change: Change) -> str:
    return action_words(change.actions)


def action_words(actions: Sequence[str]) -> str:
    """A change's actions in words: 'replace (destroy, then create)', 'update in place'..."""
    kind = action_kind(actions)
    if kind == "replace":
        order = "destroy, then create" if actions[0] == "delete" else "create, then destroy"
        return f"replace ({order})"
    return ACTION_WORDS.get(kind, kind)


def reason_words(change: Change) -> str:
    if change.action_reason is None:
        return ""
    return REASONS.get(change.action_reason, change.action_reason)


def detail_action(change: Change) -> str:
    parts = [] if change.kind == "no-op" else [change_words(change)]
    if change.moved:
        parts.append(f"moved from {change.previous_address}")
    if change.import_id is not None:
        parts.append(f"imported from {change.import_id}")
    if change.action_reason:
        parts.append(f"because {reason_words(change)}")
    return ", ".join(parts)
