"""The synthesized stack as a page reads it: each managed resource (`Resource`) with the capability its
construct path names, the `${google_x.y}` references between resources, and the name a resource has in
Google Cloud (`google_name` for the resource table, `cloud_name` for a diagram box)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# the attributes that name a resource in Google Cloud, in the order a label prefers them
NAME_KEYS = (
    "account_id",
    "table_id",
    "dataset_id",
    "repository_id",
    "workload_identity_pool_provider_id",
    "workload_identity_pool_id",
    "name",
    "display_name",
    "service",
)
# a resource whose name is inside a JSON argument (a dashboard's `displayName`): type -> (argument, key)
NAME_IN_JSON = {"google_monitoring_dashboard": ("dashboard_json", "displayName")}


# `google_x.y` inside an interpolation; not `data.google_x.y`, not `googleapis.com`
REFERENCE = re.compile(r"(?<![\w.])(google_[a-z0-9_]+)\.([A-Za-z_][A-Za-z0-9_-]*)")
SKIPPED_KEYS = frozenset({"//", "depends_on", "provider", "lifecycle", "count", "for_each"})


@dataclass
class Resource:
    address: str
    type: str
    name: str
    capability: str
    body: dict[str, Any]

    @property
    def labels(self) -> dict[str, str]:
        labels = self.body.get("labels") if self.type != "google_monitoring_notification_channel" else None
        labels = labels if isinstance(labels, dict) else self.body.get("user_labels")
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def stack_resources(stack: dict[str, Any]) -> list[Resource]:
    """Every managed resource of a synthesized stack, with the capability its construct path names."""
    found = []
    for rtype, items in (stack.get("resource") or {}).items():
        for name, body in items.items():
            path = str(((body.get("//") or {}).get("metadata") or {}).get("path") or "")
            parts = path.split("/")
            capability = parts[1] if len(parts) > 2 else "(stack)"
            found.append(Resource(f"{rtype}.{name}", rtype, name, capability, body))
    return found


def references(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(attribute, address) for every `${google_x.y...}` reference in a resource's attributes."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in SKIPPED_KEYS:
                yield from references(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from references(item, key)
    elif isinstance(value, str) and "${" in value:
        for rtype, name in REFERENCE.findall(value):
            yield key, f"{rtype}.{name}"


def google_name(resource: Resource) -> str | None:
    """The argument that names the resource in Google Cloud (`name`, `dataset_id`, `account_id`,
    `display_name`, ...), as the stack writes it; None for a resource Google Cloud gives no name of its own
    (an IAM binding is its resource, role and member)."""
    if resource.type.endswith("_iam_member"):
        return None
    if resource.type in NAME_IN_JSON:
        return _name_in_json(resource)
    for key in NAME_KEYS:
        value = resource.body.get(key)
        if isinstance(value, str) and value and "${" not in value:
            return value
    for key in NAME_KEYS:  # built from another resource's attributes: as written
        value = resource.body.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _name_in_json(resource: Resource) -> str | None:
    """The name inside a JSON argument (a dashboard's displayName), when the argument is JSON that has it."""
    argument, key = NAME_IN_JSON[resource.type]
    try:
        value = json.loads(str(resource.body.get(argument) or "")).get(key)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def cloud_name(resource: Resource) -> str:
    """What names the resource in Google Cloud, when the stack says it plainly; else its Terraform name."""
    if resource.type in NAME_IN_JSON:
        named = _name_in_json(resource)
        return named if named and "${" not in named else resource.name
    for key in NAME_KEYS:
        value = resource.body.get(key)
        if isinstance(value, str) and value and "${" not in value:
            return value
    return resource.name
