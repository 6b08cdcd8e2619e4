"""examples/churn-fleet: a fleet file (three business units over one shared blueprint) generates every
member in one process, with a progress bar on a terminal and one plain line per member elsewhere."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

FLEET = REPO / "examples" / "churn-fleet" / "churn.fleet.yaml"
MEMBERS = ("churn-us", "churn-de", "churn-br")
TIERSTACK = str(Path(sys.executable).parent / "tierstack")

pytestmark = pytest.mark.slow


def copy_of_example(tmp_path: Path) -> Path:
    folder = tmp_path / "churn-fleet"
    folder.mkdir()
    for name in ("churn.fleet.yaml", "acme-churn.yaml.j2"):
        shutil.copy(FLEET.parent / name, folder / name)
    return folder / "churn.fleet.yaml"


def on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run tierstack with stdout and stderr on a pseudo-terminal, as a person at a shell would."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "100"},
    )
    os.close(secondary)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 120)
        if not ready:
            proc.kill()
            raise AssertionError("no output for 120 s")
        try:
            data = os.read(main, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.change_detector
def test_the_fleet_example_is_current() -> None:
    """Every member's committed output is what the fleet file generates (`make refresh` rewrites it)."""
    done = subprocess.run([TIERSTACK, "generate", str(FLEET), "--check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for member in MEMBERS:
        assert (FLEET.parent / member / "cdktf.out" / "stacks" / f"{member}-prod" / "cdk.tf.json").is_file()


def test_the_fleet_example_generates_with_plain_lines_off_a_terminal(tmp_path: Path) -> None:
    fleet = copy_of_example(tmp_path)
    done = subprocess.run([TIERSTACK, "generate", str(fleet)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for index, member in enumerate(MEMBERS, start=1):
        assert any(line.startswith(f"[{index}/3] {member}: ok: 2 stacks") for line in lines), done.stdout
    assert "fleet churn: 3 of 3 members done, 6 stacks" in done.stderr
    assert "\x1b[" not in done.stdout + done.stderr  # no colours, no cursor movement in a log
    for member in MEMBERS:
        generated = fleet.parent / member / "cdktf.out" / "stacks" / f"{member}-prod" / "cdk.tf.json"
        committed = FLEET.parent / member / "cdktf.out" / "stacks" / f"{member}-prod" / "cdk.tf.json"
        assert generated.read_bytes() == committed.read_bytes()


def test_the_fleet_example_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    fleet = copy_of_example(tmp_path)
    code, screen = on_a_terminal([TIERSTACK, "generate", str(fleet), "--only", "team=retail-de"], tmp_path)
    assert code == 0, screen
    assert "\u2501" in screen  # rich's bar, drawn and redrawn
    assert "\x1b[2K" in screen  # the line cleared between redraws: a live display, not plain lines
    assert "churn-de: ok: 2 stacks" in screen
    assert "[1/1]" not in screen  # the plain-line form is for logs only
    assert not (fleet.parent / "churn-us").exists()  # --only: the other members are not generated
