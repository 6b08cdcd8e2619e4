"""Which stacks a pull request plans (generator/services/changed_stacks.py, issue 23), on a real git repository.

Two commits made with git in a temporary repository, their stacks the real Terraform JSON of an example.
git is the judge of what each commit holds; `tierstack diff --committed` (the command the PR workflow
already runs) is the judge of which stacks' Terraform changes: every stack planned for its Terraform is
one it reports changed, and every stack skipped as unchanged is one it reports unchanged.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, git, run
from tierstack.generator.core.errors import UserError
from tierstack.generator.services import changed_stacks

REAL = REPO / "examples" / "fraud-detection" / "cdktf.out" / "stacks" / "fraud-detection-dev" / "cdk.tf.json"
LOCK = 'provider "registry.terraform.io/hashicorp/google" {\n  version = "{v}"\n}\n'


def stack_json(change: str = "") -> dict[str, Any]:
    """The example's real stack; `change`: 'bucket' changes a bucket's lifecycle age, 'metadata' only `//`."""
    data: dict[str, Any] = json.loads(REAL.read_text())
    data = copy.deepcopy(data)
    if change == "bucket":
        bucket = data["resource"]["google_storage_bucket"]["data_processing_dataflow_bucket"]
        bucket["force_destroy"] = not bucket.get("force_destroy", False)
    elif change == "metadata":
        data["//"]["metadata"] = {**data["//"]["metadata"], "version": "another tierstack"}
    return data


def write_stack(out: Path, name: str, change: str = "", lock: str | None = None, page: str = "page") -> None:
    folder = out / "stacks" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cdk.tf.json").write_text(json.dumps(stack_json(change), indent=2))
    (folder / "README.md").write_text(page)
    if lock is not None:
        (folder / ".terraform.lock.hcl").write_text(LOCK.replace("{v}", lock))


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    return repo


def test_only_the_stacks_whose_output_changes_are_planned(repo: Path, spawns: None) -> None:
    uc = repo / "uc"
    uc.mkdir()
    (uc / "tierstack.yaml").write_text("name: uc\n")
    out = uc / "cdktf.out"
    for name in ("uc-dev", "uc-staging", "uc-prod", "uc-old"):
        write_stack(out, name)
    base = commit(repo, "base")
    write_stack(out, "uc-prod", change="bucket")  # its Terraform: planned
    write_stack(out, "uc-dev", change="metadata", page="another page")  # tierstack's metadata, its page: not
    write_stack(out, "uc-staging", lock="6.0.0")  # a provider lock file: planned
    write_stack(out, "uc-qa")  # new: planned
    shutil.rmtree(out / "stacks" / "uc-old")  # gone: nothing to plan
    head = commit(repo, "head")

    scope = changed_stacks.changed_stacks(repo, base, head, "uc/tierstack.yaml")
    data = changed_stacks.to_data(scope)
    assert [(s["stack"], s["directory"]) for s in data["matrix"]["include"]] == [
        ("uc-prod", "uc/cdktf.out/stacks/uc-prod"),
        ("uc-qa", "uc/cdktf.out/stacks/uc-qa"),
        ("uc-staging", "uc/cdktf.out/stacks/uc-staging"),
    ]
    why = {s.stack: s.why for s in scope.stacks}
    assert why == {
        "uc-dev": "output unchanged",
        "uc-old": "removed",
        "uc-prod": "Terraform changed",
        "uc-qa": "new stack",
        "uc-staging": "provider lock changed",
    }
    assert [s["stack"] for s in data["not_planned"]] == ["uc-dev", "uc-old"]
    assert "output unchanged" in data["not_planned"][0]["why"]
    markdown = changed_stacks.to_markdown(scope)
    assert "`uc-dev`" in markdown and "output unchanged" in markdown and "uc-prod" not in markdown

    # the judge: tierstack diff --committed, which the PR workflow runs, on the same two commits
    result = run(
        "diff", base, head, "--repo", str(repo), "--config", "uc/tierstack.yaml", "--committed", "--format", "json"
    )
    assert result.exit_code in (0, 3), result.output
    status = {s["name"]: s["status"] for s in json.loads(result.output)["stacks"]}
    assert status["uc-prod"] == "changed" and status["uc-dev"] == "unchanged" and status["uc-staging"] == "unchanged"
    assert status["uc-qa"] == "added" and status["uc-old"] == "removed"

    # the command the PR workflow calls: the same scope through `diff --changed-stacks`
    args = ("diff", base, head, "--repo", str(repo), "--config", "uc/tierstack.yaml", "--committed")
    shown = run(*args, "--changed-stacks", "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == json.loads(changed_stacks.render(scope, "json"))
    refused = run(*args[:-1], "--changed-stacks")
    assert refused.exit_code == 2 and "--changed-stacks goes with two git refs" in refused.output


def test_a_fleet_plans_the_members_a_shared_change_touches_and_no_other(repo: Path, spawns: None) -> None:
    fleet = repo / "fleets"
    fleet.mkdir()
    (fleet / "churn.fleet.yaml").write_text(
        "fleet:\n  defaults: {}\n  members:\n    - name: churn-a\n    - name: churn-b\n"
    )
    (fleet / "blueprint.yaml.j2").write_text("extends: level-1-pipeline-automation\n")
    for member in ("churn-a", "churn-b"):
        for env in ("dev", "prod"):
            write_stack(fleet / member / "cdktf.out", f"{member}-{env}")
    (repo / "other").mkdir()  # another config's output beside the fleet's folder: never the fleet's
    write_stack(repo / "other" / "cdktf.out", "other-dev")
    base = commit(repo, "base")
    # the shared blueprint changes, and regenerating changes churn-a's prod stack only
    (fleet / "blueprint.yaml.j2").write_text("extends: level-1-pipeline-automation\n# a bucket setting\n")
    write_stack(fleet / "churn-a" / "cdktf.out", "churn-a-prod", change="bucket")
    write_stack(repo / "other" / "cdktf.out", "other-dev", change="bucket")
    head = commit(repo, "head")

    scope = changed_stacks.changed_stacks(repo, base, head, "fleets/churn.fleet.yaml")
    assert [s.directory for s in scope.planned] == ["fleets/churn-a/cdktf.out/stacks/churn-a-prod"]
    assert [s.stack for s in scope.not_planned] == ["churn-a-dev", "churn-b-dev", "churn-b-prod"]
    assert {s.why for s in scope.not_planned} == {"output unchanged"}


def test_no_output_at_the_base_plans_every_stack(repo: Path, spawns: None) -> None:
    (repo / "tierstack.yaml").write_text("name: uc\n")
    base = commit(repo, "config only")
    write_stack(repo / "cdktf.out", "uc-dev")
    head = commit(repo, "output")
    scope = changed_stacks.changed_stacks(repo, base, head, "tierstack.yaml")
    assert [(s.stack, s.why) for s in scope.stacks] == [("uc-dev", "new stack")]
    assert changed_stacks.to_text(scope).startswith("1 of 1 stacks to plan")


def test_a_config_missing_at_the_head_is_an_error_naming_it(repo: Path, spawns: None) -> None:
    (repo / "README.md").write_text("x")
    base = commit(repo, "one")
    with pytest.raises(UserError, match="no such file") as caught:
        changed_stacks.changed_stacks(repo, base, base, "tierstack.yaml")
    assert caught.value.file == f"{base}:tierstack.yaml"
    with pytest.raises(UserError, match="neither a directory nor a commit"):
        changed_stacks.changed_stacks(repo, "no-such-ref", base, "tierstack.yaml")


def test_a_folder_named_to_forge_the_comment_is_shown_as_text(repo: Path, spawns: None) -> None:
    """A pull request names the stack folders: no table cell, mention or HTML comment comes from one."""
    (repo / "tierstack.yaml").write_text("name: uc\n")
    hostile = "x|y @team <!-- z"
    write_stack(repo / "cdktf.out", hostile)
    base = commit(repo, "base")
    (repo / "tierstack.yaml").write_text("name: uc\n# touched\n")
    head = commit(repo, "head")
    markdown = changed_stacks.render(changed_stacks.changed_stacks(repo, base, head, "tierstack.yaml"), "markdown")
    row = markdown.splitlines()[2]
    assert row.count(" | ") == 1 and "@team" not in row and "<!--" not in row, row
    data = json.loads(changed_stacks.render(changed_stacks.changed_stacks(repo, base, head, "tierstack.yaml"), "json"))
    assert data["not_planned"][0]["stack"] == hostile and data["matrix"] == {"include": []}
