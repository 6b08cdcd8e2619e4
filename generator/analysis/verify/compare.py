"""The findings of one resource: what differs between the stack's and the one read back; and whose it is."""

from __future__ import annotations

from typing import Any

from tierstack.generator.analysis.verify.model import Expected, Finding, Live

OWNER_LABELS = ("managed-by", "use-case")


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
