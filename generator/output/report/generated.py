"""What a plan generates, read from its synthesized stacks: explain synthesizes the plan as generate does
(`synthesized_stacks`), counts each capability's resources by type (`resource_counts`, the owner read
from each resource's name) and writes one line per type and environment; STACK_LINES adds what a
capability provides that is not a resource (cost labels, SLOs, data sources, the golden set)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tierstack.generator.core.fsio import MAX_JSON_BYTES, read_bytes_bounded
from tierstack.generator.plan.resolve import Resolved
from tierstack.generator.synth.stacks import STACK_FILE
from tierstack.modules import base, serving_slos

#
# A capability's `provisions` declaration says what it *can* create; what a plan creates depends on
# its settings (no billing account, no budget; no alert_email, no channel). explain synthesizes the
# plan as generate does and reports, per capability and environment, the resources the stacks hold
# (counted by address, `<type>.<capability>_<name>`, see modules/base.py). For what a capability can
# provision and this plan does not, the table below says which resource shows it and how to read the
# reason from the resolved settings (never from the declared text).

NO_CAPABILITY = "(no capability)"


def synthesized_stacks(resolved: Resolved) -> dict[str, dict[str, Any]]:
    """Each environment's cdk.tf.json as generate writes it, synthesized into a temporary directory."""
    from tierstack.generator.synth.stacks import synthesize

    with tempfile.TemporaryDirectory(prefix="tierstack-explain-") as tmp:
        synthesize(resolved, Path(tmp))
        stacks = Path(tmp) / "stacks"
        return {
            env.name: json.loads(read_bytes_bounded(stacks / env.stack / STACK_FILE, STACK_FILE, MAX_JSON_BYTES))
            for env in resolved.environments.values()
        }


def owner(name: str, capability_ids: Iterable[str]) -> str | None:
    """The capability a resource belongs to, by its name (`<capability>_<construct id>`): the longest id."""
    return base.capability_of(name, capability_ids)


def resource_counts(stack: Mapping[str, Any], capability_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """capability -> Terraform resource type -> how many of them a stack manages (data sources left out)."""
    ids = tuple(capability_ids)
    counts: dict[str, dict[str, int]] = {}
    for tf_type, bodies in sorted((stack.get("resource") or {}).items()):
        for name in bodies:
            by_type = counts.setdefault(owner(name, ids) or NO_CAPABILITY, {})
            by_type[tf_type] = by_type.get(tf_type, 0) + 1
    return counts


def _provision_lines(generated: dict[str, dict[str, int]], envs: list[str]) -> list[str]:
    """One line per resource type: `google_billing_budget ×1 (prod), none in dev`."""
    types = sorted({t for by_type in generated.values() for t in by_type})
    if not types:
        return ["no Terraform resources in any environment"]
    lines = []
    for tf_type in types:
        groups: dict[int, list[str]] = {}
        for env in envs:
            groups.setdefault(generated[env].get(tf_type, 0), []).append(env)
        parts = [f"×{n} ({', '.join(names)})" for n, names in groups.items() if n]
        if 0 in groups:
            parts.append(f"none in {', '.join(groups[0])}")
        lines.append(f"{tf_type} {', '.join(parts)}")
    return lines


def _label_lines(stacks: Mapping[str, Mapping[str, Any]], envs: list[str]) -> list[str]:
    """cost_controls' labels are no resource: the google providers' default_labels put them on every resource."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for env in envs:
        providers = (stacks[env].get("provider") or {}).get("google") or [{}]
        groups.setdefault(tuple(sorted(providers[0].get("default_labels") or {})), []).append(env)
    what = "cost labels on every labelable resource (the providers' default_labels)"
    return [
        f"{what}: {', '.join(keys)} ({', '.join(names)})" if keys else f"no cost labels in {', '.join(names)}"
        for keys, names in groups.items()
    ]


def _no_lines(stacks: Mapping[str, Mapping[str, Any]], envs: list[str]) -> list[str]:
    return []


# What a capability provides that is not a resource, read from the stacks (the label set is the provider's)
STACK_LINES: dict[str, Callable[[Mapping[str, Mapping[str, Any]], list[str]], list[str]]] = {
    "cost_controls": _label_lines,
    "serving_slos": serving_slos.explain_lines,  # the objectives each stack carries, and who they page
}


def _data_source_lines(stacks: Mapping[str, Mapping[str, Any]], envs: list[str]) -> list[str]:
    """The declared data sources, who reads them and what watches them (modules/data_sources.py)."""
    from tierstack.modules import data_sources

    return data_sources.explain_lines(stacks, envs)


STACK_LINES["data_sources"] = _data_source_lines


def _golden_set_lines(stacks: Mapping[str, Mapping[str, Any]], envs: list[str]) -> list[str]:
    """The golden set, who reads and writes it, and where evaluations go (modules/golden_set.py)."""
    from tierstack.modules import golden_set

    return golden_set.explain_lines(stacks, envs)


STACK_LINES["golden_set"] = _golden_set_lines
