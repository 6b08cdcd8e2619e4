"""`tierstack plan` and `tierstack apply`: the real terraform (or tofu) in the synthesized stacks.

Each environment's stack directory (`<out>/stacks/<name>-<env>/`, written by
`tierstack generate`) is planned in promotion order: `terraform init
-input=false`, `terraform plan -out=<stack>.tfplan`, and `terraform show -json`
of that plan saved beside it as `<stack>.tfplan.json`, the file `tierstack
review` reads. Before planning, the stacks are synthesized again into a
temporary directory and compared with the ones on disk, so a plan is never
made from output the config no longer generates.

`apply` applies exactly the saved plan file: it refuses one made from another
`cdk.tf.json` than the one in the directory now (read from the configuration
snapshot inside the plan file, or by modification time when the snapshot
cannot be read), and a production stack inside a change freeze
(generator/config/freeze.py) unless overridden with a reason. The confirmation itself
is the CLI's. It plans again only after a failure Google documents as
eventually consistent (generator/services/eventual.py): it waits, plans what the
partial apply left, checks that the new plan only finishes what was reviewed,
and applies that.

Terraform is found on PATH by name: `terraform`, or `--binary` /
TERRAFORM_BINARY_NAME (`tofu`). It runs with the caller's environment, so its
own variables work as usual; the tests use two of them to run it offline: a
CLI configuration (TF_CLI_CONFIG_FILE) that installs the provider stand-in, and
TF_CLI_ARGS_init pointing the GCS backend at a local storage emulator. The
failures a user can fix (no binary, no credentials, no state bucket, no
permission) become a UserError naming the next command; terraform's own error
text is part of the message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tierstack.generator.core.errors import UserError, did_you_mean
from tierstack.generator.core.fsio import sha256_bounded
from tierstack.generator.core.paths import default_out, display_path
from tierstack.generator.facts.terraform import MIN_TERRAFORM, version_text
from tierstack.generator.plan.resolve import Resolved
from tierstack.generator.synth.stacks import STACK_FILE, stack_file

if TYPE_CHECKING:
    from tierstack.generator.analysis.review import StackReview
    from tierstack.generator.config.freeze import FreezeCheck

BINARY_ENV = "TERRAFORM_BINARY_NAME"
INSTALL_HINT = (
    "tierstack runs the Terraform CLI in each stack directory and checks for it first: install Terraform "
    "(https://developer.hashicorp.com/terraform/install) or OpenTofu (https://opentofu.org/docs/intro/install/), "
    f"put it on PATH, and for OpenTofu pass --binary tofu or set {BINARY_ENV}=tofu"
)
LOGIN = "gcloud auth application-default login"
SNAPSHOT = "tfconfig/m-/cdk.tf.json"  # the root module's configuration inside a plan file (Terraform, OpenTofu)

Echo = Callable[[str], None]


# --- the binary ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binary:
    path: str
    name: str
    version: tuple[int, ...]


def find_binary(name: str | None = None) -> Binary:
    """The terraform (or tofu) binary on PATH, at least MIN_TERRAFORM; a UserError says where to get it."""
    name = name or os.environ.get(BINARY_ENV) or "terraform"
    path = shutil.which(name)
    if path is None:
        raise UserError(f"'{name}' is not on PATH", field="--binary", hint=INSTALL_HINT)
    try:
        result = subprocess.run(
            [path, "version", "-json"], capture_output=True, text=True, timeout=60, check=False, env=_environment()
        )
    except OSError as error:
        raise UserError(f"cannot run {path}: {error.strerror or error}", field="--binary", hint=INSTALL_HINT) from None
    version = _version(result.stdout)
    if version is None:
        raise UserError(f"{path} did not report a version: is it Terraform or OpenTofu?", hint=INSTALL_HINT)
    if version < MIN_TERRAFORM:
        shown, oldest = version_text(version), version_text(MIN_TERRAFORM)
        raise UserError(f"{path} is version {shown}; tierstack needs {oldest} or newer", hint=INSTALL_HINT)
    return Binary(path, name, version)


def _version(output: str) -> tuple[int, ...] | None:
    try:
        text = str(json.loads(output)["terraform_version"])
    except (ValueError, KeyError, TypeError):
        found = re.search(r"v(\d+\.\d+\.\d+)", output)
        if found is None:
            return None
        text = found.group(1)
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _environment() -> dict[str, str]:
    """The caller's environment; TF_IN_AUTOMATION drops the next-step advice tierstack gives itself."""
    return {**os.environ, "TF_IN_AUTOMATION": "1"}


# --- the stacks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackRun:
    """One environment's stack directory and the files plan and apply keep there."""

    environment: str
    role: str
    project: str
    stack: str
    directory: Path

    @property
    def config_file(self) -> Path:
        return self.directory / STACK_FILE

    @property
    def plan_file(self) -> Path:
        return self.directory / f"{self.stack}.tfplan"

    @property
    def plan_json(self) -> Path:
        return self.directory / f"{self.stack}.tfplan.json"


def stack_runs(resolved: Resolved, out: Path, environment: str | None = None) -> list[StackRun]:
    """The stacks to run, in promotion order: every environment's, or the one named."""
    envs = resolved.environments
    if environment is not None and environment not in envs:
        raise UserError(
            f"no environment '{environment}' in this use case",
            file=display_path(resolved.loaded.path),
            field="ENV",
            hint=did_you_mean(environment, envs) or "environments: " + ", ".join(envs),
        )
    return [
        StackRun(env.name, env.role, env.project, env.stack, out / "stacks" / env.stack)
        for env in envs.values()
        if environment is None or env.name == environment
    ]


def generate_command(config: Path, out: Path) -> str:
    default = default_out(config)
    flags = "" if out == default else f" --out {display_path(out)}"
    return f"tierstack generate {display_path(config)}{flags}"


def check_synthesized(runs: Sequence[StackRun], config: Path, out: Path) -> None:
    """Every stack's cdk.tf.json is there; otherwise a UserError naming `tierstack generate`."""
    missing = [run for run in runs if not run.config_file.is_file()]
    if missing:
        listing = ", ".join(display_path(run.config_file) for run in missing)
        raise UserError(
            f"no synthesized stack: {listing} {'does' if len(missing) == 1 else 'do'} not exist",
            file=display_path(config),
            hint=f"run `{generate_command(config, out)}` first",
        )


def stale_stacks(resolved: Resolved, runs: Sequence[StackRun]) -> list[StackRun]:
    """The stacks whose cdk.tf.json differs from what the config generates now (synthesized to a temporary dir)."""
    from tierstack.generator.synth.stacks import synthesize

    with tempfile.TemporaryDirectory(prefix="tierstack-plan-") as tmp:
        synthesize(resolved, Path(tmp), [run.environment for run in runs])
        fresh = {run.stack: sha256_bounded(stack_file(Path(tmp), run.stack)) for run in runs}
        return [run for run in runs if fresh[run.stack] != sha256_bounded(run.config_file)]


def check_current(resolved: Resolved, runs: Sequence[StackRun], config: Path, out: Path) -> None:
    stale = stale_stacks(resolved, runs)
    if stale:
        listing = ", ".join(display_path(run.config_file) for run in stale)
        raise UserError(
            f"the synthesized stacks are stale: {listing} {'is' if len(stale) == 1 else 'are'} not what "
            f"{display_path(config)} generates now",
            file=display_path(config),
            hint=f"run `{generate_command(config, out)}` (review its changes), then plan again",
        )


# --- running terraform ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    output: str


@dataclass(frozen=True)
class Terraform:
    """The binary, run in a stack directory; `echo` receives the output of the commands that stream it."""

    binary: Binary
    echo: Echo
    color: bool = False

    def run(self, args: Sequence[str], cwd: Path, stream: bool = False) -> Result:
        """Run terraform in cwd; its stdout and stderr together, echoed line by line when `stream`.

        Terraform runs in a session of its own, so a Ctrl-C reaches it exactly once, from here: it then
        stops gracefully (a second interrupt would make it quit at once and may lose state). SIGTERM and
        SIGHUP (a CI runner cancelling the job, a closed terminal) go to its process group the same way;
        tierstack waits for it to stop, then exits 128 + the signal, leaving no terraform behind.
        """
        argv = self._argv(args, plain=not (self.color and stream))
        with _forwarded_signals(self.echo) as forward:
            try:
                process = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=_environment(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    errors="replace",
                    start_new_session=True,
                )
            except OSError as error:
                raise UserError(
                    f"cannot run {self.binary.path}: {error.strerror or error}", hint=INSTALL_HINT
                ) from None
            forward.started(process)
            lines: list[str] = []
            with _graceful_interrupt(process, self.echo):
                assert process.stdout is not None
                for line in process.stdout:  # after a forwarded signal: what terraform says while it stops
                    lines.append(line)
                    if stream:
                        self.echo(line.rstrip("\n"))
                code = process.wait()
        return Result(code, "".join(lines))

    def capture(self, args: Sequence[str], cwd: Path) -> tuple[Result, str]:
        """Run terraform in cwd for its standard output alone (a JSON document): (the result, stdout)."""
        try:
            done = subprocess.run(
                self._argv(args, plain=True),
                cwd=cwd,
                env=_environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                check=False,
            )
        except OSError as error:
            raise UserError(f"cannot run {self.binary.path}: {error.strerror or error}", hint=INSTALL_HINT) from None
        return Result(done.returncode, done.stderr or done.stdout), done.stdout

    def _argv(self, args: Sequence[str], plain: bool) -> list[str]:
        """The command line; -no-color goes before the arguments (flags after one are not read as flags)."""
        return [self.binary.path, args[0], *(["-no-color"] if plain else []), *args[1:]]


FORWARDED = ("SIGTERM", "SIGHUP")  # by name: SIGHUP does not exist on Windows


@dataclass
class _Forward:
    """The terraform process the signal handler forwards to, and the first signal received."""

    process: subprocess.Popen[str] | None = None
    received: int | None = None

    def handle(self, signum: int, _frame: object) -> None:
        """Forward the first signal to terraform's process group; the run goes on reading what terraform
        says while it stops. Nothing is printed here: a handler writing to a stream the main code is
        writing to can fail (a reentrant call)."""
        if self.received is not None:
            return  # forwarded once: a second signal would make terraform quit at once and may lose state
        self.received = signum
        self.forward()

    def started(self, process: subprocess.Popen[str]) -> None:
        """Terraform runs: a signal that came while it was starting reaches it now."""
        self.process = process
        if self.received is not None:
            self.forward()

    def forward(self) -> None:
        if self.process is not None and self.received is not None and self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, self.received)  # its own session: terraform and its providers


@contextlib.contextmanager
def _forwarded_signals(echo: Echo) -> Iterator[_Forward]:
    """SIGTERM and SIGHUP are forwarded to terraform (see Terraform.run); once it has stopped, the run
    ends with 128 + the signal, as a shell reports a program the signal stopped. The old handlers come back."""
    forward = _Forward()
    wanted = [getattr(signal, name) for name in FORWARDED if hasattr(signal, name)]
    previous: dict[int, Any] = {}
    try:
        for sig in wanted:
            previous[sig] = signal.signal(sig, forward.handle)
    except ValueError:  # not the main thread (an embedding caller): signals stay its business
        pass
    try:
        yield forward
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if forward.received is not None:
        name = signal.Signals(forward.received).name
        echo(f"{name} received: terraform was told to stop and has stopped; tierstack stops too")
        raise SystemExit(128 + forward.received)


@contextlib.contextmanager
def _graceful_interrupt(process: subprocess.Popen[str], echo: Echo) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            process.send_signal(signal.SIGINT)
        echo("interrupted: waiting for terraform to stop safely (it saves the state first)...")
        process.wait()
        raise


def init(tf: Terraform, run: StackRun, config: Path) -> None:
    result = tf.run(["init", "-input=false"], run.directory)
    if result.code != 0:
        raise failure("init", result, run, config)


def plan(tf: Terraform, run: StackRun, config: Path) -> dict[str, Any]:
    """`terraform plan -out=<stack>.tfplan`, then its JSON saved beside it; the JSON."""
    from tierstack.generator.core.fsio import write_atomic

    for stale in (run.plan_file, run.plan_json):  # a failed plan must not leave the previous one to apply
        stale.unlink(missing_ok=True)
    result = tf.run(["plan", "-input=false", f"-out={run.plan_file.name}"], run.directory, stream=True)
    if result.code != 0:
        raise failure("plan", result, run, config)
    data, text = show(tf, run, config)
    write_atomic(run.plan_json, text)
    return data


def show(tf: Terraform, run: StackRun, config: Path) -> tuple[dict[str, Any], str]:
    """`terraform show -json` of the saved plan: the parsed document and its text."""
    result, text = tf.capture(["show", "-json", run.plan_file.name], run.directory)
    if result.code != 0:
        raise failure("show", result, run, config)
    text = text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        raise UserError(
            f"terraform show -json printed no plan JSON for {run.plan_file.name}", file=display_path(run.directory)
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"terraform show -json of {run.plan_file.name} is not a plan", file=display_path(run.directory))
    return data, text + "\n"


def apply(tf: Terraform, run: StackRun, config: Path) -> None:
    """Apply exactly the saved plan file; once applied, the plan files go (Terraform refuses them again).

    When the apply fails only where Google is eventually consistent (generator/services/eventual.py: a resource
    refused right after the grant, agent or metric it needs was created by the same plan), it waits as
    generator/data/eventual_consistency.yaml says, printing what for, then plans again and applies that
    plan, which may only finish what was reviewed (the saved plan is stale once part of it is applied).
    Any other failure, or one that outlasts the table's waits, is reported as terraform said it.
    """
    from tierstack.generator.services import eventual

    result = tf.run(["apply", "-input=false", run.plan_file.name], run.directory, stream=True)
    reviewed: dict[str, Any] | None = None
    attempt, waited = 1, 0.0
    while result.code != 0:
        reviewed = reviewed if reviewed is not None else show(tf, run, config)[0]  # the plan file is intact
        decision = eventual.decide(result.output, reviewed, attempt, waited)
        if decision.wait is None:
            raise failure("apply", result, run, config, decision.why_not)
        wait = decision.wait
        for reason in wait.reasons():
            tf.echo(f"{run.stack}: {reason}")
        tf.echo(f"{run.stack}: {wait.message()}")
        _wait(wait.seconds, tf.echo)
        waited, attempt = waited + wait.seconds, wait.attempt
        tf.echo(f"{run.stack}: terraform plan -out={run.plan_file.name} (what the failed apply left to do)")
        replanned = plan(tf, run, config)
        extra = eventual.unreviewed(reviewed, replanned)
        if extra:
            raise UserError(
                f"after the partial apply of {run.stack}, terraform plans changes the reviewed plan did not have:"
                + "".join(f"\n    {line}" for line in extra),
                file=display_path(run.plan_json),
                hint=f"review the new plan (`tierstack review {display_path(run.plan_json)}`), then "
                f"`tierstack apply --env {run.environment}`",
            )
        result = tf.run(["apply", "-input=false", run.plan_file.name], run.directory, stream=True)
    for done in (run.plan_file, run.plan_json):
        done.unlink(missing_ok=True)


def _wait(seconds: float, echo: Echo) -> None:
    """Sleep between attempts; SIGTERM or SIGHUP (nothing runs meanwhile) ends the run at once, 128 + signal."""
    received: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        received.append(signum)
        raise _Stopped

    previous: dict[int, Any] = {}
    try:
        for sig in [getattr(signal, name) for name in FORWARDED if hasattr(signal, name)]:
            previous[sig] = signal.signal(sig, stop)
    except ValueError:  # not the main thread: signals stay the caller's business
        pass
    try:
        time.sleep(seconds)
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        echo(f"{signal.Signals(received[0]).name} received while waiting: nothing is running; tierstack stops")
        raise SystemExit(128 + received[0])


class _Stopped(Exception):
    """Raised by the signal handler to end a wait."""


# --- what went wrong -----------------------------------------------------------------------------

_BUCKET_MISSING = re.compile(r"bucket doesn't exist|bucket does not exist|NoSuchBucket", re.IGNORECASE)
_CREDENTIALS = re.compile(
    r"could not find default credentials|error getting credentials|GOOGLE_APPLICATION_CREDENTIALS"
    r"|oauth2: cannot fetch token|invalid_grant|invalid_rapt|reauth|Reauthentication|unauthenticated|Error 401",
    re.IGNORECASE,
)
_PERMISSION = re.compile(r"Error 403|does not have [\w.]+ access|forbidden|permission denied", re.IGNORECASE)
_BACKEND_CHANGED = re.compile(r"Backend configuration changed|backend initialization required", re.IGNORECASE)


def errors_of(output: str) -> str:
    """Terraform's error diagnostics ('Error: ...' and their detail), without the box drawing around them."""
    lines = [re.sub(r"^[\s│╷╵]+", "", line).rstrip() for line in output.splitlines()]
    found: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("Error:"):
            inside = True
            if found:
                found.append("")
        elif line.startswith(("Warning:", "Initializing", "Terraform ")) and inside:
            inside = False
        if inside:
            found.append(line)
    text = "\n".join(found).strip()
    return text or "\n".join(line for line in lines if line)[-2000:]


def failure(action: str, result: Result, run: StackRun, config: Path, retried: str = "") -> UserError:
    """The UserError for a failed terraform command: terraform's error text, and the next command to run.

    `retried` says why apply did not (or no longer) wait and try again (generator/services/eventual.py)."""
    text = errors_of(result.output)
    where = display_path(run.directory)
    message = f"terraform {action} failed for {run.stack} (exit {result.code}):\n    " + text.replace("\n", "\n    ")
    shown = display_path(config)
    if retried.startswith("still refused"):
        hint = (
            f"{retried}: check that the grant the message needs is in the stack and names the right member, "
            f"then run `tierstack plan --env {run.environment}` and apply again"
        )
    elif action == "init" and _BUCKET_MISSING.search(result.output):
        hint = f"the state bucket does not exist yet: run `tierstack bootstrap {shown}`, then plan again"
    elif _CREDENTIALS.search(result.output):
        hint = (
            f"terraform found no usable Google Cloud credentials: run `{LOGIN}` (or set "
            "GOOGLE_APPLICATION_CREDENTIALS to a service account key file), then run tierstack again"
        )
    elif _PERMISSION.search(result.output):
        hint = (
            f"the account lacks a permission in project {run.project} or on the state bucket: ask for the role "
            "the message names (the state needs roles/storage.objectAdmin on the bucket), or run as an account "
            "that has it"
        )
    elif action == "init" and _BACKEND_CHANGED.search(result.output):
        hint = f"the state bucket or prefix changed: run `terraform init -migrate-state` in {where}, then plan again"
    elif action == "apply" and "Saved plan is stale" in result.output:
        hint = f"the state changed since this plan was made: run `tierstack plan --env {run.environment}` again"
    else:
        hint = f"read terraform's message above; the stack is in {where}"
    if retried and not retried.startswith("still refused"):
        hint = f"{hint} ({retried})"
    return UserError(message, hint=hint)


# --- apply's checks ------------------------------------------------------------------------------


def check_plan_saved(run: StackRun) -> None:
    if not run.plan_file.is_file():
        raise UserError(
            f"no saved plan for {run.stack}: {display_path(run.plan_file)} does not exist",
            hint=f"run `tierstack plan --env {run.environment}` and review it first",
        )


def plan_matches_synthesis(run: StackRun) -> bool:
    """Whether the saved plan was made from the cdk.tf.json in the stack directory now.

    Read from the configuration snapshot Terraform keeps inside the plan file; when that cannot be
    read (another plan file layout), a plan older than the synthesis does not match.
    """
    try:
        with zipfile.ZipFile(run.plan_file) as archive:
            snapshot = archive.read(SNAPSHOT)
    except (zipfile.BadZipFile, KeyError, OSError):
        return run.plan_file.stat().st_mtime >= run.config_file.stat().st_mtime
    return hashlib.sha256(snapshot).hexdigest() == sha256_bounded(run.config_file)  # a FIFO there: no match


def check_plan_current(run: StackRun, config: Path) -> None:
    if not plan_matches_synthesis(run):
        raise UserError(
            f"the saved plan for {run.stack} is older than its synthesis: {display_path(run.config_file)} "
            "changed after the plan was made, so applying it would not apply what is generated now",
            file=display_path(run.plan_file),
            hint=f"run `tierstack plan --env {run.environment}`, review the new plan, then apply it",
        )


def freeze_check(
    resolved: Resolved, runs: Sequence[StackRun], config: Path, at: datetime, override: str | None = None
) -> FreezeCheck:
    """The change freezes (tierstack.yaml `freezes:`) on at `at` for these stacks, as review shows them."""
    from tierstack.generator.config import freeze

    targets = [freeze.Target(run.stack, run.environment, run.role) for run in runs]
    hits = freeze.check(resolved.loaded.spec.freezes, targets, at)
    return freeze.FreezeCheck(at=at, configs=(display_path(config),), hits=hits, override=override)


# --- what a plan does: generator/analysis/review/ -----------------------------------------------


def stack_review(plan: Mapping[str, Any], run: StackRun) -> StackReview:
    """The review of one stack's saved plan (its JSON checked as `tierstack review` checks it)."""
    from tierstack.generator.analysis import review

    source = display_path(run.plan_json)
    return review.review_stack(review.read_plan(dict(plan), source), source, run.stack)


def review_text(stacks: Sequence[StackReview], check: FreezeCheck | None) -> str:
    """The review summary `tierstack review --format text` prints for these plans."""
    from tierstack.generator.analysis import review

    return review.to_text(review.Review(tuple(stacks), check))
