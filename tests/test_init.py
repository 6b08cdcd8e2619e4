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

import errno
import json
import os
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from tierstack.generator import cli
from tierstack.generator.cli.init_answers import (
    answer_of,
    ascii_accelerator,
    billing_account_id,
    github_repository,
    nearest_accelerator,
)
from tierstack.generator.config.spec import parse_accelerator
from tierstack.generator.facts.catalog import load_catalog

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
    answers += ["rare", "none", "none", "us-central1", "", "ml-oncall@example.com", ""]  # alerts: failed runs
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
        (["--stage", "production", "--alert-email", "a@example.com"], ["--alert-email", "no alert policy"]),
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


def test_the_accelerator_prompt_shows_the_format_and_suggests(tmp_path: Path, synthesizes: None) -> None:
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
        "812345678",  # its id, and its owner's (gh api repos/acme/fraud --jq .id,.owner.id)
        "51234567",
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


# --- where init cannot write, and answers with typos ------------------------------------------------


def test_init_under_a_file_names_the_path_and_the_file_in_the_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("z6.yaml").write_text("a file, not a directory\n", encoding="utf-8")
    for target in ("z6.yaml/sub.yaml", "z6.yaml/deeper/sub.yaml"):
        result = run("init", target, *BASE)
        assert result.exit_code == cli.EXIT_USER_ERROR, result.output
        assert result.stderr.startswith(f"error: {target}: cannot create the file: z6.yaml is a file, not a directory")
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z6.yaml"]


@pytest.mark.parametrize("code", [errno.ENOTDIR, errno.EEXIST])
def test_a_file_in_the_way_elsewhere_is_the_environment_s_error_too(code: int) -> None:
    """The same failures outside write_atomic (any command's mkdir under a file) are exit 2, naming the path."""
    from tierstack.generator.core.errors import environment_error

    found = environment_error(OSError(code, os.strerror(code), "z6.yaml/out"))
    assert found is not None and found.file == "z6.yaml/out"
    assert errno.errorcode[code] in found.message and "move" in (found.hint or "")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no file can be created")
def test_init_into_a_directory_that_takes_no_files_names_it() -> None:
    result = run("init", "/proc/x.yaml", *BASE)
    assert result.exit_code == cli.EXIT_USER_ERROR, result.output
    assert result.stderr.startswith("error: /proc/x.yaml: cannot create a file in /proc")
    assert "internal error" not in result.stderr


def test_a_misspelled_region_is_refused_with_the_nearest(tmp_path: Path) -> None:
    err = refused(tmp_path, *BASE, "--accelerator", "gpu:nvidia-l4x1", "--region", "us-centrl1")
    assert "field '--region': 'us-centrl1' is not a Google Cloud region" in err
    assert "did you mean 'us-central1'?" in err and "not offered" not in err


@pytest.mark.parametrize(
    ("flag", "typed", "nearest"), [("--stage", "prod", "production"), ("--serving", "onlin", "online")]
)
def test_a_choice_flag_with_a_typo_names_the_nearest(tmp_path: Path, flag: str, typed: str, nearest: str) -> None:
    result, path = init(tmp_path, *BASE, flag, typed)
    assert result.exit_code == cli.EXIT_USER_ERROR and not path.exists()
    assert f"Did you mean '{nearest}'?" in result.stderr


def test_batch_answers_are_checked_by_model_serving_s_rules(tmp_path: Path) -> None:
    batch = [*BASE, "--stage", "production", "--serving", "batch", "--batch-schedule", "0 2 * * *"]
    err = refused(tmp_path, *batch, "--batch-model", "projects/p/locations/europe-west4/models/m@a")
    assert "field '--batch-model': the model is in europe-west4" in err and "hint: use a model registered in" in err
    err = refused(tmp_path, *batch, "--batch-model", "m@a", "--batch-input", "not a table")
    assert "field '--batch-input': 'not a table' is not a BigQuery table URI" in err


# --- the forms people paste (issue 17, item 9) -----------------------------------------------------

TIER2 = [*BASE, "--stage", "production", "--code-changes", "frequent"]
IDS = ["--ci-repository-id", "812345678", "--ci-repository-owner-id", "51234567"]  # tier 2: the repository's ids


def written(tmp_path: Path, *args: str, input: str | None = None) -> str:
    """The file init wrote for these answers, after checking it is ASCII and valid as tierstack.yaml."""
    result, path = init(tmp_path, *args, input=input)
    assert result.exit_code == 0, result.output
    text = path.read_text(encoding="utf-8")
    assert text.isascii(), [c for c in text if not c.isascii()]
    assert run("validate", str(path)).exit_code == 0
    return text


@pytest.mark.parametrize(
    "pasted",
    [
        "https://github.com/acme/churn",
        "https://github.com/acme/churn.git",
        "http://www.github.com/acme/churn/",
        "github.com/acme/churn",
        "git@github.com:acme/churn.git",
        "ssh://git@github.com/acme/churn.git",
        " acme/churn ",
    ],
)
def test_a_pasted_repository_is_written_as_owner_and_name(tmp_path: Path, pasted: str) -> None:
    assert 'ci_repository: "acme/churn"' in written(tmp_path, *TIER2, *IDS, "--ci-repository", pasted)
    assert github_repository(pasted) == "acme/churn"


def test_a_repository_that_is_not_on_github_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, *TIER2, *IDS, "--ci-repository", "https://gitlab.com/acme/churn")
    assert "field '--ci-repository': 'https://gitlab.com/acme/churn' is not a GitHub repository" in err
    assert github_repository("https://github.com/acme/churn/tree/main") == "https://github.com/acme/churn/tree/main"


@pytest.mark.parametrize(
    "pasted", [f"billingAccounts/{ACCOUNT}", f"billingaccounts/{ACCOUNT.lower()}", f" {ACCOUNT.lower()} "]
)
def test_a_pasted_billing_account_is_written_as_its_id(tmp_path: Path, pasted: str) -> None:
    text = written(tmp_path, *BASE, "--stage", "production", "--budget", "250", "--billing-account", pasted)
    assert f"billing_account: {ACCOUNT}\n" in text
    assert billing_account_id(pasted) == ACCOUNT


def test_a_billing_account_that_is_no_id_is_still_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, *BASE, "--stage", "production", "--budget", "9", "--billing-account", "billingAccounts/")
    assert "field '--billing-account'" in err and "012345-6789AB-CDEF01" in err


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--retraining", "on-degradation", "--alert-email", "a@example.com"], "retraining: on_degradation"),
        (["--retraining", "ON_DEGRADATION", "--alert-email", "a@example.com"], "retraining: on_degradation"),
        (["--retraining", "On Degradation", "--alert-email", "a@example.com"], "retraining: on_degradation"),
        (["--code-changes", " Frequent ", "--ci-repository", "acme/churn", *IDS], "code_changes: frequent"),
        (["--serving", "BATCH"], "serving: batch"),
    ],
)
def test_a_choice_flag_in_any_case_or_with_hyphens_is_taken(tmp_path: Path, args: list[str], line: str) -> None:
    assert f"  {line}\n" in written(tmp_path, *BASE, "--stage", "Production", *args)


@pytest.mark.parametrize("typed", ["gpu:nvidia-l4x2", "gpu:NVIDIA_L4×2", "GPU:nvidia-l4 * 2"])
def test_the_accelerator_is_written_in_ascii(tmp_path: Path, typed: str) -> None:
    text = written(tmp_path, *BASE, "--stage", "production", "--accelerator", typed)
    assert "  accelerator: gpu:NVIDIA_L4x2\n" in text and "×" not in text


def test_every_accelerator_init_writes_reads_back_the_same() -> None:
    """The ASCII form is the spec's own (spec.parse_accelerator takes x, × and *), for every type and count."""
    from tierstack.generator.config.spec import AcceleratorChoice

    for acc in load_catalog().accelerators:
        for count in acc.counts:
            parsed = parse_accelerator(f"{acc.kind}:{acc.name}×{count}")  # the form old files have
            ascii = ascii_accelerator(AcceleratorChoice(**parsed))
            assert ascii.isascii() and parse_accelerator(ascii) == parsed


def test_the_prompts_take_the_forms_people_paste(tmp_path: Path) -> None:
    answers = [
        "churn",
        "growth",
        "Production",
        "n",
        "n",
        "On-Degradation",
        " Automatic ",  # the retraining trigger
        "FREQUENT",
        " none ",
        "gpu:NVIDIA_L4×2",
        "us-central1",
        "",  # the tier's environments
        "oncall@example.com",
        "https://gitlab.com/acme/churn",  # not GitHub: asked again
        "git@github.com:acme/churn.git",
        "812345678",
        "51234567",
        "500",
        "billingAccounts/01a2b3-c4d5e6-f7a8b9",
        "",  # the account's currency
    ]
    result, path = init(tmp_path, input="\n".join(answers) + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("GitHub repository CI deploys from") == 2
    assert "'https://gitlab.com/acme/churn' is not a GitHub repository" in result.output
    text = path.read_text(encoding="utf-8")
    assert text.isascii()
    for line in (
        "  stage: production\n",
        "  retraining: on_degradation\n",
        "  code_changes: frequent\n",
        "  serving: none\n",
        "  accelerator: gpu:NVIDIA_L4x2\n",
        '  ci_repository: "acme/churn"\n',
        f"  billing_account: {ACCOUNT}\n",
    ):
        assert line in text
    assert run("validate", str(path)).exit_code == 0


# --- a terminal session ---------------------------------------------------------------------------


class Terminal:
    """tierstack on a pseudo-terminal (Python's pty): what a person sees at the prompts, and what they type."""

    def __init__(self, *args: str) -> None:
        import pty

        tierstack = str(Path(sys.executable).with_name("tierstack"))
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: tierstack on the terminal
            os.execv(tierstack, [tierstack, *args])
        self.screen = b""
        self.seen = 0  # where the last text waited for ended: a prompt asked again is a new one

    def until(self, text: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while text.encode() not in self.screen[self.seen :]:
            assert time.monotonic() < end, f"no {text!r} on the terminal:\n{self.text}"
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.fd, 4096)
                except OSError:  # the child is gone
                    break
        self.seen = self.screen.index(text.encode(), self.seen) + len(text.encode())

    def answer(self, prompt: str, answer: str) -> None:
        self.until(prompt)
        os.write(self.fd, answer.encode() + b"\r")

    def close(self, grace: float = 30) -> int:
        """The child's exit code; a child still waiting at a prompt (a test that failed) is killed, not waited
        for forever."""
        end = time.monotonic() + grace
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        while pid == 0 and time.monotonic() < end:
            time.sleep(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            os.kill(self.pid, signal.SIGKILL)
            _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)

    @property
    def text(self) -> str:
        return self.screen.decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal, as on POSIX")
def test_a_terminal_session_through_the_prompts(tmp_path: Path) -> None:
    """init at a real (pseudo-)terminal: a bad answer asked again with a suggestion, then Ctrl-D at a question."""
    path = tmp_path / "tierstack.yaml"
    term = Terminal("init", str(path))
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
            term.answer(prompt, answer)
        term.until("Environments")
        os.write(term.fd, b"\x04")  # Ctrl-D: end of input
        term.until("nothing was written")
    finally:
        code = term.close()
    assert code == cli.EXIT_USER_ERROR
    assert "init needs answers: stdin closed before 'Environments'" in term.text
    assert "internal error" not in term.text and "Abort" not in term.text
    assert not path.exists()


# every prompt of a tier-2 online use case with a budget, in order; typos are asked again with the nearest value
TIER2_SESSION = [
    ("Use-case name", "churn"),
    ("Owning team", "growth"),
    ("Stage (research, production) [production]", "prod"),
    ("Did you mean 'production'?", "production"),
    ("Mission critical?", "n"),
    ("Reused by other teams?", "n"),
    ("Retraining (none, on_degradation, scheduled) [none]", "on_degradation"),
    ("When it degrades, retrain (manual, automatic) [manual]", "automatic"),
    ("Code changes (rare, frequent) [rare]", "frequnt"),
    ("Did you mean 'frequent'?", "frequent"),
    ("Serving (none, batch, online) [none]", "online"),
    ("A/B tests or canaries on live traffic?", "n"),
    ("Private endpoint on a VPC network", "n"),
    ("Accelerator", "none"),
    ("Region", "europe-wst4"),
    ("did you mean 'europe-west4'?", "europe-west4"),
    ("Environments (comma-separated, in promotion order) [dev,staging,prod]", ""),
    ("Email for alerts", "ml-oncall@example.com"),
    ("GitHub repository CI deploys from", "acme/churn"),
    ("Its id on GitHub", "812345678"),
    ("Its owner's id on GitHub", "51234567"),
    ("Monthly budget per environment", "750"),
    ("Billing account id", ACCOUNT),
    ("Budget currency", "EUR"),
]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal, as on POSIX")
def test_every_prompt_at_a_terminal_gives_a_complete_tier_2_stack(tmp_path: Path) -> None:
    """Every question of a tier-2 online use case answered at a terminal, then `tierstack generate` on the file:
    every alert notifies the email given, each environment has its budget, CI has its identity pool."""
    import subprocess

    path = tmp_path / "tierstack.yaml"
    term = Terminal("init", str(path))
    try:
        for prompt, answer in TIER2_SESSION:
            term.answer(prompt, answer)
        term.until(f"wrote {path}")
    finally:
        code = term.close()
    assert code == 0, term.text
    assert "internal error" not in term.text
    out = tmp_path / "cdktf.out"
    tierstack = str(Path(sys.executable).with_name("tierstack"))
    done = subprocess.run(
        [tierstack, "generate", str(path), "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    stacks = {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("stacks/*/cdk.tf.json")}
    assert sorted(stacks) == ["churn-dev", "churn-prod", "churn-staging"]
    pools = []
    for name, stack in stacks.items():
        resource = stack.get("resource", {})
        alerts = resource.get("google_monitoring_alert_policy", {})
        assert alerts, f"{name}: tier 2 online selects model monitoring, yet no alert policy"
        emails = {
            f"${{google_monitoring_notification_channel.{key}.id}}": body["labels"]["email_address"]
            for key, body in resource["google_monitoring_notification_channel"].items()
            if body["type"] == "email"
        }
        for address, body in alerts.items():  # every alert reaches the email answered at the prompt
            notified = {emails.get(channel) for channel in body.get("notification_channels", [])}
            assert "ml-oncall@example.com" in notified, f"{name}: {address} notifies {notified or 'nobody'}"
        [budget] = resource["google_billing_budget"].values()
        assert budget["billing_account"] == ACCOUNT
        assert budget["amount"]["specified_amount"] == {"units": "750", "currency_code": "EUR"}
        pools += list(resource.get("google_iam_workload_identity_pool", {}).values())
        providers = resource.get("google_iam_workload_identity_pool_provider", {})
        assert "acme/churn" in json.dumps(providers), f"{name}: no identity provider trusts acme/churn"
    assert pools, "tier 2 deploys through CI: the workload identity pool that trusts acme/churn is missing"


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
        *IDS,
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
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

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
