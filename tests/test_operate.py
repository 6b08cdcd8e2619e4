"""`tierstack plan` and `tierstack apply`, end to end with the real terraform binary.

Terraform runs against the offline Google provider stand-in (tests/standin: the `terraform` fixture's
CLI configuration, given by TF_CLI_CONFIG_FILE), and its GCS backend keeps the state in a real local
Cloud Storage server, gcp-storage-emulator (the `storage_emulator` fixture): TF_CLI_ARGS_init adds
`-backend-config=storage_custom_endpoint=<emulator>` and an access token to every `terraform init`.
Both are Terraform's own environment variables, so tierstack runs exactly as it does for a user: the
stacks' `backend "gcs"` is never replaced, `tierstack bootstrap` creates the bucket the backend then
uses, and the errors are Terraform's own (a missing bucket, missing credentials).
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run
from tierstack.generator.config.spec import load_spec
from tierstack.generator.output.generate import generate
from tierstack.generator.plan.resolve import resolve
from tierstack.generator.services import operate

SPEC = """\
name: ledger
team: risk-ml
use_case:
  stage: research
region: europe-west4
environments:
  dev:
    project: acme-ledger-dev
  prod:
    project: acme-ledger-prod
labels:
  cost-center: cc-1234
"""

FREEZE = """\
freezes:
  - name: year-end
    reason: the ledger closes the year; production changes wait
    start: 2000-01-01
    end: 2999-12-31
"""


def write_config(root: Path, text: str = SPEC, example: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "tierstack.yaml"
    if example:
        config.write_text((REPO / "examples" / example / "tierstack.yaml").read_text(), encoding="utf-8")
    else:
        config.write_text(text, encoding="utf-8")
    return config


def generated(root: Path, text: str = SPEC, example: str | None = None) -> Path:
    """A config in root and its stacks in root/cdktf.out, as `tierstack generate` writes them."""
    config = write_config(root, text, example)
    generate(resolve(load_spec(config)), root / "cdktf.out")
    return config


# --- without terraform -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_help_has_examples(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "--binary" in result.output


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_output_never_generated_names_generate(command: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run(command, str(config))
    assert result.exit_code == 2
    assert "ledger-dev/cdk.tf.json, " in result.stderr and "do not exist" in result.stderr
    assert f"run `tierstack generate {config}` first" in result.stderr
    assert "Traceback" not in result.output


def placeholder_stacks(root: Path) -> Path:
    """A config and files where its stacks go: enough for the checks that come before terraform."""
    config = write_config(root)
    for stack in ("ledger-dev", "ledger-prod"):
        (root / "cdktf.out/stacks" / stack).mkdir(parents=True)
        (root / "cdktf.out/stacks" / stack / "cdk.tf.json").write_text("{}\n", encoding="utf-8")
    return config


def test_an_unknown_environment_is_named(tmp_path: Path) -> None:
    result = run("plan", str(placeholder_stacks(tmp_path)), "--env", "prd")
    assert result.exit_code == 2
    assert "no environment 'prd' in this use case" in result.stderr
    assert "did you mean 'prod'?" in result.stderr


def test_a_missing_binary_says_where_to_get_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = placeholder_stacks(tmp_path)
    monkeypatch.setenv("TERRAFORM_BINARY_NAME", "no-such-terraform")
    result = run("plan", str(config))
    assert result.exit_code == 2
    assert "'no-such-terraform' is not on PATH" in result.stderr
    assert "checks for it first" in result.stderr
    assert "https://developer.hashicorp.com/terraform/install" in result.stderr
    assert "https://opentofu.org/docs/intro/install/" in result.stderr
    assert "--binary tofu" in result.stderr


def test_a_binary_too_old_is_refused(tmp_path: Path, spawns: None) -> None:
    config = placeholder_stacks(tmp_path)
    old = tmp_path / "terraform-1.5"
    old.write_text('#!/bin/sh\necho \'{"terraform_version": "1.5.7"}\'\n', encoding="utf-8")
    old.chmod(0o755)
    result = run("plan", str(config), "--binary", str(old))
    assert result.exit_code == 2
    assert "is version 1.5.7; tierstack needs 1.7.0 or newer" in result.stderr


def test_terraform_s_error_text_is_read_without_its_box() -> None:
    output = (
        "Initializing the backend...\n"
        "╷\n│ Error: Failed to get existing workspaces: querying Cloud Storage failed: storage: bucket doesn't exist\n"
        "│ \n│ more detail\n╵\n"
    )
    assert operate.errors_of(output) == (
        "Error: Failed to get existing workspaces: querying Cloud Storage failed: storage: bucket doesn't exist\n"
        "\nmore detail"
    )


# --- with terraform, the stand-in and the storage emulator ---------------------------------------


@pytest.fixture
def terraform_env(terraform: Any, storage_emulator: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The caller's environment as tests need it: the stand-in as provider, the state in the emulator."""
    for name in list(os.environ):
        if name.startswith(("TF_", "GOOGLE_", "CLOUDSDK_")) or name == "TERRAFORM_BINARY_NAME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(terraform.config))
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")
    monkeypatch.setenv(
        "TF_CLI_ARGS_init",
        f"-backend-config=storage_custom_endpoint={storage_emulator}/storage/v1/ -backend-config=access_token=test",
    )
    return terraform


def tierstack(terraform: Any, command: str, *args: str, config: Path) -> Any:
    result = run(command, str(config), *args, "--binary", terraform.binary)
    assert "Traceback" not in result.output
    return result


def states() -> dict[str, int]:
    """Each state object in the emulator's buckets, and how many resources it holds."""
    from google.cloud import storage

    client = storage.Client(project="test")
    return {
        blob.name: len(json.loads(blob.download_as_bytes()).get("resources", []))
        for bucket in client.list_buckets()
        for blob in client.list_blobs(bucket.name)
    }


def test_generate_bootstrap_plan_apply_replan(terraform_env: Any, tmp_path: Path) -> None:
    """The README's walk: generate an example, plan every environment, apply dev, plan again: no changes."""
    config = generated(tmp_path, example="recommender")
    stacks = tmp_path / "cdktf.out/stacks"

    no_bucket = tierstack(terraform_env, "plan", config=config)
    assert no_bucket.exit_code == 2
    assert "storage: bucket doesn't exist" in no_bucket.stderr  # terraform's own words
    assert f"run `tierstack bootstrap {config}`, then plan again" in no_bucket.stderr

    assert run("bootstrap", str(config)).exit_code == 0

    planned = tierstack(terraform_env, "plan", config=config)
    assert planned.exit_code == 0, planned.output
    # as many creates as the synthesized stack has resources (terraform's count, checked against the stack)
    count = {
        stack: sum(
            len(items) for items in json.loads((stacks / stack / "cdk.tf.json").read_text())["resource"].values()
        )
        for stack in ("recommender-dev", "recommender-prod")
    }
    assert f"recommender-dev (dev): {count['recommender-dev']} to create" in planned.stdout
    assert f"recommender-prod (prod): {count['recommender-prod']} to create" in planned.stdout
    assert "create: google_bigquery_dataset.data_processing_prepared_dataset [data_processing]" in planned.stdout
    assert planned.stderr.index("recommender-dev: terraform plan") < planned.stderr.index("recommender-prod: terraform")
    for stack in ("recommender-dev", "recommender-prod"):
        assert (stacks / stack / f"{stack}.tfplan").is_file()
        saved = json.loads((stacks / stack / f"{stack}.tfplan.json").read_text())
        assert saved["format_version"] and saved["resource_changes"]
    review = run("review", str(stacks / "recommender-prod/recommender-prod.tfplan.json"), "--format", "text")
    assert (
        review.exit_code == 0 and f"{count['recommender-prod']} to create" in review.output
    )  # the file `tierstack review` reads

    no_terminal = tierstack(terraform_env, "apply", "--env", "dev", config=config)
    assert no_terminal.exit_code == 2
    assert "there is no terminal to ask on" in no_terminal.stderr and "--auto-approve" in no_terminal.stderr

    applied = tierstack(terraform_env, "apply", "--env", "dev", "--auto-approve", config=config)
    assert applied.exit_code == 0, applied.output
    assert "recommender-dev: applied" in applied.stdout
    assert f"Apply complete! Resources: {count['recommender-dev']} added, 0 changed, 0 destroyed." in applied.stderr
    assert "recommender-prod" not in applied.stdout
    applied_states = states()  # in the bucket; init wrote prod's, empty
    assert applied_states["recommender-dev/default.tfstate"] > 0
    assert applied_states["recommender-prod/default.tfstate"] == 0
    assert not (stacks / "recommender-dev/recommender-dev.tfplan").exists()  # consumed
    assert (stacks / "recommender-prod/recommender-prod.tfplan").is_file()  # prod's waits

    replanned = tierstack(terraform_env, "plan", "--env", "dev", config=config)
    assert replanned.exit_code == 0, replanned.output
    assert "recommender-dev (dev): no changes" in replanned.stdout
    nothing = tierstack(terraform_env, "apply", "--env", "dev", config=config)  # no question without changes
    assert nothing.exit_code == 0, nothing.output
    assert "recommender-dev: nothing to apply" in nothing.stdout


def test_a_stale_synthesis_is_not_planned(terraform_env: Any, tmp_path: Path) -> None:
    config = generated(tmp_path)
    config.write_text(SPEC.replace("cc-1234", "cc-9999"), encoding="utf-8")
    result = tierstack(terraform_env, "plan", config=config)
    assert result.exit_code == 2
    assert "the synthesized stacks are stale" in result.stderr
    assert "ledger-dev/cdk.tf.json, " in result.stderr
    assert f"run `tierstack generate {config}` (review its changes), then plan again" in result.stderr
    assert not list((tmp_path / "cdktf.out/stacks").glob("*/*.tfplan"))


def test_apply_refuses_a_missing_or_older_plan_and_a_freeze(terraform_env: Any, tmp_path: Path) -> None:
    config = generated(tmp_path, SPEC + FREEZE)
    prod = tmp_path / "cdktf.out/stacks/ledger-prod"
    assert run("bootstrap", str(config)).exit_code == 0

    unplanned = tierstack(terraform_env, "apply", "--env", "prod", "--auto-approve", config=config)
    assert unplanned.exit_code == 2
    assert "no saved plan for ledger-prod" in unplanned.stderr
    assert "run `tierstack plan --env prod` and review it first" in unplanned.stderr

    planned = tierstack(terraform_env, "plan", "--env", "prod", config=config)
    assert planned.exit_code == 0, planned.output
    assert "freeze year-end on ledger-prod: blocks this apply" in planned.stdout  # said at plan time already

    frozen = tierstack(terraform_env, "apply", "--env", "prod", "--auto-approve", config=config)
    assert frozen.exit_code == 4
    assert "change freeze 'year-end' is on for ledger-prod" in frozen.stderr
    assert "--override-freeze REASON" in frozen.stderr

    stack = json.loads((prod / "cdk.tf.json").read_text())  # a synthesis newer than the plan
    stack.setdefault("output", {})["added_after_the_plan"] = {"value": "x"}
    original = (prod / "cdk.tf.json").read_text()
    (prod / "cdk.tf.json").write_text(json.dumps(stack), encoding="utf-8")
    older = tierstack(
        terraform_env, "apply", "--env", "prod", "--auto-approve", "--override-freeze", "INC-1: fix", config=config
    )
    assert older.exit_code == 2
    assert "the saved plan for ledger-prod is older than its synthesis" in older.stderr
    assert "run `tierstack plan --env prod`, review the new plan, then apply it" in older.stderr
    (prod / "cdk.tf.json").write_text(original, encoding="utf-8")

    overridden = tierstack(
        terraform_env,
        "apply",
        "--env",
        "prod",
        "--auto-approve",
        "--override-freeze",
        "INC-1: revert the bad model",
        config=config,
    )
    assert overridden.exit_code == 0, overridden.output
    assert "freeze year-end on ledger-prod: overridden" in overridden.stdout
    assert "override: INC-1: revert the bad model" in overridden.stdout
    assert "ledger-prod: applied" in overridden.stdout


def test_missing_credentials_pass_terraform_s_message_through(
    terraform_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No access token, no emulator (Go's storage client honours STORAGE_EMULATOR_HOST too): terraform looks for
    Application Default Credentials, and the key file is missing; it fails before any request."""
    config = generated(tmp_path)
    monkeypatch.delenv("TF_CLI_ARGS_init")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    result = tierstack(terraform_env, "plan", "--env", "dev", config=config)
    assert result.exit_code == 2
    assert "terraform init failed for ledger-dev" in result.stderr
    assert "error getting credentials using GOOGLE_APPLICATION_CREDENTIALS" in result.stderr  # terraform's words
    assert "gcloud auth application-default login" in result.stderr


def test_apply_asks_on_a_terminal(terraform_env: Any, tmp_path: Path) -> None:
    """Typed at a real pseudo-terminal: 'n' applies nothing, 'y' applies."""
    config = generated(tmp_path)
    assert run("bootstrap", str(config)).exit_code == 0
    assert tierstack(terraform_env, "plan", "--env", "dev", config=config).exit_code == 0
    command = [sys.executable, "-m", "tierstack.generator.cli", "apply", str(config), "--env", "dev"]
    command += ["--binary", terraform_env.binary]

    declined, code = at_terminal(command, "n")
    assert code == 2, declined
    assert "Apply this plan to ledger-dev (project acme-ledger-dev)? [y/N]" in declined
    assert "apply cancelled: ledger-dev was not applied" in declined
    assert states() == {"ledger-dev/default.tfstate": 0}

    accepted, code = at_terminal(command, "y")
    assert code == 0, accepted
    assert "ledger-dev: applied" in accepted
    assert states()["ledger-dev/default.tfstate"] > 0


def at_terminal(command: list[str], answer: str, timeout: float = 120) -> tuple[str, int]:
    """Run command with a pseudo-terminal as stdin, stdout and stderr; type `answer` at the question."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, cwd=REPO)
    os.close(follower)
    seen = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # EIO: the program closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and b"[y/N]" in seen:
                os.write(leader, answer.encode() + b"\n")
                answered = True
            if process.poll() is not None and not ready:
                break
        return seen.decode(errors="replace").replace("\r\n", "\n"), process.wait(timeout=60)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()


def test_the_stack_directories_are_planned_in_promotion_order(tmp_path: Path) -> None:
    """Without running anything: the order and the files plan keeps beside each stack."""
    config = placeholder_stacks(tmp_path)
    resolved = resolve(load_spec(config))
    runs = operate.stack_runs(resolved, tmp_path / "cdktf.out")
    assert [(r.environment, r.role, r.stack) for r in runs] == [
        ("dev", "development", "ledger-dev"),
        ("prod", "production", "ledger-prod"),
    ]
    assert runs[1].plan_file == tmp_path / "cdktf.out/stacks/ledger-prod/ledger-prod.tfplan"
    assert runs[1].plan_json == tmp_path / "cdktf.out/stacks/ledger-prod/ledger-prod.tfplan.json"


# --- a signal while terraform runs ----------------------------------------------------------------

SLOW_TERRAFORM = """\
#!{python}
# A stand-in `terraform` that takes its time: `version` and `init` answer, `plan` writes its pid and waits,
# recording the signal that stops it (as terraform does, it stops on SIGTERM, SIGHUP or SIGINT).
import json, os, signal, sys, time
record = {record!r}
if sys.argv[1:2] == ["version"]:
    print(json.dumps({{"terraform_version": "1.9.0"}}))
    sys.exit(0)
if sys.argv[1:2] == ["init"]:
    print("Terraform has been successfully initialized!")
    sys.exit(0)
def stop(signum, frame):
    with open(record + ".signal", "w") as out:
        out.write(signal.Signals(signum).name)
    print("Stopping operation...", flush=True)
    sys.exit(1)
for name in ("SIGTERM", "SIGHUP", "SIGINT"):
    signal.signal(getattr(signal, name), stop)
with open(record + ".pid", "w") as out:
    out.write(str(os.getpid()))
print("Planning...", flush=True)
time.sleep(120)
"""


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("received", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_reaches_terraform_and_tierstack_waits_for_it(
    tmp_path: Path, received: signal.Signals, synthesizes: None
) -> None:
    """A CI runner cancelling the job (SIGTERM) or a closed terminal (SIGHUP): terraform, in a session of
    its own, gets the signal too, stops, and tierstack ends with 128 + the signal, without a traceback."""
    config = generated(tmp_path / "case")
    record = tmp_path / "terraform"
    binary = tmp_path / "bin" / "terraform"
    binary.parent.mkdir()
    binary.write_text(SLOW_TERRAFORM.format(python=sys.executable, record=str(record)), encoding="utf-8")
    binary.chmod(0o755)
    command = [sys.executable, "-m", "tierstack.generator.cli", "plan", str(config), "--env", "dev"]
    env = {**os.environ, "PATH": f"{binary.parent}{os.pathsep}{os.environ['PATH']}", "TERRAFORM_BINARY_NAME": ""}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid_file = record.with_suffix(".pid")
    try:
        deadline = time.monotonic() + 120  # the stacks are synthesized again first
        while not pid_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pid_file.exists(), process.communicate(timeout=10)
        time.sleep(0.2)  # let tierstack reach its read loop
        terraform_pid = int(pid_file.read_text())
        process.send_signal(received)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        if pid_file.exists() and not gone(int(pid_file.read_text())):  # orphaned: the failure being tested
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            raise AssertionError("terraform was left running")
    assert record.with_suffix(".signal").read_text() == received.name
    assert gone(terraform_pid)
    assert process.returncode == 128 + received, stderr
    assert "Traceback" not in stderr
    assert "Planning...\nStopping operation..." in stderr  # what terraform said while it stopped is shown
    assert f"{received.name} received: terraform was told to stop and has stopped" in stderr
