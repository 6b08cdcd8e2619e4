"""`tierstack validate` finds everything `generate` would refuse, without synthesizing (issue 11).

The judge is the bad-input corpus: test_bad_inputs.py shows that `generate` stops on every file of
tests/bad_inputs/ with exit 2; here `validate` must stop on each with the same error, at the same
file, line and field. The batch schedule's rules and the region table are checked before synthesis.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_bad_inputs import CASES, CORPUS, assert_as_expected

from conftest import run
from tierstack.generator import cli as cli_module
from tierstack.generator.plan.gcp_facts import FactError
from tierstack.modules.model_serving import batch_input_table, batch_model_name, batch_problems


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_validate_stops_wherever_generate_stops(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    result = run("validate", path.name)
    err = result.stderr
    assert result.exit_code == cli_module.EXIT_USER_ERROR, result.output
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert "nothing was synthesized" in err
    assert_as_expected(path, err)


def test_every_batch_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(
        "name: demo-case\nteam: ml\nuse_case: {stage: production, serving: batch}\n"
        "variables:\n  batch_schedule: '0 2 * * *'\n",
        encoding="utf-8",
    )
    result = run("validate", str(config))
    assert result.exit_code == cli_module.EXIT_USER_ERROR
    assert "field 'variables.batch_model'" in result.stderr and "field 'variables.batch_input'" in result.stderr
    assert "2 problems" in result.stderr  # dev and prod share the variable: each problem is said once


def test_a_batch_schedule_in_an_override_is_reported_there(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(
        "name: demo-case\nteam: ml\nuse_case: {stage: production, serving: batch}\n"
        "environments:\n  dev: {}\n  prod:\n    overrides:\n      capabilities:\n        model_serving:\n"
        "          batch_schedule: '0 2 * * *'\n          batch_input: bq://demo-data.sales.to_score\n"
        "          batch_model: 'not/a model'\n",
        encoding="utf-8",
    )
    result = run("validate", str(config))
    assert result.exit_code == cli_module.EXIT_USER_ERROR, result.output
    assert "tierstack.yaml:12, field 'environments.prod.overrides.capabilities.model_serving.batch_model'" in (
        result.stderr
    )


def test_the_batch_rules_accept_what_vertex_ai_takes() -> None:
    assert batch_model_name("churn@default", "p-1", "europe-west4") == (
        "projects/p-1/locations/europe-west4/models/churn@default"
    )
    full = "projects/p-1/locations/europe-west4/models/123@2"
    assert batch_model_name(full, "p-1", "europe-west4") == full
    assert batch_input_table(None, "p-1", "churn", prepared=True) == "bq://p-1.churn_prepared.batch_input"
    assert batch_problems({"mode": "online", "batch_schedule": "0 2 * * *"}, "p", "r", "n", False) == []
    assert batch_problems({"mode": "batch", "batch_model": "bad model!"}, "p", "r", "n", False) == []  # unscheduled
    with pytest.raises(FactError) as caught:
        batch_model_name(full, "p-1", "us-central1")
    assert caught.value.key == "batch_model" and "europe-west4" in caught.value.message


def test_a_gpu_in_a_misspelled_region_names_the_region(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(
        "name: demo-case\nteam: ml\nuse_case: {stage: production, accelerator: gpu:NVIDIA_L4×1}\nregion: us-centrl1\n",
        encoding="utf-8",
    )
    for command in ("validate", "explain"):
        result = run(command, str(config))
        assert result.exit_code == cli_module.EXIT_USER_ERROR, result.output
        assert "tierstack.yaml:4, field 'region': 'us-centrl1' is not a Google Cloud region" in result.stderr
        assert "did you mean 'us-central1'?" in result.stderr and "not offered" not in result.stderr


@pytest.mark.slow
def test_synthesis_refuses_with_the_same_rule_when_validate_is_bypassed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """model_serving's build() is the last line, and it applies the very rule validate does (one definition)."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan import gcp_facts
    from tierstack.generator.plan.resolve import resolve

    config = CORPUS / "c3-batch-model-in-another-region.yaml"
    monkeypatch.setattr(gcp_facts, "_batch_problems", lambda *_: [])
    plan = resolve(load_spec(config))  # the facts check no longer sees the batch schedule
    with pytest.raises(UserError) as caught:
        generate(plan, tmp_path / "cdktf.out")
    assert caught.value.field == "environments.dev.capabilities.model_serving.batch_model"
    assert caught.value.message.startswith("the model is in europe-west4, but a batch prediction job must run")
