"""Cloud Build production applies only the saved plan an approver approved, judged by real Terraform.

The prod deploy config plans, reviews and saves the plan file in the state bucket, and applies nothing; the
apply config (its trigger requires approval) fetches that plan, only if it was made from the commit the build
checked out, and applies exactly that file. Each stack has builds of its own and keeps its plans under its own
prefix: every environment's deploy saves and applies its own stack's plan, and the production apply refuses
the plan another stack's build saved, even of the same commit. Their scripts run here as Cloud Build runs
them: the save and fetch steps with the real google-cloud-storage client against gcp-storage-emulator on
127.0.0.1, the apply step's `tierstack apply` (this tierstack) with the real `terraform`, which refuses a
saved plan once the state changed after it was made. The stack is builtin `terraform_data`, so no provider is
involved; for Google's eventual consistency, tests/test_first_apply.py's Eventarc stack on the provider
stand-in, asked to refuse the trigger's first create (tests/standin/failures.py) with Google's own error (waited
out, the rest applied) or with an unrelated one (failed at once).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from test_first_apply import EVENTARC, UNRELATED
from test_first_apply import RESOURCES as FIRST_APPLY_RESOURCES
from test_first_apply import STACK as FIRST_APPLY

from conftest import REPO
from standin import failures
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.exit_codes import EXIT_FROZEN, EXIT_USER_ERROR
from tierstack.generator.output import ci
from tierstack.generator.plan.resolve import resolve
from tierstack.generator.services import eventual

FRAUD = REPO / "examples" / "fraud-detection" / "tierstack.yaml"
PINNED = "tierstack @ git+https://github.com/example-org/tierstack@" + "0123456789abcdef" * 2 + "01234567"
COMMIT, OTHER = "c" * 40, "d" * 40


def configs() -> dict[str, Any]:
    """The build configs (the trigger files are BuildTrigger resources: tests/test_cloudbuild_fanout.py)."""
    plan = ci.plan_for(resolve(load_spec(FRAUD)), FRAUD, "main", PINNED)
    return {
        name: YAML(typ="safe", pure=True).load(io.StringIO(text))
        for name, text in ci.render(plan, "cloudbuild").items()
        if "-triggers-" not in name
    }


def prod_triggers() -> dict[str, Any]:
    plan = ci.plan_for(resolve(load_spec(FRAUD)), FRAUD, "main", PINNED)
    text = ci.render(plan, "cloudbuild")["fraud-detection-triggers-prod.yaml"]
    return {doc["name"]: doc for doc in YAML(typ="safe", pure=True).load_all(io.StringIO(text))}


def step(config: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in config["steps"] if s["id"] == step_id)


def test_production_plans_and_saves_and_only_its_approved_build_applies() -> None:
    built = configs()
    deploy, apply = built["fraud-detection-deploy-prod.yaml"], built["fraud-detection-apply-prod.yaml"]
    ids = [s["id"] for s in deploy["steps"]]
    assert ids.index("plan-prod") < ids.index("review") < ids.index("save-plan") < ids.index("approve")
    assert "apply" not in ids  # the deploy build applies nothing in production
    assert "--substitutions=_PLAN_BUILD=$PLAN_BUILD" in step(deploy, "approve")["script"]
    ids = [s["id"] for s in apply["steps"]]
    assert ids.index("fetch-plan") < ids.index("init") < ids.index("review") < ids.index("apply")
    assert not any(i.startswith("plan-") for i in ids)  # it plans nothing: it applies the approved file
    assert apply["substitutions"]["_PLAN_BUILD"] == ""
    assert apply["serviceAccount"] == deploy["serviceAccount"]
    triggers = prod_triggers()  # the apply build waits for an approver; so does the prod deploy
    assert triggers["tierstack-fraud-detection-prod-apply"]["approvalConfig"] == {"approvalRequired": True}
    assert triggers["tierstack-fraud-detection-prod-apply"]["gitFileSource"]["path"] == (
        "cloudbuild/fraud-detection-apply-prod.yaml"
    )
    assert triggers["tierstack-fraud-detection-prod"]["approvalConfig"] == {"approvalRequired": True}
    dev = [s["id"] for s in built["fraud-detection-deploy-dev.yaml"]["steps"]]
    assert dev.index("save-plan") < dev.index("apply")  # no person in dev: the plan in its own log
    assert "fraud-detection-apply-dev.yaml" not in built


def run_script(body: str, env: dict[str, str], workspace: Path) -> subprocess.CompletedProcess[str]:
    """A Cloud Build script step, run in the build's /workspace (the checkout, with tierstack's venv in
    .tierstack/): bash, or sh for the terraform image's, with this venv's Python."""
    body = body.replace("/workspace/.tierstack/bin/python", sys.executable).replace("/workspace/", f"{workspace}/")
    shell = "sh" if body.startswith("#!/bin/sh") else "bash"
    return subprocess.run([shell, "-c", body], cwd=workspace, env=env, capture_output=True, text=True, timeout=300)


def step_env(config: dict[str, Any], step_id: str, **values: str) -> dict[str, str]:
    """The step's env as Cloud Build substitutes it: the values given (${COMMIT_SHA}, ${BUILD_ID},
    ${_PLAN_BUILD}), and any other user substitution its default in the config (the trigger's own)."""
    env = dict(item.split("=", 1) for item in step(config, step_id).get("env", []))
    out = {}
    for key, value in env.items():
        substitution = re.fullmatch(r"\$\{(_[A-Z0-9_]+)\}", value)
        if key in values:
            out[key] = values[key]
        elif substitution:
            out[key] = config["substitutions"][substitution.group(1)]
        else:
            out[key] = value
    return out


STACK = {
    "terraform": {"required_version": ">= 1.7"},
    "resource": {"terraform_data": {"model": {"input": "v2"}}},
}
STACK_DIR = "examples/fraud-detection/cdktf.out/stacks/fraud-detection-prod"  # the steps' STACK_DIR
ALWAYS = """
freezes:
  - name: always
    reason: a freeze that is on whenever this test runs
    start: 2000-01-01
    end: 2099-12-31
"""


def workspace(root: Path, stack: dict[str, Any], extra_config: str = "") -> Path:
    """A build's /workspace: the checkout (the config, the prod stack's cdk.tf.json) and the install step's
    venv, whose `tierstack` is this one."""
    config = root / "examples" / "fraud-detection" / "tierstack.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(FRAUD.read_text() + extra_config)
    (root / STACK_DIR).mkdir(parents=True)
    (root / STACK_DIR / "cdk.tf.json").write_text(json.dumps(stack, indent=2))
    venv = root / ".tierstack" / "bin"
    venv.mkdir(parents=True)
    (venv / "tierstack").write_text(f'#!/bin/sh\nexec "{Path(sys.executable).parent / "tierstack"}" "$@"\n')
    (venv / "tierstack").chmod(0o755)
    return root


class Builds:
    """The production deploy build (plan, save) and the apply build (fetch, init, review, apply), their
    scripts run as Cloud Build runs them, against the storage emulator and with the real terraform."""

    def __init__(self, base: dict[str, str], tmp_path: Path) -> None:
        from google.cloud import storage

        built = configs()
        self.deploy, self.apply = built["fraud-detection-deploy-prod.yaml"], built["fraud-detection-apply-prod.yaml"]
        self.bucket = step_env(self.deploy, "save-plan")["STATE_BUCKET"]
        storage.Client(project="acme-fraud-prod").create_bucket(self.bucket)
        self.base, self.tmp_path = base, tmp_path

    def run(
        self, config: dict[str, Any], step_id: str, root: Path, env: dict[str, str] | None = None, **values: str
    ) -> subprocess.CompletedProcess[str]:
        body = step(config, step_id)["script"]
        return run_script(body, {**self.base, **step_env(config, step_id, **values), **(env or {})}, root)

    def plan_and_save(self, root: Path, build: str) -> None:
        """The deploy build's plan step, then its save step: the plan in the bucket, made from COMMIT."""
        for step_id in ("plan-prod", "save-plan"):
            done = self.run(self.deploy, step_id, root, REVISION=COMMIT, PLAN_BUILD=build)
            assert done.returncode == 0, done.stdout + done.stderr

    def apply_build(
        self, planned: Path, revision: str, plan_build: str, env: dict[str, str] | None = None, name: str = ""
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        """The approved apply build: a fresh checkout holding the state, the plan fetched, checked, applied."""
        root = self.tmp_path / f"apply-{name or revision[:4]}-{plan_build or 'none'}"
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(planned, root, ignore=shutil.ignore_patterns("plan.*", ".terraform", "terraform"))
        done = subprocess.CompletedProcess[str]([], 0, "", "")
        for step_id in ("fetch-plan", "init", "review", "terraform-cli", "apply"):
            done = self.run(self.apply, step_id, root, env, REVISION=revision, PLAN_BUILD=plan_build)
            if done.returncode != 0:
                break
        return done, root / STACK_DIR


def local_env(terraform: Any, storage_emulator: str) -> dict[str, str]:
    base = {**terraform.env(), "STORAGE_EMULATOR_HOST": storage_emulator}
    base["PATH"] = f"{Path(terraform.binary).parent}{os.pathsep}{base['PATH']}"  # the terraform image's terraform
    return base


def test_the_approved_plan_is_applied_and_a_stale_or_foreign_one_is_refused(
    terraform: Any, storage_emulator: str, tmp_path: Path, spawns: None
) -> None:
    base = local_env(terraform, storage_emulator)
    builds = Builds(base, tmp_path)
    planned = workspace(
        tmp_path / "deploy-build", {**STACK, "resource": {"terraform_data": {"model": {"input": "v1"}}}}
    )
    stack_dir = planned / STACK_DIR
    for command in (["init", "-input=false"], ["apply", "-input=false", "-auto-approve"]):
        done = subprocess.run([terraform.binary, *command], cwd=stack_dir, env=base, capture_output=True)
        assert done.returncode == 0, done.stderr
    (stack_dir / "cdk.tf.json").write_text(json.dumps(STACK, indent=2))
    builds.plan_and_save(planned, "build-1")
    # (the upload's ifGenerationMatch=0, Cloud Storage's create-only precondition, is sent but not judged
    # here: gcp-storage-emulator ignores preconditions)

    refused, _ = builds.apply_build(planned, OTHER, "build-1")  # run with another commit than the plan was made from
    assert refused.returncode != 0 and f"run the trigger with --sha={COMMIT}" in refused.stderr
    missing, _ = builds.apply_build(planned, COMMIT, "build-9")
    assert missing.returncode != 0 and "build build-9 saved no plan" in missing.stderr
    none, _ = builds.apply_build(planned, COMMIT, "")
    assert none.returncode != 0 and "no _PLAN_BUILD" in none.stderr

    done, stack = builds.apply_build(planned, COMMIT, "build-1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fraud-detection-prod: applied" in done.stdout  # by tierstack apply
    state = json.loads((stack / "terraform.tfstate").read_text())
    assert state["resources"][0]["instances"][0]["attributes"]["input"]["value"] == "v2"
    assert not list(stack.glob("*.tfplan"))  # applied once: the plan file is gone

    # the state changed after the plan was made (someone applied in between): Terraform refuses the file
    (stack_dir / "cdk.tf.json").write_text(
        json.dumps({**STACK, "resource": {"terraform_data": {"model": {"input": "v3"}}}})
    )
    between = subprocess.run(
        [terraform.binary, "apply", "-input=false", "-auto-approve"], cwd=stack_dir, env=base, capture_output=True
    )
    assert between.returncode == 0, between.stderr
    (stack_dir / "cdk.tf.json").write_text(json.dumps(STACK, indent=2))
    stale, _ = builds.apply_build(planned, COMMIT, "build-1")
    assert stale.returncode != 0 and "Saved plan is stale" in stale.stdout + stale.stderr
    assert "to plan again, run this environment's deploy trigger" in stale.stdout


def test_the_apply_step_keeps_its_own_freeze_gate(
    terraform: Any, storage_emulator: str, tmp_path: Path, spawns: None
) -> None:
    """A freeze that began after the review step (here: the apply step alone) stops the apply, exit 4;
    the trigger's _OVERRIDE_FREEZE_REASON lets it through."""
    base = local_env(terraform, storage_emulator)
    builds = Builds(base, tmp_path)
    planned = workspace(tmp_path / "deploy-build", STACK, ALWAYS)
    builds.plan_and_save(planned, "build-1")
    fetched, _ = builds.apply_build(planned, COMMIT, "build-1", name="fetched")
    assert fetched.returncode == EXIT_FROZEN, fetched.stdout + fetched.stderr  # the review step's gate, first
    root = tmp_path / "apply-fetched-build-1"
    copied = builds.run(builds.apply, "terraform-cli", root)
    assert copied.returncode == 0 and (root / ".tierstack" / "bin" / "terraform").is_file(), copied.stderr
    frozen = builds.run(builds.apply, "apply", root)
    assert frozen.returncode == EXIT_FROZEN, frozen.stdout + frozen.stderr
    assert "change freeze 'always' is on for fraud-detection-prod" in frozen.stderr
    assert not (root / STACK_DIR / "terraform.tfstate").exists()
    (root / STACK_DIR / "fraud-detection-prod.tfplan").rename(root / STACK_DIR / "plan.tfplan")
    reason = {"OVERRIDE_FREEZE_REASON": "INC-4711: a fix that cannot wait"}
    done = builds.run(builds.apply, "apply", root, reason)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((root / STACK_DIR / "terraform.tfstate").read_text())["resources"]


def google_stack(builds: Builds, tmp_path: Path) -> Path:
    """tests/test_first_apply.py's stack (an Eventarc trigger after its agent's fresh grant, on the provider
    stand-in) planned and saved by the deploy build."""
    planned = workspace(tmp_path / "deploy-build", FIRST_APPLY)
    builds.plan_and_save(planned, "build-1")
    return planned


def test_a_refusal_google_documents_is_waited_out_and_the_rest_applied(
    terraform: Any, storage_emulator: str, tmp_path: Path, spawns: None
) -> None:
    """The stand-in refuses the trigger's first create as Eventarc does right after its agent's grant; the
    apply step's tierstack apply says what it waits for, plans what is left of the approved plan and
    applies that."""
    base = local_env(terraform, storage_emulator)
    builds = Builds(base, tmp_path)
    planned = google_stack(builds, tmp_path)
    rule = {"type": "google_eventarc_trigger", "times": 1, "message": EVENTARC}
    rules = failures.write(tmp_path / "failures.json", [rule])
    done, stack = builds.apply_build(planned, COMMIT, "build-1", {**rules, eventual.WAIT_ENV: "0"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert failures.fired(tmp_path / "failures.json") == [1]
    assert (
        "fraud-detection-prod: google_eventarc_trigger.retrain was refused right after "
        "google_project_iam_member.agent_role was created: eventarc-service-agent"
    ) in done.stderr
    assert "waiting 0 s for Eventarc's service agent to get its permissions" in done.stderr
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in done.stderr  # what was left: the trigger
    assert len(json.loads((stack / "terraform.tfstate").read_text())["resources"]) == FIRST_APPLY_RESOURCES


def test_any_other_error_fails_the_apply_at_once(
    terraform: Any, storage_emulator: str, tmp_path: Path, spawns: None
) -> None:
    base = local_env(terraform, storage_emulator)
    builds = Builds(base, tmp_path)
    planned = google_stack(builds, tmp_path)
    rule = {"type": "google_eventarc_trigger", "times": 2, "message": UNRELATED}
    rules = failures.write(tmp_path / "failures.json", [rule])
    done, stack = builds.apply_build(planned, COMMIT, "build-1", {**rules, eventual.WAIT_ENV: "0"})
    assert done.returncode == EXIT_USER_ERROR, done.stdout + done.stderr
    assert failures.fired(tmp_path / "failures.json") == [1]  # one attempt, no retry
    assert "Invalid value for field 'resource.name'" in done.stderr  # terraform's words
    assert "waiting" not in done.stderr
    assert "fraud-detection-prod: tierstack apply stopped (exit 2, above)" in done.stdout
    assert len(json.loads((stack / "terraform.tfstate").read_text())["resources"]) == FIRST_APPLY_RESOURCES - 1


@pytest.mark.parametrize("name", ["fraud-detection-deploy-prod.yaml", "fraud-detection-apply-prod.yaml"])
def test_the_plan_is_kept_where_the_state_is(name: str) -> None:
    config = configs()[name]
    for step_id in ("save-plan", "fetch-plan"):
        if any(s["id"] == step_id for s in config["steps"]):
            env = step_env(config, step_id)
            assert (
                env["STATE_BUCKET"] == "fraud-detection-tfstate"
                and env["PLANS"] == "tierstack-plans/fraud-detection-prod"
            )


# --- per stack: each stack's builds save and apply its own plan, and no other ------------------------------


STACKS = {env: f"examples/fraud-detection/cdktf.out/stacks/fraud-detection-{env}" for env in ("dev", "staging", "prod")}


def fleet_workspace(root: Path, inputs: dict[str, str]) -> Path:
    """A checkout holding every stack of the config (terraform_data, one input each) and tierstack's venv."""
    workspace(root, STACK)
    for env, directory in STACKS.items():
        (root / directory).mkdir(parents=True, exist_ok=True)
        stack = {**STACK, "resource": {"terraform_data": {"model": {"input": inputs[env]}}}}
        (root / directory / "cdk.tf.json").write_text(json.dumps(stack, indent=2))
    return root


def run_steps(
    config: dict[str, Any], step_ids: tuple[str, ...], root: Path, base: dict[str, str], **values: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.CompletedProcess[str]([], 0, "", "")
    for step_id in step_ids:
        body = step(config, step_id)["script"]
        done = run_script(body, {**base, **step_env(config, step_id, **values)}, root)
        if done.returncode != 0:
            break
    return done


def input_of(root: Path, env: str) -> str:
    state = json.loads((root / STACKS[env] / "terraform.tfstate").read_text())
    return str(state["resources"][0]["instances"][0]["attributes"]["input"]["value"])


def test_each_stack_applies_its_own_approved_plan_and_never_another_stacks(
    terraform: Any, storage_emulator: str, tmp_path: Path, spawns: None
) -> None:
    from google.cloud import storage

    base = local_env(terraform, storage_emulator)
    built = configs()
    buckets = {step_env(built[f"fraud-detection-deploy-{env}.yaml"], "save-plan")["STATE_BUCKET"] for env in STACKS}
    client = storage.Client(project="acme-fraud-prod")
    for name in buckets:
        client.create_bucket(name)
    inputs = {"dev": "dev-v1", "staging": "staging-v1", "prod": "prod-v1"}
    root = fleet_workspace(tmp_path / "deploy", inputs)

    # dev and staging: each deploy build plans its stack, saves the plan under its stack and applies it
    for env in ("dev", "staging"):
        deploy = built[f"fraud-detection-deploy-{env}.yaml"]
        steps = (f"plan-{env}", "review", "save-plan", "terraform-cli", "apply")
        done = run_steps(deploy, steps, root, base, REVISION=COMMIT, PLAN_BUILD=f"build-{env}")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"fraud-detection-{env}: applied" in done.stdout
        assert input_of(root, env) == inputs[env]
    # prod: planned and saved, applied only by the approved apply build
    deploy = built["fraud-detection-deploy-prod.yaml"]
    done = run_steps(deploy, ("plan-prod", "save-plan"), root, base, REVISION=COMMIT, PLAN_BUILD="build-prod")
    assert done.returncode == 0, done.stdout + done.stderr
    saved = sorted(blob.name for name in buckets for blob in client.bucket(name).list_blobs())
    assert saved == sorted(
        f"tierstack-plans/fraud-detection-{env}/build-{env}/{file}"
        for env in STACKS
        for file in ("plan.json", "plan.tfplan")
    )
    for name in buckets:  # each made from the commit it names
        for blob in client.bucket(name).list_blobs():
            assert client.bucket(name).get_blob(blob.name).metadata == {"commit": COMMIT}

    apply = built["fraud-detection-apply-prod.yaml"]
    steps = ("fetch-plan", "init", "review", "terraform-cli", "apply")

    def approved(plan_build: str, revision: str, name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        checkout = tmp_path / name  # a fresh checkout of the commit, with the state the deploys left
        shutil.copytree(root, checkout, ignore=shutil.ignore_patterns("plan.*", "*.tfplan", ".terraform", "terraform"))
        return run_steps(apply, steps, checkout, base, REVISION=revision, PLAN_BUILD=plan_build), checkout

    other_stack, checkout = approved("build-staging", COMMIT, "apply-staging-plan")  # staging's plan, same commit
    assert other_stack.returncode != 0 and "build build-staging saved no plan" in other_stack.stderr
    assert "tierstack-plans/fraud-detection-prod/build-staging" in other_stack.stderr
    assert not (checkout / STACKS["prod"] / "terraform.tfstate").exists()
    other_commit, checkout = approved("build-prod", OTHER, "apply-other-commit")
    assert other_commit.returncode != 0 and f"run the trigger with --sha={COMMIT}" in other_commit.stderr
    assert not (checkout / STACKS["prod"] / "terraform.tfstate").exists()
    done, checkout = approved("build-prod", COMMIT, "apply-prod")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fraud-detection-prod: applied" in done.stdout
    assert input_of(checkout, "prod") == inputs["prod"]
    assert {env: input_of(checkout, env) for env in ("dev", "staging")} == {"dev": "dev-v1", "staging": "staging-v1"}
