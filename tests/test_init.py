"""`tierstack init` as a new user meets it (issue 11, item 1).

init decides nothing silently: what it cannot default it asks for (or, with
--no-input, names the flag that is missing); answers that contradict each
other are errors naming both; errors about answers name the option, never a
line of the file that was not written; it asks for what generation needs later,
and a stack generated from its answers is complete (the slow tests at the end
generate one per tier). The first tests of init live in tests/test_cli.py and
tests/test_environment_errors.py (end of input, Ctrl-C).
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from tierstack.generator import cli
from tierstack.generator.catalog import load_catalog
from tierstack.generator.init_cli import answer_of, nearest_accelerator
from tierstack.generator.spec import parse_accelerator

BASE = ["--no-input", "--name", "churn", "--team", "growth"]
ACCOUNT = "01A2B3-C4D5E6-F7A8B9"


def init(tmp_path: Path, *args: str, input: str | None = None) -> tuple[Any, Path]:
    path = tmp_path / "tierstack.yaml"
    return run("init", str(path), *args, input=input), path


def refused(tmp_path: Path, *args: str) -> str:
    """init's stderr for answers it must refuse: exit 2, nothing written, no line of an unwritten file."""
    result, path = init(tmp_path, *args)
    assert result.exit_code == cli.EXIT_USER_ERROR, result.output
    assert not path.exists() and list(tmp_path.iterdir()) == []
    assert "nothing was written" in result.stderr
    assert "tierstack.yaml:" not in result.stderr  # the file does not exist: no line of it is named
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return str(result.stderr)


# --- what init cannot decide for the user ---------------------------------------------------------


def test_scheduled_retraining_without_a_schedule_names_the_flag(tmp_path: Path) -> None:
    err = refused(tmp_path, *BASE, "--stage", "production", "--retraining", "scheduled")
    assert "--schedule" in err and "0 3 * * 1" not in err.split("hint:")[0]  # no weekly cron made up


def test_scheduled_retraining_asks_for_the_schedule_until_one_is_given(tmp_path: Path) -> None:
    answers = ["churn", "growth", "production", "n", "n", "scheduled", "", "every monday", "0 4 * * *"]
    answers += ["rare", "none", "none", "us-central1", "", ""]
    result, path = init(tmp_path, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Retraining schedule (cron") == 3  # blank: asked again; a bad cron: asked again
    assert 'schedule: "0 4 * * *"' in path.read_text()


@pytest.mark.parametrize(
    ("args", "both"),
    [
        (["--stage", "research", "--serving", "online"], ["--serving online", "--stage research"]),
        (["--stage", "research", "--mission-critical"], ["--mission-critical", "--stage research"]),
        (["--stage", "research", "--retraining", "scheduled"], ["--retraining scheduled", "--stage research"]),
        (["--stage", "research", "--schedule", "0 3 * * 1"], ["--schedule", "--stage research"]),
        (["--stage", "production", "--online-experimentation"], ["--online-experimentation", "--serving none"]),
        (["--stage", "production", "--schedule", "0 3 * * 1"], ["--schedule", "--retraining none"]),
        (
            ["--stage", "production", "--serving", "batch", "--serving-network", "projects/1/global/networks/n"],
            ["--serving-network", "--serving batch"],
        ),
        (["--stage", "production", "--batch-schedule", "0 2 * * *"], ["--batch-schedule", "--serving none"]),
        (["--stage", "production", "--serving", "batch", "--batch-model", "m@default"], ["--batch-model"]),
        (["--stage", "production", "--billing-account", ACCOUNT], ["--billing-account", "--budget"]),
        (["--stage", "production", "--alert-email", "a@example.com"], ["--alert-email", "model_monitoring"]),
        (["--stage", "production", "--ci-repository", "acme/churn"], ["--ci-repository", "tier 0"]),
    ],
)
def test_contradicting_answers_are_an_error_naming_both(tmp_path: Path, args: list[str], both: list[str]) -> None:
    err = refused(tmp_path, *BASE, *args)
    for part in both:
        assert part in err


def test_research_takes_the_answers_that_say_nothing(tmp_path: Path) -> None:
    result, path = init(tmp_path, *BASE, "--stage", "research", "--serving", "none", "--not-mission-critical")
    assert result.exit_code == 0, result.output
    assert "serving" not in path.read_text().split("use_case:")[1].split("region:")[0]


@pytest.mark.parametrize(
    ("args", "flag", "words"),
    [
        (["--environments", "dev prod"], "--environments", "separate the environments with commas"),
        (["--environments", "dev,dev"], "--environments", "listed more than once"),
        (["--environments", "Dev"], "--environments", "cannot name an environment"),
        (["--environments", "development1"], "--environments", "cannot name an environment"),
        (["--retraining", "scheduled", "--schedule", "0 3 * * 1", "--environments", "dev"], "--environments", "tier 1"),
        (["--region", "mars"], "--region", "not a GCP region"),
        (["--accelerator", "gpu:t4"], "--accelerator", "did you mean gpu:nvidia-tesla-t4x1?"),
        (["--accelerator", "tpu:TPU_V3", "--region", "asia-south1"], "--region", "TPU_V3"),
        (["--budget", "lots"], "--budget", "not an amount"),
        (["--budget", "-5"], "--budget", "more than 0"),
        (["--budget", "10", "--billing-account", "1234"], "--billing-account", "012345-6789AB-CDEF01"),
        (["--budget", "10", "--billing-account", ACCOUNT, "--currency", "usd"], "--currency", "ISO 4217"),
        (["--schedule", "0 25 * * *", "--retraining", "scheduled"], "--schedule", "hour"),
        (["--serving", "online", "--serving-network", "vpc"], "--serving-network", "VPC network"),
        (["--serving", "batch", "--batch-schedule", "nightly"], "--batch-schedule", "cron"),
        (
            ["--serving", "batch", "--batch-schedule", "0 2 * * *", "--batch-model", "projects/p/models/x"],
            "--batch-model",
            "not a Vertex AI model",
        ),
        (
            ["--serving", "batch", "--batch-schedule", "0 2 * * *", "--batch-model", "m@default", "--batch-input", "t"],
            "--batch-input",
            "bq://PROJECT.DATASET.TABLE",
        ),
    ],
)
def test_a_bad_answer_names_its_option(tmp_path: Path, args: list[str], flag: str, words: str) -> None:
    err = refused(tmp_path, *BASE, "--stage", "production", *args)
    assert f"'{flag}'" in err and words in err


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--mission-critical"], "--alert-email"),  # monitoring: its alerts need a receiver
        (["--serving", "online"], "--alert-email"),
        (["--code-changes", "frequent"], "--ci-repository"),  # tier 2: CI needs the repository it trusts
        (["--budget", "100"], "--billing-account"),
        (["--serving", "batch", "--batch-schedule", "0 2 * * *"], "--batch-model"),
        (["--serving", "batch", "--batch-schedule", "0 2 * * *", "--batch-model", "m@default"], "--batch-input"),
    ],
)
def test_no_input_names_what_generation_will_need(tmp_path: Path, args: list[str], flag: str) -> None:
    err = refused(tmp_path, *BASE, "--stage", "production", *args)
    assert f"field '{flag}'" in err and (f"pass {flag}" in err or f"needs {flag}" in err)


def test_errors_found_in_the_whole_file_are_told_by_option() -> None:
    assert answer_of("use_case.serving") == "serving"
    assert answer_of("variables.alert_email") == "alert_email"
    assert answer_of("environments.dev.capabilities.model_monitoring.notification_email") == "alert_email"
    assert answer_of("environments.prod.capabilities.foundation.ci.repository") == "ci_repository"
    assert answer_of("environments.dev prod.project") == "environments"
    assert answer_of("environments.dev.region") == "region"
    assert answer_of("budget.billing_account") == "billing_account"
    assert answer_of("waivers") is None


# --- accelerators: the format shown, the nearest valid value offered ------------------------------


@pytest.mark.parametrize(
    ("typed", "nearest"),
    [
        ("gpu:t4", "gpu:nvidia-tesla-t4x1"),
        ("gpu:T4x3", "gpu:nvidia-tesla-t4x2"),
        ("gpu:l4×16", "gpu:nvidia-l4x8"),
        ("gpu:a100-80", "gpu:nvidia-a100-80gbx1"),
        ("gpu:nvidia-h100", "gpu:nvidia-h100-80gbx1"),
        ("tpu:v5e", "tpu:tpu-v5-litepodx4"),
        ("l4", "gpu:nvidia-l4x1"),
    ],
)
def test_the_nearest_accelerator(typed: str, nearest: str) -> None:
    assert nearest_accelerator(typed) == nearest


def test_every_suggestion_is_itself_a_valid_answer() -> None:
    for acc in load_catalog().accelerators:
        for count in acc.counts:
            suggestion = nearest_accelerator(f"{acc.kind}:{acc.name}×{count}")
            assert suggestion is not None
            assert parse_accelerator(suggestion) == {"kind": acc.kind, "type": acc.name, "count": count}


def test_the_accelerator_prompt_shows_the_format_and_suggests(tmp_path: Path) -> None:
    answers = ["vision", "research-team", "research", "gpu:t4", "gpu:nvidia-tesla-t4x1", "us-central1", "", ""]
    result, path = init(tmp_path, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "gpu:nvidia-l4x2" in result.output  # the expected format, in the question
    assert "did you mean gpu:nvidia-tesla-t4x1?" in result.output
    data = json.loads(run("explain", str(path), "--format", "json").output)
    assert data["answers"]["accelerator"] == "gpu:NVIDIA_TESLA_T4×1"


def test_a_tpu_in_research_is_asked_again(tmp_path: Path) -> None:
    answers = ["vision", "research-team", "research", "tpu:tpu-v5-litepod", "gpu:nvidia-l4", "us-central1", "", ""]
    result, _ = init(tmp_path, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "notebooks take GPUs, not TPUs" in result.output


def test_a_region_without_the_accelerator_is_asked_again(tmp_path: Path) -> None:
    answers = ["vision", "research-team", "research", "gpu:nvidia-l4", "southamerica-west1", "us-central1", "", ""]
    result, path = init(tmp_path, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert "NVIDIA_L4 is not offered for Vertex AI training in southamerica-west1" in result.output
    assert "region: us-central1" in path.read_text()


# --- asking for what generation needs -------------------------------------------------------------


def test_interactive_init_asks_for_the_receivers_network_and_budget(tmp_path: Path) -> None:
    answers = [
        "fraud",
        "risk-ml",
        "production",
        "y",  # mission critical
        "n",
        "scheduled",
        "0 3 * * 1",
        "frequent",  # tier 2: CI
        "online",
        "y",  # A/B tests
        "y",  # private endpoint
        "projects/123456/global/networks/ml-vpc",
        "gpu:nvidia-l4x1",
        "europe-west4",
        "",  # the tier's environments
        "oncall@example.com",
        "acme/fraud",
        "1500",
        ACCOUNT,
        "EUR",
    ]
    result, path = init(tmp_path, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    text = path.read_text()
    for line in (
        'alert_email: "oncall@example.com"',
        'ci_repository: "acme/fraud"',
        'serving_network: "projects/123456/global/networks/ml-vpc"',
        "currency: EUR",
        f"billing_account: {ACCOUNT}",
    ):
        assert line in text
    assert run("validate", str(path)).exit_code == 0


def test_budget_currency_is_written_only_when_given(tmp_path: Path) -> None:
    result, path = init(tmp_path, *BASE, "--stage", "production", "--budget", "250", "--billing-account", ACCOUNT)
    assert result.exit_code == 0, result.output
    budget = path.read_text().split("budget:")[1]
    assert "\n  currency:" not in budget and "# currency: the billing account's own" in budget


@pytest.mark.parametrize(
    ("answers", "question"),
    [
        (["churn", "growth", "production", "n", "n", "scheduled"], "Retraining schedule"),
        (["churn", "growth", "production", "y", "n", "none", "rare", "none", "none", "us-central1", ""], "Email"),
        (["churn", "growth", "production", "n", "n", "none", "rare", "online", "n"], "Private endpoint"),
    ],
)
def test_end_of_input_at_a_later_question(tmp_path: Path, answers: list[str], question: str) -> None:
    result, path = init(tmp_path, input="\n".join(answers) + "\n")
    assert result.exit_code == cli.EXIT_USER_ERROR, result.output
    assert f"init needs answers: stdin closed before '{question}" in result.stderr
    assert "internal error" not in result.stderr and "Abort" not in result.stderr
    assert not path.exists()


# --- a terminal session ---------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal, as on POSIX")
def test_a_terminal_session_through_the_prompts(tmp_path: Path) -> None:
    """init at a real (pseudo-)terminal: a bad answer asked again with a suggestion, then Ctrl-D at a question."""
    import pty

    path = tmp_path / "tierstack.yaml"
    tierstack = str(Path(sys.executable).with_name("tierstack"))
    pid, fd = pty.fork()
    if pid == 0:  # the child: tierstack on the terminal
        os.execv(tierstack, [tierstack, "init", str(path)])
    screen = b""

    def until(text: str, timeout: float = 30) -> None:
        nonlocal screen
        end = time.monotonic() + timeout
        while text.encode() not in screen:
            assert time.monotonic() < end, f"no {text!r} on the terminal:\n{screen.decode(errors='replace')}"
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    screen += os.read(fd, 4096)
                except OSError:  # the child is gone
                    break

    try:
        for prompt, answer in [
            ("Use-case name", "churn"),
            ("Owning team", "growth"),
            ("Stage", "production"),
            ("Mission critical?", "n"),
            ("Reused by other teams?", "n"),
            ("Retraining", "none"),
            ("Code changes", "rare"),
            ("Serving", "none"),
            ("Accelerator (none, gpu:TYPExN or tpu:TYPE; e.g. gpu:nvidia-l4x2", "gpu:t4"),
            ("did you mean gpu:nvidia-tesla-t4x1?", "gpu:nvidia-tesla-t4x1"),
            ("Region", "us-central1"),
        ]:
            until(prompt)
            os.write(fd, answer.encode() + b"\r")
        until("Environments")
        os.write(fd, b"\x04")  # Ctrl-D: end of input
        until("nothing was written")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == cli.EXIT_USER_ERROR
    text = screen.decode(errors="replace")
    assert "init needs answers: stdin closed before 'Environments'" in text
    assert "internal error" not in text and "Abort" not in text
    assert not path.exists()


# --- a stack generated from init's answers is complete --------------------------------------------

TIERS = {
    0: [
        "--stage",
        "production",
        "--serving",
        "batch",
        "--batch-schedule",
        "0 2 * * *",
        "--batch-model",
        "churn@default",
        "--batch-input",
        "bq://growth-data.sales.to_score",
        "--budget",
        "300",
        "--billing-account",
        ACCOUNT,
    ],
    1: [
        "--stage",
        "production",
        "--mission-critical",
        "--retraining",
        "scheduled",
        "--schedule",
        "0 4 * * *",
        "--serving",
        "online",
        "--serving-network",
        "projects/123456/global/networks/ml-vpc",
        "--alert-email",
        "oncall@example.com",
        "--budget",
        "800",
        "--billing-account",
        ACCOUNT,
        "--currency",
        "EUR",
    ],
    2: [
        "--stage",
        "production",
        "--reusable",
        "--retraining",
        "on_degradation",
        "--code-changes",
        "frequent",
        "--serving",
        "online",
        "--online-experimentation",
        "--accelerator",
        "gpu:nvidia-l4x1",
        "--region",
        "europe-west4",
        "--alert-email",
        "oncall@example.com",
        "--ci-repository",
        "acme/churn",
        "--budget",
        "1500",
        "--billing-account",
        ACCOUNT,
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("tier", sorted(TIERS))
def test_a_stack_generated_from_init_is_complete(tmp_path: Path, tier: int) -> None:
    from synth_support import read_stack, resources
    from tierstack.generator.generate import generate
    from tierstack.generator.resolve import resolve
    from tierstack.generator.spec import load_spec

    result, path = init(tmp_path, *BASE, *TIERS[tier])
    assert result.exit_code == 0, result.output
    plan = resolve(load_spec(path))
    assert plan.selection.tier == tier
    out = tmp_path / "cdktf.out"
    generate(plan, out)
    for env in plan.environments.values():
        stack = read_stack(out, env.stack)
        found = resources(stack)
        by_type: dict[str, dict[str, Any]] = {}
        for address, body in found.items():
            by_type.setdefault(address.split(".")[0], {})[address] = body
        alerts = by_type.get("google_monitoring_alert_policy", {})
        email = "google_monitoring_notification_channel.model_monitoring_email"
        for address, body in alerts.items():  # every alert has a receiver: the email init asked for
            assert body.get("notification_channels") == [f"${{{email}.id}}"], f"{env.stack}: {address}"
            assert found[email]["labels"]["email_address"] == "oncall@example.com"
        [budget] = by_type["google_billing_budget"].values()  # an amount was given: a budget exists
        assert budget["billing_account"] == ACCOUNT
        if tier == 0:
            assert "google_cloud_scheduler_job.model_serving_batch_prediction" in found
        if tier >= 1:
            assert alerts, f"{env.stack}: monitoring selected, yet no alert policy"
        if tier == 1:
            assert found["google_vertex_ai_endpoint.model_serving_endpoint"]["network"].endswith("/ml-vpc")
            assert budget["amount"]["specified_amount"]["currency_code"] == "EUR"
        if tier == 2:  # CI: its identity and the pool that trusts the repository
            assert "google_service_account.foundation_ci_sa" in found
            assert "google_iam_workload_identity_pool.foundation_ci_pool" in found
            provider = found["google_iam_workload_identity_pool_provider.foundation_ci_provider"]
            assert "acme/churn" in json.dumps(provider)
