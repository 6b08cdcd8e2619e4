"""`tierstack upstream FLEET`: per member what a new upstream release changes and whom it puts at risk.

The upstream is a real git repository in tmp_path with two tags (as tests/test_upstream.py builds them):
v1.1.0 moves the default region from us-central1 to europe-west2 and lengthens a bucket's retention. Of
the fleet's three members, one writes no region (the release moves it: its buckets, datasets and
repositories are replaced, data at risk), one writes its own (only the retention changes, in place) and
one uses a built-in blueprint (no upstream). The judges for the resources: the single-config
`tierstack upstream`, run through the installed CLI on each member's own tierstack.yaml, and real
terraform planning each member's release over its applied stack (the offline stand-in); no test reaches
the network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from test_upstream import Repo

from conftest import run
from tierstack.generator.config.lockfile import LOCK_NAME, Pins, session

ORG = textwrap.dedent(
    """\
    extends: level-1-pipeline-automation
    tier: 1
    description: ACME org blueprint.
    region: {region}
    defaults:
      labels:
        org: acme
      capabilities:
        model_training:
          noncurrent_version_days: {days}
    """
)
USE_CASE = textwrap.dedent(
    """\
    team: ml
    use_case:
      stage: production
      retraining: scheduled
      schedule: "0 4 * * *"
      serving: batch
    """
)
FLEET = textwrap.dedent(
    """\
    fleet: propensity
    blueprint:
      git: ../org
      ref: v1.0.0
      path: blueprints/org.yaml.j2
    defaults:
      team: ml
      use_case: {stage: production, retraining: scheduled, schedule: "0 4 * * *", serving: batch}
    members:
      - name: prop-moves
      - name: prop-pinned
        region: us-central1
      - name: prop-builtin
        blueprint: level-1-pipeline-automation
    """
)
GIT = "blueprint:\n  git: ../org\n  ref: v1.0.0\n  path: blueprints/org.yaml.j2\n"
TIERSTACK = str(Path(sys.executable).with_name("tierstack"))


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    monkeypatch.setenv("TIERSTACK_CACHE", str(tmp_path / "cache"))
    repo = Repo(tmp_path / "org")
    repo.commit({"blueprints/org.yaml.j2": ORG.format(region="us-central1", days=30)}, "v1.0.0")
    repo.tag("v1.0.0")
    repo.commit({"blueprints/org.yaml.j2": ORG.format(region="europe-west2", days=90)}, "v1.1.0")
    repo.tag("v1.1.0")
    return repo


def write_fleet(folder: Path, text: str = FLEET) -> Path:
    """The fleet file in `folder` (beside the upstream), its tierstack.lock written as generate writes it."""
    from tierstack.generator.services.fleet import load_fleet

    folder.mkdir(exist_ok=True)
    path = folder / "props.fleet.yaml"
    path.write_text(text, encoding="utf-8")
    with session(Pins(folder)) as pins:
        load_fleet(path)
    pins.write_lock(keep=True)
    return path


@pytest.fixture
def fleet(tmp_path: Path, org: Repo, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_fleet(tmp_path / "fleet")


def single(tmp_path: Path, name: str, extra: str = "") -> Path:
    """The member's own tierstack.yaml, in a folder beside the upstream (so `../org` is the same repository)."""
    folder = tmp_path / f"single-{name}"
    folder.mkdir()
    path = folder / "tierstack.yaml"
    path.write_text(f"name: {name}\n" + USE_CASE + extra + GIT, encoding="utf-8")
    return path


def by_member(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["member"]: m for m in data["members"]}


# --- what the release changes, member by member (no synthesis) ------------------------------------


def test_each_member_shows_the_release_and_the_summary_names_them(fleet: Path, spawns: None) -> None:
    result = run("upstream", "fleet/props.fleet.yaml", "--no-resources")
    assert result.exit_code == 0, result.output
    out = result.output
    heads = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert heads == [
        "prop-moves: changes (v1.0.0 -> v1.1.0)",
        "prop-pinned: changes (v1.0.0 -> v1.1.0)",
        "prop-builtin: no upstream in git: its blueprint chain is tierstack:level-1-pipeline-automation -> "
        "tierstack:level-0-manual",
        "fleet propensity: 2 of 3 members change, data at risk not checked (--no-resources); "
        "1 uses no upstream in git: prop-builtin",
    ]
    moves, pinned = out.split("prop-pinned: ")[0], out.split("prop-pinned: ")[1].split("prop-builtin: ")[0]
    assert '      region: "us-central1" -> "europe-west2"\n        in dev, prod' in moves
    # the member that writes its region keeps it: a conflict at its line of the fleet file, no move
    line = FLEET.splitlines().index("    region: us-central1") + 1
    assert '    ! region (the default region): "us-central1" -> "europe-west2"' in pinned
    assert f"CONFLICT: this fork sets it itself at fleet/props.fleet.yaml:{line}" in pinned
    assert '      region: "us-central1"' not in pinned
    assert "capabilities.model_training.noncurrent_version_days: 30 -> 90" in pinned
    assert "pinned:   v1.0.0 (commit " in moves and "tierstack.lock" in moves


def test_the_json_document_has_each_members_comparison_and_the_summary(fleet: Path, spawns: None) -> None:
    result = run("upstream", "fleet/props.fleet.yaml", "--no-resources", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    members = by_member(data)
    assert {name: m["status"] for name, m in members.items()} == {
        "prop-moves": "changes",
        "prop-pinned": "changes",
        "prop-builtin": "no upstream",
    }
    assert members["prop-builtin"]["comparison"] is None
    assert members["prop-builtin"]["blueprint_chain"][0] == "tierstack:level-1-pipeline-automation"
    pinned = members["prop-pinned"]["comparison"]
    assert pinned["compared"]["ref"] == "v1.1.0" and pinned["pinned"]["locked"] is True
    assert [c["setting"] for c in pinned["upstream_changes"] if c["conflict"]] == ["region"]
    assert data["summary"]["changes"] == ["prop-moves", "prop-pinned"]
    assert data["summary"]["no_upstream"] == ["prop-builtin"] and data["summary"]["errors"] == []
    assert data["resources_compared"] is False


def test_members_pinned_to_the_release_are_up_to_date(fleet: Path, spawns: None) -> None:
    result = run("upstream", "fleet/props.fleet.yaml", "--no-resources", "--to", "v1.0.0")
    assert result.exit_code == 0, result.output
    assert "prop-moves: up to date at v1.0.0\n" in result.output
    assert "prop-pinned: up to date at v1.0.0\n" in result.output
    assert "fleet propensity: 0 of 3 members change" in result.output


def test_member_selects_some_and_a_wrong_name_is_an_error(fleet: Path, spawns: None) -> None:
    result = run("upstream", "fleet/props.fleet.yaml", "--no-resources", "--member", "prop-pinned")
    assert result.exit_code == 0, result.output
    assert "prop-moves" not in result.output
    assert "fleet propensity: 1 of 1 member (of 3) changes" in result.output
    result = run("upstream", "fleet/props.fleet.yaml", "--no-resources", "--member", "prop-pined")
    assert result.exit_code == 2, result.output
    assert "no member named 'prop-pined'" in result.output and "did you mean 'prop-pinned'?" in result.output


def test_accept_on_a_fleet_is_refused_and_nothing_moves(fleet: Path, spawns: None) -> None:
    lock = fleet.parent / LOCK_NAME
    before = (fleet.read_text(encoding="utf-8"), lock.read_text(encoding="utf-8"))
    result = run("upstream", "fleet/props.fleet.yaml", "--accept", "v1.1.0", "--no-resources")
    assert result.exit_code == 2, result.output
    assert "field '--accept'" in result.output and "cannot move for one member alone" in result.output
    assert "tierstack generate fleet/props.fleet.yaml --update" in result.output
    assert (fleet.read_text(encoding="utf-8"), lock.read_text(encoding="utf-8")) == before


def test_a_bad_fleet_file_is_exit_2_at_its_line(fleet: Path, spawns: None) -> None:
    text = FLEET.replace("  team: ml\n", "  team: ml\n  servng: batch\n")
    fleet.write_text(text, encoding="utf-8")
    result = run("upstream", "fleet/props.fleet.yaml", "--no-resources")
    assert result.exit_code == 2, result.output
    line = text.splitlines().index("  servng: batch") + 1
    assert f"props.fleet.yaml:{line}, field 'defaults.servng': unknown key 'servng'" in result.output
    assert "Traceback" not in result.output


def test_a_member_with_errors_is_reported_and_the_others_compared(fleet: Path, spawns: None) -> None:
    text = FLEET.replace("  - name: prop-pinned\n", "  - name: prop-pinned\n    team: Not A Team\n")
    write_fleet(fleet.parent, FLEET)  # the lock, from the valid fleet
    fleet.write_text(text, encoding="utf-8")
    result = run("upstream", "fleet/props.fleet.yaml", "--no-resources")
    assert result.exit_code == 2, result.output
    line = text.splitlines().index("    team: Not A Team") + 1
    assert "prop-pinned: error\n" in result.output
    assert f"props.fleet.yaml:{line}, field 'members[prop-pinned].team'" in result.output
    assert "prop-moves: changes (v1.0.0 -> v1.1.0)" in result.output
    assert result.output.rstrip().endswith("1 failed: prop-pinned")


def test_a_fleet_without_any_upstream_is_an_error(tmp_path: Path) -> None:
    text = FLEET.replace(GIT, "blueprint: level-1-pipeline-automation\n", 1)
    text = text.replace("    blueprint: level-1-pipeline-automation\n", "")
    assert "git:" not in text
    path = write_fleet(tmp_path / "builtin", text)
    result = run("upstream", str(path), "--no-resources")
    assert result.exit_code == 2, result.output
    assert "none of the members compared has an upstream in git: prop-moves, prop-pinned, prop-builtin" in result.output


def test_member_and_jobs_are_for_a_fleet_file(tmp_path: Path) -> None:
    path = single(tmp_path, "prop-moves")
    for option in (["--member", "x"], ["--jobs", "2"]):
        result = run("upstream", str(path), "--no-resources", *option)
        assert result.exit_code == 2 and f"{option[0]} is for a fleet file" in result.output, result.output


# --- the effect on the resources: real synthesis, judged by the single-config command -------------------


def installed_upstream(config: Path) -> tuple[int, dict[str, Any]]:
    """`tierstack upstream CONFIG --format json` through the installed CLI, in a process of its own."""
    done = subprocess.run(
        [TIERSTACK, "upstream", str(config), "--format", "json"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def addresses(resources: dict[str, Any]) -> list[str]:
    """The stateful resources a comparison puts at risk, read from its stacks (not its summary list)."""
    return sorted(
        f"{stack['name']}: {change['address']}"
        for stack in resources["stacks"]
        for change in stack["resources"]
        if change["data_at_risk"]
    )


def test_the_member_the_release_puts_at_risk_is_named_as_upstream_names_it(
    fleet: Path, tmp_path: Path, synthesizes: None, spawns: None
) -> None:
    result = run("upstream", "fleet/props.fleet.yaml", "--format", "json", "--jobs", "1")
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["at_risk"] == ["prop-moves"]
    assert "[1/2] prop-moves: dev, prod synthesized at both refs" in result.stderr  # prop-builtin: nothing to do
    assert data["summary"]["text"] in result.stderr
    assert data["summary"]["text"] == (
        "fleet propensity: 2 of 3 members change, 1 puts data at risk: prop-moves; "
        "1 uses no upstream in git: prop-builtin"
    )
    members = by_member(data)
    moved = members["prop-moves"]
    assert moved["at_risk"] and all("replaced" in risk["reason"] for risk in moved["at_risk"])
    assert members["prop-pinned"]["at_risk"] == [] and members["prop-builtin"]["at_risk"] == []
    # the judge: the single-config command on each member's own tierstack.yaml, through the installed CLI
    code, alone = installed_upstream(single(tmp_path, "prop-moves"))
    assert code == 3
    assert addresses(alone["resources"]) == addresses(moved["comparison"]["resources"])
    assert sorted(f"{r['stack']}: {r['address']}" for r in moved["at_risk"]) == addresses(alone["resources"])
    assert alone["resources"] == moved["comparison"]["resources"]
    code, alone = installed_upstream(single(tmp_path, "prop-pinned", "region: us-central1\n"))
    assert code == 0 and addresses(alone["resources"]) == []
    assert alone["resources"] == members["prop-pinned"]["comparison"]["resources"]
    changed = [s["name"] for s in alone["resources"]["stacks"] if s["status"] == "changed"]
    assert changed == ["prop-pinned-dev", "prop-pinned-prod"]  # the retention, in place


def test_worker_processes_give_the_same_report(fleet: Path, synthesizes: None, spawns: None) -> None:
    """--jobs 2 synthesizes the two changed members in two spawned workers: the same document, in order."""
    one = run("upstream", "fleet/props.fleet.yaml", "--format", "json", "--jobs", "1")
    two = run("upstream", "fleet/props.fleet.yaml", "--format", "json", "--jobs", "2")
    assert (one.exit_code, two.exit_code) == (3, 3), two.output
    assert json.loads(two.stdout) == json.loads(one.stdout)


def test_an_unchanged_environment_is_not_synthesized_and_the_report_is_a_full_ones(
    org: Repo, tmp_path: Path, synthesizes: None, spawns: None
) -> None:
    """The shortcut of resource_changes: dev keeps its own region and retention, so only prod is synthesized;
    the report is the one both environments synthesized at both refs give."""
    from tierstack.generator.analysis import diff as diffing
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.plan.resolve import resolve
    from tierstack.generator.services import upstream as upstreams

    own = (
        "environments:\n  dev:\n    region: us-central1\n"
        "    overrides: {capabilities: {model_training: {noncurrent_version_days: 30}}}\n  prod: {}\n"
    )
    config = single(tmp_path, "prop-split", own)
    comparison = upstreams.compare(config)
    assert upstreams.changed_environments(comparison) == ["prod"]
    with session(Pins(config.parent)):
        old = resolve(load_spec(config))
    with session(Pins(config.parent, refs={comparison.pin.key: "v1.1.0"})):
        new = resolve(load_spec(config))
    full = upstreams.resource_changes(old, new, "v1.0.0", "v1.1.0", ["dev", "prod"])
    assert {s.name: s.status for s in full.stacks} == {"prop-split-dev": "unchanged", "prop-split-prod": "changed"}
    assert diffing.to_data(comparison.resources) == diffing.to_data(full)


def test_terraform_plans_the_replacements_the_fleet_report_names(
    fleet: Path, tmp_path: Path, terraform: Any, synthesizes: None, spawns: None
) -> None:
    """A judge we did not write: each compared member's prod stack at v1.0.0 applied to the offline stand-in
    (which replaces what the provider cannot update in place), its stack at v1.1.0 planned against that
    state. The stateful resources Terraform would delete are exactly those the fleet report puts at risk."""
    from standin import mirror
    from tierstack.generator.facts.stateful import is_stateful
    from tierstack.generator.services.fleet import resolved_member
    from tierstack.generator.synth.stacks import synthesize

    names = ["prop-moves", "prop-pinned"]
    result = run("upstream", "fleet/props.fleet.yaml", "--format", "json", *(f"--member={n}" for n in names))
    assert result.exit_code == 3, result.output
    report = by_member(json.loads(result.stdout))
    key = ("../org", "blueprints/org.yaml.j2")
    deleted: dict[str, list[str]] = {}
    for name in names:
        stacks = {}
        for ref in ("v1.0.0", "v1.1.0"):
            with session(Pins(fleet.parent, refs={key: ref} if ref != "v1.0.0" else None)):
                plan = resolved_member(fleet, name)
            (tmp_path / name).mkdir(exist_ok=True)
            synthesize(plan, tmp_path / name / ref, ["prod"])
            stacks[ref] = tmp_path / name / ref / "stacks" / f"{name}-prod"
        workdir = mirror.workdir_for(stacks["v1.0.0"], tmp_path / name / "work")
        mirror.plan(terraform, workdir)
        mirror.apply(terraform, workdir)
        shutil.copy(stacks["v1.1.0"] / "cdk.tf.json", workdir / "cdk.tf.json")
        planned = mirror.plan(terraform, workdir, "release.tfplan")
        deleted[name] = sorted(
            f"{name}-prod: {c['address']}"
            for c in planned["resource_changes"]  # type: ignore[attr-defined]
            if "delete" in c["change"]["actions"] and is_stateful(c["type"])
        )
        named = sorted(f"{r['stack']}: {r['address']}" for r in report[name]["at_risk"] if r["stack"] == f"{name}-prod")
        assert deleted[name] == named, name
    assert deleted["prop-moves"] and not deleted["prop-pinned"]
