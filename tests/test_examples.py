"""The bundled examples: checked-in outputs are current, and output is deterministic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from refresh import catalog_doc, outputs
from synth_support import example_configs

CONFIGS = example_configs(REPO / "examples")


@pytest.mark.slow  # one process per example
def test_there_are_at_least_three_examples_across_all_tiers() -> None:
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve

    tiers = {resolve(load_spec(config)).selection.tier for config in CONFIGS}  # what explain reports, unsynthesized
    assert len(CONFIGS) >= 3
    assert tiers == {0, 1, 2}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.parent.name for c in CONFIGS])
@pytest.mark.change_detector
def test_checked_in_outputs_match(config: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None) -> None:
    """A change detector: explain.txt and resolved.txt are written by the code they check (`make refresh`)."""
    monkeypatch.chdir(REPO)
    relative = config.relative_to(REPO)
    for name, text in outputs(relative).items():
        checked_in = (config.parent / name).read_text(encoding="utf-8")
        assert text == checked_in, f"{relative.parent / name} is stale: run `make refresh` and review the diff"


@pytest.mark.parametrize("command", [["explain"], ["show", "--resolved", "--provenance"]])
def test_output_is_byte_identical_across_processes_and_hash_seeds(command: list[str], spawns: None) -> None:
    config = "examples/fraud-detection/tierstack.yaml"
    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-m", "tierstack.generator.cli", *command, config],
            capture_output=True,
            cwd=REPO,
            env=env,
            check=True,
        )
        runs.append(out.stdout)
    assert runs[0] == runs[1] and runs[0]


@pytest.mark.change_detector
def test_catalog_doc_is_current() -> None:
    """A change detector: docs/capabilities.md is written from the catalog and rules it shows (`make refresh`)."""
    checked_in = (REPO / "docs/capabilities.md").read_text(encoding="utf-8")
    assert catalog_doc() == checked_in, "docs/capabilities.md is stale: run `make refresh`"
