"""Stable addresses: changing the selection or the environments never moves another resource.

Terraform addresses come from construct ids (`<type>.<capability>_<name>`), so a
resource's address cannot depend on what else is in the stack. These tests
synthesize variants of one use case and compare.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from synth_support import read_stack, resources
from tierstack.generator.config.spec import load_spec
from tierstack.generator.output.generate import generate
from tierstack.generator.plan.resolve import resolve

BASE = """\
name: stable
team: ml-platform
use_case:
  stage: production
  retraining: scheduled
  schedule: "0 3 * * 1"
  serving: online
region: us-central1
"""
TWO_ENVS = "environments:\n  dev: {}\n  prod: {}\n"


@pytest.fixture
def synth(tmp_path: Path) -> Callable[[str], dict[str, dict]]:
    """Synthesize a spec; return stack name -> {address: body}."""
    counter = iter(range(100))

    def _synth(text: str) -> dict[str, dict]:
        n = next(counter)
        config = tmp_path / f"case{n}" / "tierstack.yaml"
        config.parent.mkdir()
        config.write_text(text)
        out = config.parent / "cdktf.out"
        names = [s.name for s in generate(resolve(load_spec(config)), out)]
        return {name: resources(read_stack(out, name)) for name in names}

    return _synth


def test_adding_a_capability_only_adds_addresses(synth: Callable[[str], dict], synthesizes: None) -> None:
    before = synth(BASE + TWO_ENVS)
    after = synth(BASE + TWO_ENVS + "capabilities:\n  add: [feature_repository, experimentation]\n")
    for stack, old in before.items():
        new = after[stack]
        assert set(old) <= set(new), f"{stack}: addresses moved: {sorted(set(old) - set(new))}"
        added = set(new) - set(old)
        assert any(a.startswith("google_vertex_ai_feature_online_store.") for a in added)
        assert any(a.startswith("google_workbench_instance.") for a in added)


def test_removing_a_capability_only_removes_its_own_addresses(synth: Callable[[str], dict], synthesizes: None) -> None:
    before = synth(BASE + TWO_ENVS)
    after = synth(BASE + TWO_ENVS + "capabilities:\n  remove: [model_monitoring]\n")
    for stack, old in before.items():
        new = after[stack]
        assert set(new) <= set(old)
        gone = set(old) - set(new)
        assert gone and all(".model_monitoring_" in a for a in gone), sorted(gone)


def test_reordering_capability_changes_gives_identical_stacks(synth: Callable[[str], dict], synthesizes: None) -> None:
    one = synth(BASE + TWO_ENVS + "capabilities:\n  add: [experimentation, feature_repository]\n")
    two = synth(BASE + TWO_ENVS + "capabilities:\n  add: [feature_repository, experimentation]\n")
    assert one == two


def test_reordering_environments_gives_identical_stacks(synth: Callable[[str], dict], synthesizes: None) -> None:
    assert synth(BASE + TWO_ENVS) == synth(BASE + "environments:\n  prod: {}\n  dev: {}\n")


def test_adding_or_removing_an_environment_leaves_the_others_untouched(
    synth: Callable[[str], dict], synthesizes: None
) -> None:
    two = synth(BASE + TWO_ENVS)
    three = synth(BASE + "environments:\n  dev: {}\n  staging: {}\n  prod: {}\n")
    assert set(three) == {"stable-dev", "stable-staging", "stable-prod"}
    assert three["stable-dev"] == two["stable-dev"]
    assert three["stable-prod"] == two["stable-prod"]
