"""Failures on request: the stand-in's first N creates of a resource answer with a Google error.

A fresh project's first apply can fail where Google is eventually consistent (a grant not yet
propagated, a service agent Eventarc has not finished setting up) and succeed when applied again.
The stand-in has no cloud behind it, so a test asks for that behaviour: STANDIN_FAIL_CREATES names a
JSON file

    {"failures": [{"type": "google_eventarc_trigger", "times": 2, "message": "Error creating Trigger: ..."}]}

and each rule answers the first `times` creates of its `type` (whose planned values contain `match`,
when given) with `message` as the provider's error diagnostic; the next create succeeds. How often
each rule has fired is kept beside the file (`<file>.counts`), under a lock: Terraform runs the stand-in
as a new process per command, and google and google-beta as two processes at once. Without the
variable nothing here runs (tests/standin/provider.py checks it first).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENV = "STANDIN_FAIL_CREATES"


def write(path: Path, failures: list[dict[str, Any]]) -> dict[str, str]:
    """Write the rules for a test; the environment variable that points the stand-in at them."""
    path.write_text(json.dumps({"failures": failures}), encoding="utf-8")
    counts(path).unlink(missing_ok=True)
    return {ENV: str(path)}


def counts(path: Path) -> Path:
    return path.with_name(path.name + ".counts")


def fired(path: Path) -> list[int]:
    """How often each rule has failed a create so far (for the tests' assertions)."""
    rules = json.loads(path.read_text(encoding="utf-8"))["failures"]
    seen = json.loads(counts(path).read_text(encoding="utf-8")) if counts(path).exists() else {}
    return [int(seen.get(str(index), 0)) for index in range(len(rules))]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _matches(rule: dict[str, Any], type_name: str, planned: Any) -> bool:
    if rule["type"] != type_name:
        return False
    values = planned if isinstance(planned, dict) else {}
    return all(values.get(key) == value for key, value in (rule.get("match") or {}).items())


def failure(type_name: str, planned: Any) -> str | None:
    """The error this create answers with, counted; None when no rule (or no more of it) applies."""
    path = Path(os.environ[ENV])
    rules = json.loads(path.read_text(encoding="utf-8"))["failures"]
    with _locked(path):
        seen = json.loads(counts(path).read_text(encoding="utf-8")) if counts(path).exists() else {}
        for index, rule in enumerate(rules):
            if _matches(rule, type_name, planned) and int(seen.get(str(index), 0)) < int(rule["times"]):
                seen[str(index)] = int(seen.get(str(index), 0)) + 1
                counts(path).write_text(json.dumps(seen), encoding="utf-8")
                return str(rule["message"])
    return None
