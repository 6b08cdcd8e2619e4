"""`tierstack diff` benchmark: prints figures, asserts nothing.

    python bench/diff_bench.py [--runs N] [--example NAME]

A throwaway git repository holds an example's config in two commits (the
second adds a label and, where the example is not reusable, makes it so: most
resources change and the feature repository's are added). Then, median of N runs:

- `tierstack diff HEAD~1 HEAD --config ...` end to end in a fresh process: two
  `git archive` extractions, two syntheses (the Google bindings loaded once),
  the comparison and the text report;
- the same with `--format markdown` and `--format json`;
- `tierstack diff` of the two output directories (no synthesis: reading the
  JSON, comparing, rendering);
- in this process, the comparison alone (`diff.compare` on the parsed stacks)
  and the repository's extraction alone (`git archive` into a temporary
  directory), so a slow run can be placed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]


def median_time(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_repo(root: Path, example: str) -> str:
    """Two commits of the example's config; returns its path from the repository's top."""
    config = root / "use-cases" / example / "tierstack.yaml"
    config.parent.mkdir(parents=True)
    text = (REPO / "examples" / example / "tierstack.yaml").read_text(encoding="utf-8")
    config.write_text(text, encoding="utf-8")
    subprocess.run([*GIT, "init", "-q", str(root)], check=True)
    subprocess.run([*GIT, "-C", str(root), "add", "."], check=True)
    subprocess.run([*GIT, "-C", str(root), "commit", "-qm", "base"], check=True)
    changed = text.replace("reusable: no", "reusable: yes")  # adds the feature repository
    changed = changed.replace("labels:\n", "labels:\n  bench: changed\n", 1) if "labels:" in text else changed
    config.write_text(changed, encoding="utf-8")
    subprocess.run([*GIT, "-C", str(root), "commit", "-qam", "head"], check=True)
    return config.relative_to(root).as_posix()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--example", default="fraud-detection", help="an example folder's name")
    args = parser.parse_args()
    exe = shutil.which("tierstack", path=str(Path(sys.executable).parent)) or "tierstack"

    from tierstack.generator.analysis import diff
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        config = make_repo(root, args.example)

        def cli(*extra: str) -> Callable[[], object]:
            command = [exe, "diff", *extra]
            return lambda: subprocess.run(command, cwd=root, capture_output=True, check=False)

        refs = ("HEAD~1", "HEAD", "--config", config)
        probe = subprocess.run([exe, "diff", *refs], cwd=root, capture_output=True, text=True, check=False)
        if probe.returncode not in (0, 3):
            sys.exit(f"tierstack diff failed ({probe.returncode}): {probe.stderr}")
        stacks = [line for line in probe.stdout.splitlines() if line.startswith(args.example)]
        print(f"example {args.example}, median of {args.runs} runs:")
        for line in stacks:
            print(f"  {line}")

        outs = []
        for ref in ("HEAD~1", "HEAD"):
            with diff.synthesis_of_ref(root, ref, config) as out:
                copy = Path(tmp) / ref.replace("~", "-") / "cdktf.out"
                shutil.copytree(out, copy)
                outs.append(copy)

        rows = [
            ("diff HEAD~1 HEAD (fresh process, 2 syntheses), text", cli(*refs)),
            ("diff HEAD~1 HEAD, --format markdown", cli(*refs, "--format", "markdown")),
            ("diff HEAD~1 HEAD, --format json", cli(*refs, "--format", "json")),
            ("diff of the two output directories (fresh process)", cli(str(outs[0]), str(outs[1]))),
        ]
        for label, action in rows:
            print(f"{label:<58}{median_time(action, args.runs):>8.2f} s")

        before, after = diff.load_synthesis(outs[0]), diff.load_synthesis(outs[1])
        resources = sum(len(s.resources) for s in after.values())
        compare_ms = median_time(lambda: diff.render_text(diff.compare(before, after)), max(args.runs, 10)) * 1000
        print(f"{f'compare + render, in process ({resources} resources)':<58}{compare_ms:>8.1f} ms")

        def extract() -> None:
            with tempfile.TemporaryDirectory() as target:
                commit = diff.commit_of(root, "HEAD")
                diff._extract(root, commit, Path(target))

        print(f"{'git archive of one ref, extracted':<58}{median_time(extract, args.runs) * 1000:>8.1f} ms")

        def synthesize_once() -> None:
            with tempfile.TemporaryDirectory() as target:
                generate(resolve(load_spec(root / config)), Path(target) / "cdktf.out")

        synthesize_once()  # the bindings load once per process; the figure below is a warm synthesis
        print(f"{'one synthesis, bindings already loaded':<58}{median_time(synthesize_once, args.runs):>8.2f} s")


if __name__ == "__main__":
    main()
