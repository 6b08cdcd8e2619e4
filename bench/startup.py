"""Start-up latency of the CLI: prints figures, asserts nothing.

    python bench/startup.py [--runs N]

Measures `tierstack --help` (must not import pydantic/jinja2/ruamel/cdktn),
`tierstack validate` (the README: "in about a second") and `tierstack explain` on
every example, each as a fresh process, median of N.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def median_ms(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    exe = shutil.which("tierstack", path=str(Path(sys.executable).parent)) or "tierstack"
    python = [sys.executable, "-c", "pass"]
    print(f"{'command':<62}{'median ms':>10}")
    print(f"{'python -c pass (interpreter floor)':<62}{median_ms(python, args.runs):>10.1f}")
    print(f"{'tierstack --help':<62}{median_ms([exe, '--help'], args.runs):>10.1f}")
    for config in sorted((REPO / "examples").glob("*/tierstack.yaml")):
        rel = config.relative_to(REPO)
        for command in ("validate", "explain"):
            label = f"tierstack {command} {rel}"
            print(f"{label:<62}{median_ms([exe, command, str(rel)], args.runs):>10.1f}")


if __name__ == "__main__":
    main()
