"""Fleet benchmark: `tierstack generate FLEET` of 50 members x 3 environments; prints figures, asserts nothing.

    python bench/fleet_bench.py [--members 50] [--jobs N] [--again] [--profile FILE]

Writes a fleet file of tier-2 members (dev, staging, prod: 150 stacks) into a temporary folder and runs
`tierstack generate` on it in a fresh process, as a user would:

- wall time end to end, and per stack; the CPU time of tierstack and its Node child (getrusage), which a
  busy machine does not inflate as it does the wall time (Python and Node take turns: on an idle machine
  the wall time is about the CPU time);
- peak memory, from resource.getrusage(RUSAGE_CHILDREN): the largest single process among tierstack and
  its jsii Node child (ru_maxrss), and the peak of the two summed, sampled from /proc every 50 ms;
- one member as a tierstack.yaml of its own, generated in a fresh process: what a fleet saves over one
  `generate` per member (each loads the bindings);
- with --jobs N, `generate --jobs N` (default: tierstack's own choice, the cores that fit in memory);
  the peak summed RSS then counts every worker and its Node child;
- with --again, a second run over the first one's output (the regeneration path: manifests, hand-edit
  checks and the comparison with the last generation);
- with --profile FILE, the same fleet generated in this process under cProfile, the statistics written to
  FILE and the top 25 functions by cumulative time printed.

The issue's goal (issue 10): well under a minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REGIONS = ("us-central1", "us-east4", "europe-west4", "europe-west2", "asia-northeast1")


DEFAULTS = """\
team: ml-platform
use_case:
  stage: production
  retraining: scheduled
  schedule: "30 1 * * *"
  code_changes: frequent
  serving: online
labels:
  cost-center: cc-100
"""


def member_text(i: int) -> str:
    """Member i's own fields; its variables here hold the defaults' too (a list replaces, a mapping merges)."""
    name = f"bench-{i:03d}"
    return "\n".join(
        [
            f"name: {name}",
            f"team: team-{i % 7}",
            f"region: {REGIONS[i % len(REGIONS)]}",
            "environments:",
            *(f"  {env}: {{project: {name}-{env}}}" for env in ("dev", "staging", "prod")),
            "variables:",
            "  alert_email: oncall@example.com",
            "  data_scientists_group: ds@example.com",
            f"  ci_repository: acme/{name}",
            "  ci_repository_id: 1",
            "  ci_repository_owner_id: 2",
        ]
    )


def fleet_text(members: int) -> str:
    """A fleet of tier-2 members: frequent code changes and online serving, three environments each."""
    lines = ["fleet: bench", "description: a benchmark fleet", "defaults:"]
    lines += ["  " + line for line in DEFAULTS.splitlines()]
    lines.append("members:")
    for i in range(members):
        first, *rest = member_text(i).splitlines()
        lines += ["  - " + first, *("    " + line for line in rest)]
    return "\n".join(lines) + "\n"


def single_text(i: int) -> str:
    """Member i as a tierstack.yaml of its own (its fields after the defaults': the member's team wins)."""
    return member_text(i) + "\n" + "\n".join(line for line in DEFAULTS.splitlines() if not line.startswith("team:"))


def rss_kb(pid: int) -> int:
    """RSS of a process and all its descendants, from /proc."""
    total, pending = 0, [pid]
    while pending:
        p = pending.pop()
        try:
            with open(f"/proc/{p}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            with open(f"/proc/{p}/task/{p}/children") as children:
                pending += [int(c) for c in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def run(config: Path, out: Path, jobs: int | None = None) -> tuple[float, int, str]:
    """`tierstack generate` in a fresh process: (seconds, peak summed RSS in KB, its stderr's last line)."""
    exe = shutil.which("tierstack", path=str(Path(sys.executable).parent)) or "tierstack"
    start = time.perf_counter()
    process = subprocess.Popen(
        [exe, "generate", str(config), "--out", str(out), *(["--jobs", str(jobs)] if jobs else [])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], rss_kb(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"tierstack generate failed ({process.returncode}):\n{err}")
    return seconds, peak[0], err.strip().splitlines()[-1]


def profile(fleet: Path, out: Path, stats_file: Path) -> None:
    from tierstack.generator.services import fleet as fleets

    profiler = cProfile.Profile()
    profiler.enable()
    fleets.run(fleet, out, [])
    profiler.disable()
    profiler.dump_stats(stats_file)
    pstats.Stats(str(stats_file)).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--jobs", type=int, help="worker processes (generate --jobs); default: tierstack's choice")
    parser.add_argument("--again", action="store_true", help="also time a regeneration over the first output")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="profile in-process; write the stats to FILE")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.1f} (1 min)")
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Path(tmp) / "fleet.yaml"
        fleet.write_text(fleet_text(args.members), encoding="utf-8")
        if args.profile:
            profile(fleet, Path(tmp) / "out", args.profile)
            return
        seconds, peak, last = run(fleet, Path(tmp) / "out", args.jobs)
        stacks = args.members * 3
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        largest, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime  # KB on Linux; seconds
        print(f"{f'fleet of {args.members} members x 3 environments ({stacks} stacks)':<58}{seconds:>8.1f} s")
        print(f"{'  CPU time, tierstack + Node (getrusage)':<58}{cpu:>8.1f} s")
        print(f"{'  per stack, end to end':<58}{seconds / stacks * 1000:>8.0f} ms")
        print(f"{'  peak RSS, largest process (getrusage ru_maxrss)':<58}{largest / 1024:>8.0f} MB")
        print(f"{'  peak RSS, tierstack + Node summed (/proc)':<58}{peak / 1024:>8.0f} MB")
        print(f"  {last}")
        single = Path(tmp) / "single" / "tierstack.yaml"
        single.parent.mkdir()
        single.write_text(single_text(0), encoding="utf-8")
        alone, _, _ = run(single, single.parent / "cdktf.out")
        print(f"{'one member alone, tierstack.yaml in a fresh process':<58}{alone:>8.1f} s")
        print(f"{f'  so {args.members} separate generate runs, about':<58}{alone * args.members:>8.0f} s")
        if args.again:
            seconds, peak, last = run(fleet, Path(tmp) / "out", args.jobs)
            print(f"{'regeneration over that output':<58}{seconds:>8.1f} s")
            print(f"{'  peak RSS, tierstack + Node summed (/proc)':<58}{peak / 1024:>8.0f} MB")
            print(f"  {last}")


if __name__ == "__main__":
    main()
