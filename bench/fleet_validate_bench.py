"""Time `tierstack validate` of a fleet of 300, 1,000 and 3,000 members (issue 19: goal under 5 s, linear).

    python bench/fleet_validate_bench.py [--sizes 300 1000 3000] [--runs 1]

Each fleet is examples/churn-fleet's file with its members repeated over five regions, written to a
temporary folder beside a copy of its blueprint. Each run is a fresh `tierstack validate` process (start-up
included, as a user sees it); the figures are the wall time, the time per member and the peak memory of the
process (ru_maxrss of the child), with the CPU seconds of the child beside the wall time: on a shared machine
the wall time moves with everyone else's work, so the load average before the runs is printed too. Not a test:
it prints, it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "churn-fleet"
TIERSTACK = str(Path(sys.executable).with_name("tierstack"))
REGIONS = ("us-central1", "europe-west3", "europe-west4", "us-east1", "asia-south1")


def write_fleet(folder: Path, members: int) -> Path:
    """The example fleet's defaults and blueprint, with `members` members of its own."""
    head = (EXAMPLE / "churn.fleet.yaml").read_text(encoding="utf-8").split("\nmembers:")[0]
    lines = [head, "members:"]
    for i in range(members):
        lines.append(f"  - name: churn-m{i:04d}\n    region: {REGIONS[i % len(REGIONS)]}")
    shutil.copy2(EXAMPLE / "acme-churn.yaml.j2", folder / "acme-churn.yaml.j2")
    path = folder / f"fleet-{members}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_once(path: Path) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds, exit code and peak memory in KiB of one `tierstack validate` process.

    The CPU seconds (user + system of the child) say more than the wall time on a machine others share."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([TIERSTACK, "validate", str(path)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    return elapsed, cpu, done.returncode, max(after.ru_maxrss, before.ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000, 3000])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores here: above 2, others' work slows every figure)")
    print(f"{'members':>8} {'seconds':>9} {'cpu s':>7} {'ms/member':>10} {'peak MiB':>9}  exit")
    with tempfile.TemporaryDirectory(prefix="tierstack-fleet-bench-") as tmp:
        for size in args.sizes:
            path = write_fleet(Path(tmp), size)
            results = [run_once(path) for _ in range(args.runs)]
            wall, cpu, code, peak = min(results)
            print(f"{size:>8} {wall:>9.2f} {cpu:>7.2f} {1000 * wall / size:>10.1f} {peak / 1024:>9.0f}  {code}")
    print("goal (issue 19): 3,000 members under 5 s, time linear in members")


if __name__ == "__main__":
    main()
