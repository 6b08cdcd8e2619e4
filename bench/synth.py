"""Synthesis benchmark: prints figures, asserts nothing.

    python bench/synth.py [--runs N] [--first-run]

- floor: a fresh process that only imports cdktn and the google bindings (jsii
  loads the assembly into Node), the cost no generate avoids (google-beta's
  bindings are not loaded: see modules/beta.py);
- cold `tierstack generate` per tier (fresh process, end to end), and its ratio to the floor
  (target: within 1.5x);
- a fleet of 30 stacks in one process, time per additional stack (target < 150 ms);
- peak RSS of Python plus its Node child during the fleet (target < 1.5 GB);
- `tierstack --help` latency.

jsii unpacks the provider tarballs into a cache (~/.cache/aws/jsii) the first
time; --first-run also times a generate with an empty cache (a fresh machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIERS = {0: "tests/cases/tier0-batch.yaml", 1: "tests/cases/tier1-online.yaml", 2: "tests/cases/tier2-cicd.yaml"}
FLOOR = (
    "from tierstack.generator.synth import jsii_env; jsii_env.prepare()\n"
    "import cdktn\n"
    "from cdktn_provider_google.provider import GoogleProvider\n"
)


def timed(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            args = [a.replace("{tmp}", tmp) for a in cmd]
            start = time.perf_counter()
            subprocess.run(args, cwd=REPO, check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def fleet(n_cases: int = 10) -> tuple[float, float, int, int]:
    """30 stacks (10 tier-2 use cases x 3 environments) in this process: (load s, per-stack ms, stacks, peak KB)."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(os.getpid()))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    exec(FLOOR, {})  # the same imports the floor measures
    loaded = time.perf_counter()
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    template = (REPO / TIERS[2]).read_text()
    stacks = 0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i in range(n_cases):
            config = Path(tmp) / f"case{i}" / "tierstack.yaml"
            config.parent.mkdir()
            config.write_text(template.replace("tier2-cicd", f"fleet-{i:02d}"))
            stacks += len(generate(resolve(load_spec(config)), config.parent / "cdktf.out"))
        per_stack = (time.perf_counter() - t0) / stacks * 1000
    done.set()
    sampler.join()
    return loaded - start, per_stack, stacks, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--first-run", action="store_true", help="also time a generate with an empty jsii cache")
    args = parser.parse_args()
    exe = shutil.which("tierstack", path=str(Path(sys.executable).parent)) or "tierstack"
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; median of {args.runs} runs")

    floor = timed([sys.executable, "-c", FLOOR], args.runs)
    print(f"{'floor: import cdktn + google bindings':<58}{floor:>8.2f} s")
    for tier, config in TIERS.items():
        cold = timed([exe, "generate", config, "--out", "{tmp}/out"], args.runs)
        print(f"{f'cold generate, tier {tier} ({Path(config).stem})':<58}{cold:>8.2f} s   {cold / floor:.2f}x floor")
    if args.first_run:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "JSII_RUNTIME_PACKAGE_CACHE_ROOT": cache}
            first = timed([exe, "generate", TIERS[2], "--out", "{tmp}/out"], 1, env=env)
        print(f"{'first generate on a fresh machine (empty jsii cache)':<58}{first:>8.2f} s")

    load, per_stack, stacks, peak = fleet()
    label = f"fleet: {stacks} stacks in one process, per stack"
    print(f"{label:<58}{per_stack:>8.0f} ms  (bindings loaded in {load:.2f} s)")
    print(f"{'fleet: peak RSS, Python + Node':<58}{peak / 1024 / 1024:>8.2f} GB")
    help_ms = timed([exe, "--help"], max(args.runs, 5)) * 1000
    print(f"{'tierstack --help':<58}{help_ms:>8.0f} ms")


if __name__ == "__main__":
    main()
