"""What the stacks say: the Vertex AI resources of each synthesized stack, with their expected values.

What a stack should have comes from its synthesized `cdk.tf.json` (never from the config directly, so
verify checks what `terraform apply` was given): endpoints and the replicas of the models deployed on
them, deployment resource pools, the ML metadata store, persistent resources (the training pool's
machine, accelerators and replicas) and feature online stores, each with its region, labels and
CMEK key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tierstack.generator.analysis import data_sources_check
from tierstack.generator.analysis.verify.model import LABELLED, TYPES, Expected, Kind, StackExpectation
from tierstack.generator.core.errors import UserError, did_you_mean
from tierstack.generator.core.paths import default_out
from tierstack.generator.synth.stacks import stack_file


def synthesized_stacks(
    config: Path, out: Path | None, environments: Sequence[str], members: Sequence[str] = ()
) -> list[tuple[Any, Path]]:
    """(resolved environment, its cdk.tf.json) for the chosen environments (all when none), in config order.

    A fleet file gives its members' stacks (those named in `members`, else all), each from the member's
    output `<out or the fleet file's folder>/<name>/cdktf.out`. Stops with one message naming
    `tierstack generate` when a stack was never synthesized.
    """
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.core.paths import display_path
    from tierstack.generator.plan.resolve import resolve
    from tierstack.generator.services import fleet as fleets

    if fleets.is_fleet_file(config):
        plans = _fleet_plans(config, out, members)
    elif members:
        raise UserError(
            f"{display_path(config)} is one use case, not a fleet file", field="--member", hint="leave out --member"
        )
    else:
        plans = [(resolve(load_spec(config)), out or default_out(config))]
    every = [name for plan, _ in plans for name in plan.environments]
    for env in environments:
        if env not in every:
            raise UserError(
                f"no environment '{env}' in {display_path(config)}",
                hint=did_you_mean(env, sorted(set(every))) or "environments: " + ", ".join(dict.fromkeys(every)),
            )
    found: list[tuple[Any, Path]] = []
    missing: list[tuple[Any, Path]] = []
    for plan, root in plans:
        for name in plan.environments:
            if environments and name not in environments:
                continue
            chosen_env = plan.environments[name]
            path = stack_file(root, chosen_env.stack)
            # anything there (a FIFO, a directory, a link) is read, so refused by name; only nothing is missing
            (found if path.exists() or path.is_symlink() else missing).append((chosen_env, path))
    if missing:
        command = f"tierstack generate {display_path(config)}" + (f" --out {display_path(out)}" if out else "")
        raise UserError(
            "never generated: "
            + ", ".join(f"{env.stack} ({display_path(path)})" for env, path in missing)
            + " does not exist",
            hint=f"run `{command}` first",
        )
    return found


def _fleet_plans(config: Path, out: Path | None, members: Sequence[str]) -> list[tuple[Any, Path]]:
    """Each chosen member's plan and output directory; the first member with an error stops it."""
    from tierstack.generator.services import fleet as fleets

    fleet = fleets.load_fleet(config, members=list(members) or None)
    chosen = [fleets.member(fleet, name) for name in members] if members else fleet.members
    plans = []
    for member in chosen:
        if member.error is not None or member.resolved is None:
            raise member.error or UserError("not resolved", file=config, field=member.label)
        plans.append((member.resolved, fleets.member_out(out or config.parent, member)))
    return plans


REGENERATE = "regenerate it with `tierstack generate`"


def load_stack(path: Path, shown: str | None = None) -> dict[str, Any]:
    """A synthesized stack, read through the bounded reader: a FIFO, a sparse 4 GB file or JSON nested a
    hundred thousand levels deep is a UserError naming the file, never a hang or a crash."""
    from tierstack.generator.core import fsio

    # the output directory it belongs to (DIR/stacks/<stack>/cdk.tf.json): no link may lead out of it
    root = path.parents[2] if path.parent.parent.name == "stacks" else path.parent
    data = fsio.read_json(
        path, "Terraform JSON stack", fsio.MAX_JSON_BYTES, hint=REGENERATE, shown=shown or str(path), within=root
    )
    if not isinstance(data, dict):
        raise UserError("not a Terraform JSON stack (no top-level object)", file=shown or str(path))
    return data


def expectation(stack: str, environment: str, use_case: str, data: dict[str, Any], shown: str) -> StackExpectation:
    """The Vertex AI resources of one synthesized stack, with their expected values."""
    providers = _providers(data)
    default = providers.get("google", {})
    resources = data.get("resource") or {}
    project = str(default.get("project") or "")
    region = str(default.get("region") or "")
    found: list[Expected] = []
    for tf_type, (kind, _) in TYPES.items():
        for name, body in sorted((resources.get(tf_type) or {}).items()):
            provider = providers.get(str(body.get("provider") or tf_type.split("_")[0]), default)
            labels = None
            if kind in LABELLED:
                labels = {**(provider.get("default_labels") or {}), **(body.get("labels") or {})}
            ignored = (body.get("lifecycle") or {}).get("ignore_changes") or []
            key = _block(body.get("encryption_spec")).get("kms_key_name")
            found.append(
                Expected(
                    kind=kind,
                    address=f"{tf_type}.{name}",
                    project=str(body.get("project") or provider.get("project") or project),
                    region=str(body.get("region") or body.get("location") or provider.get("region") or region),
                    resource_id=str(body.get("name") or name),
                    labels=labels,
                    labels_pinned="labels" in ignored,
                    kms_key=_resolve_key(key, resources) if key else None,
                    spec=_spec(kind, body),
                )
            )
    pools = [r for r in found if r.kind == "deployment_resource_pool"]
    if pools:  # models deployed on the stack's endpoints run at the capacity its pool sets
        serving = {**pools[0].spec, "pool": pools[0].resource_id}
        found = [replace(r, spec={**r.spec, "serving": serving}) if r.kind == "endpoint" else r for r in found]
    use = next((r.labels["use-case"] for r in found if r.labels and "use-case" in r.labels), use_case)
    sources = tuple(data_sources_check.recorded(data))
    return StackExpectation(stack, environment, use, project, region, shown, tuple(found), sources)


def _providers(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'google', 'google-beta', 'google.<alias>' -> that provider block."""
    out: dict[str, dict[str, Any]] = {}
    for name, blocks in (data.get("provider") or {}).items():
        for block in blocks if isinstance(blocks, list) else [blocks]:
            alias = block.get("alias")
            out[f"{name}.{alias}" if alias else name] = block
    return out


def _block(value: Any) -> dict[str, Any]:
    """A nested block as Terraform JSON writes it: an object, or a list holding one."""
    if isinstance(value, list):
        value = value[0] if value else {}
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    """int64 fields arrive as strings (the bindings write replica counts as "2")."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _spec(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    if kind == "deployment_resource_pool":
        dedicated = _block(body.get("dedicated_resources"))
        machine = _block(dedicated.get("machine_spec"))
        return {
            "machine_type": machine.get("machine_type"),
            "accelerator_type": machine.get("accelerator_type"),
            "accelerator_count": _int(machine.get("accelerator_count")) or 0,
            "min_replicas": _int(dedicated.get("min_replica_count")),
            "max_replicas": _int(dedicated.get("max_replica_count")),
        }
    if kind == "persistent_resource":
        pools = body.get("resource_pools") or []
        return {
            "pools": [
                {
                    "machine_type": _block(p.get("machine_spec")).get("machine_type"),
                    "accelerator_type": _block(p.get("machine_spec")).get("accelerator_type"),
                    "accelerator_count": _int(_block(p.get("machine_spec")).get("accelerator_count")) or 0,
                    "replica_count": _int(p.get("replica_count")),
                    "min_replicas": _int(_block(p.get("autoscaling_spec")).get("min_replica_count")),
                    "max_replicas": _int(_block(p.get("autoscaling_spec")).get("max_replica_count")),
                }
                for p in (pools if isinstance(pools, list) else [pools])
            ]
        }
    if kind == "feature_online_store":
        bigtable = _block(_block(body.get("bigtable")).get("auto_scaling"))
        return {
            "storage": "bigtable" if body.get("bigtable") not in (None, [], {}) else "optimized",
            "min_nodes": _int(bigtable.get("min_node_count")),
            "max_nodes": _int(bigtable.get("max_node_count")),
        }
    if kind == "endpoint":
        logging = _block(body.get("predict_request_response_logging_config"))
        return {"request_logging": bool(logging.get("enabled")), "sampling_rate": logging.get("sampling_rate")}
    return {}


_REFERENCE = re.compile(r"^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.id\}$")


def _resolve_key(value: str, resources: dict[str, Any]) -> str:
    """A CMEK key name; a reference to the stack's own key (`${google_kms_crypto_key.x.id}`) resolved."""
    match = _REFERENCE.fullmatch(value)
    if not match:
        return value
    tf_type, name = match.groups()
    body = (resources.get(tf_type) or {}).get(name) or {}
    if tf_type == "google_kms_crypto_key" and body:
        ring = _resolve_key(str(body.get("key_ring") or ""), resources)
        if ring.startswith("projects/"):
            return f"{ring}/cryptoKeys/{body.get('name')}"
    if tf_type == "google_kms_key_ring" and body:
        return f"projects/{body.get('project')}/locations/{body.get('location')}/keyRings/{body.get('name')}"
    return "?"
