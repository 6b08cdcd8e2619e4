"""`tierstack diff` (issue 8 part 1): real syntheses before and after real changes.

Every comparison here is between two outputs of `generate` (or two commits of a config in a throwaway
git repository): a label changed, a capability added, a bucket and a dataset removed by settings, the
region moved, and a dataset whose construct was renamed, with and without a `moved` block. The
expectations are written from what Terraform would do with each change, not read back from the
report: a label is an in-place update, a removed or relocated bucket is a destroy, a rename without a
`moved` block destroys and recreates.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conftest import git, run
from tierstack.generator import diff as diffing
from tierstack.generator.generate import generate
from tierstack.generator.resolve import resolve
from tierstack.generator.spec import load_spec
from tierstack.modules import base

# research: experimentation (Workbench, TensorBoard) and data_processing (a dataset, a Dataflow bucket)
BASE = """\
name: diff-demo
team: ml-platform
use_case:
  stage: research
region: us-central1
environments:
  dev:
    project: acme-diff-dev
labels:
  cost-center: cc-1
"""
STACK = "diff-demo-dev"
BUCKET = "google_storage_bucket.data_processing_dataflow_bucket"
DATASET = "google_bigquery_dataset.data_processing_prepared_dataset"


@pytest.fixture
def synth(tmp_path: Path) -> Callable[..., Path]:
    """synth(config text, name) -> the cdktf.out `generate` wrote for it."""

    def _synth(text: str, name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        config = folder / "tierstack.yaml"
        config.write_text(text, encoding="utf-8")
        out = folder / "cdktf.out"
        generate(resolve(load_spec(config)), out)
        return out

    return _synth


def compare(before: Path, after: Path) -> diffing.Report:
    return diffing.compare(diffing.load_synthesis(before), diffing.load_synthesis(after), "base", "head")


def changes(report: diffing.Report) -> dict[str, diffing.ResourceChange]:
    return {c.address: c for s in report.stacks for c in s.resources}


def test_the_same_config_twice_is_no_change_and_exit_0(synth: Callable[..., Path]) -> None:
    before, after = synth(BASE, "a"), synth(BASE, "b")
    result = run("diff", str(before), str(after))
    assert result.exit_code == 0, result.output
    assert "no change" in result.stdout and f"{STACK}: unchanged" in result.stdout
    assert not compare(before, after).changed


def test_a_label_change_is_an_update_in_place_with_before_and_after(synth: Callable[..., Path]) -> None:
    before, after = synth(BASE, "a"), synth(BASE.replace("cc-1", "cc-2"), "b")
    report = compare(before, after)
    found = changes(report)
    assert found[BUCKET].kind == "changed" and not found[BUCKET].replaced
    assert [(a.path, a.before, a.after) for a in found[BUCKET].attributes] == [("labels.cost-center", "cc-1", "cc-2")]
    # TensorBoards have no name of their own: their labels are not their identity, so no replacement
    assert not found["google_vertex_ai_tensorboard.experimentation_tensorboard"].replaced
    assert report.at_risk == ()
    assert {c.kind for c in found.values()} == {"changed"}
    # the provider's default labels change too: reported with the stack's settings, not as a resource
    assert "provider.google[0].default_labels.cost-center" in [a.path for a in report.stacks[0].blocks]
    result = run("diff", str(before), str(after), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["data_at_risk"] == [] and data["changed"] is True
    bucket = next(r for r in data["stacks"][0]["resources"] if r["address"] == BUCKET)
    assert bucket["attributes"] == [{"path": "labels.cost-center", "before": "cc-1", "after": "cc-2"}]
    assert bucket["capability"] == "data_processing"


def test_an_added_capability_adds_its_resources_and_nothing_else_changes(synth: Callable[..., Path]) -> None:
    before = synth(BASE, "a")
    after = synth(BASE + "capabilities:\n  add: [model_training]\n", "b")
    report = compare(before, after)
    found = changes(report)
    assert {c.kind for c in found.values()} == {"added"}
    assert {c.capability for c in found.values()} == {"model_training"}
    assert "google_storage_bucket.model_training_artifacts_bucket" in found
    assert report.at_risk == ()
    assert diffing.summary_lines(report) == [f"{STACK}: {len(found)} added, 2 settings changed"]


def test_a_removed_bucket_and_a_renamed_dataset_purpose_are_data_at_risk(synth: Callable[..., Path]) -> None:
    before = synth(BASE, "a")
    after = synth(
        BASE + "overrides:\n  capabilities:\n    data_processing:\n      dataflow: false\n      datasets: [curated]\n",
        "b",
    )
    report = compare(before, after)
    found = changes(report)
    assert found[BUCKET].kind == "removed" and found[DATASET].kind == "removed"
    # a new purpose is a new dataset_id: not the same resource, so not a rename
    assert found["google_bigquery_dataset.data_processing_curated_dataset"].kind == "added"
    assert {r.address for r in report.at_risk} == {BUCKET, DATASET}
    assert "the objects in the bucket" in (found[BUCKET].at_risk or "")
    # the service account and IAM members go too, but they hold no data
    assert found["google_service_account.data_processing_dataflow_sa"].kind == "removed"
    assert found["google_service_account.data_processing_dataflow_sa"].at_risk is None
    result = run("diff", str(before), str(after))
    assert result.exit_code == 3, result.output
    assert "DATA AT RISK: 2 stateful resources" in result.stdout
    assert f"{STACK}: {BUCKET}: removed" in result.stdout


def test_moving_the_region_replaces_the_stateful_resources(synth: Callable[..., Path]) -> None:
    before, after = synth(BASE, "a"), synth(BASE.replace("us-central1", "europe-west4"), "b")
    report = compare(before, after)
    found = changes(report)
    assert found[BUCKET].kind == "changed" and found[BUCKET].replaced
    assert ("location", "US-CENTRAL1", "EUROPE-WEST4") in [
        (a.path, a.before, a.after) for a in found[BUCKET].attributes
    ]
    assert 'location "US-CENTRAL1" → "EUROPE-WEST4"' in (found[BUCKET].at_risk or "")
    assert {BUCKET, DATASET} <= {r.address for r in report.at_risk}
    # the bucket keeps its name, so its IAM members are unchanged
    assert not any(a.endswith("_objectadmin") for a in found)
    result = run("diff", str(before), str(after), "--format", "markdown")
    assert result.exit_code == 3
    assert "**:warning: Data at risk:**" in result.stdout and "-/+ " + BUCKET in result.stdout
    assert result.stdout.count("<details>") == 1


# --- renames: a throwaway capability whose dataset's construct id changes --------------------------


@pytest.fixture
def scores() -> Iterator[Any]:
    """A capability with one dataset; its construct id (the address) and `moved_from` are changed by tests."""
    from tierstack.generator.settings import Settings
    from tierstack.modules.base import CapabilityModule

    class ScoresSettings(Settings):
        pass

    class Scores(CapabilityModule):
        capability = "scores_store"
        title = "Scores store"
        definition = "A dataset of scores, for the diff tests."
        process = "serving"
        provisions = ("a BigQuery dataset of scores",)
        settings_model = ScoresSettings
        construct_id: ClassVar[str] = "scores_dataset"

        def build(self) -> None:
            from cdktn_provider_google.bigquery_dataset import BigqueryDataset

            self.add(
                BigqueryDataset,
                type(self).construct_id,
                dataset_id="diff_demo_scores",
                project=self.inputs.project,
                location=self.inputs.region,
                labels=self.labels,
            )

    try:
        yield Scores
    finally:
        base.unregister("scores_store")


WITH_SCORES = BASE + "capabilities:\n  add: [scores_store]\n"
OLD = "google_bigquery_dataset.scores_store_scores_dataset"
NEW = "google_bigquery_dataset.scores_store_results_dataset"


def test_a_dataset_renamed_without_a_moved_block_is_data_at_risk(
    scores: Any, synth: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = synth(WITH_SCORES, "a")
    monkeypatch.setattr(scores, "construct_id", "results_dataset")
    after = synth(WITH_SCORES, "b")
    report = compare(before, after)
    found = changes(report)
    assert set(found) == {NEW}
    change = found[NEW]
    assert (change.kind, change.previous_address, change.declared, change.replaced) == ("renamed", OLD, False, False)
    assert "without a moved block" in (change.at_risk or "")
    assert "every table in the dataset" in (change.at_risk or "")
    result = run("diff", str(before), str(after))
    assert result.exit_code == 3, result.output
    assert f"> {NEW} (was {OLD}; no moved block)" in result.stdout


def test_a_dataset_renamed_with_a_moved_block_is_a_declared_move(
    scores: Any, synth: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = synth(WITH_SCORES, "a")
    monkeypatch.setattr(scores, "construct_id", "results_dataset")
    monkeypatch.setattr(scores, "moved_from", {"results_dataset": "scores_dataset"})
    after = synth(WITH_SCORES, "b")
    assert json.loads((after / "stacks" / STACK / "cdk.tf.json").read_text())["moved"] == [{"from": OLD, "to": NEW}]
    report = compare(before, after)
    change = changes(report)[NEW]
    assert (change.kind, change.declared, change.at_risk) == ("renamed", True, None)
    result = run("diff", str(before), str(after))
    assert result.exit_code == 0, result.output
    assert f"(was {OLD}; moved block)" in result.stdout


def test_a_moved_block_does_not_hide_a_replacement(
    scores: Any, synth: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moved and relocated: Terraform moves it in state, then replaces it."""
    before = synth(WITH_SCORES, "a")
    monkeypatch.setattr(scores, "construct_id", "results_dataset")
    monkeypatch.setattr(scores, "moved_from", {"results_dataset": "scores_dataset"})
    after = synth(WITH_SCORES.replace("us-central1", "europe-west4"), "b")
    change = changes(compare(before, after))[NEW]
    assert change.kind == "renamed" and change.declared and change.replaced
    assert "location" in (change.at_risk or "")


# --- the comparison on its own -----------------------------------------------------------------------


def test_metadata_keys_are_ignored_and_references_follow_a_rename() -> None:
    def stack(bucket: str, extra: dict[str, Any]) -> diffing.Stack:
        return diffing.parse_stack(
            "s",
            {
                "//": {"metadata": {"version": "1"}},
                "resource": {
                    "google_storage_bucket": {
                        bucket: {"name": "b1", "location": "EU", "//": {"metadata": {"path": "s/cap/x", **extra}}}
                    },
                    "google_storage_bucket_iam_member": {
                        "cap_m": {"bucket": f"${{google_storage_bucket.{bucket}.name}}", "role": "r", "member": "m"}
                    },
                },
            },
        )

    report = diffing.compare({"s": stack("cap_a", {})}, {"s": stack("cap_b", {"uniqueId": "other"})})
    (rename,) = report.stacks[0].resources  # the member's reference changed only by the rename: not a change
    assert (rename.kind, rename.address, rename.previous_address) == (
        "renamed",
        "google_storage_bucket.cap_b",
        "google_storage_bucket.cap_a",
    )
    assert rename.attributes == () and rename.capability == "cap"


def test_removed_blocks_that_keep_the_resource_are_not_at_risk() -> None:
    body = {"resource": {"google_storage_bucket": {"cap_a": {"name": "b1", "location": "EU"}}}}
    kept = {"removed": [{"from": "google_storage_bucket.cap_a", "lifecycle": {"destroy": False}}]}
    report = diffing.compare({"s": diffing.parse_stack("s", body)}, {"s": diffing.parse_stack("s", kept)})
    (change,) = report.stacks[0].resources
    assert change.kind == "removed" and change.declared and change.at_risk is None
    gone = diffing.compare({"s": diffing.parse_stack("s", body)}, {"s": diffing.parse_stack("s", {})})
    assert gone.stacks[0].resources[0].at_risk


def test_a_stack_that_leaves_the_output_puts_its_data_at_risk() -> None:
    body = {"resource": {"google_storage_bucket": {"cap_a": {"name": "b1"}}, "google_pubsub_topic": {"cap_t": {}}}}
    report = diffing.compare({"s": diffing.parse_stack("s", body)}, {})
    assert report.stacks[0].status == "removed"
    assert [r.address for r in report.at_risk] == ["google_storage_bucket.cap_a"]


# --- bad input ------------------------------------------------------------------------------------


def test_a_directory_without_stacks_is_a_clear_error(tmp_path: Path, synth: Callable[..., Path]) -> None:
    out = synth(BASE, "a")
    result = run("diff", str(out), str(tmp_path))
    assert result.exit_code == 2
    assert "not a cdktf output directory" in result.stderr and "Traceback" not in result.output


def test_a_stack_that_is_not_json_is_a_clear_error(tmp_path: Path, synth: Callable[..., Path]) -> None:
    out = synth(BASE, "a")
    broken = tmp_path / "broken" / "stacks" / STACK
    broken.mkdir(parents=True)
    (broken / "cdk.tf.json").write_text("{", encoding="utf-8")
    result = run("diff", str(out), str(tmp_path / "broken"))
    assert result.exit_code == 2
    assert f"stacks/{STACK}/cdk.tf.json: not Terraform JSON" in result.stderr


def test_a_ref_needs_config() -> None:
    result = run("diff", "HEAD~1", "HEAD")
    assert result.exit_code == 2
    assert "needs --config PATH" in result.stderr


# --- git refs --------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway repository: a config at use-cases/demo.yaml, committed twice (a bucket goes), then edited."""
    top = tmp_path / "repo"
    (top / "use-cases").mkdir(parents=True)
    config = top / "use-cases" / "demo.yaml"
    config.write_text(BASE, encoding="utf-8")
    git(top, "init", "-q")
    git(top, "add", ".")
    git(top, "commit", "-qm", "first")
    config.write_text(
        BASE.replace("cc-1", "cc-2") + "overrides:\n  capabilities:\n    data_processing:\n      dataflow: false\n",
        encoding="utf-8",
    )
    git(top, "commit", "-qam", "second")
    config.write_text(BASE + "# uncommitted\n", encoding="utf-8")  # a working tree that must stay as it is
    (top / "untracked.txt").write_text("mine\n", encoding="utf-8")
    git(top, "add", "untracked.txt")  # and an index that must stay too
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where diff's temporary directories go
    return top


def repo_state(top: Path) -> tuple[str, str, str, bytes]:
    return (
        git(top, "status", "--porcelain"),
        git(top, "rev-parse", "HEAD"),
        (top / "use-cases" / "demo.yaml").read_text(encoding="utf-8"),
        (top / ".git" / "index").read_bytes(),
    )


def test_two_refs_are_synthesized_apart_from_the_working_tree(repo: Path) -> None:
    state = repo_state(repo)
    result = run("diff", "HEAD~1", "HEAD", "--config", "use-cases/demo.yaml", "--repo", str(repo))
    assert result.exit_code == 3, result.output
    assert f"- {BUCKET}" in result.stdout and "DATA AT RISK" in result.stdout
    assert 'labels.cost-center: "cc-1" → "cc-2"' in result.stdout  # the commits, not the working tree
    assert repo_state(repo) == state
    assert list(Path(tempfile.gettempdir()).iterdir()) == []
    assert git(repo, "worktree", "list").count("\n") == 1


def test_a_ref_against_an_output_directory(repo: Path, synth: Callable[..., Path]) -> None:
    out = synth(BASE, "a")
    result = run("diff", str(out), "HEAD~1", "--config", "use-cases/demo.yaml", "--repo", str(repo))
    assert result.exit_code == 0, result.output
    assert f"{STACK}: unchanged" in result.stdout


def test_an_interrupted_diff_leaves_the_repository_and_no_temporary_files(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = repo_state(repo)
    real = diffing._synthesize
    calls: list[Path] = []

    def second_is_interrupted(config: Path, out: Path) -> None:
        calls.append(config)
        if len(calls) == 2:
            assert any(Path(tempfile.gettempdir()).iterdir())  # the first ref's copy is still there
            raise KeyboardInterrupt
        real(config, out)

    monkeypatch.setattr(diffing, "_synthesize", second_is_interrupted)
    result = run("diff", "HEAD~1", "HEAD", "--config", "use-cases/demo.yaml", "--repo", str(repo))
    assert result.exit_code == 130 and "Aborted!" in result.stderr
    assert len(calls) == 2
    assert repo_state(repo) == state
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("HEAD~1", "no-such-branch"), "'no-such-branch' is neither a directory nor a commit"),
        (("HEAD~1", "--", "-x"), "is not a git ref"),
    ],
)
def test_a_ref_that_does_not_exist_is_exit_2_before_any_synthesis(
    repo: Path, args: tuple[str, ...], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diffing, "_synthesize", lambda config, out: pytest.fail("synthesized"))
    result = run("diff", "--config", "use-cases/demo.yaml", "--repo", str(repo), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_a_config_missing_or_wrong_at_a_ref_names_the_ref(repo: Path) -> None:
    result = run("diff", "HEAD~1", "HEAD", "--config", "use-cases/other.yaml", "--repo", str(repo))
    assert result.exit_code == 2
    assert "HEAD~1:use-cases/other.yaml, field '--config': no such file at HEAD~1" in result.stderr
    (repo / "use-cases" / "demo.yaml").write_text(BASE.replace("stage:", "stag:"), encoding="utf-8")
    git(repo, "commit", "-qam", "broken")
    result = run("diff", "HEAD~1", "HEAD", "--config", "use-cases/demo.yaml", "--repo", str(repo))
    assert result.exit_code == 2
    assert "error: HEAD:use-cases/demo.yaml:" in result.stderr and "'stag'" in result.stderr
    assert str(tempfile.gettempdir()) not in result.stderr
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


def test_an_absolute_config_inside_the_repository_is_the_same_as_from_the_top(repo: Path) -> None:
    relative = run("diff", "HEAD~1", "HEAD", "--config", "use-cases/demo.yaml", "--repo", str(repo))
    absolute = run("diff", "HEAD~1", "HEAD", "--config", str(repo / "use-cases" / "demo.yaml"), "--repo", str(repo))
    assert absolute.exit_code == relative.exit_code == 3, absolute.output
    assert absolute.stdout == relative.stdout
    assert 'labels.cost-center: "cc-1" → "cc-2"' in absolute.stdout  # the commits, not the working tree's file


@pytest.mark.parametrize(
    ("config", "message"),
    [("/etc/tierstack.yaml", "is outside the repository"), ("use-cases/../../demo.yaml", "climbs out")],
)
def test_a_config_outside_the_repository_is_refused(repo: Path, config: str, message: str) -> None:
    result = run("diff", "HEAD~1", "HEAD", "--config", config, "--repo", str(repo))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "field '--config'" in result.stderr
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


FRAUD = Path(__file__).resolve().parents[1] / "examples" / "fraud-detection"


@pytest.fixture
def example_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fraud-detection example (config and committed output) in a repository, committed twice: the
    second commit's output renames the prod artifacts bucket's construct, as a tierstack upgrade without a
    `moved` block would."""
    top = tmp_path / "repo"
    target = top / "fraud"
    target.mkdir(parents=True)
    shutil.copy(FRAUD / "tierstack.yaml", target / "tierstack.yaml")
    shutil.copytree(FRAUD / "cdktf.out", target / "cdktf.out")
    git(top, "init", "-q")
    git(top, "add", ".")
    git(top, "commit", "-qm", "the example")
    stack = target / "cdktf.out" / "stacks" / "fraud-detection-prod" / "cdk.tf.json"
    text = stack.read_text(encoding="utf-8")
    stack.write_text(text.replace('"model_training_artifacts_bucket"', '"model_training_models_bucket"'))
    git(top, "commit", "-qam", "regenerated by a newer tierstack")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return top


def test_two_commits_of_an_example_flag_a_rename_of_its_committed_output(example_repo: Path) -> None:
    result = run(
        "diff", "HEAD~1", "HEAD", "--config", "fraud/tierstack.yaml", "--repo", str(example_repo), "--committed"
    )
    assert result.exit_code == 3, result.output
    assert "google_storage_bucket.model_training_artifacts_bucket" in result.stdout
    assert "google_storage_bucket.model_training_models_bucket" in result.stdout
    assert "DATA AT RISK" in result.stdout and "renamed" in result.stdout
    assert "fraud-detection-dev: unchanged" in result.stdout
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


def test_committed_needs_committed_output(repo: Path) -> None:
    result = run("diff", "HEAD~1", "HEAD", "--config", "use-cases/demo.yaml", "--repo", str(repo), "--committed")
    assert result.exit_code == 2, result.output
    assert "no generated output is committed beside the config at HEAD~1" in result.stderr
    assert "HEAD~1:use-cases/cdktf.out, field '--committed'" in result.stderr


def test_sigterm_during_a_diff_removes_the_temporary_copies(repo: Path, tmp_path: Path) -> None:
    """A real SIGTERM (what CI runners and `timeout` send) while a ref is being synthesized: exit 143, the
    repository as it was, and no `tierstack-diff-*` directory left behind."""
    state = repo_state(repo)
    scratch = tmp_path / "sigterm-tmp"
    scratch.mkdir()
    tierstack = Path(sys.executable).parent / "tierstack"
    proc = subprocess.Popen(
        [str(tierstack), "diff", "HEAD~1", "HEAD", "--config", "use-cases/demo.yaml", "--repo", str(repo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert first.startswith("synthesizing use-cases/demo.yaml at HEAD~1"), first
    deadline = time.monotonic() + 60
    while not any(p.name.startswith("tierstack-diff-") for p in scratch.iterdir()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert not any(p.name.startswith("tierstack-diff-") for p in scratch.iterdir())
    assert repo_state(repo) == state
