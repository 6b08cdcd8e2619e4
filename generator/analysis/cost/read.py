"""What is priced, read from what Terraform is given: the managed resources of a synthesized `cdk.tf.json` or
of a `terraform show -json` plan (its planned values, or one side of each resource change), each with the
capability that owns it, and the default region for a resource that names none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tierstack.generator.analysis.cost.model import Resource
from tierstack.modules import base


def _block(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        value = value[0] if value else {}
    return value if isinstance(value, dict) else {}


def capability_of(address: str, values: Mapping[str, Any], known: Iterable[str] | None = None) -> str:
    """A resource's capability: its `capability` label, its construct path, else its name's prefix among
    `known` (default: every registered capability, which imports them all)."""
    labels = values.get("labels") if isinstance(values.get("labels"), Mapping) else {}
    if labels and labels.get("capability"):
        return str(labels["capability"])
    path = _block(values.get("//")).get("metadata", {}).get("path") if "//" in values else None
    if isinstance(path, str) and path.count("/") >= 2:
        return path.split("/")[1]
    logical = address.split(".")[-1]
    return base.capability_of(logical, known) or "other"


def stack_resources(data: Mapping[str, Any]) -> list[Resource]:
    """The managed resources of a cdk.tf.json."""
    out = []
    for tf_type, bodies in sorted((data.get("resource") or {}).items()):
        for name, body in sorted(bodies.items()):
            address = f"{tf_type}.{name}"
            out.append(Resource(address, tf_type, body, capability_of(address, body)))
    return out


def default_region(data: Mapping[str, Any]) -> str:
    providers = (data.get("provider") or {}).get("google") or [{}]
    first = providers[0] if isinstance(providers, list) else providers
    return str(first.get("region") or "")


def _plan_region(plan: Mapping[str, Any]) -> str:
    providers = ((plan.get("configuration") or {}).get("provider_config")) or {}
    for name in ("google", "google-beta"):
        region = (((providers.get(name) or {}).get("expressions") or {}).get("region") or {}).get("constant_value")
        if region:
            return str(region)
    return ""


def _planned_resources(plan: Mapping[str, Any]) -> list[Resource]:
    """The managed resources of a plan's planned_values (root module and child modules)."""
    out: list[Resource] = []
    known = _plan_capabilities(plan)

    def walk(module: Mapping[str, Any]) -> None:
        for r in module.get("resources") or []:
            if r.get("mode", "managed") == "managed":
                values = r.get("values") or {}
                out.append(Resource(r["address"], r["type"], values, capability_of(r["address"], values, known)))
        for child in module.get("child_modules") or []:
            walk(child)

    walk(((plan.get("planned_values") or {}).get("root_module")) or {})
    return out


def _changed_resources(plan: Mapping[str, Any], side: str) -> list[Resource]:
    """The resources of a plan's resource_changes as they are before or after it."""
    out = []
    known = _plan_capabilities(plan)
    for change in plan.get("resource_changes") or []:
        if change.get("mode", "managed") != "managed":
            continue
        values = (change.get("change") or {}).get(side)
        if isinstance(values, Mapping):
            address = change["address"]
            out.append(Resource(address, change["type"], values, capability_of(address, values, known)))
    return out


def _plan_capabilities(plan: Mapping[str, Any]) -> frozenset[str]:
    """The built-in capability ids and those the plan's resources are labelled with (a plugin's): what a
    resource name can start with, known without importing every capability module (half a second)."""
    from tierstack.generator.analysis.review import capabilities_in
    from tierstack.modules import BUILT_IN

    return capabilities_in(plan) | frozenset(BUILT_IN)
