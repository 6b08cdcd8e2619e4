"""Time `tierstack validate` of a fleet of 300, 1,000 and 3,000 members (issue 19: goal under 5 s, linear).

    python bench/fleet_validate_bench.py [--sizes 300 1000 3000] [--runs 1]

Each fleet is examples/churn-fleet's file with its members repeated over five regions, written to a
temporary folder beside a copy of its blueprint. Each run is a fresh `tierstack validate` process (start-up
included, as a user sees it); the figures are the wall time, the time per member and the peak memory of the
process (ru_maxrss of the child). Not a test: it prints, it asserts nothing.
"""

from __future__ import annotations

import argparse
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


def run_once(path: Path) -> tuple[float, int, int]:
    """Wall seconds, exit code and the child's peak memory in KiB of one `tierstack validate`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run([TIERSTACK, "validate", str(path)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
    return elapsed, done.returncode, max(peak, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000, 3000])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"{'members':>8} {'seconds':>9} {'ms/member':>10} {'peak MiB':>9}  exit")
    with tempfile.TemporaryDirectory(prefix="tierstack-fleet-bench-") as tmp:
        for size in args.sizes:
            path = write_fleet(Path(tmp), size)
            results = [run_once(path) for _ in range(args.runs)]
            best = min(results)
            print(f"{size:>8} {best[0]:>9.2f} {1000 * best[0] / size:>10.1f} {best[2] / 1024:>9.0f}  {best[1]}")
    print("goal (issue 19): 3,000 members under 5 s, time linear in members")


if __name__ == "__main__":
    main()
