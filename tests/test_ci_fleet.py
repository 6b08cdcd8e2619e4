"""A fleet gets one pull-request and one deploy workflow for every member's stacks (issue 23).

The fleet here is the churn-fleet example made tier 2 (its blueprint extends level-2-cicd), with churn-br
kept at tier 1 on a blueprint of its own: two members plan and deploy, one is validated only. It is
generated for real (`tierstack generate FLEET`) into a git repository, committed as the base.

The judges: actionlint (a matrix fed by an output no job declares fails it), zizmor, shellcheck on every
run step, the changes step's own script run on real two-commit repositories (a change of the fleet's
defaults regenerated for real: it plans exactly the members whose output it changes), the member's real
Terraform JSON for the planner each matrix entry signs in as, and the comment posted by Octokit against
the local GitHub API stand-in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakes.github import GitHubStandIn
from test_ci import CONTEXT, PINNED, PLANS, actionlint, github_script, load_yaml, shellcheck, step_named, zizmor
from test_ci_matrix import bash, outputs

from conftest import REPO, git, run
from tierstack.generator.core.errors import UserError
from tierstack.generator.output import ci, ci_fleet

assert actionlint and github_script  # fixtures, imported to be asked for by name

# the fleet is generated for real once per module (three members, eight stacks): out of the inner loop
pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "churn-fleet"
PR = "tierstack-churn-pr.yml"
DEPLOY = "tierstack-churn-deploy.yml"
PLANNING = ("churn-us", "churn-de")  # tier 2
CHECKS_ONLY = "churn-br"  # tier 1: no CI identity
ENVS = ("dev", "staging", "prod")


def stack_dir(member: str, env: str) -> str:
    return f"{member}/cdktf.out/stacks/{member}-{env}"


def make_fleet(root: Path, deploy_workflow: str | None = DEPLOY) -> Path:
    """The churn-fleet example at tier 2 (churn-br at tier 1), in `root`: the fleet file's path. Its members'
    deployers trust `deploy_workflow` (variables.ci_deploy_workflow; None: each member's own default)."""
    root.mkdir(parents=True)
    blueprint = (EXAMPLE / "acme-churn.yaml.j2").read_text()
    (root / "acme-churn-t1.yaml.j2").write_text(blueprint)
    tier2 = blueprint.replace("extends: level-1-pipeline-automation", "extends: level-2-cicd")
    (root / "acme-churn.yaml.j2").write_text(tier2.replace("\ntier: 1\n", "\ntier: 2\n"))
    text = (EXAMPLE / "churn.fleet.yaml").read_text()
    text = text.replace("defaults:\n  team: retail\n", "defaults:\n  team: retail\n  tier: 2\n")
    text = text.replace(
        "    alert_email: ml-oncall@acme.example\n",
        "    alert_email: ml-oncall@acme.example\n    ci_repository: acme/ml-platform\n"
        "    ci_repository_id: 7001\n    ci_repository_owner_id: 7002\n"
        + (f"    ci_deploy_workflow: {deploy_workflow}\n" if deploy_workflow else ""),
    )
    text = text.replace(
        "    region: southamerica-east1\n",
        "    region: southamerica-east1\n    tier: 1\n    blueprint: ./acme-churn-t1.yaml.j2\n",
    )
    assert text.count("tier:") == 2 and "blueprint: ./acme-churn-t1" in text
    fleet = root / "churn.fleet.yaml"
    fleet.write_text(text)
    return fleet


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet, generated and committed: a git repository with one commit."""
    root = tmp_path_factory.mktemp("fleet") / "repo"
    fleet = make_fleet(root)
    git(root, "init", "-q", "-b", "main")
    result = run("generate", str(fleet))
    assert result.exit_code == 0, result.output
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    return root


@pytest.fixture
def repo(base_repo: Path, tmp_path: Path, spawns: None) -> tuple[Path, str]:
    """A copy of the base repository for one test: (its top, the base commit)."""
    root = tmp_path / "repo"
    shutil.copytree(base_repo, root, symlinks=True)
    return root, git(root, "rev-parse", "HEAD").strip()


def files_of(root: Path, target: ci.Target = "github", max_parallel: int = 8) -> dict[str, str]:
    from tierstack.generator.services import fleet as fleets

    path = root / "churn.fleet.yaml"
    plan, members = ci_fleet.fleet_plan(path, fleets.load_fleet(path), "main", PINNED)
    return ci_fleet.render(plan, members, target, max_parallel)


@pytest.fixture(scope="module")
def written(base_repo: Path) -> dict[str, str]:
    return files_of(base_repo)


@pytest.fixture(scope="module")
def workflows(written: dict[str, str]) -> dict[str, Any]:
    return {name: load_yaml(text) for name, text in written.items()}


# --- one workflow of each kind, every member's stacks ------------------------------------------------------


def test_one_pull_request_and_one_deploy_workflow_for_the_whole_fleet(workflows: dict[str, Any]) -> None:
    assert list(workflows) == [PR, DEPLOY]
    jobs = workflows[PR]["jobs"]
    assert list(jobs) == ["check", "changes", "validate", "plan-dev", "plan-staging", "plan-prod", "comment"]
    assert [jobs[f"plan-{env}"]["needs"] for env in ENVS] == [
        ["check", "changes"],
        ["check", "changes", "plan-dev"],
        ["check", "changes", "plan-dev", "plan-staging"],
    ]
    deploy = workflows[DEPLOY]["jobs"]
    assert list(deploy) == ["check", "review", "deploy-dev", "deploy-staging", "deploy-prod"]
    assert deploy["deploy-prod"]["needs"] == ["check", "review", "deploy-dev", "deploy-staging"]
    for env in ENVS:
        job = deploy[f"deploy-{env}"]
        assert job["environment"] == env and job["strategy"]["max-parallel"] == 8
        assert job["strategy"]["matrix"] == f"${{{{ fromJSON(needs.review.outputs.deploy-{env}) }}}}"
        assert deploy["review"]["outputs"][f"deploy-{env}"] == f"${{{{ steps.scope.outputs.deploy-{env} }}}}"
        assert jobs[f"plan-{env}"]["env"]["MEMBER"] == "${{ matrix.member }}"
    assert workflows[PR]["env"]["TIERSTACK_CONFIG"] == "churn.fleet.yaml"
    assert "paths" not in workflows[PR]["on"]["pull_request"]  # a fleet at the top: the whole repository


def test_the_workflows_pass_actionlint(written: dict[str, str], actionlint: Any, tmp_path: Path, spawns: None) -> None:
    paths = []
    for name, text in written.items():
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    assert actionlint(paths) == []
    broken = tmp_path / "broken.yml"  # the judge judges: the deploy matrix fed from an undeclared output
    broken.write_text(written[DEPLOY].replace("      deploy-prod: ${{ steps.scope.outputs.deploy-prod }}\n", "", 1))
    findings = actionlint([broken])
    assert findings and all("deploy-prod" in f["message"] for f in findings), findings


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_the_workflows_pass_zizmor(written: dict[str, str], persona: str, tmp_path: Path, spawns: None) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    for name, text in written.items():
        (folder / name).write_text(text)
    paths = [str(folder / name) for name in written]
    done = subprocess.run(
        [zizmor(), "--offline", "--no-progress", "--persona", persona, "--format", "plain", *paths],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_every_run_step_passes_shellcheck(workflows: dict[str, Any], tmp_path: Path, spawns: None) -> None:
    exe = shellcheck()
    checked = 0
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            for step in job["steps"]:
                body = step.get("run")
                if body is None:
                    continue
                assert "${{" not in body, (name, job_id, step.get("name"))
                script = tmp_path / "script.sh"
                script.write_text(body)
                done = subprocess.run([exe, "--shell=bash", "--severity=style", str(script)], capture_output=True)
                assert done.returncode == 0, f"{name} {job_id} {step.get('name')}:\n{done.stdout.decode()}"
                checked += 1
    assert checked > 20


# --- identities: each member signs in as its own planner and deployer --------------------------------------


def test_each_member_signs_in_with_its_own_identities(workflows: dict[str, Any], base_repo: Path) -> None:
    _, step = step_named(workflows[PR]["jobs"]["changes"], "The stacks whose committed output changes")
    stacks = json.loads(step["env"]["FLEET_STACKS"])
    assert sorted(stacks) == sorted(
        [stack_dir(m, env) for m in PLANNING for env in ENVS] + [stack_dir(CHECKS_ONLY, e) for e in ("dev", "prod")]
    )
    for directory, known in stacks.items():
        member, env = known["member"], known["environment"]
        assert known["ci"] is (member != CHECKS_ONLY)
        assert known["provider"] == f"TIERSTACK_WIF_PROVIDER_{member.upper().replace('-', '_')}_{env.upper()}"
        assert known["deploy_provider"] == f"TIERSTACK_WORKLOAD_IDENTITY_PROVIDER_{member.upper().replace('-', '_')}"
        if not known["ci"]:
            assert known["planner"] == ""
            continue
        # the judge: the planner the member's own committed stack creates, in its own project
        terraform = json.loads((base_repo / directory / "cdk.tf.json").read_text())
        planner = terraform["resource"]["google_service_account"]
        [account] = [r for r in planner.values() if str(r.get("account_id", "")).endswith("planner")]
        assert known["planner"] == f"{account['account_id']}@{account['project']}.iam.gserviceaccount.com"
    planners = {k["planner"] for k in stacks.values() if k["ci"]}
    assert len(planners) == len(PLANNING) * len(ENVS)  # one each: no member plans as another
    plan_job = workflows[PR]["jobs"]["plan-prod"]
    auth = [s for s in plan_job["steps"] if str(s.get("uses", "")).startswith("google-github-actions/auth@")]
    assert auth[0]["with"] == {
        "workload_identity_provider": "${{ steps.identity.outputs.provider }}",
        "service_account": "${{ matrix.planner }}",
    }
    deploy_auth = [
        s
        for s in workflows[DEPLOY]["jobs"]["deploy-prod"]["steps"]
        if str(s.get("uses", "")).startswith("google-github-actions/auth@")
    ]
    assert deploy_auth[0]["with"]["service_account"] == "${{ steps.identity.outputs.account }}"


# --- change detection on real two-commit repositories ------------------------------------------------------


def run_changes(workflows: dict[str, Any], root: Path, base: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    workflow = workflows[PR]
    _, step = step_named(workflow["jobs"]["changes"], "The stacks whose committed output changes")
    temp = root.parent / "runner-temp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    (temp / "output").write_text("")
    env = {**workflow["env"], **step["env"], "BASE_SHA": base, "RUNNER_TEMP": str(temp)}
    env.update(GITHUB_OUTPUT=str(temp / "output"), GITHUB_STEP_SUMMARY=str(temp / "summary.md"))
    return bash(step["run"], root, env), temp


def change_defaults(root: Path, old: str, new: str) -> None:
    """Edit the fleet's shared defaults, regenerate the fleet for real, commit."""
    fleet = root / "churn.fleet.yaml"
    text = fleet.read_text()
    assert text.count(old) == 1
    fleet.write_text(text.replace(old, new))
    result = run("generate", str(fleet))
    assert result.exit_code == 0, result.output
    git(root, "add", "-A")
    git(root, "commit", "-qm", "the defaults change")


def matrices(temp: Path) -> dict[str, list[dict[str, str]]]:
    out = outputs(temp)
    keys = [f"plan-{env}" for env in ENVS] + ["validate"]
    return {key: json.loads(out[key])["include"] for key in keys}


def test_a_change_to_the_defaults_plans_exactly_the_members_it_touches(
    workflows: dict[str, Any], repo: tuple[Path, str]
) -> None:
    """`defaults.team` is churn-us's team only: churn-de and churn-br set their own."""
    root, base = repo
    change_defaults(root, "  team: retail\n", "  team: retail-us\n")
    done, temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    found = matrices(temp)
    for env in ENVS:
        [entry] = found[f"plan-{env}"]
        assert entry["member"] == "churn-us" and entry["directory"] == stack_dir("churn-us", env)
        assert entry["provider"] == f"TIERSTACK_WIF_PROVIDER_CHURN_US_{env.upper()}"
        assert entry["planner"].endswith(".iam.gserviceaccount.com")
    assert found["validate"] == []
    assert (temp / "changes" / "planned").read_text() == "".join(f"{env} churn-us-{env}\n" for env in ENVS)
    not_planned = (temp / "changes" / "not-planned.md").read_text()
    assert not_planned.startswith("| member | not planned | why |\n")
    for member, envs in (("churn-de", ENVS), ("churn-br", ("dev", "prod"))):
        for env in envs:
            assert f"| `{member}` | `{member}-{env}` | output unchanged" in not_planned
    assert "churn-us" not in not_planned
    # the judge: tierstack diff --committed --changed-stacks on the same commits, as a person runs it
    judged = run(
        *("diff", base, "HEAD", "--repo", str(root), "--config", "churn.fleet.yaml", "--committed"),
        *("--changed-stacks", "--format", "json"),
    )
    assert judged.exit_code == 0, judged.output
    assert {e["stack"] for e in json.loads(judged.stdout)["planned"]} == {f"churn-us-{env}" for env in ENVS}


def test_a_default_every_member_reads_plans_them_all_and_validates_the_tier_1_member(
    workflows: dict[str, Any], repo: tuple[Path, str]
) -> None:
    root, base = repo
    change_defaults(root, "    cost-center: cc-2200\n", "    cost-center: cc-3300\n")
    done, temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    found = matrices(temp)
    for env in ENVS:
        assert sorted(e["member"] for e in found[f"plan-{env}"]) == sorted(PLANNING)
    assert sorted(e["directory"] for e in found["validate"]) == [stack_dir(CHECKS_ONLY, e) for e in ("dev", "prod")]
    assert all(set(e) == {"member", "stack", "directory"} for e in found["validate"])  # no identity to sign in
    out = outputs(temp)
    assert (out["count"], out["count-validate"]) == ("6", "2")
    not_planned = (temp / "changes" / "not-planned.md").read_text()
    assert "| `churn-br` | `churn-br-dev` | validated only: its member has no CI identity" in not_planned


def test_a_stack_of_no_member_stops_the_changes_job(workflows: dict[str, Any], repo: tuple[Path, str]) -> None:
    root, base = repo
    shutil.copytree(root / stack_dir("churn-us", "dev"), root / "churn-us/cdktf.out/stacks/churn-us-qa")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a stray stack")
    done, _ = run_changes(workflows, root, base)
    assert done.returncode == 1
    assert '::error::"churn-us/cdktf.out/stacks/churn-us-qa" is not a stack of a member of this fleet' in done.stdout


def test_a_removed_member_is_data_at_risk_in_the_check_job(workflows: dict[str, Any], repo: tuple[Path, str]) -> None:
    root, base = repo
    shutil.rmtree(root / "churn-de")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "churn-de's output removed")
    check = workflows[PR]["jobs"]["check"]
    _, step = step_named(check, "What the change does to the committed stacks")
    temp = root.parent / "check-temp"
    temp.mkdir()
    env = {**workflows[PR]["env"], "BASE_SHA": base, "FORK": "false", "RUNNER_TEMP": str(temp)}
    done = bash(step["run"], root, {**env, "GITHUB_STEP_SUMMARY": str(temp / "summary.md")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert (temp / "diff" / "verdict").read_text() == "data_at_risk=true\n"
    assert "**3 stack(s) leave the output**" in (temp / "diff" / "diff.md").read_text()


# --- artifacts, the comment and the deploy -----------------------------------------------------------------


def test_each_stack_has_its_own_plan_artifact(workflows: dict[str, Any]) -> None:
    jobs = workflows[PR]["jobs"]
    names = []
    for env in ENVS:
        [upload] = [
            s for s in jobs[f"plan-{env}"]["steps"] if str(s.get("uses")).startswith("actions/upload-artifact@")
        ]
        assert upload["with"]["name"] == "tierstack-churn-plan-${{ matrix.stack }}"
        names += [upload["with"]["name"].replace("${{ matrix.stack }}", f"{m}-{env}") for m in PLANNING]
    assert len(set(names)) == len(names) == 6
    downloads = [s["with"] for s in jobs["comment"]["steps"] if str(s.get("uses")).startswith("actions/download")]
    assert downloads[0]["pattern"] == "tierstack-churn-plan-*"
    for env in ENVS:
        [download] = [
            s
            for s in workflows[DEPLOY]["jobs"][f"deploy-{env}"]["steps"]
            if str(s.get("uses")).startswith("actions/download-artifact@")
        ]
        assert download["with"]["name"] == "tierstack-churn-plan-${{ matrix.stack }}"


def test_the_comment_gathers_every_members_plans(
    workflows: dict[str, Any], repo: tuple[Path, str], github_script: Any
) -> None:
    root, base = repo
    change_defaults(root, "    cost-center: cc-2200\n", "    cost-center: cc-3300\n")
    done, changes_temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    temp = root.parent / "comment-job"
    reviews = temp / "reviews"
    for member in PLANNING:  # each plan job's review step, run for real (a checked-in plan stands in)
        for env in ("dev", "prod"):
            stack = f"{member}-{env}"
            job = workflows[PR]["jobs"][f"plan-{env}"]
            _, step = step_named(job, "tierstack review")
            folder = root / stack_dir(member, env)  # in the checkout, as the job runs: its member's freezes apply
            assert folder.is_dir()
            shutil.copy(PLANS / f"propensity-us-{env}.json", folder / "plan.json")
            (folder / "plan.tfplan").write_bytes(b"saved plan")
            job_temp = temp / f"job-{stack}"
            job_temp.mkdir(parents=True)
            env_vars = {**workflows[PR]["env"], **job["env"], "STACK": stack, "STACK_DIR": str(folder)}
            env_vars.update(RUNNER_TEMP=str(job_temp), GITHUB_STEP_SUMMARY=str(job_temp / "summary.md"))
            ran = bash(step["run"], root, env_vars)
            assert ran.returncode == 0, ran.stdout + ran.stderr
            shutil.copytree(job_temp / "plan", reviews / f"tierstack-churn-plan-{stack}")
    (temp / "diff").mkdir()
    (temp / "diff" / "diff.md").write_text("_diff_\n")
    (temp / "diff" / "verdict").write_text("data_at_risk=false\n")
    (temp / "approval.md").write_text("#### Approval of destructive changes\n\nNone.\n")
    shutil.copytree(changes_temp / "changes", temp / "changes")
    job = workflows[PR]["jobs"]["comment"]
    env = {**job["env"], "RUNNER_TEMP": str(temp), "HEAD_SHA": "a" * 40, "RUN_URL": "https://github.com/x/runs/1"}
    assert bash(step_named(job, "Write the comment")[1]["run"], temp, env).returncode == 0
    _, post = step_named(job, "Post the comment")
    stand_in = GitHubStandIn(pulls=[])
    posted = github_script(
        post, {"COMMENT_DIR": str(temp / "comment"), "MARKER": job["env"]["MARKER"]}, CONTEXT, stand_in
    )
    assert posted.returncode == 0, posted.stdout + posted.stderr
    # four full reviews: more than one comment holds (GitHub's limit), each section whole, in reading order
    bodies = [str(c["body"]) for c in stand_in.comments if c["user"]["login"] == "github-actions[bot]"]
    assert bodies[0].startswith("<!-- tierstack-review:churn -->\n## tierstack: churn\n")
    body = "\n".join(bodies)
    for member in PLANNING:
        assert f"### prod: {member}-prod" in body and f"### dev: {member}-dev" in body
        assert f"| staging: {member}-staging | **no plan**" in body  # its plan job was not run here
    assert body.index("### prod: churn-us-prod") < body.index("### dev: churn-us-dev")  # production first
    not_planned = body.split("### Not planned", 1)[1].split("###", 1)[0]
    assert "| `churn-br` | `churn-br-prod` | validated only" in not_planned
    gate = bash(step_named(job, "Gate on the reviews")[1]["run"], temp, {**env, "APPROVED": "false"})
    assert gate.returncode == 1 and "::error::staging: churn-us-staging: no review" in gate.stdout, gate.stdout


def test_the_deploy_applies_each_reviewed_plan_of_the_members_with_an_identity(
    workflows: dict[str, Any], repo: tuple[Path, str], tmp_path: Path
) -> None:
    root, base = repo
    change_defaults(root, "    cost-center: cc-2200\n", "    cost-center: cc-3300\n")
    done, changes_temp = run_changes(workflows, root, base)
    assert done.returncode == 0, done.stdout + done.stderr
    job = workflows[DEPLOY]["jobs"]["review"]
    _, step = step_named(job, "The stacks the review planned")
    temp = tmp_path / "deploy"
    (temp / "changes").mkdir(parents=True)
    shutil.copy(changes_temp / "changes" / "changes.json", temp / "changes" / "changes.json")
    (temp / "output").write_text("")
    env = {**step["env"], "PULL": "12", "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(temp / "output")}
    scope = bash(step["run"], temp, env)
    assert scope.returncode == 0, scope.stdout + scope.stderr
    out = outputs(temp)
    for env_name in ENVS:
        assert out[f"plan-{env_name}"] == "true"
        include = json.loads(out[f"deploy-{env_name}"])["include"]
        assert sorted(e["member"] for e in include) == sorted(PLANNING)  # never churn-br: no deployer
        assert all(e["directory"] == stack_dir(e["member"], env_name) for e in include)
    apply_job = workflows[DEPLOY]["jobs"]["deploy-prod"]
    names = [s.get("name") for s in apply_job["steps"]]
    assert names.index("The plan is the one the pull request reviewed") < names.index(
        "terraform apply (the plan file compared above, nothing else)"
    )
    _, apply = step_named(apply_job, "terraform apply")
    assert apply["run"] == 'terraform -chdir="$STACK_DIR" apply -input=false "$STACK.tfplan"'
    assert str(apply_job["steps"][0]["name"]).startswith("Production requires a reviewer")


def token_job(stack: dict[str, Any], claims: dict[str, str]) -> str:
    """What the stack's workload identity provider maps a GitHub token with these claims to (`attribute.job`:
    deploy, plan or none), evaluated by cel-python, an implementation of the CEL Google's STS evaluates."""
    import celpy

    [provider] = stack["resource"]["google_iam_workload_identity_pool_provider"].values()
    environment = celpy.Environment()
    program = environment.program(environment.compile(provider["attribute_mapping"]["attribute.job"]))
    return str(program.evaluate({"assertion": celpy.json_to_cel(claims)}))


def test_each_deployer_trusts_the_fleets_deploy_workflow_and_no_other(
    workflows: dict[str, Any], base_repo: Path
) -> None:
    assert DEPLOY in workflows
    push = {"ref": "refs/heads/main", "event_name": "push", "repository_id": "7001", "repository_owner_id": "7002"}
    for member in PLANNING:
        for env in ENVS:
            stack = json.loads((base_repo / stack_dir(member, env) / "cdk.tf.json").read_text())
            fleet_run = {**push, "job_workflow_ref": f"acme/ml-platform/.github/workflows/{DEPLOY}@refs/heads/main"}
            own_run = {**fleet_run, "job_workflow_ref": fleet_run["job_workflow_ref"].replace("churn", member)}
            assert token_job(stack, fleet_run) == "deploy", (member, env)
            assert token_job(stack, own_run) == "none", (member, env)
            assert token_job(stack, {**fleet_run, "event_name": "pull_request"}) == "plan"


def test_members_that_trust_their_own_workflow_are_refused_with_the_fix(tmp_path: Path, spawns: None) -> None:
    """Without variables.ci_deploy_workflow each member's deployer trusts tierstack-<member>-deploy.yml, which
    the fleet never writes: its deploys could not sign in, so `ci` says what to add instead of writing them."""
    fleet = make_fleet(tmp_path / "repo", deploy_workflow=None)
    result = run("ci", "github", str(fleet), "--out", str(tmp_path / "out"), "--install", PINNED)
    assert result.exit_code == 2, result.output
    assert "defaults.variables.ci_deploy_workflow" in result.output
    assert f"add ci_deploy_workflow: {DEPLOY} under the fleet's defaults.variables" in result.output
    assert not (tmp_path / "out").exists()


def test_a_config_whose_deployer_trusts_another_workflow_is_refused(tmp_path: Path, spawns: None) -> None:
    config = tmp_path / "tierstack.yaml"
    text = (REPO / "examples" / "fraud-detection" / "tierstack.yaml").read_text()
    config.write_text(
        text.replace("  ci_repository_owner_id:", "  ci_deploy_workflow: other.yml\n  ci_repository_owner_id:")
    )
    result = run("ci", "github", str(config), "--out", str(tmp_path / "out"), "--install", PINNED)
    assert result.exit_code == 2, result.output
    assert "variables.ci_deploy_workflow" in result.output and "tierstack-fraud-detection-deploy.yml" in result.output


def test_a_deploy_workflow_that_is_no_file_name_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    text = (REPO / "examples" / "fraud-detection" / "tierstack.yaml").read_text()
    config.write_text(
        text.replace("  ci_repository_owner_id:", "  ci_deploy_workflow: ../x.yml\n  ci_repository_owner_id:")
    )
    result = run("validate", str(config))
    assert result.exit_code == 2, result.output
    assert "ci_deploy_workflow" in result.output and "is not a workflow file name" in result.output


def test_the_deploy_stops_inside_a_members_freeze_and_goes_outside_it(
    workflows: dict[str, Any], repo: tuple[Path, str], tmp_path: Path
) -> None:
    """The freeze step as GitHub runs it, with the real tierstack: a freeze on churn-de's production (read
    from the fleet file) stops its apply; churn-us, without one, goes on. The plan is a real one."""
    job = workflows[DEPLOY]["jobs"]["deploy-prod"]
    names = [s.get("name") for s in job["steps"]]
    assert names.index("No change freeze is on for the stack") < names.index(
        "terraform apply (the plan file compared above, nothing else)"
    )
    _, step = step_named(job, "No change freeze is on for the stack")
    fleet = repo[0] / "churn.fleet.yaml"
    text = fleet.read_text()
    marker = "    labels:\n      data-residency: eu\n"
    freeze = (
        "    freezes:\n      - name: de-freeze\n        reason: production changes wait for the audit\n"
        "        start: 2020-01-01\n        end: 2099-12-31\n"
    )
    fleet.write_text(text.replace(marker, marker + freeze))
    for member, expected in (("churn-de", 4), ("churn-us", 0)):
        temp = tmp_path / member
        stack = tmp_path / member / "stacks" / f"{member}-prod"
        stack.mkdir(parents=True)
        shutil.copy(REPO / "tests" / "fixtures" / "review" / "update-labels-prod.json", temp / "plan.json")
        env = {"RUNNER_TEMP": str(temp), "STACK": f"{member}-prod", "STACK_DIR": str(stack)}
        done = bash(step["run"], tmp_path, {**env, "TIERSTACK_CONFIG": str(fleet)})
        assert done.returncode == expected, done.stdout + done.stderr
        assert ("a change freeze is on" in done.stdout) is (expected == 4), done.stdout


# --- tiers, order and bad input ---------------------------------------------------------------------------


def test_the_example_fleet_at_tier_1_gets_the_checks_only(tmp_path: Path, spawns: None) -> None:
    result = run("ci", "github", str(EXAMPLE / "churn.fleet.yaml"), "--out", str(tmp_path), "--install", PINNED)
    assert result.exit_code == 0, result.output
    assert "churn-us, churn-de, churn-br have no CI identity (tier 0 or 1)" in result.output
    assert [p.name for p in tmp_path.iterdir()] == [PR]
    workflow = load_yaml((tmp_path / PR).read_text())
    assert list(workflow["jobs"]) == ["check", "changes", "validate"]
    assert "id-token" not in (tmp_path / PR).read_text()


def test_cloud_build_writes_the_fleets_checks(base_repo: Path) -> None:
    from test_cloudbuild_fanout import builds, cloudbuild

    files = files_of(base_repo, "cloudbuild")
    assert list(files) == ["churn-pr.yaml"]
    api = cloudbuild()
    [build] = [api.Build.from_json(json.dumps(data)) for data in builds(files).values()]
    scripts = "\n".join(step.script for step in build.steps)
    assert 'generate --check "$TIERSTACK_CONFIG"' in scripts
    assert any("TIERSTACK_CONFIG=churn.fleet.yaml" in env for step in build.steps for env in step.env)


def members(*orders: tuple[str, ...]) -> list[ci_fleet.CiMember]:
    def env(name: str) -> ci.CiEnvironment:
        return ci.CiEnvironment(name, f"m-{name}", "development", "p", "r", True, "", "", None, ())

    return [ci_fleet.CiMember(f"m{i}", 2, "s", tuple(env(n) for n in order)) for i, order in enumerate(orders)]


def test_the_environment_order_keeps_every_members_promotion_order() -> None:
    order = ci_fleet.environment_order(Path("f.yaml"), members(("dev", "prod"), ("dev", "staging", "prod"), ("qa",)))
    assert order == ["dev", "staging", "prod", "qa"]
    with pytest.raises(UserError, match="promotion orders disagree on dev, prod"):
        ci_fleet.environment_order(Path("f.yaml"), members(("dev", "prod"), ("prod", "dev")))


def test_the_sign_in_steps_read_the_members_variables_by_name(
    workflows: dict[str, Any], tmp_path: Path, spawns: None
) -> None:
    """Run for real: the variables' JSON (as `toJSON(vars)` gives it) in, the member's provider out, or an error
    naming the variable to set."""
    provider = "projects/123/locations/global/workloadIdentityPools/churn-us-ci/providers/github"
    cases = [
        (
            workflows[PR]["jobs"]["plan-dev"],
            {"VARIABLE": "TIERSTACK_WIF_PROVIDER_CHURN_US_DEV"},
            f"provider={provider}\n",
        ),
        (
            workflows[DEPLOY]["jobs"]["deploy-dev"],
            {
                "PROVIDER_VARIABLE": "TIERSTACK_WORKLOAD_IDENTITY_PROVIDER_CHURN_US",
                "ACCOUNT_VARIABLE": "TIERSTACK_CI_SERVICE_ACCOUNT_CHURN_US",
            },
            f"provider={provider}\naccount=churn-us-ci@churn-us-dev.iam.gserviceaccount.com\n",
        ),
    ]
    for job, names, expected in cases:
        _, step = step_named(job, "Workload identity is configured")
        values = dict(zip(names.values(), [provider, "churn-us-ci@churn-us-dev.iam.gserviceaccount.com"], strict=False))
        for variables, code in ((values, 0), ({"OTHER": "x"}, 1)):
            output = tmp_path / "output"
            output.write_text("")
            env = {**names, "VARIABLES": json.dumps(variables), "GITHUB_OUTPUT": str(output)}
            env.update(STACK="churn-us-dev", MEMBER="churn-us", TIERSTACK_ENVIRONMENT="dev")
            done = bash(step["run"], tmp_path, env)
            assert done.returncode == code, done.stdout + done.stderr
            if code == 0:
                assert output.read_text() == expected
            else:
                assert next(iter(names.values())) in done.stdout and done.stdout.startswith("::error::set ")


def test_a_fleet_too_large_for_one_workflow_is_refused_with_the_fix() -> None:
    """The stacks' data reaches a step as one environment variable, which Linux bounds (128 KiB)."""
    many = [
        ci_fleet.CiMember(f"m{i:03d}", 2, f"fleet/m{i:03d}/cdktf.out/stacks", member.environments)
        for i, member in enumerate(members(*[("dev", "staging", "prod")] * 400))
    ]
    with pytest.raises(UserError, match="more than one workflow's steps can be handed") as caught:
        ci_fleet.fleet_context(tuple(many), "fleet.yaml")
    assert caught.value.hint == "split the fleet into two fleet files, each with its own workflows"
    assert len(ci_fleet.fleet_context(tuple(many[:100]), "fleet.yaml")["stacks_json"]) < ci_fleet.MAX_STACKS_JSON
