"""The GitHub pull-request workflow plans only the stacks whose committed output changes (issue 23).

A `changes` job runs `tierstack diff BASE HEAD --committed --changed-stacks` and splits the stacks to plan by
environment; each environment's plan job is a matrix over its changed stacks (`max-parallel`), after the
plans of the environments before it; each matrix job uploads its own plan artifact; the comment job gathers
them and lists the stacks not planned, and why. The deploy applies only what that review planned, stack by
stack.

The judges: actionlint (which knows that a `needs.X.outputs.Y` must be an output job X declares), shellcheck,
real two-commit git repositories with the example's real Terraform JSON, on which the changes step's own
script runs (and `tierstack diff --committed`, the command the check job runs, says which stacks changed),
and the comment posted by GitHub's REST client (Octokit) against the local GitHub API stand-in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakes.github import GitHubStandIn
from test_ci import (
    CONTEXT,
    FRAUD,
    PLANS,
    actionlint,
    generate,
    github_script,
    load_yaml,
    pinned_install,
    shellcheck,
    step_named,
)

from conftest import git, run

assert actionlint and github_script and pinned_install  # fixtures: asked for by name, or autouse (the pin)

PR = "tierstack-fraud-detection-pr.yml"
DEPLOY = "tierstack-fraud-detection-deploy.yml"
ENVS = ("dev", "staging", "prod")
STACKS = {env: f"fraud-detection-{env}" for env in ENVS}
FOLDER = "examples/fraud-detection"
STACKS_DIR = f"{FOLDER}/cdktf.out/stacks"


@pytest.fixture(scope="module")
def workflows() -> dict[str, Any]:
    return {name: load_yaml(text) for name, text in generate(FRAUD, "github").items()}


# --- the shape of the workflows ----------------------------------------------------------------------


def test_each_plan_job_is_a_matrix_fed_by_the_changes_job(workflows: dict[str, Any]) -> None:
    jobs = workflows[PR]["jobs"]
    assert list(jobs) == ["check", "changes", "plan-dev", "plan-staging", "plan-prod", "comment"]
    changes = jobs["changes"]
    assert "needs" not in changes and "id-token" not in changes["permissions"]  # beside the check, no identity
    assert changes["steps"][0]["with"]["fetch-depth"] == 0  # the base commit, to compare with
    _, step = step_named(changes, "The stacks whose committed output changes")
    assert step["id"] == "changes"
    assert "--committed --changed-stacks --format json" in step["run"]
    for env in ENVS:
        assert changes["outputs"][f"plan-{env}"] == f"${{{{ steps.changes.outputs.plan-{env} }}}}"
        job = jobs[f"plan-{env}"]
        assert job["strategy"]["matrix"] == f"${{{{ fromJSON(needs.changes.outputs.plan-{env}) }}}}"
        assert job["strategy"]["max-parallel"] == 8 and job["strategy"]["fail-fast"] is False
        assert f"needs.changes.outputs.count-{env} != '0'" in job["if"]  # no changed stack: no job at all
        assert "github.event.pull_request.head.repo.id == github.event.repository.id" in job["if"]  # not a fork
        assert job["env"]["STACK_DIR"] == "${{ matrix.directory }}" and job["env"]["STACK"] == "${{ matrix.stack }}"
        assert "environment" not in job and job["permissions"] == {"contents": "read", "id-token": "write"}


def test_the_plans_follow_the_promotion_order(workflows: dict[str, Any], write: Any, tmp_path: Path) -> None:
    jobs = workflows[PR]["jobs"]
    assert [jobs[f"plan-{env}"]["needs"] for env in ENVS] == [
        ["check", "changes"],
        ["check", "changes", "plan-dev"],
        ["check", "changes", "plan-dev", "plan-staging"],
    ]
    # a later environment runs when an earlier one had nothing to plan (skipped), not when one failed
    for env in ENVS:
        assert "!contains(needs.*.result, 'failure')" in jobs[f"plan-{env}"]["if"]
    assert jobs["comment"]["needs"] == ["check", "changes", "plan-dev", "plan-staging", "plan-prod"]
    deploy = workflows[DEPLOY]["jobs"]
    assert [deploy[f"deploy-{env}"]["needs"] for env in ENVS] == [
        ["check", "review"],
        ["check", "review", "deploy-dev"],
        ["check", "review", "deploy-dev", "deploy-staging"],
    ]
    (tmp_path / ".git").mkdir()
    config = write(
        """
        name: ordered
        team: ml
        use_case: {stage: production, code_changes: frequent, serving: batch}
        tier: 2
        environments:
          sandbox: {project: ordered-sandbox, role: development}
          preprod: {project: ordered-preprod, role: staging}
          live: {project: ordered-live, role: production}
        variables: {ci_repository: acme/ordered, ci_repository_id: 7001, ci_repository_owner_id: 7002}
        """
    )
    ordered = load_yaml(generate(config, "github")["tierstack-ordered-pr.yml"])["jobs"]
    assert ordered["plan-live"]["needs"] == ["check", "changes", "plan-sandbox", "plan-preprod"]
    split = step_named(ordered["changes"], "The stacks whose committed output changes")[1]["env"]
    assert split["ENVIRONMENTS"] == "sandbox preprod live"
    assert split["STACK_ENVIRONMENTS"] == "ordered-sandbox=sandbox ordered-preprod=preprod ordered-live=live"


def artifact(job: dict[str, Any], kind: str) -> list[str]:
    uses = f"actions/{kind}-artifact@"
    return [s["with"].get("name") or s["with"]["pattern"] for s in job["steps"] if str(s.get("uses")).startswith(uses)]


def test_each_stack_has_its_own_plan_artifact_and_the_deploy_downloads_its_stacks(workflows: dict[str, Any]) -> None:
    jobs = workflows[PR]["jobs"]
    uploads = {env: artifact(jobs[f"plan-{env}"], "upload") for env in ENVS}
    assert all(names == ["tierstack-fraud-detection-plan-${{ matrix.stack }}"] for names in uploads.values())
    # expanded for every stack of the config: one name each, none another artifact's
    expanded = [name.replace("${{ matrix.stack }}", STACKS[env]) for env in ENVS for name in uploads[env]]
    others = artifact(jobs["changes"], "upload") + artifact(jobs["check"], "upload")
    assert others == ["tierstack-fraud-detection-changes", "tierstack-fraud-detection-diff"]
    assert len(set(expanded + others)) == len(expanded + others) == 5
    assert artifact(jobs["comment"], "download") == [
        "tierstack-fraud-detection-plan-*",
        "tierstack-fraud-detection-changes",
        "tierstack-fraud-detection-diff",
    ]
    _, review = step_named(jobs["plan-dev"], "tierstack review")
    assert 'cp "$STACK_DIR/plan.json" "$STACK_DIR/plan.tfplan" "$OUT/"' in review["run"]  # plan file, JSON, review
    deploy = workflows[DEPLOY]["jobs"]
    assert artifact(deploy["review"], "download") == ["tierstack-fraud-detection-changes"]
    for env in ENVS:
        job = deploy[f"deploy-{env}"]
        assert artifact(job, "download") == [f"tierstack-fraud-detection-plan-{STACKS[env]}"]  # its stack's review
        assert f"tierstack-fraud-detection-plan-{STACKS[env]}" in expanded
        assert f"needs.review.outputs.plan-{env} == 'true'" in job["if"]
        assert deploy["review"]["outputs"][f"plan-{env}"] == f"${{{{ steps.scope.outputs.plan-{env} }}}}"


def test_the_workflows_pass_actionlint_and_it_checks_the_outputs_wiring(
    workflows: dict[str, Any], actionlint: Any, tmp_path: Path, spawns: None
) -> None:
    files = generate(FRAUD, "github")
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    assert actionlint(paths) == []
    broken = tmp_path / "broken.yml"  # the judge judges: a plan job fed from an output nobody declares
    text = files[PR].replace("      plan-staging: ${{ steps.changes.outputs.plan-staging }}\n", "", 1)
    broken.write_text(text)
    findings = actionlint([broken])
    assert findings and all("plan-staging" in f["message"] for f in findings), findings


def test_the_new_scripts_pass_shellcheck(workflows: dict[str, Any], tmp_path: Path, spawns: None) -> None:
    exe = shellcheck()
    steps = [
        (workflows[PR]["jobs"]["changes"], "The stacks whose committed output changes"),
        (workflows[PR]["jobs"]["plan-prod"], "tierstack review"),
        (workflows[PR]["jobs"]["comment"], "Write the comment"),
        (workflows[PR]["jobs"]["comment"], "Gate on the reviews"),
        (workflows[DEPLOY]["jobs"]["review"], "The stacks the review planned"),
    ]
    for job, name in steps:
        body = step_named(job, name)[1]["run"]
        assert "${{" not in body, name
        script = tmp_path / "script.sh"
        script.write_text(body)
        done = subprocess.run([exe, "--shell=bash", "--severity=style", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{name}:\n{done.stdout}"


# --- the changes step, run on real two-commit repositories ----------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """The fraud-detection example and its committed output at a base commit."""
    root = tmp_path / "repo"
    folder = root / FOLDER
    folder.mkdir(parents=True)
    shutil.copy(FRAUD, folder / "tierstack.yaml")
    shutil.copytree(FRAUD.parent / "cdktf.out", folder / "cdktf.out")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    return root, git(root, "rev-parse", "HEAD").strip()


def change_prod(root: Path) -> None:
    """A regenerated prod stack whose artifacts bucket is renamed (its Terraform changes)."""
    stack = root / STACKS_DIR / STACKS["prod"] / "cdk.tf.json"
    stack.write_text(stack.read_text().replace('"model_training_artifacts_bucket"', '"model_training_models_bucket"'))


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message, "--allow-empty")


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, **env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_changes(workflows: dict[str, Any], root: Path, base: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The changes step as GitHub runs it, in the checkout at its head: (the process, RUNNER_TEMP)."""
    workflow = workflows[PR]
    _, step = step_named(workflow["jobs"]["changes"], "The stacks whose committed output changes")
    temp = root.parent / "runner-temp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    (temp / "output").write_text("")
    env = {**workflow["env"], **step["env"], "BASE_SHA": base, "RUNNER_TEMP": str(temp)}
    env.update(GITHUB_OUTPUT=str(temp / "output"), GITHUB_STEP_SUMMARY=str(temp / "summary.md"))
    return bash(step["run"], root, env), temp


def outputs(temp: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (temp / "output").read_text().splitlines())


def test_the_matrix_holds_exactly_the_changed_stacks(
    workflows: dict[str, Any], repo: tuple[Path, str], spawns: None
) -> None:
    root, base = repo
    change_prod(root)
    (root / STACKS_DIR / STACKS["dev"] / "README.md").write_text("a page is for people: nothing to plan\n")
    commit(root, "prod's bucket renamed")
    done, temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    out = outputs(temp)
    assert json.loads(out["plan-prod"]) == {
        "include": [{"stack": STACKS["prod"], "directory": f"{STACKS_DIR}/{STACKS['prod']}"}]
    }
    assert json.loads(out["plan-dev"]) == json.loads(out["plan-staging"]) == {"include": []}
    assert (out["count-dev"], out["count-staging"], out["count-prod"], out["count"]) == ("0", "0", "1", "1")
    assert (temp / "changes" / "planned").read_text() == f"prod {STACKS['prod']}\n"
    not_planned = (temp / "changes" / "not-planned.md").read_text()
    assert f"`{STACKS['dev']}`" in not_planned and f"`{STACKS['staging']}`" in not_planned
    assert "output unchanged" in not_planned and STACKS["prod"] not in not_planned
    # the judge: tierstack diff --committed (the check job's command) on the same commits
    result = run("diff", base, "HEAD", "--repo", str(root), "--config", f"{FOLDER}/tierstack.yaml", "--committed")
    judged = run(
        *("diff", base, "HEAD", "--repo", str(root), "--config", f"{FOLDER}/tierstack.yaml", "--committed"),
        *("--format", "json"),
    )
    assert result.exit_code == judged.exit_code == 3, result.output  # the rename puts data at risk
    changed = {s["name"] for s in json.loads(judged.stdout)["stacks"] if s["status"] != "unchanged"}
    assert changed == {STACKS["prod"]}


def test_nothing_changed_plans_nothing_and_says_so(
    workflows: dict[str, Any], repo: tuple[Path, str], spawns: None
) -> None:
    root, base = repo
    (root / "README.md").write_text("a change outside the output\n")
    commit(root, "docs")
    done, temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    out = outputs(temp)
    assert out["count"] == "0" and all(out[f"count-{env}"] == "0" for env in ENVS)
    assert "::notice::no stack's committed output changes: no plan runs" in done.stdout
    assert (temp / "changes" / "planned").read_text() == ""
    assert "_None: no stack's committed output changes._" in (temp / "summary.md").read_text()


def test_a_removed_stack_is_not_planned_and_said_removed(
    workflows: dict[str, Any], repo: tuple[Path, str], spawns: None
) -> None:
    root, base = repo
    shutil.rmtree(root / STACKS_DIR / STACKS["staging"])
    commit(root, "staging left the output")
    done, temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    assert outputs(temp)["count"] == "0"
    not_planned = (temp / "changes" / "not-planned.md").read_text()
    assert f"| `{STACKS['staging']}` | removed from the output" in not_planned
    data = json.loads((temp / "changes" / "changes.json").read_text())
    # honest about it: the check job's diff reports the removed stack's stateful resources as data at risk
    args = ("diff", base, "HEAD", "--repo", str(root), "--config", f"{FOLDER}/tierstack.yaml", "--committed")
    judged = run(*args, "--format", "json")
    assert judged.exit_code == 3, judged.output
    [gone] = [s for s in json.loads(judged.stdout)["stacks"] if s["name"] == STACKS["staging"]]
    assert gone["status"] == "removed"
    assert {e["stack"]: e["why"].split(":")[0] for e in data["not_planned"]}[
        STACKS["staging"]
    ] == "removed from the output"


def test_a_stack_the_config_does_not_generate_stops_the_changes_job(
    workflows: dict[str, Any], repo: tuple[Path, str], spawns: None
) -> None:
    """A committed stack folder no environment of the config makes (generate --check fails on it too) is never
    planned with some environment's planner: the job stops, naming it."""
    root, base = repo
    shutil.copytree(root / STACKS_DIR / STACKS["dev"], root / STACKS_DIR / "fraud-detection-qa")
    commit(root, "a stray stack")
    done, _ = run_changes(workflows, root, base)
    assert done.returncode == 1
    assert f'::error::"{STACKS_DIR}/fraud-detection-qa" is not a stack this config generates' in done.stdout


# --- the comment and the gate -------------------------------------------------------------------------------


def run_review(workflows: dict[str, Any], temp: Path, env: str, plan: Path) -> Path:
    """A plan job's review step, run for real on a checked-in plan, its artifact laid out as download-artifact
    lays out a pattern's artifacts (one folder each): the reviews folder."""
    job = workflows[PR]["jobs"][f"plan-{env}"]
    _, step = step_named(job, "tierstack review")
    stack_dir = temp / "checkout" / STACKS[env]
    stack_dir.mkdir(parents=True)
    shutil.copy(plan, stack_dir / "plan.json")
    (stack_dir / "plan.tfplan").write_bytes(b"saved plan")
    job_temp = temp / f"job-{env}"
    job_temp.mkdir()
    env_vars = {
        **workflows[PR]["env"],
        "TIERSTACK_CONFIG": str(FRAUD),
        "STACK_DIR": str(stack_dir),
        "RUNNER_TEMP": str(job_temp),
        "GITHUB_STEP_SUMMARY": str(job_temp / "summary.md"),
    }
    done = bash(step["run"], temp, env_vars)
    assert done.returncode == 0, done.stdout + done.stderr
    reviews = temp / "reviews"
    shutil.copytree(job_temp / "plan", reviews / f"tierstack-fraud-detection-plan-{STACKS[env]}")
    return reviews


def comment_step(workflows: dict[str, Any], name: str, temp: Path, extra: dict[str, str]) -> Any:
    job = workflows[PR]["jobs"]["comment"]
    _, step = step_named(job, name)
    env = {**job["env"], "RUNNER_TEMP": str(temp), "HEAD_SHA": "a" * 40, "RUN_URL": "https://github.com/x/runs/1"}
    return bash(step["run"], temp, {**env, **extra})


def prepare_comment_job(temp: Path, changes: Path | None, data_at_risk: bool) -> None:
    (temp / "diff").mkdir(parents=True, exist_ok=True)
    (temp / "diff" / "diff.md").write_text("_diff of the committed stacks_\n")
    (temp / "diff" / "verdict").write_text(f"data_at_risk={'true' if data_at_risk else 'false'}\n")
    (temp / "approval.md").write_text("#### Approval of destructive changes\n\nNone.\n")
    if changes is not None:
        shutil.copytree(changes, temp / "changes")


def post(workflows: dict[str, Any], github_script: Any, temp: Path) -> list[str]:
    job = workflows[PR]["jobs"]["comment"]
    _, step = step_named(job, "Post the comment")
    stand_in = GitHubStandIn(pulls=[])
    done = github_script(
        step, {"COMMENT_DIR": str(temp / "comment"), "MARKER": job["env"]["MARKER"]}, CONTEXT, stand_in
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [str(c["body"]) for c in stand_in.comments if c["user"]["login"] == "github-actions[bot]"]


def test_the_comment_lists_the_stacks_not_planned_and_why(
    workflows: dict[str, Any], repo: tuple[Path, str], github_script: Any, spawns: None
) -> None:
    root, base = repo
    change_prod(root)
    commit(root, "prod's bucket renamed")
    done, changes_temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    temp = root.parent / "comment-job"
    run_review(workflows, temp, "prod", PLANS / f"{STACKS['prod']}.json")
    prepare_comment_job(temp, changes_temp / "changes", data_at_risk=True)
    done = comment_step(workflows, "Write the comment", temp, {})
    assert done.returncode == 0, done.stderr
    [body] = post(workflows, github_script, temp)
    assert body.startswith("<!-- tierstack-review:fraud-detection -->\n## tierstack: fraud-detection\n")
    verdict = body.split("### What the change does", 1)[0]
    assert f"| prod: {STACKS['prod']} |" in verdict and STACKS["dev"] not in verdict
    not_planned = body.split("### Not planned", 1)[1].split("###", 1)[0]
    assert "| not planned | why |" in not_planned
    for env in ("dev", "staging"):
        assert f"| `{STACKS[env]}` | output unchanged" in not_planned
    assert body.index("### Not planned") < body.index(f"### prod: {STACKS['prod']}") < body.index("<sub>Plans of")
    assert f"### dev: {STACKS['dev']}" not in body  # a stack not planned has no review section
    assert "## tierstack review" in body.split(f"### prod: {STACKS['prod']}", 1)[1]  # the review, as made
    # the gate: the rename is data at risk in the committed stacks, so approval is required
    gate = comment_step(workflows, "Gate on the reviews", temp, {"APPROVED": "false"})
    assert gate.returncode == 1 and "add the label tierstack-approve-destroy" in gate.stdout, gate.stdout
    approved = comment_step(workflows, "Gate on the reviews", temp, {"APPROVED": "true"})
    assert approved.returncode == 0, approved.stdout


def test_nothing_changed_the_comment_says_so_and_the_gate_still_judges(
    workflows: dict[str, Any], repo: tuple[Path, str], github_script: Any, spawns: None
) -> None:
    root, base = repo
    commit(root, "nothing")
    done, changes_temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    temp = root.parent / "comment-job"
    prepare_comment_job(temp, changes_temp / "changes", data_at_risk=False)
    assert comment_step(workflows, "Write the comment", temp, {}).returncode == 0
    [body] = post(workflows, github_script, temp)
    assert "| stacks to plan | none: no stack's committed output changes, so no plan ran |" in body
    assert all(f"| `{STACKS[env]}` | output unchanged" in body for env in ENVS)
    assert "### prod:" not in body
    gate = comment_step(workflows, "Gate on the reviews", temp, {"APPROVED": "false"})
    assert gate.returncode == 0 and "no plan ran" in gate.stdout, gate.stdout
    (temp / "diff" / "verdict").write_text("data_at_risk=true\n")  # a removed stack's data, say: still gated
    gate = comment_step(workflows, "Gate on the reviews", temp, {"APPROVED": "false"})
    assert gate.returncode == 1, gate.stdout


def test_the_gate_fails_a_planned_stack_without_its_review_and_a_missing_changes_list(
    workflows: dict[str, Any], tmp_path: Path, spawns: None
) -> None:
    changes = tmp_path / "changes"
    changes.mkdir()
    (changes / "planned").write_text(f"dev {STACKS['dev']}\nprod {STACKS['prod']}\n")
    (changes / "not-planned.md").write_text("| not planned | why |\n|---|---|\n")
    temp = tmp_path / "job"
    prepare_comment_job(temp, changes, data_at_risk=False)
    run_review(workflows, temp, "prod", PLANS / f"{STACKS['prod']}.json")  # dev's plan job did not finish
    gate = comment_step(workflows, "Gate on the reviews", temp, {"APPROVED": "true"})
    assert gate.returncode == 1 and f"::error::dev: {STACKS['dev']}: no review" in gate.stdout, gate.stdout
    assert comment_step(workflows, "Write the comment", temp, {}).returncode == 0
    verdict = (temp / "comment" / "00-verdict.md").read_text()
    assert f"| dev: {STACKS['dev']} | **no plan**" in verdict
    assert verdict.index(f"| prod: {STACKS['prod']} |") < verdict.index(f"| dev: {STACKS['dev']} |")  # prod first
    shutil.rmtree(temp / "changes")  # the changes job failed: nothing says what had to be planned
    gate = comment_step(workflows, "Gate on the reviews", temp, {"APPROVED": "true"})
    assert gate.returncode == 1 and "no list of the stacks to plan" in gate.stdout, gate.stdout


# --- the deploy: exactly the stacks the review planned ------------------------------------------------------


def run_scope(
    workflows: dict[str, Any], temp: Path, changes: Path | None
) -> tuple[subprocess.CompletedProcess[str], str]:
    """The deploy's review job's scope step as GitHub runs it, on the review run's changes list (None: none)."""
    job = workflows[DEPLOY]["jobs"]["review"]
    _, step = step_named(job, "The stacks the review planned")
    (temp / "changes").mkdir(parents=True, exist_ok=True)
    if changes is not None:
        shutil.copy(changes, temp / "changes" / "changes.json")
    (temp / "output").write_text("")
    env = {**step["env"], "PULL": "12", "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(temp / "output")}
    done = bash(step["run"], temp, env)
    return done, (temp / "output").read_text()


def test_the_deploy_applies_only_the_stacks_the_review_planned(
    workflows: dict[str, Any], repo: tuple[Path, str], tmp_path: Path, spawns: None
) -> None:
    root, base = repo
    change_prod(root)
    commit(root, "prod's bucket renamed")
    done, changes_temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    scope, out = run_scope(workflows, tmp_path / "deploy", changes_temp / "changes" / "changes.json")
    assert scope.returncode == 0, scope.stdout + scope.stderr
    assert out.splitlines() == ["plan-dev=false", "plan-staging=false", "plan-prod=true"]
    assert f"::notice::dev: {STACKS['dev']} was not planned by pull request #12's review (output unchanged" in (
        scope.stdout
    )
    # a review that names neither (an older workflow's): the deploy stops rather than guess
    data = json.loads((changes_temp / "changes" / "changes.json").read_text())
    data["not_planned"] = [e for e in data["not_planned"] if e["stack"] != STACKS["staging"]]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(data))
    scope, _ = run_scope(workflows, tmp_path / "older", older)
    assert scope.returncode == 1
    assert f"::error::staging: pull request #12's review says nothing of {STACKS['staging']}" in scope.stdout
    missing = tmp_path / "none" / "changes"  # a review by an older workflow: no list at all
    missing.mkdir(parents=True)
    scope, out = run_scope(workflows, tmp_path / "none", None)
    assert scope.returncode == 1 and out == "", scope.stdout + scope.stderr
    assert "review run has no list of the stacks it planned" in scope.stdout and "nothing is deployed" in scope.stdout
    deploy = workflows[DEPLOY]["jobs"]
    assert deploy["review"]["needs"] == "check" and "id-token" not in deploy["review"]["permissions"]
    for env in ENVS:  # a deploy job runs only after its review was found, and none after a failure before it
        condition = deploy[f"deploy-{env}"]["if"]
        assert "needs.review.result == 'success'" in condition and "!contains(needs.*.result, 'failure')" in condition
        _, compare = step_named(deploy[f"deploy-{env}"], "The plan is the one the pull request reviewed")
        assert compare["env"]["PULL"] == "${{ needs.review.outputs.pull }}"


# --- tiers 0 and 1: a validate job per changed stack, no identity ------------------------------------------

RECOMMENDER = FRAUD.parent.parent / "recommender" / "tierstack.yaml"  # tier 1: dev, prod, no CI identity
TIER_1_PR = "tierstack-recommender-pr.yml"


@pytest.fixture(scope="module")
def tier_1() -> dict[str, Any]:
    files = generate(RECOMMENDER, "github")
    assert list(files) == [TIER_1_PR]  # no deploy: nothing can sign in
    return load_yaml(files[TIER_1_PR])


def test_below_tier_2_each_changed_stack_gets_its_own_validate_job(tier_1: dict[str, Any]) -> None:
    jobs = tier_1["jobs"]
    assert list(jobs) == ["check", "changes", "validate"]
    validate = jobs["validate"]
    assert validate["needs"] == ["check", "changes"]
    assert validate["strategy"] == {
        "fail-fast": False,
        "max-parallel": 8,
        "matrix": "${{ fromJSON(needs.changes.outputs.validate) }}",
    }
    assert "needs.changes.outputs.count-validate != '0'" in validate["if"]
    assert jobs["changes"]["outputs"] == {
        "count": "${{ steps.changes.outputs.count }}",
        "validate": "${{ steps.changes.outputs.validate }}",
        "count-validate": "${{ steps.changes.outputs.count-validate }}",
    }
    assert validate["permissions"] == {"contents": "read"} and validate["env"]["STACK_DIR"] == "${{ matrix.directory }}"
    _, step = step_named(validate, "terraform validate")
    assert step["run"].splitlines()[0] == 'terraform -chdir="$STACK_DIR" init -input=false -backend=false'
    for job in jobs.values():  # no job of a tier without a CI identity asks for a token
        assert "id-token" not in job["permissions"]


def test_below_tier_2_the_validate_matrix_holds_exactly_the_changed_stacks(
    tier_1: dict[str, Any], tmp_path: Path, spawns: None
) -> None:
    root = tmp_path / "repo"
    folder = root / "examples" / "recommender"
    folder.mkdir(parents=True)
    shutil.copy(RECOMMENDER, folder / "tierstack.yaml")
    shutil.copytree(RECOMMENDER.parent / "cdktf.out", folder / "cdktf.out")
    git(root, "init", "-q", "-b", "main")
    commit(root, "base")
    base = git(root, "rev-parse", "HEAD").strip()
    stack = folder / "cdktf.out" / "stacks" / "recommender-prod" / "cdk.tf.json"
    data = json.loads(stack.read_text())
    data["output"] = {**data.get("output", {}), "added_by_the_change": {"value": "x"}}
    stack.write_text(json.dumps(data, indent=2))
    commit(root, "prod's output changes")
    _, step = step_named(tier_1["jobs"]["changes"], "The stacks whose committed output changes")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    (temp / "output").write_text("")
    env = {**tier_1["env"], **step["env"], "BASE_SHA": base, "RUNNER_TEMP": str(temp)}
    env.update(GITHUB_OUTPUT=str(temp / "output"), GITHUB_STEP_SUMMARY=str(temp / "summary.md"))
    done = bash(step["run"], root, env)
    assert done.returncode == 0, done.stdout + done.stderr
    out = outputs(temp)
    directory = "examples/recommender/cdktf.out/stacks/recommender-prod"
    assert json.loads(out["validate"]) == {"include": [{"stack": "recommender-prod", "directory": directory}]}
    assert (out["count"], out["count-validate"]) == ("0", "1")  # nothing planned: no identity to plan with
    assert "| `recommender-dev` | output unchanged" in (temp / "changes" / "not-planned.md").read_text()


# --- --max-parallel ----------------------------------------------------------------------------------------


def test_max_parallel_sets_every_matrix(tmp_path: Path) -> None:
    result = run("ci", "github", str(FRAUD), "--out", str(tmp_path / "a"), "--max-parallel", "3")
    assert result.exit_code == 0, result.output
    jobs = load_yaml((tmp_path / "a" / PR).read_text())["jobs"]
    assert [jobs[f"plan-{env}"]["strategy"]["max-parallel"] for env in ENVS] == [3, 3, 3]
    result = run("ci", "github", str(RECOMMENDER), "--out", str(tmp_path / "b"), "--max-parallel", "2")
    assert result.exit_code == 0, result.output
    assert load_yaml((tmp_path / "b" / TIER_1_PR).read_text())["jobs"]["validate"]["strategy"]["max-parallel"] == 2


@pytest.mark.parametrize("value", ["0", "-4"])
def test_max_parallel_must_be_a_positive_integer(value: str, tmp_path: Path) -> None:
    result = run("ci", "github", str(FRAUD), "--out", str(tmp_path), "--max-parallel", value)
    assert result.exit_code == 2
    assert f"field '--max-parallel': '{value}' is not a number of jobs: give a positive integer" in result.output
    assert "Traceback" not in result.output and not list(tmp_path.iterdir())  # nothing written


def test_max_parallel_that_is_not_a_number_is_refused_by_name(tmp_path: Path) -> None:
    result = run("ci", "github", str(FRAUD), "--out", str(tmp_path), "--max-parallel", "many")
    assert result.exit_code == 2
    assert "--max-parallel" in result.output and "'many' is not a valid integer" in result.output


def test_cloud_build_has_no_max_parallel(tmp_path: Path) -> None:
    """One build a stack, each from its own trigger: Cloud Build's own concurrency runs them (docs/ci.md)."""
    result = run("ci", "cloudbuild", str(FRAUD), "--out", str(tmp_path), "--max-parallel", "3")
    assert result.exit_code == 2 and "No such option '--max-parallel'" in result.output
