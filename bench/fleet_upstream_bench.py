"""Fleet upstream benchmark: `tierstack upstream FLEET` over a real git upstream; prints figures, asserts nothing.

    python bench/fleet_upstream_bench.py [--members 12] [--jobs 1 2] [--runs 1]

Builds, in a temporary folder, a git repository with an organisation blueprint at two tags (v1.1.0 moves
the default region from us-central1 to europe-west2 and lengthens a bucket's retention) and a fleet over
it whose members cycle through four kinds:

- `moves`: writes no region, so the release moves it (every regional stateful resource replaced: at risk);
- `keeps`: writes its region: only the retention changes, in place;
- `own`: writes its region and its retention: the release changes none of its values (not synthesized);
- `builtin`: a built-in blueprint, no upstream.

Then, each in a fresh process as a user runs it (wall time; the CPU time of tierstack, its Node child and
any workers, from getrusage, which a busy machine does not inflate):

- `tierstack upstream FLEET --no-resources` (the plans only);
- `tierstack upstream FLEET --jobs N` for each N of --jobs (the default: 1 and 2);
- the same with `--jobs 1` but every environment of every member synthesized, as before the shortcut of
  generator/services/upstream.py's resource_changes (what skipping the environments a release does not change saves);
- one `keeps` member as a tierstack.yaml of its own, `tierstack upstream` on it: what one run per member
  would cost, times the members that have an upstream.

Seconds per member are the wall time divided by the fleet's members.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ORG = """\
extends: level-1-pipeline-automation
tier: 1
description: ACME org blueprint.
region: {region}
defaults:
  labels:
    org: acme
  capabilities:
    model_training:
      noncurrent_version_days: {days}
"""
USE_CASE = """\
team: ml
use_case: {stage: production, retraining: scheduled, schedule: "0 4 * * *", serving: batch}
"""
GIT = "blueprint:\n  git: ../org\n  ref: v1.0.0\n  path: blueprints/org.yaml.j2\n"
KINDS = ("moves", "keeps", "own", "builtin")
MEMBER = {
    "moves": "",
    "keeps": "    region: us-central1\n",
    "own": "    region: us-central1\n    overrides: {capabilities: {model_training: {noncurrent_version_days: 30}}}\n",
    "builtin": "    blueprint: level-1-pipeline-automation\n",
}
TIERSTACK = str(Path(sys.executable).with_name("tierstack"))


def git(*args: str, cwd: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    env |= {
        f"GIT_{who}_{what}": value
        for who in ("AUTHOR", "COMMITTER")
        for what, value in (("NAME", "b"), ("EMAIL", "b@example.com"))
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def upstream_repo(root: Path) -> None:
    repo = root / "org"
    (repo / "blueprints").mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    for tag, region, days in (("v1.0.0", "us-central1", 30), ("v1.1.0", "europe-west2", 90)):
        (repo / "blueprints" / "org.yaml.j2").write_text(ORG.format(region=region, days=days), encoding="utf-8")
        git("add", "-A", cwd=repo)
        git("commit", "-q", "-m", tag, cwd=repo)
        git("tag", tag, cwd=repo)


def fleet_file(root: Path, members: int) -> Path:
    folder = root / "fleet"
    folder.mkdir()
    lines = ["fleet: bench", GIT.rstrip("\n"), "defaults:"]
    lines += ["  " + line for line in USE_CASE.splitlines()]
    lines.append("members:")
    for i in range(members):
        kind = KINDS[i % len(KINDS)]
        lines.append(f"  - name: bench-{kind}-{i:03d}")
        lines += MEMBER[kind].rstrip("\n").splitlines()
    path = folder / "bench.fleet.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def single_config(root: Path) -> Path:
    folder = root / "single"
    folder.mkdir()
    path = folder / "tierstack.yaml"
    path.write_text("name: bench-keeps-alone\n" + USE_CASE + "region: us-central1\n" + GIT, encoding="utf-8")
    return path


# tierstack's CLI with every environment counted as changed: each member synthesized in full at both refs
EVERY_ENVIRONMENT = """\
import sys
from tierstack.generator.services import upstream
from tierstack.generator.cli import main
upstream.changed_environments = lambda c: ["dev", "staging", "prod"]
sys.argv[0] = "tierstack"
main()
"""


def timed(args: list[str], env: dict[str, str], command: list[str] | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the process and its children, exit code) of one fresh run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([*(command or [TIERSTACK]), *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 3):
        sys.exit(f"tierstack {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return wall, cpu, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="worker counts to time")
    parser.add_argument("--runs", type=int, default=1, help="runs of each, the best kept")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-upstream-bench-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "TIERSTACK_CACHE": str(root / "cache")}
        upstream_repo(root)
        fleet = fleet_file(root, options.members)
        alone = single_config(root)
        timed(["validate", str(fleet)], env)  # fetches the upstream into the cache: not part of what is timed
        with_upstream = sum(1 for i in range(options.members) if KINDS[i % len(KINDS)] != "builtin")
        print(f"fleet of {options.members} members ({', '.join(KINDS)} in turn), {with_upstream} with an upstream")
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        rows = [("--no-resources", [str(fleet), "--no-resources"])]
        rows += [(f"--jobs {n}", [str(fleet), "--jobs", str(n)]) for n in options.jobs]
        for label, args in rows:
            best = min((timed(["upstream", *args], env) for _ in range(options.runs)), key=lambda r: r[0])
            wall, cpu, code = best
            print(
                f"upstream FLEET {label:<15} {wall:6.1f} s wall, {cpu:6.1f} s CPU, "
                f"{wall / options.members:5.2f} s per member (exit {code})"
            )
        full = [sys.executable, "-c", EVERY_ENVIRONMENT]
        wall, cpu, code = min(
            (timed(["upstream", str(fleet), "--jobs", "1"], env, full) for _ in range(options.runs)),
            key=lambda r: r[0],
        )
        print(
            f"every environment synthesized  {wall:6.1f} s wall, {cpu:6.1f} s CPU, "
            f"{wall / options.members:5.2f} s per member (exit {code}; --jobs 1, no shortcut)"
        )
        wall, cpu, _ = min((timed(["upstream", str(alone)], env) for _ in range(options.runs)), key=lambda r: r[0])
        print(
            f"one member alone (keeps)       {wall:6.1f} s wall, {cpu:6.1f} s CPU; one run per member with an "
            f"upstream ~ {wall * with_upstream:.1f} s"
        )


if __name__ == "__main__":
    main()
