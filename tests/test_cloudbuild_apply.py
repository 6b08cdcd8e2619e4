"""Cloud Build production applies only the saved plan an approver approved, judged by real Terraform.

The prod deploy config plans, reviews and saves the plan file in the state bucket, and applies nothing;
the apply config (its trigger has --require-approval) fetches that plan, only if it was made from the
commit the build checked out, and applies exactly that file. Their scripts run here as Cloud Build runs
them: the save and fetch steps with the real google-cloud-storage client against gcp-storage-emulator on
127.0.0.1, the apply step with the real `terraform`, which refuses a saved plan once the state changed
after it was made. The stack is builtin `terraform_data`, so no provider is involved.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import REPO
from tierstack.generator import ci
from tierstack.generator.resolve import resolve
from tierstack.generator.spec import load_spec

FRAUD = REPO / "examples" / "fraud-detection" / "tierstack.yaml"
PINNED = "tierstack @ git+https://github.com/example-org/tierstack@" + "0123456789abcdef" * 2 + "01234567"
COMMIT, OTHER = "c" * 40, "d" * 40


def configs() -> dict[str, Any]:
    plan = ci.plan_for(resolve(load_spec(FRAUD)), FRAUD, "main", PINNED)
    return {
        name: YAML(typ="safe", pure=True).load(io.StringIO(text))
        for name, text in ci.render(plan, "cloudbuild").items()
    }


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
    text = ci.render(ci.plan_for(resolve(load_spec(FRAUD)), FRAUD, "main", PINNED), "cloudbuild")
    assert "--require-approval" in text["fraud-detection-apply-prod.yaml"]
    dev = [s["id"] for s in built["fraud-detection-deploy-dev.yaml"]["steps"]]
    assert dev.index("save-plan") < dev.index("apply")  # no person in dev: the plan in its own log
    assert "fraud-detection-apply-dev.yaml" not in built


def run_script(body: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A Cloud Build script step: bash, or sh for the terraform image's, with the venv's Python."""
    body = body.replace("/workspace/.tierstack/bin/python", sys.executable)
    shell = "sh" if body.startswith("#!/bin/sh") else "bash"
    return subprocess.run([shell, "-c", body], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def step_env(config: dict[str, Any], step_id: str, **values: str) -> dict[str, str]:
    """The step's env, with what Cloud Build substitutes (${COMMIT_SHA}, ${BUILD_ID}, ${_PLAN_BUILD}) given."""
    env = dict(item.split("=", 1) for item in step(config, step_id)["env"])
    return {key: values.get(key, value) for key, value in env.items()}


STACK = {
    "terraform": {"required_version": ">= 1.7"},
    "resource": {"terraform_data": {"model": {"input": "v2"}}},
}


def test_the_approved_plan_is_applied_and_a_stale_or_foreign_one_is_refused(
    terraform: Any, storage_emulator: str, tmp_path: Path
) -> None:
    from google.cloud import storage

    built = configs()
    deploy, apply = built["fraud-detection-deploy-prod.yaml"], built["fraud-detection-apply-prod.yaml"]
    bucket = step_env(deploy, "save-plan")["STATE_BUCKET"]
    storage.Client(project="acme-fraud-prod").create_bucket(bucket)
    base = {**terraform.env(), "STORAGE_EMULATOR_HOST": storage_emulator, "PATH": os.environ["PATH"]}
    base["PATH"] = f"{Path(terraform.binary).parent}{os.pathsep}{base['PATH']}"

    planned = tmp_path / "deploy-build" / "stack"  # the deploy build's checkout: plan, then save
    planned.mkdir(parents=True)
    (planned / "main.tf.json").write_text(
        json.dumps({**STACK, "resource": {"terraform_data": {"model": {"input": "v1"}}}})
    )
    for command in (["init", "-input=false"], ["apply", "-input=false", "-auto-approve"]):
        assert subprocess.run([terraform.binary, *command], cwd=planned, env=base, capture_output=True).returncode == 0
    (planned / "main.tf.json").write_text(json.dumps(STACK))
    done = subprocess.run(
        [terraform.binary, "plan", "-input=false", "-out=plan.tfplan"], cwd=planned, env=base, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    show = subprocess.run(
        [terraform.binary, "show", "-json", "plan.tfplan"], cwd=planned, env=base, capture_output=True
    )
    (planned / "plan.json").write_bytes(show.stdout)
    save = step(deploy, "save-plan")["script"]
    env = {**base, **step_env(deploy, "save-plan", REVISION=COMMIT, PLAN_BUILD="build-1"), "STACK_DIR": str(planned)}
    done = run_script(save, env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"saved: gs://{bucket}/tierstack-plans/fraud-detection-prod/build-1/plan.tfplan" in done.stdout
    # (the upload's ifGenerationMatch=0, Cloud Storage's create-only precondition, is sent but not judged
    # here: gcp-storage-emulator ignores preconditions)

    def apply_build(revision: str, plan_build: str) -> tuple[subprocess.CompletedProcess[str], Path]:
        """The approved apply build: a fresh checkout holding the state, the plan fetched, then applied."""
        checkout = tmp_path / f"apply-{revision[:4]}-{plan_build or 'none'}"
        shutil.rmtree(checkout, ignore_errors=True)
        shutil.copytree(planned, checkout / "stack", ignore=shutil.ignore_patterns("plan.*"))
        stack = checkout / "stack"
        fetch = {
            **base,
            **step_env(apply, "fetch-plan", REVISION=revision, PLAN_BUILD=plan_build),
            "STACK_DIR": str(stack),
        }
        done = run_script(step(apply, "fetch-plan")["script"], fetch, checkout)
        if done.returncode != 0:
            return done, stack
        return run_script(step(apply, "apply")["script"], {**base, "STACK_DIR": str(stack)}, checkout), stack

    refused, _ = apply_build(OTHER, "build-1")  # run with another commit than the plan was made from
    assert refused.returncode != 0 and f"run the trigger with --sha={COMMIT}" in refused.stderr
    missing, _ = apply_build(COMMIT, "build-9")
    assert missing.returncode != 0 and "build build-9 saved no plan" in missing.stderr
    none, _ = apply_build(COMMIT, "")
    assert none.returncode != 0 and "no _PLAN_BUILD" in none.stderr

    done, stack = apply_build(COMMIT, "build-1")
    assert done.returncode == 0, done.stdout + done.stderr
    state = json.loads((stack / "terraform.tfstate").read_text())
    assert state["resources"][0]["instances"][0]["attributes"]["input"]["value"] == "v2"

    # the state changed after the plan was made (someone applied in between): Terraform refuses the file
    (planned / "main.tf.json").write_text(
        json.dumps({**STACK, "resource": {"terraform_data": {"model": {"input": "v3"}}}})
    )
    between = subprocess.run(
        [terraform.binary, "apply", "-input=false", "-auto-approve"], cwd=planned, env=base, capture_output=True
    )
    assert between.returncode == 0, between.stderr
    (planned / "main.tf.json").write_text(json.dumps(STACK))
    stale, _ = apply_build(COMMIT, "build-1")
    assert stale.returncode != 0 and "Saved plan is stale" in stale.stdout + stale.stderr


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
