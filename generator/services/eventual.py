"""Which failures of `terraform apply` are Google's eventual consistency, and how long to wait for them.

On a fresh project the first apply creates a grant, a service agent or a log-based metric and, seconds
later, a resource that needs it; Google answers that resource with a 403, a 400 or a 404 for some minutes
(generator/data/eventual_consistency.yaml lists each error with where Google says so). Applying again after
a wait succeeds. This module decides, from terraform's output and the reviewed plan, whether a failure is
such a case and how long to wait; generator/services/operate.py waits, plans again and applies.

A failure is retried only when every error terraform reported is a table entry's, on a resource the
reviewed plan creates, that depends (by reference or depends_on, at any depth, in the plan's
configuration) on a resource of the entry's `after` types the same plan creates. The same 403 on a
resource with no fresh grant behind it is a permission the deployer lacks, reported at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

TABLE = "eventual_consistency.yaml"
WAIT_ENV = "TIERSTACK_RETRY_WAIT_SECONDS"  # replaces every wait (tests; a CI that wants longer waits)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BOX = re.compile(r"^[\s│╷╵]+")
_WITH = re.compile(r"^with ((?:module\.[^.\s]+\.)*(?:data\.)?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)(\[[^\]]*\])?,")
_NOT_RESOURCES = frozenset({"var", "local", "module", "path", "count", "each", "self", "terraform"})


@dataclass(frozen=True)
class Entry:
    """One documented eventual consistency: the error, what it waits for, after what, how long."""

    name: str
    error: re.Pattern[str]
    unless: re.Pattern[str] | None
    after: tuple[re.Pattern[str], ...]
    waiting_for: str
    google_says: str
    waits: tuple[float, ...]
    source: str

    def follows(self, resource_type: str) -> bool:
        return any(pattern.search(resource_type) for pattern in self.after)


@dataclass(frozen=True)
class Table:
    entries: tuple[Entry, ...]
    cap_seconds: float


@cache
def table() -> Table:
    """generator/data/eventual_consistency.yaml, compiled."""
    from tierstack.generator.facts.catalog import _data

    data = _data(TABLE)
    entries = tuple(
        Entry(
            name=str(item["name"]),
            error=re.compile(str(item["error"])),
            unless=re.compile(str(item["unless"])) if item.get("unless") else None,
            after=tuple(re.compile(str(pattern)) for pattern in item["after"]),
            waiting_for=str(item["waiting_for"]),
            google_says=str(item["google_says"]),
            waits=tuple(float(wait) for wait in item["waits"]),
            source=str(item["source"]),
        )
        for item in data["entries"]
    )
    return Table(entries, float(data["cap_seconds"]))


# --- terraform's errors --------------------------------------------------------------------------


@dataclass(frozen=True)
class Failed:
    """One error diagnostic of terraform's output: its text and the resource it names (None: none)."""

    text: str
    address: str | None


def diagnostics(output: str) -> list[Failed]:
    """Each 'Error: ...' block of terraform's output, with the address of its `with ADDRESS,` line."""
    blocks: list[list[str]] = []
    for raw in output.splitlines():
        line = _BOX.sub("", _ANSI.sub("", raw)).rstrip()
        if line.startswith("Error:"):
            blocks.append([line])
        elif line.startswith("Warning:"):
            blocks.append([])  # a warning ends the error before it; its lines are not kept
        elif blocks and blocks[-1]:
            blocks[-1].append(line)
    found = []
    for block in filter(None, blocks):
        address = next((m.group(1) for m in map(_WITH.match, block) if m), None)
        found.append(Failed("\n".join(block).strip(), address))
    return found


# --- the reviewed plan ---------------------------------------------------------------------------


def _base(address: str) -> str:
    """A resource address without its instance key: google_x.y[0] -> google_x.y."""
    return re.sub(r"\[[^\]]*\]$", "", address)


def creates(plan: Mapping[str, Any]) -> dict[str, str]:
    """The resources the plan creates (a replacement creates too): address without key -> type."""
    return {
        _base(str(change["address"])): str(change["type"])
        for change in plan.get("resource_changes") or []
        if change.get("mode", "managed") == "managed" and "create" in (change.get("change") or {}).get("actions", [])
    }


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if key == "references" and isinstance(inner, list):
                yield from (str(ref) for ref in inner)
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _resource_of(reference: str) -> str | None:
    """The resource a reference names (google_x.y.attr -> google_x.y, data.t.n.attr -> data.t.n), if any."""
    parts = reference.split(".")
    if parts[0] in _NOT_RESOURCES:
        return None
    if parts[0] == "data":
        return _base(".".join(parts[:3])) if len(parts) >= 3 else None
    return _base(".".join(parts[:2])) if len(parts) >= 2 else None


def dependencies(plan: Mapping[str, Any]) -> dict[str, set[str]]:
    """Each resource of the plan's root module and what it depends on directly (references, depends_on)."""
    resources = ((plan.get("configuration") or {}).get("root_module") or {}).get("resources") or []
    graph: dict[str, set[str]] = {}
    for resource in resources:
        direct = {_resource_of(str(name)) for name in resource.get("depends_on") or []}
        direct |= {_resource_of(ref) for ref in _references(resource.get("expressions") or {})}
        graph[str(resource["address"])] = {name for name in direct if name}
    return graph


def upstream(graph: Mapping[str, set[str]], address: str) -> list[str]:
    """Everything `address` depends on, at any depth: the nearest first (breadth first, by name within a depth)."""
    seen: list[str] = []
    level = sorted(graph.get(address, ()))
    while level:
        seen.extend(level)
        level = sorted({name for item in level for name in graph.get(item, ())} - set(seen) - {address})
    return seen


# --- the decision --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """A failure Google documents: the entry, the resource refused, the fresh resource it waits on."""

    entry: Entry
    address: str
    after: str


def expected(failed: Failed, plan: Mapping[str, Any], entries: Sequence[Entry]) -> Expected | None:
    """The documented case this error is, or None (then it is reported, never retried)."""
    if failed.address is None:
        return None
    created = creates(plan)
    address = _base(failed.address)
    if address not in created:
        return None  # an update or a delete refused: nothing new to wait for
    behind = [name for name in upstream(dependencies(plan), address) if name in created]
    for entry in entries:
        if not entry.error.search(failed.text) or (entry.unless and entry.unless.search(failed.text)):
            continue
        fresh = next((name for name in behind if entry.follows(created[name])), None)
        if fresh is not None:
            return Expected(entry, address, fresh)
    return None


def longest(cases: Sequence[Expected]) -> Entry:
    """The entry whose schedule a wait follows: the longest among the errors'."""
    return max((case.entry for case in cases), key=lambda entry: (len(entry.waits), sum(entry.waits)))


@dataclass(frozen=True)
class Wait:
    """The wait before the next attempt, and why."""

    seconds: float
    attempt: int  # the attempt that follows the wait (2 for the first retry)
    attempts: int  # at most
    cases: tuple[Expected, ...]

    def message(self) -> str:
        entry = longest(self.cases)
        return (
            f"waiting {_seconds(self.seconds)} for {entry.waiting_for} (Google: {entry.google_says}), "
            f"attempt {self.attempt} of {self.attempts}"
        )

    def reasons(self) -> list[str]:
        return [
            f"{case.address} was refused right after {case.after} was created: {case.entry.name} ({case.entry.source})"
            for case in self.cases
        ]


@dataclass(frozen=True)
class Decision:
    """What to do after a failed attempt: wait (then plan and apply again), or stop and say why."""

    wait: Wait | None
    why_not: str  # when there is no wait: why the failure is reported as it is ("" when no case applies)


def decide(output: str, plan: Mapping[str, Any], attempt: int, waited: float, known: Table | None = None) -> Decision:
    """After attempt `attempt` failed with `output`, having waited `waited` seconds so far: wait, or stop."""
    rules = known or table()
    failures = diagnostics(output)
    cases = [expected(failed, plan, rules.entries) for failed in failures]
    if not failures or not any(cases):
        return Decision(None, "")
    unexplained = [failed for failed, case in zip(failures, cases, strict=True) if case is None]
    if unexplained:
        first = unexplained[0]
        where = f" on {first.address}" if first.address else ""
        return Decision(None, f"not retried: an error{where} is not one Google documents as eventually consistent")
    found = tuple(case for case in cases if case is not None)
    schedule = [case.entry.waits for case in found]
    attempts = 1 + max(len(waits) for waits in schedule)
    index = attempt - 1
    planned = [waits[index] for waits in schedule if index < len(waits)]
    if not planned or waited >= rules.cap_seconds:
        entry = longest(found)
        return Decision(
            None,
            f"still refused after {attempt} attempts and {_seconds(waited)} of waiting, longer than Google "
            f"documents for {entry.waiting_for} ({entry.google_says})",
        )
    seconds = min(max(planned), rules.cap_seconds - waited)
    override = os.environ.get(WAIT_ENV)
    if override:
        seconds = _override(override)
    return Decision(Wait(seconds, attempt + 1, attempts, found), "")


def _override(text: str) -> float:
    from tierstack.generator.core.errors import UserError

    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise UserError(
            f"{WAIT_ENV}={text!r} is not a number of seconds between 0 and 3600",
            field=WAIT_ENV,
            hint=f"unset it to wait as generator/data/{TABLE} says, or give seconds, e.g. {WAIT_ENV}=90",
        )
    return seconds


def _seconds(value: float) -> str:
    return f"{value:g} s"


# --- the plan after a partial apply --------------------------------------------------------------


def _actions(plan: Mapping[str, Any]) -> dict[str, tuple[list[str], str | None]]:
    return {
        str(change["address"]): (list(change["change"]["actions"]), change.get("action_reason"))
        for change in plan.get("resource_changes") or []
        if change.get("mode", "managed") == "managed" and change["change"]["actions"] not in (["no-op"], ["read"])
    }


def unreviewed(reviewed: Mapping[str, Any], replanned: Mapping[str, Any]) -> list[str]:
    """The changes of the new plan the reviewed plan did not have: it may only finish what was reviewed.

    Same address, same actions; a create that failed half-way may come back as a replacement of the
    tainted resource (Terraform's `replace_because_tainted`). Values are not compared: after a partial
    apply the values the created resources computed are known, which is the difference expected.
    """
    before = _actions(reviewed)
    out = []
    for address, (actions, reason) in sorted(_actions(replanned).items()):
        was = before.get(address)
        if was is None:
            out.append(f"{address}: {'/'.join(actions)}, not in the reviewed plan")
        elif actions != was[0] and not (was[0] == ["create"] and reason == "replace_because_tainted"):
            out.append(f"{address}: {'/'.join(actions)}, reviewed as {'/'.join(was[0])}")
    return out
