"""A fleet over worker processes (issue 23): the same files and lines whatever --jobs, and a worker's failure
said as what it is.

The judge of "the same" is the tree one process writes, compared byte for byte, and the member lines it
prints; speed is measured in bench/fleet_bench.py, not here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tierstack.generator.core.errors import UserError
from tierstack.generator.services import fleet as fleets
from tierstack.generator.services import fleet_workers

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "churn-fleet"
TIERSTACK = str(Path(sys.executable).with_name("tierstack"))


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def member_lines(stderr: str) -> list[str]:
    """What the run printed per member, without the timings of the last line."""
    return [line for line in stderr.splitlines() if line.startswith("[")]


def test_generate_with_two_workers_writes_what_one_process_writes(tmp_path: Path, spawns: None) -> None:
    """churn-fleet plus a member whose config is wrong: each run writes the same trees, prints the same member
    lines, and exits 2 for the bad member, which no worker is given."""
    runs = {}
    for jobs in ("1", "2"):
        case = tmp_path / f"jobs-{jobs}"
        shutil.copytree(EXAMPLE, case, ignore=shutil.ignore_patterns("churn-*"))
        fleet = case / "churn.fleet.yaml"
        fleet.write_text(fleet.read_text(encoding="utf-8") + "  - name: churn-xx\n    region: mars-north1\n")
        done = subprocess.run(
            [TIERSTACK, "generate", str(fleet), "--jobs", jobs],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            env={**os.environ, "NO_COLOR": "1"},
        )
        runs[jobs] = (done.returncode, member_lines(done.stderr.replace(f"jobs-{jobs}", "CASE")), tree(case))
    code, lines, files = runs["2"]
    assert code == 2
    assert any("churn-xx" in line and "mars-north1" in line for line in lines), lines
    assert sum(name.endswith("cdk.tf.json") for name in files) == 6  # three members, two stacks each
    assert runs["2"] == runs["1"]


def test_a_worker_that_dies_is_an_error_that_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed mid-way (here it exits as the OOM killer would leave it) breaks the run with a message,
    never a parent waiting forever for it."""
    fleet = fleets.load_fleet(EXAMPLE / "churn.fleet.yaml", members=())

    def dies(item: Any, path: Path, catalog: Any) -> Any:
        os._exit(137)

    monkeypatch.setattr(fleet_workers, "_validated", dies)
    with pytest.raises(UserError) as caught:
        fleet_workers.validations(fleet.members, fleet.path, None, jobs=2)
    assert "a worker process stopped before it finished" in caught.value.message
    assert "--jobs 1" in (caught.value.hint or "")


def test_a_fleet_file_that_changed_under_the_workers_is_its_error(tmp_path: Path, spawns: None) -> None:
    """The spawned workers read the fleet file again: one made unreadable since the parent loaded it is the
    user's error, raised in the parent, not a pool restarting workers forever."""
    shutil.copytree(EXAMPLE, tmp_path / "case")
    path = tmp_path / "case" / "churn.fleet.yaml"
    fleet = fleets.load_fleet(path, members=None)
    chosen = [fleets.Chosen(member, None) for member in fleet.members]
    path.write_text("fleet: churn\nmembers: [\n", encoding="utf-8")
    with pytest.raises(UserError) as caught:
        list(fleet_workers.member_results(fleet, chosen, tmp_path / "case", False, "check", jobs=2))
    assert str(path) in caught.value.render()


def test_the_worker_count_follows_members_cores_and_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet_workers, "usable_cores", lambda: 8)
    monkeypatch.setattr(fleet_workers, "available_memory", lambda: 4 * fleet_workers.WORKER_BYTES + 1)
    assert fleet_workers.synthesis_jobs(150, None) == 4  # the memory holds four
    assert fleet_workers.synthesis_jobs(2 * fleet_workers.MIN_MEMBERS_PER_WORKER, None) == 2
    assert fleet_workers.synthesis_jobs(3, None) == 1  # a small fleet: one process, the bindings loaded once
    assert fleet_workers.synthesis_jobs(3, jobs=8) == 3  # asked: never more workers than members
    monkeypatch.setattr(fleet_workers, "available_memory", lambda: fleet_workers.WORKER_BYTES // 2)
    assert fleet_workers.synthesis_jobs(150, None) == 1
