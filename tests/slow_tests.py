"""Measure the inner loop and rewrite tests/slow_tests.txt: every test of `pytest -m "not slow"` that takes
0.1 s or more (setup, call and teardown together), which tests/conftest.py then marks `slow`.

    .venv/bin/python tests/slow_tests.py          # from the repository's top; about three minutes

A maintainer tool, like refresh.py: run it when the inner loop grows past a minute, and commit the list.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIST = HERE / "slow_tests.txt"
THRESHOLD = 0.1  # seconds
HEADER = """\
# Tests that take 0.1 s or more (they synthesize stacks, run tierstack in a subprocess or run real
# tools), measured with `.venv/bin/pytest -m "not slow" --durations=0` on the project's 2-core machine.
# tests/conftest.py marks each `slow`, so the inner loop (`pytest -m "not slow"`) stays under a minute;
# `make test` and CI run them all. Measure again and rewrite this list when the inner loop grows:
#   .venv/bin/python tests/slow_tests.py
"""
_ROW = re.compile(r"\s*([\d.]+)s (?:call|setup|teardown)\s+(tests/.+?)\s*$")


def measured(output: str) -> dict[str, float]:
    """Seconds per test id from pytest's --durations=0 report."""
    seconds: dict[str, float] = {}
    for line in output.splitlines():
        match = _ROW.match(line)
        if match:
            seconds[match.group(2)] = seconds.get(match.group(2), 0.0) + float(match.group(1))
    return seconds


def main() -> int:
    kept = [line for line in LIST.read_text(encoding="utf-8").splitlines() if line.startswith("tests/")]
    done = subprocess.run(
        # pytest's own script, not `python -m pytest`, which would put the working directory on sys.path
        [
            str(Path(sys.executable).parent / "pytest"),
            "-q",
            "-m",
            "not slow",
            "--durations=0",
            "-p",
            "no:cacheprovider",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TIERSTACK_MEASURE_SLOW": "1"},
    )
    if done.returncode != 0:
        print(done.stdout[-3000:], file=sys.stderr)
        return done.returncode
    slow = sorted({*kept, *(test for test, secs in measured(done.stdout).items() if secs >= THRESHOLD)})
    LIST.write_text(HEADER + "\n".join(slow) + "\n", encoding="utf-8")
    print(f"{len(slow)} tests in {LIST.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
