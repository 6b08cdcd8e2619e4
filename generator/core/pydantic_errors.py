"""Pydantic's validation errors, retold for the person who wrote the file.

Each error keeps its data (location, kind, input) until the end and is then
formatted once: the file and line (from the YAML document), the field, a message
in plain words and, where it helps, a hint (did you mean, the valid keys, what
to write for a required field). As click keeps an error's data and formats it last.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tierstack.generator.core.errors import ErrorList, UserError, did_you_mean, one_of
from tierstack.generator.core.yamlio import document_key, line_of


def retell(
    exc: ValidationError, path: Path, doc: Any, model: type[BaseModel], required_hints: dict[str, str]
) -> UserError:
    """One UserError (or an ErrorList) for a validation of `model` from the document at `path`."""
    errors: list[UserError] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors(include_url=False):
        loc = user_loc(err["loc"], doc)
        if loc in seen:  # a union reports one problem per member; one is enough
            continue
        seen.add(loc)
        errors.append(_one_error(err, loc, path, doc, model, required_hints))
    return errors[0] if len(errors) == 1 else ErrorList(errors)


VALUE_ERROR_PREFIX = "Value error, "  # what pydantic puts before a validator's ValueError text


def validator_message(item: Mapping[str, Any]) -> str:
    """What a validator said (its ValueError's text), without pydantic's prefix."""
    return str(item["msg"]).removeprefix(VALUE_ERROR_PREFIX)


def described(item: Mapping[str, Any]) -> str:
    """pydantic's message for a type or constraint error in plain words: a lower-case start, the value given."""
    text = validator_message(item)
    if text[1:2].islower():
        text = text[0].lower() + text[1:]
    given = item.get("input")
    return f"{text} (got {given!r})" if _short(given) and repr(given) not in text else text


def user_loc(loc: tuple[Any, ...], doc: Any) -> tuple[Any, ...]:
    """pydantic's location without its own tags, as the document writes it.

    pydantic puts union-member and validator tags in a location ('function-after[check(), str]', 'str',
    '[git]', '[key]'). A part is the user's when the document has that key (or index) where the location
    has got to, whatever it looks like: a key `a[0]:` or `str:` is the user's. Past the document (a
    missing field, an unknown key's name), a part that looks like a tag is one.
    """
    out: list[Any] = []
    node: Any = doc
    for part in loc:
        if isinstance(node, dict):
            written = document_key(node, part)
            if written is not None:
                out.append(part)
                node = node[written]
                continue
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
            continue
        if not _is_tag(part):
            out.append(part)
            node = None
    return tuple(out)


def _is_tag(part: Any) -> bool:
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "bool"))


def _one_error(
    err: Any, loc: tuple[Any, ...], path: Path, doc: Any, model: type[BaseModel], required_hints: dict[str, str]
) -> UserError:
    field = ".".join(str(p) for p in loc) or None
    line = line_of(doc, loc)
    kind = err["type"]
    given = err.get("input")
    hint = None
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed) or ("valid keys here: " + ", ".join(allowed) if allowed else None)
        message = f"unknown key '{loc[-1]}'"
    elif kind == "missing":
        message = "this field is required"
        hint = required_hints.get(field or "") or required_hints.get(_in_any_item(loc))
    elif kind == "literal_error":
        expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        hint = did_you_mean(str(given), expected) or one_of(expected)
        message = f"'{given}' is not allowed here"
    elif kind == "value_error":
        message = validator_message(err)
        if not loc:
            field, line = _field_named_in(message), None
            if field:
                line = line_of(doc, tuple(field.split(".")))
    else:
        message = described(err)
    return UserError(message, file=path, line=line, field=field, hint=hint)


def _in_any_item(loc: tuple[Any, ...]) -> str:
    """`waivers.0.environments` as REQUIRED_HINTS names it for every item: `waivers[].environments`."""
    out = ""
    for part in loc:
        out += "[]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and len(repr(value)) < 60


def _field_named_in(message: str) -> str | None:
    match = re.match(r"^([a-z_]+(?:\.[a-z_]+)+) ", message)
    return match.group(1) if match else None


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model found at `loc` inside `model` (for did-you-mean)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """Optional[X] -> X; leaves other types alone."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp
