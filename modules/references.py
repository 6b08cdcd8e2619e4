"""Attribute references written in Python: `resource.email` without a round trip to Node.

A provider binding's string attribute (`ServiceAccount.email`, `BigqueryDataset.dataset_id`) asks jsii for a
token, which cdktn renders as `${<type>.<name>.<attribute>}` when it synthesizes. tierstack knows every
resource's address when it makes it (CapabilityModule.place), so during a synthesis with late edits
(generator/synth/stacks.py) the getter returns that text directly: a fifth of a stack's jsii requests.

What Python writes must be what cdktn would have written. It is for the places cdktn copies a string through
unchanged (an argument, an output); where cdktn reads the string as a token (Fn.jsonencode and
Token.is_unresolved, see `as_tokens`), the reference is asked of jsii after all. The jsii path stays the
judge: tests/test_late_dependencies.py synthesizes both ways and compares the bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

# id(resource) -> (the resource, its address `type.name` or `data.type.name`); the resource is held so that
# its id is not reused while the session lasts
_addressed: dict[int, tuple[Any, str]] = {}
# the reference text handed out -> how to ask jsii for its token, where one is needed (as_tokens)
_handed_out: dict[str, Callable[[], str]] = {}
_attributes: dict[tuple[type, str], str | None] = {}  # (binding class, jsii property) -> attribute, or None
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_jsii_get: list[Callable[[Any, str], Any]] = []  # jsii's own getter while a session is open


@contextmanager
def session() -> Iterator[None]:
    """Within it, the string attributes of addressed resources are read in Python (then forgotten)."""
    import jsii

    original = jsii.get

    def get(obj: Any, prop: str) -> Any:
        held = _addressed.get(id(obj))
        attribute = _attribute(type(obj), prop) if held is not None else None
        if held is None or attribute is None:
            return original(obj, prop)
        return _hand_out(held[1], attribute, lambda: str(original(obj, prop)))

    jsii.get = get
    _jsii_get.append(original)
    try:
        yield
    finally:
        jsii.get = original
        _jsii_get.clear()
        _addressed.clear()
        _handed_out.clear()


def address(resource: Any, terraform_address: str) -> None:
    """Record a resource's address (`type.name`, `data.type.name`) for the session, if one is open."""
    if _jsii_get:
        _addressed[id(resource)] = (resource, terraform_address)


def string_attribute(resource: Any, attribute: str) -> str:
    """`resource.get_string_attribute(attribute)`: for a resource without a binding of its own (google-beta,
    modules/beta.py), written in Python within a session like the bindings' properties."""
    held = _addressed.get(id(resource))
    if held is None:
        return str(resource.get_string_attribute(attribute))
    return _hand_out(held[1], attribute, lambda: str(resource.get_string_attribute(attribute)))


def _hand_out(terraform_address: str, attribute: str, token: Callable[[], str]) -> str:
    """The reference text cdktn would render, remembered with how to get its token (the latest wins: the
    same address is in every environment's stack, and the one being built asks)."""
    text = "${" + terraform_address + "." + attribute + "}"
    _handed_out[text] = token
    return text


def _attribute(cls: type, prop: str) -> str | None:
    """The Terraform attribute a binding's own string property reads (`datasetId` -> `dataset_id`), or None
    for anything else: inherited properties (fqn, friendlyUniqueId), raw inputs (`nameInput`), non-strings."""
    key = (cls, prop)
    if key not in _attributes:
        found = None
        for klass in cls.__mro__:
            member = klass.__dict__.get(_snake(prop))
            if isinstance(member, property) and klass.__module__.startswith("cdktn_provider_google"):
                returns = getattr(member.fget, "__annotations__", {}).get("return")
                if returns in ("builtins.str", str) and not prop.endswith("Input"):
                    found = _snake(prop)
                break
        _attributes[key] = found
    return _attributes[key]


def _snake(prop: str) -> str:
    """`datasetId` -> `dataset_id`: jsii's Python name of a property, and the Terraform attribute it reads."""
    return _CAMEL.sub("_", prop).lower()


# cdktn's STRING_TOKEN_REGEX (lib/tokens/private/encoding.js): what Token.is_unresolved looks for in a string
_STRING_TOKEN = re.compile(r"\$\{TfToken\[[a-zA-Z0-9:._-]+\]\}")


def is_unresolved(text: str) -> bool:
    """cdktn's Token.is_unresolved for a string, without the round trip: whether it holds a string token."""
    return _STRING_TOKEN.search(text) is not None


def as_tokens(value: str) -> str:
    """`value` with each reference handed out in Python replaced by jsii's token for it, for the places
    cdktn reads a string as a token (Fn.jsonencode's arguments, Token.is_unresolved)."""
    if "${" not in value or not _handed_out:
        return value
    for text, token in _handed_out.items():
        if text in value:
            value = value.replace(text, token())
    return value
