"""Reading a plan: `terraform show -json` output, bounded, checked to be a plan tierstack can read."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

from tierstack.generator.core.errors import UserError
from tierstack.generator.facts.terraform import MIN_TERRAFORM_TEXT

MIN_FORMAT = (1, 2)  # plan JSON format written by Terraform 1.6+ (and OpenTofu 1.7+); `removed` needs 1.7
AGAIN = f"plan again with Terraform {MIN_TERRAFORM_TEXT} or newer (or OpenTofu {MIN_TERRAFORM_TEXT} or newer)"


# A plan of 10,000 resource changes is tens of MB; this leaves room and still bounds the memory json takes
MAX_PLAN_BYTES = 256 * 1024 * 1024


# Characters of JSON from which the parsed plan is kept out of the cyclic garbage collector's way (_loads):
# some 2,500 resource changes, over 50,000 containers
LARGE_PLAN = 4 * 1024 * 1024


PLAN_TOO_LARGE = "review one stack's plan per file (terraform show -json in each stack directory)"


PLAN_HINT = (  # the names `tierstack plan` saves, which the .gitignore generate writes keeps out of git
    "`tierstack plan` saves each stack's plan as JSON, <stack>.tfplan.json; by hand: terraform plan "
    "-out=STACK.tfplan && terraform show -json STACK.tfplan > STACK.tfplan.json"
)


def load_plan(source: str) -> dict[str, Any]:
    """Read and check a plan file (`-`: standard input); every failure is a UserError naming the file."""
    from tierstack.generator.core import fsio  # the one bounded reader: a FIFO, /dev/zero, a sparse 4 GB file refused

    if source == "-":
        raw = fsio.read_stdin_bounded("plan", MAX_PLAN_BYTES, limit_of="a plan", too_large_hint=PLAN_TOO_LARGE)
        source = "<stdin>"
    else:
        try:
            raw = fsio.read_bytes_bounded(
                Path(source), "plan", MAX_PLAN_BYTES, limit_of="a plan", too_large_hint=PLAN_TOO_LARGE
            )
        except fsio.Unreadable as err:
            hint = PLAN_HINT if err.reason in ("not found", "is a directory, not a file") else err.hint
            if "pipe" in err.reason:  # `review <(terraform show -json ...)` too: a pipe is read from stdin
                hint = "pipe the plan into standard input: terraform show -json plan.tfplan | tierstack review -"
            reason = "no such file" if err.reason == "not found" else f"the plan {err.reason}"
            raise UserError(reason, file=source, hint=hint) from None
    if raw.startswith(b"PK\x03\x04"):
        raise UserError(
            "this is Terraform's binary plan file; review reads its JSON",
            file=source,
            hint=f"convert it: terraform show -json {source} > {Path(source).name.removesuffix('.tfplan')}.tfplan.json",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"this is not UTF-8 text (byte {exc.start})", file=source, hint=PLAN_HINT) from None
    return parse_plan(text, source)


def parse_plan(text: str, source: str) -> dict[str, Any]:
    """The JSON document of a plan file's text, or a UserError naming the file and what to do."""
    if not text.strip():
        raise UserError("the file is empty", file=source, hint=PLAN_HINT)
    try:
        data = _loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        if exc.pos >= len(text.rstrip()):
            problem = f"the JSON ends before it is complete ({where}): the file looks truncated"
        elif text.lstrip()[:1] not in ("{", "["):
            problem = "this is not JSON (is it the text of `terraform plan` or `terraform show`?)"
        else:
            problem = f"this is not valid JSON ({exc.msg} at {where})"
        raise UserError(problem, file=source, hint=PLAN_HINT) from None
    except RecursionError:
        raise UserError("the JSON nests too deeply to be a Terraform plan", file=source, hint=PLAN_HINT) from None
    return read_plan(data, source)


def _loads(text: str) -> Any:
    """json.loads; for a large plan, without the cyclic garbage collector walking it again and again.

    A plan of 10,000 changes parses into some 200,000 dicts and lists. Each full collection walks every one
    of them, and the parse itself and the review after it allocate enough to trigger several: half the parse
    time, measured (bench/review_bench.py). A plan holds no reference cycles (it is JSON), so the collector
    has nothing to find in it: the parse runs with the collector paused, and gc.freeze() then moves what
    exists into the permanent generation, which later collections skip. Reference counting still frees the
    plan when it is dropped; only a reference cycle alive at that moment (none is made by the review) would
    wait for gc.unfreeze(). Small plans are parsed as they are: there the walks cost nothing worth it.
    """
    if len(text) < LARGE_PLAN:
        return json.loads(text)
    enabled = gc.isenabled()
    gc.disable()
    try:
        data = json.loads(text)
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return data


def read_plan(data: Any, source: str) -> dict[str, Any]:
    """The plan, checked: a JSON object from `terraform show -json PLANFILE` in a format tierstack reads."""
    if not isinstance(data, dict):
        raise UserError(
            "this JSON is not a Terraform plan (the top level is not an object)", file=source, hint=PLAN_HINT
        )
    if {"lineage", "serial"} <= data.keys() or ("values" in data and "planned_values" not in data):
        raise UserError(
            "this is a Terraform state, not a plan",
            file=source,
            hint="review reads what a change would do: " + PLAN_HINT.removeprefix("write the plan as JSON with: "),
        )
    if "format_version" not in data or not ({"planned_values", "resource_changes"} & data.keys()):
        raise UserError(
            "this JSON is not a Terraform plan (it has no format_version and planned_values)",
            file=source,
            hint=PLAN_HINT,
        )
    version = _version(data["format_version"])
    written_by = f" (written by Terraform {data['terraform_version']})" if data.get("terraform_version") else ""
    if version is None:
        raise UserError(f"plan format_version {data['format_version']!r} is not a version", file=source, hint=PLAN_HINT)
    if version[0] != MIN_FORMAT[0] or version < MIN_FORMAT:
        newer = version[0] > MIN_FORMAT[0]
        raise UserError(
            f"plan JSON format {data['format_version']}{written_by} is "
            + (
                "newer than tierstack knows"
                if newer
                else f"older than {MIN_FORMAT[0]}.{MIN_FORMAT[1]}, the oldest tierstack reads"
            ),
            file=source,
            hint="upgrade tierstack" if newer else f"{AGAIN}, then terraform show -json",
        )
    for key in ("resource_changes", "resource_drift", "relevant_attributes"):
        if not isinstance(data.get(key, []), list):
            raise UserError(f"'{key}' is not a list: this plan JSON is damaged", file=source, hint=PLAN_HINT)
    if not isinstance(data.get("output_changes", {}), dict):
        raise UserError("'output_changes' is not an object: this plan JSON is damaged", file=source, hint=PLAN_HINT)
    for key in ("resource_changes", "resource_drift"):
        for i, change in enumerate(data.get(key, [])):
            if not (
                isinstance(change, dict)
                and isinstance(change.get("address"), str)
                and isinstance(change.get("type"), str)
                and isinstance(change.get("change"), dict)
                and isinstance(change["change"].get("actions"), list)
            ):
                raise UserError(
                    f"{key}[{i}] has no address, type or actions: this plan JSON is damaged",
                    file=source,
                    hint=PLAN_HINT,
                )
            actions = change["change"]["actions"]
            if actions not in ACTION_LISTS:
                raise UserError(
                    f"{key}[{i}].change.actions is {json.dumps(actions)} ({change['address']}), an action list "
                    "Terraform does not write: this plan JSON is damaged or not from Terraform",
                    file=source,
                    hint=PLAN_HINT,
                )
    return data


# Every action list `terraform show -json` writes (Terraform's JSON output format, "Change Representation"):
# anything else is a damaged file, refused before it is counted.
ACTION_LISTS: tuple[list[str], ...] = (
    ["no-op"],
    ["create"],
    ["read"],
    ["update"],
    ["delete", "create"],
    ["create", "delete"],
    ["delete"],
    ["forget"],
    ["create", "forget"],
)


def _version(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return None
