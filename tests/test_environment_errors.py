"""What the environment does to a run is not a bug (issue 7, item 7).

A closed pipe, a closed stdin, Ctrl-C and a disk that is full or read-only each get their own message and
exit code; "internal error ... a bug in tierstack" stays for real bugs. Pipes and signals are real
subprocesses; the file system's failures are injected where the write happens.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, run, use_case
from tierstack.generator import cli

TIERSTACK = str(Path(sys.executable).with_name("tierstack"))
FRAUD = REPO / "examples/fraud-detection"
NOISE = ("Traceback", "internal error", "Exception ignored", "BrokenPipeError", "Error on jsii")

pytestmark = pytest.mark.skipif(os.name == "nt", reason="pipes and signals as on POSIX")


def _in_shell(script: str, tmp_path: Path) -> tuple[int, str]:
    """Run `script` in bash without pipefail; return tierstack's own exit code and its stderr."""
    err = tmp_path / "stderr.txt"
    out = subprocess.run(
        ["bash", "-c", f'set +o pipefail; {script} 2>"$ERR" | $READER; echo "${{PIPESTATUS[0]}}"'],
        env={**os.environ, "T": TIERSTACK, "ERR": str(err), "READER": "true"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(out.stdout.split()[-1]), err.read_text()


# --- a closed pipe -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        '"$T" capabilities',
        f'"$T" explain {FRAUD}/tierstack.yaml',
        '"$T" --help',
        '"$T" tiers --format json',
    ],
)
def test_a_reader_that_stops_early_gets_a_quiet_exit_141(command: str, tmp_path: Path, spawns: None) -> None:
    """`true` stops reading before tierstack writes anything, so the first write meets a closed pipe."""
    code, stderr = _in_shell(command, tmp_path)
    assert stderr == ""
    assert code == cli.EXIT_BROKEN_PIPE == 141


def test_capabilities_piped_into_head_prints_no_noise(tmp_path: Path, spawns: None) -> None:
    """The issue's case. Whether head leaves before the last line is written is a race: 0 or 141, never noise."""
    err = tmp_path / "stderr.txt"
    out = subprocess.run(
        ["bash", "-c", 'set +o pipefail; "$T" capabilities 2>"$ERR" | head -c10; echo " ${PIPESTATUS[0]}"'],
        env={**os.environ, "T": TIERSTACK, "ERR": str(err)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.startswith("foundation")
    assert int(out.stdout.split()[-1]) in (0, 141)
    assert err.read_text() == ""


def test_an_error_message_into_a_closed_pipe_keeps_its_exit_code(tmp_path: Path, spawns: None) -> None:
    err = tmp_path / "stderr.txt"
    out = subprocess.run(
        ["bash", "-c", 'set +o pipefail; "$T" explain missing.yaml 2>&1 | true; echo "${PIPESTATUS[0]}"'],
        env={**os.environ, "T": TIERSTACK, "ERR": str(err)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.stdout.split()[-1] == "2"
    assert out.stderr == ""  # nothing leaked to the shell's own stderr either


# --- end of input in init ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "question"),
    [
        ("", "Use-case name"),
        ("churn\n", "Owning team"),
        ("churn\ngrowth\nproduction\n", "Mission critical?"),  # a yes/no question
    ],
)
def test_init_with_stdin_closed_says_what_it_needs(tmp_path: Path, answers: str, question: str) -> None:
    path = tmp_path / "tierstack.yaml"
    result = run("init", str(path), input=answers)
    assert result.exit_code == cli.EXIT_USER_ERROR, result.output
    assert f"init needs answers: stdin closed before '{question}'" in result.stderr
    assert "--no-input" in result.stderr
    assert "internal error" not in result.stderr and "Abort" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_ctrl_c_at_an_init_prompt_is_aborted_130(tmp_path: Path, spawns: None) -> None:
    path = tmp_path / "tierstack.yaml"
    proc = subprocess.Popen(
        [TIERSTACK, "init", str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.read(len("Use-case name")) == b"Use-case name"  # the prompt is up, waiting
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    text = stderr.decode()
    assert proc.returncode == cli.EXIT_INTERRUPTED == 130
    assert text.strip() == "Aborted!"
    assert not path.exists()


# --- Ctrl-C during generate ----------------------------------------------------------------------


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _node_children(pid: int) -> list[int]:
    """jsii's Node runtime, if `pid` has started it: its children running jsii-runtime.js, read from /proc
    (by command line: Node names its main thread 'MainThread', so the process name says nothing)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            parent = next((line for line in status.read_text().splitlines() if line.startswith("PPid:")), "")
            command = (status.parent / "cmdline").read_bytes()
            if parent.split(":")[-1].strip() == str(pid) and b"jsii-runtime" in command:
                found.append(int(status.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="finds jsii's Node process through /proc (Linux)")
def test_ctrl_c_while_synthesizing_exits_130_and_keeps_the_old_tree(tmp_path: Path) -> None:
    """SIGINT to tierstack alone, while jsii's Node runtime is busy, then a second, impatient one.

    Node does not get the signal here (a terminal's Ctrl-C reaches the whole process group): tierstack
    has to stop it itself, at once, before the temporary tree is removed, and jsii's exit handler must
    not print a traceback when the second Ctrl-C lands in it.
    """
    project = tmp_path / "fraud"
    project.mkdir()
    for name in ("tierstack.yaml", "cdktf.json"):
        shutil.copy2(FRAUD / name, project / name)
    shutil.copytree(FRAUD / "cdktf.out", project / "cdktf.out")
    before = {"cdktf.out": _tree(project / "cdktf.out"), "cdktf.json": _tree(project)["cdktf.json"]}
    proc = subprocess.Popen(
        [TIERSTACK, "generate", str(project / "tierstack.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        # the state to interrupt, not a duration: the command runs (its handler is in place once it says
        # "synthesizing") and jsii's Node runtime is up, loading the bindings
        deadline = time.monotonic() + 120  # a guard against a hang, not a timing: any busy machine gets there
        while not (any(line.startswith("synthesizing") for line in lines) and _node_children(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, f"no synthesis to interrupt: {lines}"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)  # impatient: lands in the handler, the cleanup or the exit, all alike
        proc.wait(timeout=120)
    finally:
        proc.kill()
        reader.join(timeout=10)
    stdout = proc.stdout.read()
    stderr = "".join(lines)
    assert proc.returncode == cli.EXIT_INTERRUPTED, stderr
    assert stderr.rstrip().endswith("Aborted!")
    for noise in NOISE:
        assert noise not in stderr
    assert stdout == ""
    assert _tree(project / "cdktf.out") == before["cdktf.out"]  # the old tree, untouched
    assert _tree(project)["cdktf.json"] == before["cdktf.json"]
    assert sorted(p.name for p in project.iterdir()) == ["cdktf.json", "cdktf.out", "tierstack.yaml"]


# --- the file system's failures ------------------------------------------------------------------


def _fail(code: int, filename: str | None = None):
    def fail(*_: object, **__: object) -> None:
        raise OSError(code, os.strerror(code), *([filename] if filename else []))

    return fail


@pytest.mark.parametrize(
    ("where", "code", "problem"),
    [
        ("fsync", errno.ENOSPC, "no space left on the device"),
        ("mkstemp", errno.EACCES, "permission denied"),
        ("mkstemp", errno.EROFS, "read-only file system"),
    ],
)
def test_init_that_cannot_write_names_the_path_and_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, code: int, problem: str
) -> None:
    import tempfile

    path = tmp_path / "tierstack.yaml"
    if where == "fsync":  # a full disk shows at write or fsync time, on a descriptor: no file name
        monkeypatch.setattr(os, "fsync", _fail(code))
    else:
        monkeypatch.setattr(tempfile, "mkstemp", _fail(code, str(tmp_path / ".tierstack.yaml.x.tmp")))
    result = run("init", str(path), "--no-input", "--name", "churn", "--team", "growth")
    assert result.exit_code == cli.EXIT_USER_ERROR, result.output
    assert problem in result.stderr
    assert str(tmp_path) in result.stderr
    assert "internal error" not in result.stderr and "bug" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # write_atomic removed its temporary file


@pytest.mark.parametrize(
    "failure",
    [
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
        RuntimeError("Error: ENOSPC: no space left on device, write"),  # what jsii raises when Node's write fails
    ],
)
def test_generate_on_a_full_disk_is_exit_2_and_keeps_the_old_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    import tierstack.generator.synth.stacks as stacks

    def full(*_: object, **__: object) -> list[str]:
        raise failure

    config = tmp_path / "tierstack.yaml"
    config.write_text(use_case(serving="batch"), encoding="utf-8")
    monkeypatch.setattr(stacks, "synthesize", full)
    result = run("generate", str(config), "--out", str(tmp_path / "build" / "out"))
    assert result.exit_code == cli.EXIT_USER_ERROR, result.output
    assert "no space left on the device" in result.stderr
    assert str(tmp_path / "build" / "out") in result.stderr
    assert "internal error" not in result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["build", "tierstack.yaml"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_redirected_to_a_full_disk_names_stdout(spawns: None) -> None:
    """`tierstack capabilities > file` on a full disk: /dev/full fails every write with ENOSPC."""
    with open("/dev/full", "w") as full:
        out = subprocess.run([TIERSTACK, "capabilities"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert out.returncode == cli.EXIT_USER_ERROR
    assert out.stderr.startswith("error: <stdout>: no space left on the device (ENOSPC)")
    for noise in NOISE:
        assert noise not in out.stderr


def test_other_os_errors_are_still_bugs(monkeypatch: pytest.MonkeyPatch) -> None:
    """An errno the environment does not explain (a bad descriptor) stays a bug report."""
    import tierstack.generator.plan.resolve as resolve_mod

    monkeypatch.setattr(resolve_mod, "resolve", _fail(errno.EBADF))
    result = run("explain", str(FRAUD / "tierstack.yaml"))
    assert result.exit_code == cli.EXIT_BUG
    assert "internal error: OSError" in result.stderr and "bug in tierstack" in result.stderr


# --- the process's own environment: working directory, limits, HOME, TMPDIR, jsii's cache --------------


def _environment_fault(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in bash, "$T" being tierstack; assert the fault is exit 2 with a message, not a bug."""
    out = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "T": TIERSTACK, "TMP": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == cli.EXIT_USER_ERROR, out.stderr
    assert out.stderr.startswith("error: ") or "\nerror: " in out.stderr, out.stderr
    for noise in NOISE:
        assert noise not in out.stderr
    return out


@pytest.mark.parametrize("command", ["validate", "explain", "capabilities"])
def test_a_deleted_working_directory_is_named(tmp_path: Path, command: str, spawns: None) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    args = "" if command == "capabilities" else f" {FRAUD / 'tierstack.yaml'}"
    out = _environment_fault(f'cd "{gone}" && rmdir "{gone}" && "$T" {command}{args}', tmp_path)
    assert f"error: {gone}: the working directory no longer exists (it was deleted)" in out.stderr
    assert "hint: cd to a directory that exists" in out.stderr


def _small_config(tmp_path: Path) -> Path:
    config = tmp_path / "tierstack.yaml"
    config.write_text(use_case(stage="research"), encoding="utf-8")
    return config


def test_a_missing_tmpdir_is_named_before_node_starts(tmp_path: Path, spawns: None) -> None:
    """Python falls back to /tmp; Node's mkdtemp does not, and jsii's error was an internal error."""
    config, missing = _small_config(tmp_path), tmp_path / "no-such-tmp"
    out = _environment_fault(f'"$T" generate "{config}" --out "$TMP/out"', tmp_path, TMPDIR=str(missing))
    assert f"error: {missing}: TMPDIR does not exist" in out.stderr
    assert "unset it" in out.stderr
    assert not (tmp_path / "out").exists()


def test_a_tmpdir_that_is_a_file_is_named(tmp_path: Path, spawns: None) -> None:
    config, file = _small_config(tmp_path), tmp_path / "a-file"
    file.write_text("", encoding="utf-8")
    out = _environment_fault(f'"$T" explain "{config}"', tmp_path, TMPDIR=str(file))
    assert f"error: {file}: TMPDIR is not a directory" in out.stderr


@pytest.mark.parametrize("command", ["explain", "generate"])
def test_too_few_open_files_is_the_limit_and_how_to_raise_it(tmp_path: Path, command: str, spawns: None) -> None:
    """`ulimit -n 24` sets the hard limit too: Node died loading jsii's runtime (its source on stderr)."""
    config = _small_config(tmp_path)
    out = _environment_fault(f'ulimit -n 24 && "$T" {command} "{config}"', tmp_path)
    assert "may open only 24 files at once (ulimit -n 24)" in out.stderr
    assert "hint: raise the limit (ulimit -n 1024)" in out.stderr
    assert "__webpack" not in out.stderr  # none of jsii's runtime source


def test_a_low_soft_limit_on_open_files_is_raised(tmp_path: Path, spawns: None) -> None:
    """Only the soft limit low (the hard one is not): tierstack raises it and Node runs."""
    config = _small_config(tmp_path)
    out = subprocess.run(
        ["bash", "-c", f'ulimit -Sn 24 && "$T" explain "{config}"'],
        env={**os.environ, "T": TIERSTACK},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "tier 0" in out.stdout


def test_a_memory_cap_too_low_for_node_is_refused_before_it_starts(tmp_path: Path, spawns: None) -> None:
    """Far below what V8 needs, jsii's host hung forever (150 MB) or died; now: the limit and what to do."""
    config = _small_config(tmp_path)
    out = _environment_fault(f'ulimit -v 1000000 && "$T" generate "{config}" --out "$TMP/out"', tmp_path)
    assert "too little memory for Node.js to load the Google provider bindings" in out.stderr
    assert "the address space is limited to 976.6 MiB (ulimit -v 1000000)" in out.stderr
    assert not (tmp_path / "out").exists()


def test_node_running_out_of_memory_is_exit_2_and_its_dump_kept_back(tmp_path: Path, spawns: None) -> None:
    """V8 out of heap in jsii's kernel process: its dump (GCs, native stack) is kept back, the cause said.

    The heap is made small through JSII_NODE, a wrapper adding a later --max-old-space-size (the last one
    wins), so the failure is the same on every machine; a cap near the bindings' need would be a race.
    """
    from tierstack.generator.synth.jsii_env import wheel_node

    config, wrapper = _small_config(tmp_path), tmp_path / "node"
    wrapper.write_text(f'#!/bin/sh\nexec "{wheel_node()}" "$1" --max-old-space-size=48 "$2"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    script = f'"$T" generate "{config}" --out "$TMP/out"'
    out = _environment_fault(script, tmp_path, JSII_NODE=str(wrapper))
    assert "jsii's Node.js process reached its heap limit" in out.stderr
    assert "NODE_OPTIONS or a JSII_NODE wrapper" in out.stderr
    assert "Native stack trace" not in out.stderr and "Last few GCs" not in out.stderr
    assert not (tmp_path / "out").exists()


def test_node_out_of_memory_under_a_cap_names_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """What V8 says when the address space (ulimit -v) runs out, and what tierstack makes of it."""
    import resource

    from tierstack.generator.core.errors import UserError
    from tierstack.generator.synth.jsii_env import node_stopped

    said = [
        "FATAL ERROR: MarkCompactCollector: young object promotion failed Allocation failed - "
        "JavaScript heap out of memory",
        "----- Native stack trace -----",
    ]
    limits = {resource.RLIMIT_AS: (3 << 30, resource.RLIM_INFINITY)}  # as `ulimit -v 3145728` leaves it
    real = resource.getrlimit
    monkeypatch.setattr(resource, "getrlimit", lambda which: limits.get(which) or real(which))
    err = node_stopped(134, said)
    assert isinstance(err, UserError)
    assert err.message.startswith("jsii's Node.js process ran out of memory")
    assert "(killed by SIGABRT: FATAL ERROR: MarkCompactCollector" in err.message
    assert "the address space is limited to 3.0 GiB (ulimit -v 3145728)" in (err.hint or "")


def test_node_killed_or_dying_says_why() -> None:
    """SIGKILL (the OOM killer, a container's limit) is the environment; any other death stays a bug."""
    from tierstack.generator.core.errors import UserError
    from tierstack.generator.synth.jsii_env import node_stopped

    for code in (-9, 137):  # killed; jsii's host reports its kernel child's signal as 128 + N
        killed = node_stopped(code, [])
        assert isinstance(killed, UserError) and "killed (killed by SIGKILL)" in killed.message
        assert "memory or CPU limit" in (killed.hint or "")
    crashed = node_stopped(1, ["TypeError: x is undefined", "    at y (z.js:1:2)"])
    assert isinstance(crashed, RuntimeError) and not isinstance(crashed, UserError)
    assert str(crashed) == "jsii's Node.js process stopped (exit code 1): TypeError: x is undefined"


def test_home_a_file_is_jsii_s_cache_and_what_to_do(tmp_path: Path, spawns: None) -> None:
    config, home = _small_config(tmp_path), tmp_path / "home"
    home.write_text("", encoding="utf-8")
    env = {"HOME": str(home), "JSII_RUNTIME_PACKAGE_CACHE_ROOT": ""}
    out = _environment_fault(f'"$T" generate "{config}" --out "$TMP/out"', tmp_path, **env)
    assert f"error: {home}/.cache/aws/jsii/package-cache: jsii cannot use its package cache" in out.stderr
    assert "ENOTDIR" in out.stderr and "JSII_RUNTIME_PACKAGE_CACHE_ROOT" in out.stderr


def _read_only_mount(target: Path) -> str:
    """A shell prefix that runs the rest of the script with `target` read-only, in a mount namespace of its
    own (root: unshare -m; others: a user namespace too): EROFS, which root's permissions cannot bypass."""
    user = "" if os.geteuid() == 0 else "--map-root-user "
    return f'unshare {user}--mount bash -c \'mount --bind -o ro "{target}" "{target}" && "$T" "$@"\' _'


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux's unshare for a read-only mount")
@pytest.mark.parametrize("which", ["home", "cache"])
def test_a_read_only_home_or_jsii_cache_is_named(tmp_path: Path, which: str, spawns: None) -> None:
    config, target = _small_config(tmp_path), tmp_path / which
    target.mkdir()
    env = {"HOME": str(tmp_path / "home")} if which == "home" else {"JSII_RUNTIME_PACKAGE_CACHE_ROOT": str(target)}
    if which == "home":
        env["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = ""
    script = _read_only_mount(target) + f' generate "{config}" --out "$TMP/out"'
    out = _environment_fault(script, tmp_path, **env)
    assert "jsii cannot use its package cache" in out.stderr
    assert str(target) in out.stderr


def test_home_a_file_is_the_git_blueprint_cache_and_what_to_do(tmp_path: Path, spawns: None) -> None:
    """A config whose blueprint is in git needs tierstack's cache, under HOME unless TIERSTACK_CACHE moves it."""
    from synth_support import prepare_examples

    prepare_examples()
    home = tmp_path / "home"
    home.write_text("", encoding="utf-8")
    config = REPO / "examples/regional-propensity/us/tierstack.yaml"
    env = {"HOME": str(home), "TIERSTACK_CACHE": "", "XDG_CACHE_HOME": ""}
    out = _environment_fault(f'"$T" validate "{config}"', tmp_path, **env)
    assert f"{home}/.cache/tierstack: tierstack's cache of git blueprints cannot be used" in out.stderr
    assert "ENOTDIR" in out.stderr and "set TIERSTACK_CACHE" in out.stderr


# --- the table -----------------------------------------------------------------------------------


def test_the_readme_exit_code_table_is_the_cli_s() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\d+)` \| (.+?) \|", readme, flags=re.MULTILINE))
    from tierstack.generator.core import exit_codes

    defined = {value for name, value in vars(exit_codes).items() if name.startswith("EXIT_")}
    assert len(defined) >= 10 and cli.EXIT_PLAN_CHANGED in defined  # the CLI's own, from their one definition
    assert defined == {int(code) for code in rows}
    assert "review" in rows["3"] and "stateful" in rows["3"]
    assert "review" in rows["4"] and "freeze" in rows["4"]
    assert "diff" in rows["3"] and "generate --check" in rows["5"]
    assert "verify" in rows["6"]
    assert "review --reviewed" in rows["7"]
