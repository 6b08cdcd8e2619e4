"""Tiers, pins, gaps, explicit additions and removals, requirements."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conftest import use_case
from tierstack.generator.config.spec import LoadedSpec
from tierstack.generator.core.errors import ErrorList, UserError
from tierstack.generator.plan.selection import select

SCHEDULED = {"retraining": "scheduled", "schedule": "0 3 * * 1"}


@pytest.mark.parametrize(
    ("answers", "tier"),
    [
        ({"serving": "batch"}, 0),
        ({**SCHEDULED}, 1),
        ({"mission_critical": True}, 1),
        ({"code_changes": "frequent"}, 2),
        ({"stage": "research"}, 0),
    ],
)
def test_recommended_tier(answers: dict[str, object], tier: int, spec_of: Callable[..., LoadedSpec]) -> None:
    selection = select(spec_of(use_case(**answers)))
    assert selection.recommended_tier == tier == selection.tier
    assert not selection.pinned


def test_pinned_tier_lacking_a_capability_is_an_error_naming_it(spec_of: Callable[..., LoadedSpec]) -> None:
    with pytest.raises(UserError) as err:
        select(spec_of(use_case(**SCHEDULED) + "tier: 0\n"))
    assert err.value.field == "tier"
    assert err.value.line == 7  # name, team, use_case, stage, retraining, schedule, then tier
    assert "ml_pipelines" in err.value.message and "use_case.retraining = scheduled" in err.value.message
    assert "allow_gaps" in (err.value.hint or "")


def test_pinned_tier_without_ci_cd_is_a_gap(spec_of: Callable[..., LoadedSpec]) -> None:
    with pytest.raises(UserError, match="CI/CD"):
        select(spec_of(use_case(code_changes="frequent") + "tier: 1\n"))


def test_allowed_gaps_drop_the_capabilities_and_warn(spec_of: Callable[..., LoadedSpec]) -> None:
    selection = select(spec_of(use_case(**SCHEDULED) + "tier: 0\nallow_gaps: true\n"))
    assert selection.tier == 0 and selection.pinned
    assert "ml_pipelines" in selection.gaps and "ml_pipelines" not in selection.ids
    assert "model_training" in selection.ids  # tier 0 has it
    assert any("allow_gaps" in w for w in selection.warnings)


def test_pinning_above_the_recommendation_warns(spec_of: Callable[..., LoadedSpec]) -> None:
    selection = select(spec_of(use_case(serving="batch") + "tier: 2\n"))
    assert selection.tier == 2 and selection.recommended_tier == 0
    assert any("above the recommended" in w for w in selection.warnings)


def test_explicit_add_pulls_in_requirements_with_reasons(spec_of: Callable[..., LoadedSpec]) -> None:
    selection = select(spec_of(use_case() + "capabilities:\n  add: [feature_repository]\n"))
    assert selection.has("feature_repository") and selection.has("data_processing")
    [reason] = selection.capabilities["feature_repository"]
    assert (reason.field, reason.line) == ("capabilities.add", 6)
    assert [r.field for r in selection.capabilities["data_processing"]] == ["requires"]
    assert selection.recommended_tier == 1


def test_explicit_remove_is_recorded_with_what_it_overrode(spec_of: Callable[..., LoadedSpec]) -> None:
    selection = select(spec_of(use_case(serving="online") + "capabilities:\n  remove: [model_monitoring]\n"))
    assert not selection.has("model_monitoring")
    assert [r.field for r in selection.removed["model_monitoring"]] == ["use_case.serving"]


@pytest.mark.parametrize(
    ("changes", "message", "field"),
    [
        ("remove: [foundation]", "cannot be removed: every stack needs it", "capabilities.remove.0"),
        ("add: [model_serving]\n  remove: [model_serving]", "both added and removed", "capabilities.remove.0"),
        (
            "remove: [data_processing]\n  add: [feature_repository]",
            "feature_repository builds on it",
            "capabilities.remove.0",
        ),
    ],
)
def test_impossible_removals(changes: str, message: str, field: str, spec_of: Callable[..., LoadedSpec]) -> None:
    with pytest.raises(UserError) as err:
        select(spec_of(use_case() + f"capabilities:\n  {changes}\n"))
    assert message in err.value.message
    assert err.value.field == field


def test_all_contradictions_are_reported_together(spec_of: Callable[..., LoadedSpec]) -> None:
    with pytest.raises(ErrorList) as err:
        select(spec_of(use_case(online_experimentation=True, retraining="scheduled")))
    fields = {e.field for e in err.value.errors}
    assert fields == {"use_case.online_experimentation", "use_case.schedule"}


def test_accelerator_unknown_in_an_environment_region_names_that_environment(
    spec_of: Callable[..., LoadedSpec],
) -> None:
    text = use_case(accelerator="tpu:TPU_V3") + (
        "region: us-central1\nenvironments:\n  dev: {}\n  prod:\n    region: asia-east1\n"
    )
    with pytest.raises(UserError) as err:
        select(spec_of(text))
    assert err.value.field == "environments.prod.region"
    assert "europe-west4, us-central1" in (err.value.hint or "")


def test_selection_is_in_catalog_order_whatever_the_rule_order(spec_of: Callable[..., LoadedSpec]) -> None:
    from tierstack.generator.facts.catalog import load_catalog

    ids = select(spec_of(use_case(mission_critical=True, serving="online", **SCHEDULED))).ids
    order = load_catalog().ids
    assert list(ids) == [c for c in order if c in ids]
