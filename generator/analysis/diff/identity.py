"""A resource's identity, what names it in Google Cloud (IDENTITY_KEYS: its naming arguments and the scope
they are named in), with references resolved through the identity of what they point to; a type without a
naming argument is identified by its whole body. Renames are found by identity, replacements by a change
of it at one address.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from tierstack.generator.analysis.diff.model import Resource, Stack

# The arguments that name a resource in Google Cloud, and the scope it is named in. Types without any
# naming argument (alert policies, budgets, notification channels, TensorBoards get ids from Google)
# are identified by their whole body: the same body at a new address is the same resource moved.
NAME_KEYS: tuple[str, ...] = (
    "name",
    "bucket",
    "dataset_id",
    "table_id",
    "account_id",
    "repository_id",
    "repository",
    "workload_identity_pool_id",
    "workload_identity_pool_provider_id",
    "key_ring",
    "crypto_key_id",
    "service_account_id",
    "feature_online_store",
    "topic",
    "service",
    "role",
    "member",
)
SCOPE_KEYS: tuple[str, ...] = ("project", "location", "region", "zone")
IDENTITY_KEYS: tuple[str, ...] = NAME_KEYS + SCOPE_KEYS
_CASELESS = frozenset({"location", "region", "zone"})  # `EUROPE-WEST4` is `europe-west4` to Google
# Not part of a whole-body identity: meta-arguments that name other addresses or Terraform's behaviour
_META = frozenset({"depends_on", "lifecycle", "provider", "count", "for_each"})


# `${google_storage_bucket.model_training_artifacts_bucket.name}` and `depends_on` entries: type.name
_ADDRESS = re.compile(
    r"(?<![\w.-])(google[a-z0-9_]*|terraform_data|null_resource|random_[a-z0-9_]+)\.([A-Za-z_][\w-]*)"
)
_REFERENCE = re.compile(_ADDRESS.pattern + r"(?:\.([a-z_][a-z0-9_]*))?")  # and the attribute read, if any


class _Identities:
    """The identity of each resource of one stack, references resolved through what they point to.

    `whole` (for finding renames): a type without a naming argument is identified by its whole body.
    Otherwise (for finding replacements at one address): by its identity arguments alone, the scope
    for such a type, since Google Cloud names it itself and a label change replaces nothing.
    """

    def __init__(self, stack: Stack, whole: bool) -> None:
        self.stack = stack
        self.whole = whole
        self.done: dict[str, str] = {}
        self.visiting: set[str] = set()

    def of(self, address: str) -> str:
        if address not in self.done:
            resource = self.stack.resources[address]
            self.visiting.add(address)
            named = [k for k in NAME_KEYS if k in resource.body]
            if named or not self.whole:
                parts = {k: self._value(k, resource.body[k]) for k in IDENTITY_KEYS if k in resource.body}
            else:
                parts = {k: self._value(k, v) for k, v in resource.body.items() if k not in _META}
            self.visiting.discard(address)
            self.done[address] = resource.type + json.dumps(parts, sort_keys=True, separators=(",", ":"))
        return self.done[address]

    def _value(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            resolved = _REFERENCE.sub(self._reference, value) if "${" in value else value
            return resolved.lower() if key in _CASELESS else resolved
        if isinstance(value, Mapping):
            return {k: self._value(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._value(key, v) for v in value]
        return value

    def _reference(self, match: re.Match[str]) -> str:
        """A literal the reference reads (a bucket's `name`), else what it points to, by identity."""
        address, attribute = f"{match.group(1)}.{match.group(2)}", match.group(3)
        if address not in self.stack.resources or address in self.visiting:
            return match.group(0)
        target = self.stack.resources[address]
        literal = target.body.get(attribute) if attribute else None
        if isinstance(literal, str):
            self.visiting.add(address)
            try:
                return str(self._value(attribute or "", literal))
            finally:
                self.visiting.discard(address)
        return f"{match.group(1)}<{self.of(address)}>" + (f".{attribute}" if attribute else "")


def identity_label(resource: Resource) -> str:
    """What names a resource in Google Cloud, for people: `name=x, location=y` (literal values only)."""
    parts = [
        f"{k}={resource.body[k]}"
        for k in IDENTITY_KEYS
        if isinstance(resource.body.get(k), str) and "${" not in resource.body[k]
    ]
    return ", ".join(parts)
