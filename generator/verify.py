"""`tierstack verify`: read the live Vertex AI resources back and compare them with the generated stacks.

What a stack should have comes from its synthesized `cdk.tf.json` (never from the config directly, so
verify checks what `terraform apply` was given): endpoints and the replicas of the models deployed on
them, deployment resource pools, the ML metadata store, persistent resources (the training pool's
machine, accelerators and replicas) and feature online stores, each with its region, labels and
CMEK key. What is there comes from the Vertex AI API (v1) through `google-cloud-aiplatform`'s
GAPIC clients over REST, imported only when verify runs.

Three kinds of finding, each a difference (exit code 6 in the CLI):
  missing    the stack manages it and the API says NOT_FOUND (or it sits in another region);
  differs    it exists and a field the stack sets has another value (a drifted replica count);
  unmanaged  it carries our labels (`managed-by: tierstack`, `use-case: <name>`) but no stack has it.
Notes (an endpoint with no model deployed yet, labels a stack pins at creation) are shown, not counted.

Reads run concurrently on a thread pool (one client per thread and region). Access problems (no
credentials, a 403, a project that does not exist or is hidden (403 CONSUMER_INVALID), the API not
enabled, a quota hit (429), no network) stop the run with one message per project (a UserError, exit 2).

For tests, TIERSTACK_VERTEX_API_ENDPOINT=http://127.0.0.1:PORT sends every call to that address with
anonymous credentials, as STORAGE_EMULATOR_HOST does for Cloud Storage.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from tierstack.generator import data_sources_check
from tierstack.generator.errors import UserError, did_you_mean
from tierstack.generator.stacks import stack_file

ENDPOINT_ENV = "TIERSTACK_VERTEX_API_ENDPOINT"
OWNER_LABELS = ("managed-by", "use-case")
ADC_HINT = "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a key file)"
NETWORK_HINT = "check the network connection, DNS and any proxy (HTTPS_PROXY), then run `tierstack verify` again"

Kind = Literal["endpoint", "deployment_resource_pool", "metadata_store", "persistent_resource", "feature_online_store"]
# Terraform type -> (kind, the API collection in resource names)
TYPES: dict[str, tuple[Kind, str]] = {
    "google_vertex_ai_endpoint": ("endpoint", "endpoints"),
    "google_vertex_ai_deployment_resource_pool": ("deployment_resource_pool", "deploymentResourcePools"),
    "google_vertex_ai_metadata_store": ("metadata_store", "metadataStores"),
    "google_vertex_ai_persistent_resource": ("persistent_resource", "persistentResources"),
    "google_vertex_ai_feature_online_store": ("feature_online_store", "featureOnlineStores"),
}
COLLECTIONS: dict[Kind, str] = {kind: collection for kind, collection in TYPES.values()}
TITLES: dict[Kind, str] = {
    "endpoint": "endpoint",
    "deployment_resource_pool": "deployment resource pool",
    "metadata_store": "metadata store",
    "persistent_resource": "persistent resource",
    "feature_online_store": "feature online store",
}
LABELLED: tuple[Kind, ...] = ("endpoint", "persistent_resource", "feature_online_store")  # the kinds with labels


# --- what the stacks say ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """One Vertex AI resource a stack manages, as its cdk.tf.json sets it."""

    kind: Kind
    address: str  # the Terraform address, google_vertex_ai_endpoint.model_serving_endpoint
    project: str
    region: str
    resource_id: str
    labels: dict[str, str] | None  # None: the type takes no labels
    labels_pinned: bool  # lifecycle.ignore_changes = [labels]: kept as created (modules/base.py pinned_labels)
    kms_key: str | None  # the resolved key name; "?" when the stack refers to a key it does not define
    spec: dict[str, Any]  # kind-specific: replicas, machine, accelerators, storage type

    @property
    def title(self) -> str:
        return f"{TITLES[self.kind]} {self.resource_id}"


@dataclass(frozen=True)
class StackExpectation:
    stack: str
    environment: str
    use_case: str
    project: str
    region: str
    source: str  # the cdk.tf.json, as shown
    resources: tuple[Expected, ...]
    data_sources: tuple[dict[str, Any], ...] = ()  # what training reads, as the stack records it (data_sources)


def synthesized_stacks(
    config: Path, out: Path | None, environments: Sequence[str], members: Sequence[str] = ()
) -> list[tuple[Any, Path]]:
    """(resolved environment, its cdk.tf.json) for the chosen environments (all when none), in config order.

    A fleet file gives its members' stacks (those named in `members`, else all), each from the member's
    output `<out or the fleet file's folder>/<name>/cdktf.out`. Stops with one message naming
    `tierstack generate` when a stack was never synthesized.
    """
    from tierstack.generator import fleet as fleets
    from tierstack.generator.blueprint import display_path
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    if fleets.is_fleet_file(config):
        plans = _fleet_plans(config, out, members)
    elif members:
        raise UserError(
            f"{display_path(config)} is one use case, not a fleet file", field="--member", hint="leave out --member"
        )
    else:
        plans = [(resolve(load_spec(config)), out or config.parent / "cdktf.out")]
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
    from tierstack.generator import fleet as fleets

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
    from tierstack.generator import fsio

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


# --- what the API says ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    """A Vertex AI resource as read back, reduced to what verify compares."""

    kind: Kind
    name: str  # projects/<number>/locations/<region>/<collection>/<id>
    resource_id: str
    region: str
    labels: dict[str, str]
    kms_key: str | None
    spec: dict[str, Any]
    state: str | None = None


def _live(kind: Kind, message: Any) -> Live:
    """Reduce a proto-plus message of the aiplatform_v1 types to a Live."""
    name = str(message.name)
    parts = name.split("/")
    region = parts[3] if len(parts) > 3 else ""
    fields = type(message).pb(message).DESCRIPTOR.fields_by_name
    key = str(message.encryption_spec.kms_key_name) if "encryption_spec" in fields else ""
    labels = dict(message.labels) if "labels" in fields else {}
    spec: dict[str, Any] = {}
    state = None
    if kind == "endpoint":
        logging = message.predict_request_response_logging_config
        spec = {
            "request_logging": bool(logging.enabled),
            "sampling_rate": float(logging.sampling_rate) if logging.enabled else None,
            "deployed": [_deployed(m) for m in message.deployed_models],
        }
    elif kind == "deployment_resource_pool":
        spec = _dedicated(message.dedicated_resources)
    elif kind == "persistent_resource":
        spec = {
            "pools": [
                {
                    "machine_type": p.machine_spec.machine_type or None,
                    "accelerator_type": _accelerator(p.machine_spec),
                    "accelerator_count": int(p.machine_spec.accelerator_count),
                    "replica_count": int(p.replica_count),
                    "min_replicas": int(p.autoscaling_spec.min_replica_count) if "autoscaling_spec" in p else None,
                    "max_replicas": int(p.autoscaling_spec.max_replica_count) if "autoscaling_spec" in p else None,
                }
                for p in message.resource_pools
            ]
        }
        state = message.state.name
    elif kind == "feature_online_store":
        storage = "bigtable" if "bigtable" in message else "optimized"
        scaling = message.bigtable.auto_scaling
        spec = {
            "storage": storage,
            "min_nodes": int(scaling.min_node_count) if storage == "bigtable" else None,
            "max_nodes": int(scaling.max_node_count) if storage == "bigtable" else None,
        }
        state = message.state.name
    return Live(kind, name, parts[-1], region, labels, key or None, spec, state)


def _accelerator(machine: Any) -> str | None:
    value = machine.accelerator_type
    return None if int(value) == 0 else str(value.name)


def _dedicated(dedicated: Any) -> dict[str, Any]:
    low = int(dedicated.min_replica_count)
    high = int(dedicated.max_replica_count) or low  # 0: "the smaller value of min_replica_count or 1"
    return {
        "machine_type": dedicated.machine_spec.machine_type or None,
        "accelerator_type": _accelerator(dedicated.machine_spec),
        "accelerator_count": int(dedicated.machine_spec.accelerator_count),
        "min_replicas": low,
        "max_replicas": high,
    }


def _deployed(model: Any) -> dict[str, Any]:
    shown = model.display_name or model.id
    if "dedicated_resources" in model:
        return {"model": shown, "id": model.id, "resources": "dedicated", **_dedicated(model.dedicated_resources)}
    if "automatic_resources" in model:
        automatic = model.automatic_resources
        return {
            "model": shown,
            "id": model.id,
            "resources": "automatic",
            "min_replicas": int(automatic.min_replica_count),
            "max_replicas": int(automatic.max_replica_count) or int(automatic.min_replica_count),
        }
    pool = str(model.shared_resources).split("/")[-1]
    return {"model": shown, "id": model.id, "resources": "shared_resources", "pool": pool}


# --- findings ---------------------------------------------------------------------------------------

FindingKind = Literal["missing", "differs", "unmanaged", "note"]


@dataclass(frozen=True)
class Finding:
    stack: str
    kind: FindingKind
    resource: str  # "endpoint fraud-detection-endpoint"
    message: str
    address: str | None = None
    field: str | None = None
    expected: Any = None
    actual: Any = None

    def to_data(self) -> dict[str, Any]:
        """None values left out, but a compared field keeps both sides (null: not set)."""
        compared = ("expected", "actual") if self.field else ()
        return {k: v for k, v in self.__dict__.items() if v is not None or k in compared}


@dataclass
class StackReport:
    stack: str
    environment: str
    project: str
    region: str
    checked: list[str] = field(default_factory=list)  # the resources read back
    findings: list[Finding] = field(default_factory=list)

    @property
    def differences(self) -> list[Finding]:
        return [f for f in self.findings if f.kind != "note"]


@dataclass
class Report:
    stacks: list[StackReport]
    regions_scanned: dict[str, list[str]]
    requests: int = 0

    @property
    def differences(self) -> list[Finding]:
        return [f for s in self.stacks for f in s.differences]


def compare(expected: Expected, live: Live, stack: str) -> list[Finding]:
    """What differs between a resource the stack manages and the same resource read back."""
    out: list[Finding] = []

    def differs(field_name: str, want: Any, got: Any, message: str) -> None:
        out.append(Finding(stack, "differs", expected.title, message, expected.address, field_name, want, got))

    if expected.labels is not None:
        for key, want in sorted(expected.labels.items()):
            got = live.labels.get(key)
            if got == want:
                continue
            text = f"label {key} is {_shown(got)}, the stack sets {_shown(want)}"
            if expected.labels_pinned and key not in OWNER_LABELS:
                note = f"{text} (labels are kept as created on this resource: the stack ignores label changes)"
                out.append(Finding(stack, "note", expected.title, note, expected.address, f"labels.{key}", want, got))
            else:
                differs(f"labels.{key}", want, got, text)
    if expected.kms_key != live.kms_key and not (expected.kms_key == "?" and live.kms_key):
        want = "no CMEK key" if expected.kms_key is None else expected.kms_key
        got = live.kms_key or "no CMEK key (Google-managed encryption)"
        differs(
            "encryption.kms_key_name", expected.kms_key, live.kms_key, f"encrypted with {got}, the stack sets {want}"
        )
    spec, have = expected.spec, live.spec
    if expected.kind == "endpoint":
        if spec.get("request_logging") != have.get("request_logging"):
            differs(
                "request_logging.enabled",
                spec.get("request_logging"),
                have.get("request_logging"),
                f"request/response logging is {'on' if have.get('request_logging') else 'off'}, "
                f"the stack turns it {'on' if spec.get('request_logging') else 'off'}",
            )
        elif spec.get("request_logging") and not _close(spec.get("sampling_rate"), have.get("sampling_rate")):
            differs(
                "request_logging.sampling_rate",
                spec.get("sampling_rate"),
                have.get("sampling_rate"),
                f"request logging samples {have.get('sampling_rate')}, the stack sets {spec.get('sampling_rate')}",
            )
        out.extend(_deployed_findings(expected, have.get("deployed") or [], stack))
    elif expected.kind == "deployment_resource_pool":
        out.extend(_capacity(expected, "", spec, have, stack))
    elif expected.kind == "persistent_resource":
        want_pools, got_pools = spec.get("pools") or [], have.get("pools") or []
        if len(want_pools) != len(got_pools):
            differs(
                "resource_pools",
                len(want_pools),
                len(got_pools),
                f"{len(got_pools)} resource pools, not {len(want_pools)}",
            )
        for index, (want, got) in enumerate(zip(want_pools, got_pools, strict=False)):
            where = f"resource_pools[{index}]."
            out.extend(_capacity(expected, where, want, got, stack, replica_count=True))
        if live.state and live.state not in ("RUNNING", "STATE_UNSPECIFIED"):
            out.append(Finding(stack, "note", expected.title, f"state {live.state}", expected.address, "state"))
    elif expected.kind == "feature_online_store":
        if spec["storage"] != have.get("storage"):
            differs(
                "storage",
                spec["storage"],
                have.get("storage"),
                f"{have.get('storage')} serving, the stack sets {spec['storage']}",
            )
        elif spec["storage"] == "bigtable":
            for key in ("min_nodes", "max_nodes"):
                if spec.get(key) is not None and spec[key] != have.get(key):
                    differs(
                        key,
                        spec[key],
                        have.get(key),
                        f"{key.replace('_', ' ')} {have.get(key)}, the stack sets {spec[key]}",
                    )
    return out


def _capacity(
    expected: Expected, where: str, want: dict[str, Any], got: dict[str, Any], stack: str, replica_count: bool = False
) -> list[Finding]:
    out = []
    checks = [
        ("machine_type", "machine type"),
        ("accelerator_type", "accelerator"),
        ("accelerator_count", "accelerator count"),
    ]
    checks += [("replica_count", "replicas")] if replica_count else []
    checks += [("min_replicas", "min replicas"), ("max_replicas", "max replicas")]
    for key, label in checks:
        if want.get(key) is None and key != "accelerator_type":
            continue
        if (want.get(key) or None) != (got.get(key) or None):
            out.append(
                Finding(
                    stack,
                    "differs",
                    expected.title,
                    f"{where.replace('.', ' ')}{label} {_shown(got.get(key))}, the stack sets {_shown(want.get(key))}",
                    expected.address,
                    where + key,
                    want.get(key),
                    got.get(key),
                )
            )
    return out


def _deployed_findings(expected: Expected, deployed: list[dict[str, Any]], stack: str) -> list[Finding]:
    serving = expected.spec.get("serving")
    if not deployed:
        return [Finding(stack, "note", expected.title, "no model deployed yet", expected.address, "deployed_models")]
    if not serving:
        return []
    out = []
    for model in deployed:
        label = f"deployed model {model['model']}"
        if model["resources"] == "shared_resources":  # its replicas are the pool's, checked on the pool
            if model["pool"] != serving.get("pool"):
                out.append(
                    Finding(
                        stack,
                        "differs",
                        expected.title,
                        f"{label} runs on deployment pool {model['pool']}, not the stack's {serving.get('pool')}",
                        expected.address,
                        f"deployed_models[{model['id']}].shared_resources",
                        serving.get("pool"),
                        model["pool"],
                    )
                )
            continue
        for key, title in (
            ("min_replicas", "min replicas"),
            ("max_replicas", "max replicas"),
            ("machine_type", "machine type"),
            ("accelerator_count", "accelerator count"),
        ):
            if key not in model or not _sets(serving, key):
                continue
            if model[key] != serving[key]:
                out.append(
                    Finding(
                        stack,
                        "differs",
                        expected.title,
                        f"{label}: {title} {_shown(model[key])}, "
                        f"the stack's deployment pool sets {_shown(serving[key])}",
                        expected.address,
                        f"deployed_models[{model['id']}].{key}",
                        serving[key],
                        model[key],
                    )
                )
        if (model.get("accelerator_type") or None) != (serving.get("accelerator_type") or None):
            out.append(
                Finding(
                    stack,
                    "differs",
                    expected.title,
                    f"{label}: accelerator {_shown(model.get('accelerator_type'))}, the stack's deployment pool sets "
                    f"{_shown(serving.get('accelerator_type'))}",
                    expected.address,
                    f"deployed_models[{model['id']}].accelerator_type",
                    serving.get("accelerator_type"),
                    model.get("accelerator_type"),
                )
            )
    return out


def _sets(serving: dict[str, Any], key: str) -> bool:
    """Whether the stack's pool sets this field (an accelerator count of 0 is the pool setting none)."""
    value = serving.get(key)
    return value is not None and not (key == "accelerator_count" and value == 0)


def _shown(value: Any) -> str:
    return "none" if value is None or value == "" else str(value)


def _close(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-6
    except (TypeError, ValueError):
        return bool(a == b)


def ours(labels: dict[str, str], use_case: str, environment: str) -> bool:
    """Labelled as tierstack's for this use case (and this environment, when it says one)."""
    if labels.get("managed-by") != "tierstack" or labels.get("use-case") != use_case:
        return False
    return labels.get("environment", environment) == environment


# --- reading ----------------------------------------------------------------------------------------


class AccessError(Exception):
    """The API refused or could not answer for a whole project; becomes one UserError line."""

    def __init__(self, project: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.project, self.message, self.hint = project, message, hint


class Reader:
    """Reads Vertex AI v1 resources with the GAPIC clients over REST, one client per thread and region."""

    SERVICES: ClassVar[dict[Kind, tuple[str, str, str]]] = {  # kind -> (client class, get method, list method)
        "endpoint": ("EndpointServiceClient", "get_endpoint", "list_endpoints"),
        "deployment_resource_pool": (
            "DeploymentResourcePoolServiceClient",
            "get_deployment_resource_pool",
            "list_deployment_resource_pools",
        ),
        "metadata_store": ("MetadataServiceClient", "get_metadata_store", "list_metadata_stores"),
        "persistent_resource": (
            "PersistentResourceServiceClient",
            "get_persistent_resource",
            "list_persistent_resources",
        ),
        "feature_online_store": (
            "FeatureOnlineStoreAdminServiceClient",
            "get_feature_online_store",
            "list_feature_online_stores",
        ),
    }

    def __init__(self, credentials: Any, endpoint: str | None) -> None:
        with _quiet():
            from google.cloud import aiplatform_v1

        self._module = aiplatform_v1
        self._credentials = credentials
        self.credentials = credentials  # also the data sources' (generator/data_sources_check.py)
        self._endpoint = endpoint  # None: the regional endpoint, https://<region>-aiplatform.googleapis.com
        self._local = threading.local()
        self._lock = threading.Lock()
        self.requests = 0

    def api_host(self, region: str) -> str:
        return self._endpoint or f"https://{region}-aiplatform.googleapis.com"

    def _client(self, kind: Kind, region: str) -> Any:
        cache = self._local.__dict__.setdefault("clients", {})
        key = (kind, region)
        if key not in cache:
            cls = getattr(self._module, self.SERVICES[kind][0])
            cache[key] = cls(
                credentials=self._credentials, transport="rest", client_options={"api_endpoint": self.api_host(region)}
            )
        return cache[key]

    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def get(self, kind: Kind, project: str, region: str, resource_id: str) -> Live | None:
        from google.api_core import exceptions

        name = f"projects/{project}/locations/{region}/{COLLECTIONS[kind]}/{resource_id}"
        self._count()
        try:
            with _quiet():
                message = getattr(self._client(kind, region), self.SERVICES[kind][1])(name=name, timeout=30)
        except exceptions.NotFound:
            return None
        except Exception as exc:
            raise self._access_error(exc, project, region) from None
        return _live(kind, message)

    def list(self, kind: Kind, project: str, region: str) -> list[Live]:
        parent = f"projects/{project}/locations/{region}"
        self._count()
        try:
            with _quiet():
                pager = getattr(self._client(kind, region), self.SERVICES[kind][2])(parent=parent, timeout=30)
                return [_live(kind, m) for m in pager]
        except Exception as exc:
            raise self._access_error(exc, project, region, listing=True) from None

    def _access_error(self, exc: Exception, project: str, region: str, listing: bool = False) -> Exception:
        """The message and hint for an API error; what is not an access problem stays a bug.

        A network failure is checked first: google-auth's TransportError (a token refresh that could
        not reach Google) is a GoogleAuthError too, and is no refusal of the credentials."""
        from google.api_core import exceptions
        from google.auth import exceptions as auth_exceptions

        host = self.api_host(region)
        if _unreachable(exc):
            return AccessError(
                project,
                f"cannot reach the Vertex AI API at {host}: {_first_line(exc)}",
                NETWORK_HINT,
            )
        if isinstance(exc, auth_exceptions.GoogleAuthError | exceptions.Unauthenticated):
            return AccessError(project, f"the credentials were refused: {_first_line(exc)}", ADC_HINT)
        if isinstance(exc, exceptions.PermissionDenied | exceptions.Forbidden):
            return _denied(exc, project)
        if isinstance(exc, exceptions.TooManyRequests):  # ResourceExhausted is one
            return AccessError(
                project,
                f"a Vertex AI API quota or rate limit was hit in project '{project}' (429 RESOURCE_EXHAUSTED): "
                f"{_api_message(exc)}",
                "wait a minute and run `tierstack verify` again; if it keeps happening, verify one environment "
                "at a time or ask for a higher quota (https://cloud.google.com/docs/quotas/help/request_increase)",
            )
        if isinstance(exc, exceptions.NotFound) and listing:
            return AccessError(
                project,
                f"project '{project}' or location '{region}' not found (404): {_api_message(exc)}",
                "check the project id in tierstack.yaml (environments.<env>.project) and that the project exists",
            )
        if isinstance(exc, exceptions.GoogleAPICallError):
            return AccessError(
                project, f"the Vertex AI API answered {exc.code}: {_api_message(exc)}", "try again later"
            )
        return exc


def _denied(exc: Any, project: str) -> AccessError:
    """A 403: the project does not exist (or is hidden), the API is off, or a permission is missing.

    Google APIs answer a project that does not exist, or that the caller cannot see, with 403
    PERMISSION_DENIED and ErrorInfo reason CONSUMER_INVALID, not with a 404."""
    text = _api_message(exc)
    reason = _reason(exc)
    if reason == "CONSUMER_INVALID":
        return AccessError(
            project,
            f"project '{project}' does not exist or you cannot see it (403 CONSUMER_INVALID): {text}",
            f"check the project id in tierstack.yaml (environments.<env>.project), and that the account verify "
            f"runs as can see it: `gcloud projects describe {project}`",
        )
    if reason == "SERVICE_DISABLED" or "has not been used" in text or "is disabled" in text:
        return AccessError(
            project,
            f"the Vertex AI API is not enabled in project '{project}' (403 SERVICE_DISABLED): {text}",
            "has the stack been applied? `tierstack apply --env ENV` enables it (foundation's project services)",
        )
    return AccessError(
        project,
        f"permission denied in project '{project}' (403): {text}",
        f"the identity verify runs as needs roles/aiplatform.viewer on project '{project}'",
    )


def _reason(exc: Any) -> str | None:
    """The google.rpc.ErrorInfo reason of an API error. Over REST google-api-core keeps the details as
    JSON objects, and its own `reason` property then fails on them, so they are read here."""
    for detail in getattr(exc, "details", None) or []:
        if isinstance(detail, dict):
            if str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
                return str(detail.get("reason") or "") or None
        elif type(detail).__name__ == "ErrorInfo":  # gRPC: the parsed message
            return str(detail.reason) or None
    return None


def _api_message(exc: Any) -> str:
    return str(getattr(exc, "message", "") or exc).strip()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import requests
    except ImportError:  # pragma: no cover - a dependency of google-auth's transport
        return False
    from google.api_core import exceptions

    return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout | exceptions.RetryError)


def _unreachable(exc: BaseException) -> bool:
    """A network failure (no route, no name resolution, refused, timed out), raised as it is or as the
    cause of google-auth's TransportError or RefreshError (a metadata server that does not answer)."""
    from google.auth import exceptions as auth_exceptions

    seen: BaseException | None = exc
    for _ in range(8):  # the chain of causes is short; a cycle must not hang
        if seen is None:
            return False
        if isinstance(seen, auth_exceptions.TransportError) or _is_connection_error(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """google-api-core's Python-version FutureWarning and google-auth's quota-project UserWarning are
    not for tierstack's users: nothing but tierstack's own messages reaches the terminal."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"google\..*")
        yield


def connect() -> Reader:
    """A Reader with the caller's credentials (Application Default Credentials), or, with
    TIERSTACK_VERTEX_API_ENDPOINT set, anonymous credentials against that address."""
    endpoint = os.environ.get(ENDPOINT_ENV) or None
    with _quiet():
        import google.auth
        from google.auth import exceptions as auth_exceptions
        from google.auth.credentials import AnonymousCredentials

        if endpoint:
            return Reader(AnonymousCredentials(), endpoint)  # type: ignore[no-untyped-call]
        try:
            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            import google.auth.transport.requests

            credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]  # fail here, once, not in every thread
        except auth_exceptions.DefaultCredentialsError as exc:
            raise UserError(f"no Google Cloud credentials: {_first_line(exc)}", hint=ADC_HINT) from None
        except Exception as exc:  # a network failure first: TransportError is a GoogleAuthError too
            if _unreachable(exc):
                raise UserError(
                    f"cannot reach Google to refresh the credentials: {_first_line(exc)}", hint=NETWORK_HINT
                ) from None
            if isinstance(exc, auth_exceptions.GoogleAuthError):
                raise UserError(
                    f"the Google Cloud credentials were refused: {_first_line(exc)}", hint=ADC_HINT
                ) from None
            raise
    return Reader(credentials, None)


def verify(
    stacks: Sequence[StackExpectation],
    reader: Reader,
    extra_regions: Sequence[str] = (),
    workers: int = 16,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Read every resource of every stack back, concurrently, and compare."""
    reports = [StackReport(s.stack, s.environment, s.project, s.region) for s in stacks]
    scanned = {s.stack: sorted({s.region, *(r.region for r in s.resources), *extra_regions}) for s in stacks}
    gets = [(i, r) for i, s in enumerate(stacks) for r in s.resources]
    lists = [(i, kind, region) for i, s in enumerate(stacks) for region in scanned[s.stack] for kind in LABELLED]
    if progress:
        progress(f"reading {len(gets)} resources and {len(lists)} listings in {len(stacks)} stacks...")
    pool = ThreadPoolExecutor(max_workers=max(1, min(workers, len(gets) + len(lists))))
    errors: dict[str, AccessError] = {}
    results: list[Any] = []
    try:
        with _quiet():
            futures: list[Future[Any]] = [
                pool.submit(reader.get, r.kind, r.project, r.region, r.resource_id) for _, r in gets
            ]
            futures += [pool.submit(reader.list, kind, stacks[i].project, region) for i, kind, region in lists]
            for future in futures:
                try:
                    results.append(future.result())
                except AccessError as exc:
                    errors.setdefault(exc.project, exc)
                    results.append(None)
    finally:  # Ctrl-C or a bug: the reads not started yet are dropped, not waited for
        pool.shutdown(wait=False, cancel_futures=True)
    if errors:
        lines = [f"{e.message}\n  hint: {e.hint}" for e in errors.values()]
        raise UserError("verify could not read the live resources:\n" + "\n".join(lines))
    live_by_get = results[: len(gets)]
    live_by_list = results[len(gets) :]
    found: dict[int, list[Live]] = {}
    for (i, _, _), items in zip(lists, live_by_list, strict=True):
        found.setdefault(i, []).extend(items or [])
    for i, s in enumerate(stacks):
        report = reports[i]
        elsewhere = {(x.kind, x.resource_id): x for x in found.get(i, []) if x.region != s.region}
        claimed: set[tuple[Kind, str, str]] = set()
        for (j, expected), live in zip(gets, live_by_get, strict=True):
            if j != i:
                continue
            if live is None:
                other = elsewhere.get((expected.kind, expected.resource_id))
                if other is not None and other.region != expected.region:
                    claimed.add((other.kind, other.resource_id, other.region))
                    report.findings.append(
                        Finding(
                            s.stack,
                            "missing",
                            expected.title,
                            f"not in {expected.region}: found in {other.region} "
                            f"(the stack sets region {expected.region})",
                            expected.address,
                            "region",
                            expected.region,
                            other.region,
                        )
                    )
                else:
                    report.findings.append(
                        Finding(
                            s.stack,
                            "missing",
                            expected.title,
                            f"not found in project {expected.project}, region {expected.region}",
                            expected.address,
                        )
                    )
                continue
            claimed.add((live.kind, live.resource_id, live.region))
            report.checked.append(expected.title)
            report.findings.extend(compare(expected, live, s.stack))
        for item in found.get(i, []):
            if (item.kind, item.resource_id, item.region) in claimed or not ours(
                item.labels, s.use_case, s.environment
            ):
                continue
            report.findings.append(
                Finding(
                    s.stack,
                    "unmanaged",
                    f"{TITLES[item.kind]} {item.resource_id}",
                    f"labelled managed-by=tierstack, use-case={s.use_case} in {item.region}, but no resource of "
                    f"this stack: created by hand, or left behind by an older generation ({item.name})",
                )
            )
        missing = [f for f in report.findings if f.kind == "missing" and f.field is None]
        if s.resources and len(missing) == len(s.resources):
            report.findings.append(
                Finding(
                    s.stack,
                    "note",
                    "stack",
                    f"none of its {len(s.resources)} Vertex AI resources exists: has it been applied? "
                    f"`tierstack apply --env {s.environment}`",
                )
            )
    _check_data_sources(stacks, reports, reader)
    return Report(reports, scanned, reader.requests)


def _check_data_sources(stacks: Sequence[StackExpectation], reports: list[StackReport], reader: Reader) -> None:
    """Each declared data source exists and is fresh (generator/data_sources_check.py), each read once."""
    if not any(s.data_sources for s in stacks):
        return
    sources = data_sources_check.SourceReader(reader.credentials)
    with _quiet():
        for s, report in zip(stacks, reports, strict=True):
            report.checked += data_sources_check.checked(s.data_sources, sources)
            report.findings += [Finding(**f) for f in data_sources_check.findings(s.stack, s.data_sources, sources)]
    reader.requests += sources.requests


# --- output -----------------------------------------------------------------------------------------


def to_data(report: Report) -> dict[str, Any]:
    return {
        "ok": not report.differences,
        "differences": len(report.differences),
        "stacks": [
            {
                "stack": s.stack,
                "environment": s.environment,
                "project": s.project,
                "region": s.region,
                "regions_scanned": report.regions_scanned.get(s.stack, []),
                "checked": s.checked,
                "findings": [f.to_data() for f in s.findings],
            }
            for s in report.stacks
        ],
    }


def to_text(report: Report) -> str:
    lines = []
    for s in report.stacks:
        count = len(s.differences)
        verdict = "matches the stack" if not count else f"{count} difference{'s' if count != 1 else ''}"
        lines.append(f"{s.stack} (project {s.project}, {s.region}): {verdict}")
        if s.checked:
            lines.append(f"  read back: {', '.join(s.checked)}")
        for f in s.findings:
            where = f" [{f.address}]" if f.address and f.kind != "note" else ""
            lines.append(f"  {f.kind:<9} {f.resource}: {f.message}{where}")
    total = len(report.differences)
    lines.append(
        f"{len(report.stacks)} stack{'s' if len(report.stacks) != 1 else ''} verified: "
        + ("no differences" if not total else f"{total} difference{'s' if total != 1 else ''}")
    )
    return "\n".join(lines) + "\n"
