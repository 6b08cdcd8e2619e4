"""`tierstack upstream` shows a change of the upstream's regions (its default, the regions it allows) as a line
of its own; a fork that pins its own region keeps it, and the line says so (a conflict, `!`).

The upstream is a local git repository in tmp_path (no network); git runs in a subprocess.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from test_upstream import Repo, pinned_resolve

from conftest import run

ORG = textwrap.dedent(
    """\
    extends: level-1-pipeline-automation
    tier: 1
    description: ACME org blueprint.
    region: {region}
    allowed_regions: {allowed}
    defaults:
      labels:
        org: acme
    """
)
CONFIG = textwrap.dedent(
    """\
    name: demo-case
    team: ml
    use_case:
      stage: production
      retraining: scheduled
      schedule: "0 4 * * *"
      serving: batch
    """
)
GIT = "blueprint:\n  git: ../org\n  ref: v1.0.0\n  path: blueprints/org.yaml.j2\n"


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """v1.0.0: us-central1 of [us-central1, europe-west2]; v1.1.0: europe-west2 of [europe-west2, europe-west1]."""
    monkeypatch.setenv("TIERSTACK_CACHE", str(tmp_path / "cache"))
    repo = Repo(tmp_path / "org")
    repo.commit({"blueprints/org.yaml.j2": ORG.format(region="us-central1", allowed="[us-central1, europe-west2]")})
    repo.tag("v1.0.0")
    repo.commit({"blueprints/org.yaml.j2": ORG.format(region="europe-west2", allowed="[europe-west2, europe-west1]")})
    repo.tag("v1.1.0")
    return repo


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    here = tmp_path / "fork"
    here.mkdir()
    monkeypatch.chdir(here)
    return here


def test_a_new_default_region_is_its_own_line_and_moves_the_plan(org: Repo, folder: Path, spawns: None) -> None:
    config = folder / "tierstack.yaml"
    config.write_text(CONFIG + GIT, encoding="utf-8")
    plan, _ = pinned_resolve(config)
    assert {env.region for env in plan.environments.values()} == {"us-central1"}  # type: ignore[attr-defined]
    result = run("upstream", "--no-resources")
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        '    region (the default region): "us-central1" -> "europe-west2"  (../org@v1.1.0:blueprints/org.yaml.j2:4)'
    ) in out, out
    assert (
        '    allowed_regions (the regions it allows): ["us-central1", "europe-west2"] -> ["europe-west2", '
        '"europe-west1"]  (../org@v1.1.0:blueprints/org.yaml.j2:5)'
    ) in out, out
    moved = (
        '    region: "us-central1" -> "europe-west2"\n      in dev, prod; set at ../org@v1.0.0:blueprints/org.yaml.j2:4'
    )
    assert moved in out, out
    data = json.loads(run("upstream", "--no-resources", "--format", "json").output)
    [region] = [c for c in data["upstream_changes"] if c["setting"] == "region"]
    assert (region["before"], region["after"], region["conflict"]) == ("us-central1", "europe-west2", False)
    assert region["environments"] == ["dev", "prod"]


def test_a_fork_pinned_to_its_region_keeps_it_and_upstream_says_so(org: Repo, folder: Path, spawns: None) -> None:
    upstream = ["../org", "--ref", "v1.0.0", "--path", "blueprints/org.yaml.j2"]
    result = run("fork", *upstream, "--name", "team-uk", "--region", "europe-west2")
    assert result.exit_code == 0, result.output
    overlay = folder / "team-uk.yaml.j2"
    text = overlay.read_text(encoding="utf-8")
    assert 'region: europe-west2  # replaces "us-central1" (blueprints/org.yaml.j2:4 @ v1.0.0)' in text
    assert (
        'allowed_regions: [europe-west2]  # replaces ["us-central1", "europe-west2"] (blueprints/org.yaml.j2:5' in text
    )
    config = folder / "tierstack.yaml"
    config.write_text(CONFIG + "blueprint: ./team-uk.yaml.j2\n", encoding="utf-8")
    plan, _ = pinned_resolve(config)
    assert {env.region for env in plan.environments.values()} == {"europe-west2"}  # type: ignore[attr-defined]
    result = run("upstream", "--no-resources")
    assert result.exit_code == 0, result.output
    lines = text.splitlines()
    region_line = next(n for n, line in enumerate(lines, start=1) if line.startswith("region:"))
    allowed_line = next(n for n, line in enumerate(lines, start=1) if line.startswith("allowed_regions:"))
    out = result.output
    assert '  ! region (the default region): "us-central1" -> "europe-west2"' in out, out
    assert f"CONFLICT: this fork sets it itself at team-uk.yaml.j2:{region_line}" in out
    assert '  ! allowed_regions (the regions it allows): ["us-central1", "europe-west2"] ->' in out
    assert f"CONFLICT: this fork sets it itself at team-uk.yaml.j2:{allowed_line}" in out
    assert "environments.dev.region" not in out  # the fork keeps its region: the plan does not move
    result = run("upstream", "--accept", "v1.1.0", "--no-resources")
    assert result.exit_code == 0, result.output
    after = overlay.read_text(encoding="utf-8")
    assert 'region: europe-west2  # replaces "europe-west2" (blueprints/org.yaml.j2:4 @ v1.1.0)' in after
    assert '# replaces ["europe-west2", "europe-west1"] (blueprints/org.yaml.j2:5 @ v1.1.0)' in after


def test_a_config_region_the_new_release_no_longer_allows_is_said_at_its_line(
    org: Repo, folder: Path, spawns: None
) -> None:
    config = folder / "tierstack.yaml"
    config.write_text(CONFIG + "region: us-central1\n" + GIT, encoding="utf-8")
    pinned_resolve(config)
    result = run("upstream", "--no-resources")
    assert result.exit_code == 2, result.output
    assert "tierstack.yaml:8, field 'region': at v1.1.0 of " in result.output, result.output
    assert (
        "this fork does not resolve: us-central1 is not a region the blueprint allows: "
        "../org@v1.1.0:blueprints/org.yaml.j2:5 allows europe-west2, europe-west1"
    ) in result.output, result.output
