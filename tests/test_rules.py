"""Every row of docs/design.md's 'From use case to capabilities' table, on and off.

The expected sets are written out here from the design document, not read
from generator/plan/rules.py, so a change to the rules that disagrees with the
design fails.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import use_case
from tierstack.generator.config.spec import LoadedSpec
from tierstack.generator.core.errors import UserError
from tierstack.generator.plan.resolve import Resolved
from tierstack.generator.plan.selection import select

ALWAYS = {"foundation", "cost_controls"}

# (answers, capabilities the design says they switch on)
ROWS = [
    ({"stage": "research"}, {"experimentation", "data_processing"}),
    ({"mission_critical": True}, {"model_monitoring", "model_evaluation", "model_registry", "metadata_tracking"}),
    ({"reusable": True}, {"model_registry", "metadata_tracking", "feature_repository"}),
    ({"retraining": "on_degradation"}, {"model_training", "model_monitoring"}),  # ad hoc: the owners retrain
    (
        {"retraining": "on_degradation", "retraining_trigger": "automatic"},
        {"model_training", "model_monitoring", "ml_pipelines"},
    ),
    (
        {"retraining": "scheduled", "schedule": "0 3 * * 1"},
        {
            "data_processing",
            "model_training",
            "model_evaluation",
            "ml_pipelines",
            "model_registry",
            "metadata_tracking",
        },
    ),
    ({"code_changes": "frequent"}, {"ml_pipelines"}),
    ({"serving": "batch"}, {"model_serving", "serving_slos"}),
    ({"serving": "online"}, {"model_serving", "model_monitoring", "serving_slos"}),
    (
        {"serving": "online", "online_experimentation": True},
        {"model_serving", "model_monitoring", "serving_slos", "online_experimentation", "model_registry"},
    ),
    ({"accelerator": "gpu:NVIDIA_L4×1"}, {"model_training"}),
]

# requires: feature_repository builds on data_processing (catalog), so the reusable row pulls it in
PULLED_IN = {"feature_repository": {"data_processing"}}


@pytest.mark.parametrize(("answers", "expected"), ROWS, ids=[repr(a) for a, _ in ROWS])
def test_row_switches_exactly_its_capabilities_on(
    answers: dict[str, object], expected: set[str], spec_of: Callable[..., LoadedSpec]
) -> None:
    selected = set(select(spec_of(use_case(**answers))).ids)
    pulled = set().union(*(PULLED_IN.get(c, set()) for c in expected))
    assert selected == ALWAYS | expected | pulled


def test_with_every_answer_off_only_the_always_capabilities_remain(spec_of: Callable[..., LoadedSpec]) -> None:
    loaded = spec_of(
        use_case(
            mission_critical=False,
            reusable=False,
            retraining="none",
            code_changes="rare",
            serving="none",
            online_experimentation=False,
            accelerator="none",
        )
    )
    selection = select(loaded)
    assert set(selection.ids) == ALWAYS
    assert selection.recommended_tier == 0
    assert selection.features == {}


@pytest.mark.parametrize(("answers", "_"), ROWS[1:], ids=[repr(a) for a, _ in ROWS[1:]])
def test_every_reason_names_the_answer_that_switched_it_on(
    answers: dict[str, object], _: set[str], spec_of: Callable[..., LoadedSpec]
) -> None:
    selection = select(spec_of(use_case(**answers)))
    fields = {r.field for reasons in selection.capabilities.values() for r in reasons}
    for key in answers:
        if key != "schedule":
            assert f"use_case.{key}" in fields


def test_research_ignores_nothing_silently(spec_of: Callable[..., LoadedSpec]) -> None:
    with pytest.raises(UserError) as err:
        select(spec_of(use_case(stage="research", serving="online")))
    assert err.value.field == "use_case.serving"
    assert "research" in err.value.message


def test_frequent_code_changes_mean_ci_cd_and_tier_two(spec_of: Callable[..., LoadedSpec]) -> None:
    on = select(spec_of(use_case(code_changes="frequent")))
    off = select(spec_of(use_case(code_changes="rare", retraining="scheduled", schedule="0 1 * * *")))
    assert "ci_cd" in on.features and on.recommended_tier == 2
    assert "ci_cd" not in off.features and off.recommended_tier == 1


def test_mission_critical_gives_production_serving_and_cmek_in_prod(
    resolve_text: Callable[..., Resolved],
) -> None:
    answers = {"retraining": "scheduled", "schedule": "0 1 * * *", "serving": "online"}
    on = resolve_text(use_case(mission_critical=True, **answers)).environments
    off = resolve_text(use_case(mission_critical=False, **answers)).environments
    assert on["prod"].settings["serving_class"] == "production"
    assert on["prod"].settings["delete_protection"] is True
    assert on["prod"].settings["encryption"]["cmek"] is True
    assert on["prod"].settings["capabilities"]["model_serving"]["min_replicas"] >= 2
    assert on["dev"].settings["serving_class"] == "experimental"
    # serving online in production is the production class whatever the use case (the ML-SRE rule)
    assert off["prod"].settings["serving_class"] == "production"
    batch = resolve_text(use_case(mission_critical=False, **{**answers, "serving": "batch"})).environments
    assert batch["prod"].settings["serving_class"] == "experimental"
    assert off["prod"].settings["delete_protection"] is True  # production always keeps state (DESIGN, Stacks)
    assert off["dev"].settings["delete_protection"] is False
    assert off["prod"].settings["encryption"]["cmek"] is False


def test_serving_mode_reaches_the_serving_settings(resolve_text: Callable[..., Resolved]) -> None:
    batch = resolve_text(use_case(serving="batch")).environments["dev"].settings
    online = resolve_text(use_case(serving="online")).environments["dev"].settings
    assert batch["capabilities"]["model_serving"]["mode"] == "batch"
    assert online["capabilities"]["model_serving"]["mode"] == "online"


@pytest.mark.parametrize(
    ("accelerator", "machine", "count"),
    [
        ("gpu:NVIDIA_L4×2", "g2-standard-24", 2),
        ("gpu:nvidia-tesla-t4x4", "n1-standard-32", 4),
        ("tpu:TPU_V5_LITEPOD", "ct5lp-hightpu-4t", 4),
        ("gpu:NVIDIA_TESLA_A100", "a2-highgpu-1g", 1),
    ],
)
def test_accelerator_sets_the_training_pool_machine_spec(
    accelerator: str, machine: str, count: int, resolve_text: Callable[..., Resolved]
) -> None:
    environments = resolve_text(
        use_case(accelerator=accelerator) + "environments:\n  dev: {}\n  prod: {}\n"
    ).environments
    for env in ("dev", "prod"):
        pool = environments[env].settings["capabilities"]["model_training"]["training_pool"]
        assert pool["machine_type"] == machine
        assert pool["accelerator_count"] == count
        # always-on: only in production, and never for a TPU (on-demand jobs there)
        assert pool["enabled"] is (env == "prod" and accelerator.startswith("gpu")), env


def test_without_accelerator_training_is_on_demand(resolve_text: Callable[..., Resolved]) -> None:
    pool = (
        resolve_text(use_case(retraining="on_degradation"))
        .environments["dev"]
        .settings["capabilities"]["model_training"]["training_pool"]
    )
    assert pool == {"enabled": False}


def test_online_experimentation_without_online_serving_is_a_contradiction(
    spec_of: Callable[..., LoadedSpec],
) -> None:
    with pytest.raises(UserError) as err:
        select(spec_of(use_case(serving="batch", online_experimentation=True)))
    assert err.value.field == "use_case.online_experimentation"
    assert "serving" in err.value.render()


@pytest.mark.parametrize(
    "row",
    [
        {"field": "serving", "value": "streaming"},  # not one of the spec's serving choices
        {"field": "serving", "value": "online", "stages": ("prod",)},  # not one of its stages
    ],
)
def test_a_rule_row_names_only_answers_the_spec_can_hold(row: dict[str, object]) -> None:
    from tierstack.generator.plan.rules import Rule

    with pytest.raises(ValueError, match="not among the spec's choices"):
        Rule(capabilities=("model_serving",), why="a typo", **row)  # type: ignore[arg-type]


def test_the_spec_and_the_questionnaire_share_one_list_of_choices() -> None:
    import typing

    from tierstack.generator.cli.init import CHOICES
    from tierstack.generator.config.choices import ANSWER_CHOICES
    from tierstack.generator.config.spec import UseCase

    assert CHOICES is ANSWER_CHOICES
    for name, values in ANSWER_CHOICES.items():
        assert typing.get_args(UseCase.model_fields[name].annotation) == values


def test_retraining_on_degradation_is_ad_hoc_unless_the_use_case_asks(spec_of: Callable[..., LoadedSpec]) -> None:
    """Google's guide: retraining on degradation needs training and monitoring, not a pipeline; the automatic
    trigger (and ml_pipelines with it) only when the use case says so, with the reason explain shows."""
    ad_hoc = select(spec_of(use_case(retraining="on_degradation")))
    assert not ad_hoc.has("ml_pipelines") and ad_hoc.has("model_monitoring")
    [why] = [r.why for r in ad_hoc.capabilities["model_monitoring"] if r.field == "use_case.retraining"]
    assert "tells the owners" in why
    automatic = select(spec_of(use_case(retraining="on_degradation", retraining_trigger="automatic")))
    [reason] = automatic.capabilities["ml_pipelines"]
    assert reason.field == "use_case.retraining_trigger" and "start the training pipeline" in reason.why


@pytest.mark.parametrize("retraining", ["none", "scheduled"])
def test_an_automatic_trigger_without_retraining_on_degradation_is_a_contradiction(
    retraining: str, spec_of: Callable[..., LoadedSpec]
) -> None:
    extra = {"schedule": "0 3 * * 1"} if retraining == "scheduled" else {}
    with pytest.raises(UserError) as err:
        select(spec_of(use_case(retraining=retraining, retraining_trigger="automatic", **extra)))
    assert err.value.field == "use_case.retraining_trigger"
    assert "retraining: on_degradation" in err.value.render()
