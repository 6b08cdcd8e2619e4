"""Property: whatever spec a user writes, tierstack succeeds or says what is wrong.

Hypothesis writes random specs — plausible answers mixed with wrong types,
unknown keys and odd values — and runs `tierstack explain` on each. The only
acceptable outcomes are exit 0 with output, or exit 2 with one 'error:'
message naming the file. Exit 1 (an internal error) or a traceback fails.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from conftest import run

pytestmark = pytest.mark.slow  # hundreds of random specs

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=32),
    st.text(max_size=12),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Usually the plausible value, one time in twelve junk (so both outcomes are well covered)."""
    return st.integers(0, 11).flatmap(lambda i: junk if i == 0 else strategy)


use_case = st.fixed_dictionaries(
    {"stage": maybe(st.sampled_from(["research", "production"]))},
    optional={
        "mission_critical": maybe(st.booleans()),
        "reusable": maybe(st.booleans()),
        "retraining": maybe(st.sampled_from(["none", "on_degradation", "scheduled"])),
        "schedule": maybe(st.sampled_from(["0 3 * * 1", "*/5 * * * *", "bad cron"])),
        "code_changes": maybe(st.sampled_from(["rare", "frequent"])),
        "serving": maybe(st.sampled_from(["none", "batch", "online"])),
        "online_experimentation": maybe(st.booleans()),
        "accelerator": maybe(
            st.sampled_from(
                [
                    "none",
                    "gpu:NVIDIA_L4×1",
                    "gpu:NVIDIA_TESLA_T4x2",
                    "tpu:TPU_V5_LITEPOD",
                    "tpu:TPU_V3",
                    "gpu:NVIDIA_H100_80GB×8",
                    "gpu:NOPE",
                    "gpu:NVIDIA_L4×3",
                ]
            )
        ),
        "colour": st.just("blue"),
    },
)

environment = st.fixed_dictionaries(
    {},
    optional={
        "project": maybe(st.sampled_from(["acme-ml-dev", "acme-ml-prod", "X"])),
        "region": maybe(st.sampled_from(["us-central1", "europe-west4", "asia-south1"])),
        "role": maybe(st.sampled_from(["development", "staging", "production"])),
        "labels": maybe(st.dictionaries(st.sampled_from(["cost-center", "Owner"]), st.sampled_from(["a1", "B"]))),
        "overrides": maybe(st.just({"capabilities": {"model_serving": {"max_replicas": 3}}})),
    },
)

spec = st.fixed_dictionaries(
    {
        "name": maybe(st.sampled_from(["fraud", "churn-emea", "x"])),
        "team": maybe(st.sampled_from(["risk-ml", "growth"])),
        "use_case": maybe(use_case),
    },
    optional={
        "region": maybe(st.sampled_from(["us-central1", "europe-west4", "asia-east1", "mars-north1"])),
        "environments": maybe(
            st.dictionaries(st.sampled_from(["dev", "staging", "prod", "Bad"]), environment, max_size=3)
        ),
        "tier": maybe(st.integers(0, 2)),
        "allow_gaps": maybe(st.booleans()),
        "labels": maybe(st.dictionaries(st.sampled_from(["cost-center", "app"]), st.sampled_from(["cc-1", "x"]))),
        "budget": maybe(
            st.fixed_dictionaries(
                {"amount": maybe(st.floats(-10, 1000, allow_nan=False))},
                optional={"billing_account": st.just("01A2B3-C4D5E6-F7A8B9")},
            )
        ),
        "capabilities": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "add": st.lists(st.sampled_from(["feature_repository", "model_serving", "nope"]), max_size=2),
                    "remove": st.lists(
                        st.sampled_from(["model_monitoring", "foundation", "data_processing"]), max_size=2
                    ),
                },
            )
        ),
        "blueprint": maybe(
            st.sampled_from(["level-0-manual", "level-1-pipeline-automation", "level-2-cicd", "level-9"])
        ),
        "variables": maybe(
            st.dictionaries(st.sampled_from(["alert_email", "kms_key", "name"]), st.text(max_size=5), max_size=2)
        ),
        "overrides": maybe(st.just({"capabilities": {"model_training": {"noncurrent_version_days": 7}}})),
        "surprise": st.just(1),
    },
)


# derandomize: the same examples on every run, so a CI failure reproduces; explore with --hypothesis-seed=N
@settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=spec)
def test_random_specs_succeed_or_fail_with_one_clear_message(data: dict, tmp_path: Path) -> None:
    path = tmp_path / "tierstack.yaml"
    with path.open("w", encoding="utf-8") as handle:
        YAML(typ="safe", pure=True).dump(data, handle)
    result = run("explain", str(path))
    event(f"exit {result.exit_code}")
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        assert result.stdout.startswith(f"{data['name']} (team ")
    else:
        assert result.stderr.startswith(f"error: {path}")
        assert "Traceback" not in result.stderr and result.stdout == ""


# --- overrides, all the way through generate -----------------------------------------------------

BASE = {
    "name": "prop-case",
    "team": "ml-platform",
    "use_case": {"stage": "production", "retraining": "on_degradation", "serving": "online"},
    "environments": {"dev": {}, "prod": {}},
    "variables": {"alert_email": "oncall@example.com"},
}
SETTINGS = {  # a few settings of each kind: numbers, lists, enums, nested mappings, text
    ("model_serving", "max_replicas"): st.integers(0, 6),
    ("model_serving", "min_replicas"): st.integers(0, 3),
    ("model_serving", "machine_type"): st.sampled_from(["n1-standard-4", "e2-standard-2", "N1"]),
    ("model_serving", "request_logging"): st.fixed_dictionaries(
        {"enabled": st.booleans(), "sampling_rate": st.floats(0, 1.5)}
    ),
    ("model_training", "noncurrent_version_days"): st.integers(-2, 90),
    ("model_training", "buckets"): st.lists(st.sampled_from(["artifacts", "staging", "Bad Name"]), max_size=3),
    ("model_monitoring", "alerts"): st.fixed_dictionaries(
        {}, optional={"endpoint_error_rate": st.floats(-1, 2), "pipeline_failures": st.booleans()}
    ),
    ("model_monitoring", "drift_threshold"): st.floats(-1, 2),
    ("foundation", "service_accounts"): st.lists(
        st.sampled_from(["pipelines", "training", "serving", "ops"]), max_size=3
    ),
    ("ml_pipelines", "schedule"): st.sampled_from([None, "0 3 * * 1", "61 * * * *"]),
}
overrides = st.dictionaries(st.sampled_from(sorted(SETTINGS)), st.just(None), min_size=1, max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({k: maybe(SETTINGS[k]) for k in keys})
)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=overrides)
def test_random_overrides_generate_or_fail_before_writing(chosen: dict, tmp_path: Path) -> None:
    capabilities: dict = {}
    for (capability, key), value in chosen.items():
        capabilities.setdefault(capability, {})[key] = value
    # hypothesis reuses tmp_path across examples: each example gets its own folder
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    path = folder / "tierstack.yaml"
    with path.open("w", encoding="utf-8") as handle:
        YAML(typ="safe", pure=True).dump({**BASE, "overrides": {"capabilities": capabilities}}, handle)
    out = folder / "out"
    result = run("generate", str(path), "--out", str(out))
    event(f"exit {result.exit_code}")
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert result.stderr.startswith(f"error: {path}"), result.stderr
        assert "Traceback" not in result.stderr and not out.exists()
    else:
        assert (out / "stacks" / "prop-case-prod" / "cdk.tf.json").is_file()
