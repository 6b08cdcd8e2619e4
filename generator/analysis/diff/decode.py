"""What an encoded argument holds: a base64 value where the Google provider wants base64, or a
`${base64encode(jsonencode(...))}` expression cdktn writes, read with a small reader of the HCL inside, so
the comparison can compare a scheduler job's body or a workflow's source key by key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar

DECODED = "[decoded]"  # `http_target.body[decoded].runtimeConfig.parameterValues.x`
# Arguments the Google provider takes base64-encoded (a Cloud Scheduler job's HTTP or App Engine body, its
# Pub/Sub message): a literal value there is decoded. Elsewhere, only an expression that says it encodes
# (`${base64encode(...)}`, `${jsonencode(...)}`) is, so a name that happens to be valid base64 stays a name.
BASE64_ARGUMENTS = frozenset({"http_target.body", "app_engine_http_target.body", "pubsub_target.data"})


def decode_body(path: str, value: str) -> tuple[Any] | None:
    """What an encoded argument holds, boxed (JSON's null is a value): the parsed JSON, else the decoded text;
    None when `value` is not encoded (not base64 where the provider wants base64, not an encoding expression).

    cdktn writes a body built from references as a Terraform expression (`${base64encode(jsonencode({..}))}`),
    a value it can only evaluate at apply time: the object inside is read as HCL, each reference kept as
    `${google_x.y.attr}`, the way Terraform JSON writes one elsewhere. A value written literally (by another
    tool, or by hand) is plain base64.
    """
    expression = _whole_interpolation(value)
    if expression is not None:
        return _decode_expression(expression)
    if re.sub(r"\[\d+\]", "", path) not in BASE64_ARGUMENTS:
        return None
    text = _base64_text(value)
    return None if text is None else (_json_or_text(text),)


def _base64_text(value: str) -> str | None:
    """The UTF-8 text a strict base64 value encodes (padding required, no stray characters), else None."""
    import base64
    import binascii

    if not value or len(value) % 4:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _json_or_text(text: str) -> Any:
    """The JSON a value encodes, compared as data; text that is not JSON, or JSON nested past what
    fsio lets a file nest (so no walk over it runs out of stack), is compared as text."""
    from tierstack.generator.core.fsio import too_deep

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return text if too_deep(data) else data


def _whole_interpolation(value: str) -> str | None:
    """`X` of a value that is exactly one `${X}` (Terraform evaluates it as an expression), else None."""
    if not (value.startswith("${") and value.endswith("}")):
        return None
    try:
        end = _Hcl(value, 2).skip_expression()
    except _NotHcl:
        return None
    return value[2:end] if end == len(value) - 1 else None


def _decode_expression(expression: str) -> tuple[Any] | None:
    """`base64encode(jsonencode(X))` and `jsonencode(X)`: X; `base64encode("text")`: the text, parsed when it is
    JSON. Any other expression: None (it is compared as written)."""
    match = re.fullmatch(r"\s*(base64encode|jsonencode)\s*\((.*)\)\s*", expression, flags=re.S)
    if match is None:
        return None
    function, argument = match.groups()
    if function == "base64encode":
        inner = re.fullmatch(r"\s*jsonencode\s*\((.*)\)\s*", argument, flags=re.S)
        if inner is None:
            text = _hcl_value(argument)
            return (_json_or_text(text[0]),) if text is not None and isinstance(text[0], str) else None
        argument = inner.group(1)
    return _hcl_value(argument)


def _hcl_value(source: str) -> tuple[Any] | None:
    """One HCL expression as data, or None when it is not one expression (`jsonencode(a), b`)."""
    from tierstack.generator.core.fsio import too_deep

    try:
        parser = _Hcl(source, 0)
        value = parser.value()
        parser.blank()
    except (_NotHcl, RecursionError, ValueError):  # nested past the parser's stack; a number json refuses
        return None
    return (value,) if parser.at == len(source) and not too_deep(value) else None


class _NotHcl(Exception):
    """The text is not the HCL this reader knows: the value is compared as written."""


class _Hcl:
    """A reader of the HCL expressions cdktn writes inside `jsonencode(...)`: objects (`{"k" = v, ...}`),
    tuples, quoted strings (their escapes, `$${` and `%%{` undone; an interpolation kept as `${...}`), numbers,
    true, false, null. Anything else (a reference, a function call, an operation) is kept as `${source}`."""

    CLOSERS: ClassVar[Mapping[str, str]] = {"{": "}", "[": "]", "(": ")"}

    def __init__(self, text: str, at: int) -> None:
        self.text, self.at = text, at

    def blank(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in " \t\r\n":
            self.at += 1

    def peek(self) -> str:
        self.blank()
        return self.text[self.at] if self.at < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _NotHcl(f"expected {char!r} at {self.at}")
        self.at += 1

    def value(self) -> Any:
        char = self.peek()
        if char == "{":
            return self.object()
        if char == "[":
            return self.tuple()
        if char == '"':
            return self.string()
        start = self.at
        end = self.skip_expression()
        source = self.text[start:end].strip()
        if not source:
            raise _NotHcl(f"no value at {start}")
        literals: dict[str, Any] = {"true": True, "false": False, "null": None}
        if source in literals:
            return literals[source]
        if re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", source):
            return json.loads(source)
        return "${" + source + "}"

    def object(self) -> dict[str, Any]:
        self.expect("{")
        found: dict[str, Any] = {}
        while self.peek() != "}":
            if self.peek() == '"':
                key = self.string()
            else:
                match = re.compile(r"[A-Za-z_][\w-]*").match(self.text, self.at)
                if match is None:
                    raise _NotHcl(f"no key at {self.at}")
                key, self.at = match.group(0), match.end()
            if self.peek() not in ("=", ":"):
                raise _NotHcl(f"no '=' after key {key!r}")
            self.at += 1
            found[key] = self.value()
            if self.peek() == ",":
                self.at += 1
        self.expect("}")
        return found

    def tuple(self) -> list[Any]:
        self.expect("[")
        found = []
        while self.peek() != "]":
            found.append(self.value())
            if self.peek() == ",":
                self.at += 1
        self.expect("]")
        return found

    def string(self) -> str:
        """A quoted string: its escapes undone, `$${`/`%%{` as the literal `${`/`%{`, an interpolation as written."""
        self.expect('"')
        out: list[str] = []
        text = self.text
        while self.at < len(text):
            char = text[self.at]
            if char == '"':
                self.at += 1
                return "".join(out)
            if char == "\\":
                out.append(self._escape())
            elif text.startswith(("$${", "%%{"), self.at):
                out.append(char + "{")
                self.at += 3
            elif text.startswith(("${", "%{"), self.at):
                start = self.at
                self.at = self._closing(self.at + 1) + 1
                out.append(text[start : self.at])
            else:
                out.append(char)
                self.at += 1
        raise _NotHcl("a string that does not end")

    ESCAPES: ClassVar[Mapping[str, str]] = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}

    def _escape(self) -> str:
        code = self.text[self.at + 1 : self.at + 2]
        if code in self.ESCAPES:
            self.at += 2
            return self.ESCAPES[code]
        for letter, width in (("u", 4), ("U", 8)):
            digits = self.text[self.at + 2 : self.at + 2 + width]
            if code == letter and re.fullmatch(f"[0-9A-Fa-f]{{{width}}}", digits):
                self.at += 2 + width
                return chr(int(digits, 16))
        raise _NotHcl(f"an escape HCL does not have at {self.at}")

    def _closing(self, at: int) -> int:
        """The index of the bracket that closes the one at `at`, strings inside skipped."""
        depth, text = 0, self.text
        while at < len(text):
            char = text[at]
            if char == '"':
                self.at = at
                self.string()
                at = self.at
                continue
            if char in self.CLOSERS:
                depth += 1
            elif char in "}])":
                depth -= 1
                if depth == 0:
                    return at
            at += 1
        raise _NotHcl("a bracket that does not close")

    def skip_expression(self) -> int:
        """The end of the expression starting here: the first `,` or closing bracket outside brackets and strings."""
        text = self.text
        while self.at < len(text):
            char = text[self.at]
            if char == '"':
                self.string()
            elif char in self.CLOSERS:
                self.at = self._closing(self.at) + 1
            elif char in ",}])":
                return self.at
            else:
                self.at += 1
        return self.at
