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
import re
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

from conftest import REPO, git, run, skip_or_fail
from tierstack.generator.analysis import diff as diffing
from tierstack.generator.config.spec import load_spec
from tierstack.generator.output.generate import generate
from tierstack.generator.plan.resolve import resolve
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
def synth(tmp_path: Path, synthesizes: None) -> Callable[..., Path]:
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


def test_the_same_config_twice_is_no_change_and_exit_0(synth: Callable[..., Path], synthesizes: None) -> None:
    before, after = synth(BASE, "a"), synth(BASE, "b")
    result = run("diff", str(before), str(after))
    assert result.exit_code == 0, result.output
    assert "no change" in result.stdout and f"{STACK}: unchanged" in result.stdout
    assert not compare(before, after).changed


def test_a_label_change_is_an_update_in_place_with_before_and_after(
    synth: Callable[..., Path], synthesizes: None
) -> None:
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


def test_an_added_capability_adds_its_resources_and_nothing_else_changes(
    synth: Callable[..., Path], synthesizes: None
) -> None:
    before = synth(BASE, "a")
    after = synth(BASE + "capabilities:\n  add: [model_training]\n", "b")
    report = compare(before, after)
    found = changes(report)
    assert {c.kind for c in found.values()} == {"added"}
    assert {c.capability for c in found.values()} == {"model_training"}
    assert "google_storage_bucket.model_training_artifacts_bucket" in found
    assert report.at_risk == ()
    assert diffing.summary_lines(report) == [f"{STACK}: {len(found)} added, 2 settings changed"]


def test_a_removed_bucket_and_a_renamed_dataset_purpose_are_data_at_risk(
    synth: Callable[..., Path], synthesizes: None
) -> None:
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


def test_moving_the_region_replaces_the_stateful_resources(synth: Callable[..., Path], synthesizes: None) -> None:
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
    from tierstack.generator.config.settings import Settings
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
    scores: Any, synth: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, synthesizes: None
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
    scores: Any, synth: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, synthesizes: None
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
    scores: Any, synth: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, synthesizes: None
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
    body = {"resource": {"google_storage_bucket": {"cap_a": {"name": "b1"}}, "google_logging_metric": {"cap_t": {}}}}
    report = diffing.compare({"s": diffing.parse_stack("s", body)}, {})
    assert report.stacks[0].status == "removed"
    assert [r.address for r in report.at_risk] == ["google_storage_bucket.cap_a"]


# --- bad input ------------------------------------------------------------------------------------


def test_a_directory_without_stacks_is_a_clear_error(
    tmp_path: Path, synth: Callable[..., Path], synthesizes: None
) -> None:
    out = synth(BASE, "a")
    result = run("diff", str(out), str(tmp_path))
    assert result.exit_code == 2
    assert "not a cdktf output directory" in result.stderr and "Traceback" not in result.output


def test_a_stack_that_is_not_json_is_a_clear_error(
    tmp_path: Path, synth: Callable[..., Path], synthesizes: None
) -> None:
    out = synth(BASE, "a")
    broken = tmp_path / "broken" / "stacks" / STACK
    broken.mkdir(parents=True)
    (broken / "cdk.tf.json").write_text("{", encoding="utf-8")
    result = run("diff", str(out), str(tmp_path / "broken"))
    assert result.exit_code == 2
    assert f"stacks/{STACK}/cdk.tf.json:1: Terraform JSON stack is not valid JSON" in result.stderr


def test_a_ref_needs_config() -> None:
    result = run("diff", "HEAD~1", "HEAD")
    assert result.exit_code == 2
    assert "needs --config FILE" in result.stderr


# --- git refs --------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spawns: None, synthesizes: None) -> Path:
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


def test_two_refs_are_synthesized_apart_from_the_working_tree(repo: Path, synthesizes: None) -> None:
    state = repo_state(repo)
    result = run("diff", "HEAD~1", "HEAD", "--config", "use-cases/demo.yaml", "--repo", str(repo))
    assert result.exit_code == 3, result.output
    assert f"- {BUCKET}" in result.stdout and "DATA AT RISK" in result.stdout
    assert 'labels.cost-center: "cc-1" → "cc-2"' in result.stdout  # the commits, not the working tree
    assert repo_state(repo) == state
    assert list(Path(tempfile.gettempdir()).iterdir()) == []
    assert git(repo, "worktree", "list").count("\n") == 1


def test_a_ref_against_an_output_directory(repo: Path, synth: Callable[..., Path], synthesizes: None) -> None:
    out = synth(BASE, "a")
    result = run("diff", str(out), "HEAD~1", "--config", "use-cases/demo.yaml", "--repo", str(repo))
    assert result.exit_code == 0, result.output
    assert f"{STACK}: unchanged" in result.stdout


def test_an_interrupted_diff_leaves_the_repository_and_no_temporary_files(
    repo: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None
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

    monkeypatch.setattr("tierstack.generator.analysis.diff.refs._synthesize", second_is_interrupted)
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
    repo: Path, args: tuple[str, ...], message: str, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    monkeypatch.setattr(
        "tierstack.generator.analysis.diff.refs._synthesize", lambda config, out: pytest.fail("synthesized")
    )
    result = run("diff", "--config", "use-cases/demo.yaml", "--repo", str(repo), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_a_config_missing_or_wrong_at_a_ref_names_the_ref(repo: Path, synthesizes: None) -> None:
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


def test_an_absolute_config_inside_the_repository_is_the_same_as_from_the_top(repo: Path, synthesizes: None) -> None:
    relative = run("diff", "HEAD~1", "HEAD", "--config", "use-cases/demo.yaml", "--repo", str(repo))
    absolute = run("diff", "HEAD~1", "HEAD", "--config", str(repo / "use-cases" / "demo.yaml"), "--repo", str(repo))
    assert absolute.exit_code == relative.exit_code == 3, absolute.output
    assert absolute.stdout == relative.stdout
    assert 'labels.cost-center: "cc-1" → "cc-2"' in absolute.stdout  # the commits, not the working tree's file


@pytest.mark.parametrize(
    ("config", "message"),
    [("/etc/tierstack.yaml", "is outside the repository"), ("use-cases/../../demo.yaml", "climbs out")],
)
def test_a_config_outside_the_repository_is_refused(repo: Path, config: str, message: str, spawns: None) -> None:
    result = run("diff", "HEAD~1", "HEAD", "--config", config, "--repo", str(repo))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "field '--config'" in result.stderr
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


FRAUD = Path(__file__).resolve().parents[1] / "examples" / "fraud-detection"


@pytest.fixture
def example_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spawns: None) -> Path:
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


def test_two_commits_of_an_example_flag_a_rename_of_its_committed_output(example_repo: Path, spawns: None) -> None:
    result = run(
        "diff", "HEAD~1", "HEAD", "--config", "fraud/tierstack.yaml", "--repo", str(example_repo), "--committed"
    )
    assert result.exit_code == 3, result.output
    assert "google_storage_bucket.model_training_artifacts_bucket" in result.stdout
    assert "google_storage_bucket.model_training_models_bucket" in result.stdout
    assert "DATA AT RISK" in result.stdout and "renamed" in result.stdout
    assert "fraud-detection-dev: unchanged" in result.stdout
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


def test_committed_needs_committed_output(repo: Path, spawns: None) -> None:
    result = run("diff", "HEAD~1", "HEAD", "--config", "use-cases/demo.yaml", "--repo", str(repo), "--committed")
    assert result.exit_code == 2, result.output
    assert "no generated output is committed beside the config at HEAD~1" in result.stderr
    assert "HEAD~1:use-cases/cdktf.out, field '--committed'" in result.stderr


def test_sigterm_during_a_diff_removes_the_temporary_copies(repo: Path, tmp_path: Path, spawns: None) -> None:
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


# --- encoded bodies (issue 17, item 7): what a base64 or jsonencode'd argument holds, key by key --------

# scheduled retraining (a Cloud Scheduler job POSTs a PipelineJob) and a scheduled batch prediction (a job
# POSTs a BatchPredictionJob): both bodies are `${base64encode(jsonencode({...}))}` in the stack
SCHEDULED = """\
name: churn
team: growth
use_case:
  stage: production
  retraining: scheduled
  schedule: "0 4 * * *"
  serving: batch
region: us-central1
environments:
  dev:
    project: churn-dev
  prod:
    project: churn-prod
overrides:
  capabilities:
    model_serving:
      batch_schedule: "0 6 * * *"
      batch_model: churn@champion
      max_replicas: 2
"""
BATCH = "google_cloud_scheduler_job.model_serving_batch_prediction"
WORKFLOW = "google_workflows_workflow.ml_pipelines_retraining"


def _bodies_of(out: Path) -> dict[str, str]:
    stack = json.loads((out / "stacks" / "churn-prod" / "cdk.tf.json").read_text())["resource"]
    return {
        f"google_cloud_scheduler_job.{n}": b["http_target"]["body"]
        for n, b in stack["google_cloud_scheduler_job"].items()
    }


ENCODED = ("http_target.body", "source_contents")  # the encoded arguments the modules write
# where the PipelineJob's template is, in a workflow's source or a job's body, whatever the step
TEMPLATE = re.compile(r"^(?:http_target\.body|source_contents)\[decoded\]\.(?:.*\.)?templateUri$")


def test_a_change_inside_a_scheduler_jobs_base64_body_is_shown_key_by_key(synth: Callable[..., Path]) -> None:
    before = synth(SCHEDULED, "a")
    head = SCHEDULED.replace("max_replicas: 2", "max_replicas: 3")
    head += "    ml_pipelines:\n      template_tag: stable\n"
    after = synth(head, "b")
    old, new = _bodies_of(before), _bodies_of(after)
    # the body is the encoding expression cdktn writes, alike over its first 100 characters
    assert all(body.startswith("${base64encode(jsonencode({") for body in (*old.values(), *new.values()))
    assert old[BATCH] != new[BATCH] and old[BATCH][:100] == new[BATCH][:100]
    found = changes(compare(before, after))
    batch = [(a.path, a.before, a.after) for a in found[BATCH].attributes]
    assert batch == [("http_target.body[decoded].dedicatedResources.maxReplicaCount", 2, 3)]
    # the training run's template: inside the scheduler's body or the workflow it starts, decoded either way
    attributes = [a for c in found.values() for a in c.attributes]
    assert not [a.path for a in attributes if a.path in ENCODED], "an encoded argument compared as one string"
    (template,) = [a for a in attributes if TEMPLATE.match(a.path)]
    uri = "https://us-central1-kfp.pkg.dev/churn-prod/churn-kfp/training-pipeline/"
    assert (template.before, template.after) == (uri + "latest", uri + "stable")
    result = run("diff", str(before), str(after))
    assert result.exit_code == 0, result.output
    assert "http_target.body[decoded].dedicatedResources.maxReplicaCount: 2 → 3" in result.stdout
    assert f'{template.path}: "{uri}latest" → "{uri}stable"' in result.stdout
    data = json.loads(run("diff", str(before), str(after), "--format", "json").stdout)
    paths = [a["path"] for s in data["stacks"] for r in s["resources"] for a in r["attributes"]]
    assert "http_target.body[decoded].dedicatedResources.maxReplicaCount" in paths


def test_a_change_inside_a_workflows_jsonencoded_source_is_shown_key_by_key(synth: Callable[..., Path]) -> None:
    """Retraining on degradation: the workflow's source (`${jsonencode({...})}`) holds the PipelineJob."""
    config = SCHEDULED.split("overrides:")[0].replace(
        "retraining: scheduled", "retraining: on_degradation\n  retraining_trigger: automatic"
    )
    config = config.replace('  schedule: "0 4 * * *"\n', "") + "overrides:\n  capabilities:\n    ml_pipelines:\n"
    before = synth(config + "      template_tag: latest\n", "a")
    after = synth(config + "      template_tag: stable\n", "b")
    (change,) = [c for c in changes(compare(before, after)).values() if c.address == WORKFLOW]
    (attribute,) = change.attributes
    assert re.fullmatch(
        r"source_contents\[decoded\]\.main\.steps\[\d+\]\.start_pipeline_run\.try\.args\.body\.templateUri",
        attribute.path,
    ), attribute.path
    assert str(attribute.before).endswith("/training-pipeline/latest")
    assert str(attribute.after).endswith("/training-pipeline/stable")


def _job(**http_target: Any) -> diffing.Stack:
    body = {"name": "j", "region": "europe-west4", "http_target": {"uri": "https://x", **http_target}}
    return diffing.parse_stack("s", {"resource": {"google_cloud_scheduler_job": {"cap_job": body}}})


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _attributes(before: diffing.Stack, after: diffing.Stack) -> list[tuple[str, Any, Any]]:
    report = diffing.compare({"s": before}, {"s": after})
    return [(a.path, a.before, a.after) for r in report.stacks[0].resources for a in r.attributes]


def test_a_literal_base64_json_body_is_decoded_and_compared_key_by_key() -> None:
    """A body written as plain base64 (by hand, by another tool), of the JSON pipelineJobs.create takes."""

    def job(x: int) -> str:
        return json.dumps({"displayName": "run", "runtimeConfig": {"parameterValues": {"x": x, "y": "same"}}})

    found = _attributes(_job(body=_b64(job(1))), _job(body=_b64(job(2))))
    assert found == [("http_target.body[decoded].runtimeConfig.parameterValues.x", 1, 2)]
    rendered = diffing.render_text(diffing.compare({"s": _job(body=_b64(job(1)))}, {"s": _job(body=_b64(job(2)))}))
    assert "http_target.body[decoded].runtimeConfig.parameterValues.x: 1 → 2" in rendered


def test_a_pubsub_payload_is_decoded_too() -> None:
    def stack(data: str) -> diffing.Stack:
        body = {"name": "j", "pubsub_target": {"topic_name": "t", "data": data}}
        return diffing.parse_stack("s", {"resource": {"google_cloud_scheduler_job": {"cap_job": body}}})

    found = _attributes(
        stack(_b64('{"incident": {"state": "open"}}')), stack(_b64('{"incident": {"state": "closed"}}'))
    )
    assert found == [("pubsub_target.data[decoded].incident.state", "open", "closed")]


def test_base64_that_is_not_json_shows_its_text_and_a_value_that_is_not_base64_as_written() -> None:
    text = _attributes(_job(body=_b64("start the run, please")), _job(body=_b64("start the run, now")))
    assert text == [("http_target.body[decoded]", "start the run, please", "start the run, now")]
    raw = _attributes(_job(body="not base64!"), _job(body="still not base64"))
    assert raw == [("http_target.body", "not base64!", "still not base64")]
    # the same JSON written differently: what is sent differs (Terraform updates the job), so the text shows
    spaced = _attributes(_job(body=_b64('{"a": 1}')), _job(body=_b64('{"a":1}')))
    assert spaced == [("http_target.body", _b64('{"a": 1}'), _b64('{"a":1}'))]


def test_an_argument_that_only_looks_like_base64_is_compared_as_written() -> None:
    """`dGVzdA==` is base64 of `test`, but a job's name is not an encoded argument."""

    def stack(name: str) -> diffing.Stack:
        return diffing.parse_stack(
            "s", {"resource": {"google_pubsub_topic": {"cap_t": {"name": name, "labels": {"a": name}}}}}
        )

    found = _attributes(stack("dGVzdA=="), stack("dGVzdDI="))
    assert ("labels.a", "dGVzdA==", "dGVzdDI=") in found


def test_a_long_value_changed_past_its_first_100_characters_shows_where_it_differs() -> None:
    head = "continuous training of churn: runs the training-pipeline:" + "x" * 60
    change = diffing.AttributeChange("description", head + ":latest template", head + ":stable template")
    text = diffing._attribute_text(change)
    assert "latest template" in text and "stable template" in text and text.count("…") == 2


def _hcl_with_literal_references(expression: str) -> str:
    """The expression with each reference (outside strings) written as the literal `${reference}`, so that
    `terraform console` can evaluate it without the resources (test code, independent of diff.py's reader)."""
    out, i, in_string = [], 0, False
    reference = re.compile(r"(?:google|data)[a-z0-9_]*(?:\.[A-Za-z0-9_-]+)+")
    while i < len(expression):
        char = expression[i]
        if in_string:
            out.append(expression[i : i + 2] if char == "\\" else char)
            i += 2 if char == "\\" else 1
            in_string = char != '"'
            continue
        match = reference.match(expression, i) if not expression[i - 1 : i].isalnum() else None
        if match:
            out.append(f'"$${{{match.group(0)}}}"')
            i = match.end()
            continue
        in_string = char == '"'
        out.append(char)
        i += 1
    return "".join(out)


def test_the_decoded_bodies_are_what_terraform_itself_encodes(tmp_path: Path, spawns: None) -> None:
    """The judge is real Terraform: `terraform console` evaluates each encoded argument the examples' stacks
    hold (every scheduler body, every workflow source); its base64 and JSON, decoded with Python's own
    modules, must be what diff.py reads from the expression."""
    import base64

    from standin import mirror

    try:
        binary, _ = mirror.find_terraform()
    except mirror.TerraformMissing as missing:
        skip_or_fail(str(missing))
    cases: list[tuple[str, str, str]] = []  # (where, path, value)
    for path in sorted((REPO / "examples").glob("**/cdktf.out/stacks/*/cdk.tf.json")):
        resources = json.loads(path.read_text())["resource"]
        where = path.parent.name
        for name, body in resources.get("google_cloud_scheduler_job", {}).items():
            cases.append((f"{where} {name}", "http_target.body", body["http_target"]["body"]))
        for name, body in resources.get("google_workflows_workflow", {}).items():
            cases.append((f"{where} {name}", "source_contents", body["source_contents"]))
    assert len({c[2].split("(")[0] for c in cases}) == 2, "both encodings: base64encode(jsonencode()) and jsonencode()"
    # one expression, so one evaluation: the list of every value, as base64 (console prints it verbatim)
    expression = ", ".join(_hcl_with_literal_references(value[2:-1]) for _, _, value in cases)
    done = subprocess.run(
        [binary, "console"],
        input=f"base64encode(jsonencode([{expression}]))\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    evaluated = json.loads(base64.b64decode(json.loads(done.stdout)))
    assert len(evaluated) == len(cases), done.stdout
    for (where, path, value), result in zip(cases, evaluated, strict=True):
        text = base64.b64decode(result).decode("utf-8") if path == "http_target.body" else result
        decoded = diffing.decode_body(path, value)
        assert decoded is not None, where
        assert decoded[0] == json.loads(text), where
        if path == "http_target.body":  # the literal Terraform sends holds the same: no change inside
            assert diffing.decode_body(path, result) == decoded, where
