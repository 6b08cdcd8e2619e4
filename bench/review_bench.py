"""`tierstack review` of a plan of 10,000 resource changes: prints figures, asserts nothing.

    python bench/review_bench.py [--changes 10000] [--runs 3]

The plan is synthetic but made of real parts: the resource changes of the plans Terraform wrote in
tests/fixtures/review/ and tests/fixtures/plans/ (the values, labels, sensitivity and unknown
markers of real Google resources), copied under new addresses in a mix of creates, in-place
updates, replacements in both orders, deletes, moves, imports and forgets, with drift on some of
them (half of it in attributes the plan depends on, as `relevant_attributes` says). Priced types
(deployment pools, feature stores, buckets) are among them, so the cost delta is part of the work.

Reported, median of --runs:

- `tierstack review PLAN` end to end in a fresh process, for each format (markdown, text, json):
  wall time, the process's peak resident memory (ru_maxrss) and its CPU time (user + system: on
  a busy machine the wall time grows, the CPU time much less), against the goal (under 1 s,
  under 200 MB);
- in this process, each step alone: reading and checking the JSON (load_plan), the model
  (review_stack, the cost delta included), and each renderer;
- the peak of Python's own allocations over the whole review (tracemalloc);
- the comment of 250 stacks (--stacks; each a copy of the fixture plans under its own stack name):
  its length against GitHub's 65,536 characters, and the time to render it.

`tierstack diff` between two refs of an example is timed by bench/diff_bench.py.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
GOAL_SECONDS, GOAL_MB = 1.0, 200
# kinds of change, in proportion (out of 20): what a large refactoring of many stacks plans
MIX = (
    ("create", 6),
    ("update", 5),
    ("replace", 2),
    ("replace-create-first", 1),
    ("delete", 2),
    ("move", 2),
    ("import", 1),
    ("forget", 1),
)


def median_time(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def templates() -> list[dict[str, Any]]:
    """Real resource changes with values on both sides: the created resources of real plans."""
    out = []
    for path in (FIXTURES / "review" / "create.json", FIXTURES / "plans" / "recommender-prod.json"):
        for change in load(path)["resource_changes"]:
            if change["change"]["actions"] == ["create"] and change.get("mode") == "managed":
                out.append(change)
    pool = next(
        c
        for c in load(FIXTURES / "plans" / "tier1-online-dev.json")["resource_changes"]
        if c["type"] == "google_vertex_ai_deployment_resource_pool"
    )
    return [*out, pool]


def synthetic_plan(count: int) -> dict[str, Any]:
    """A plan of `count` resource changes in the MIX, with drift on one in twenty."""
    plan = load(FIXTURES / "review" / "drift.json")  # its provider config, labels, format and version
    parts = templates()
    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    changes, drift, relevant = [], [], []
    for i in range(count):
        template = parts[i % len(parts)]
        kind = kinds[i % len(kinds)]
        name = f"{template['name']}_{i}"
        address = f"{template['type']}.{name}"
        values = template["change"]["after"]
        before = copy.deepcopy(values)
        if isinstance(before.get("labels"), dict):
            before["labels"] = {**before["labels"], "cost-center": "old"}
        change: dict[str, Any] = {
            "actions": ["create"],
            "before": None,
            "after": values,
            "after_unknown": template["change"].get("after_unknown", {}),
            "before_sensitive": False,
            "after_sensitive": template["change"].get("after_sensitive", {}),
        }
        raw: dict[str, Any] = {**template, "address": address, "name": name}
        if kind == "update":
            change.update(actions=["update"], before=before, before_sensitive={})
        elif kind.startswith("replace"):
            actions = ["create", "delete"] if kind == "replace-create-first" else ["delete", "create"]
            change.update(actions=actions, before=before, before_sensitive={}, replace_paths=[["labels"]])
            raw["action_reason"] = "replace_because_cannot_update"
        elif kind == "delete":
            change.update(actions=["delete"], before=before, after=None, after_unknown={}, before_sensitive={})
            raw["action_reason"] = "delete_because_no_resource_config"
        elif kind == "move":
            change.update(actions=["no-op"], before=values, before_sensitive={})
            raw["previous_address"] = f"{template['type']}.{template['name']}_old_{i}"
        elif kind == "import":
            change.update(actions=["no-op"], before=values, before_sensitive={}, importing={"id": f"import-{i}"})
        elif kind == "forget":
            change.update(actions=["forget"], before=values, after=None, after_unknown={}, before_sensitive={})
            raw["action_reason"] = "delete_because_no_resource_config"
        raw["change"] = change
        changes.append(raw)
        if i % 20 == 7:  # drifted outside Terraform: labels changed in the console
            drifted = {**raw, "change": {**change, "actions": ["update"], "before": values, "after": before}}
            drift.append(drifted)
            if i % 40 == 7:  # the plan depends on it: it appears in the review
                relevant.append({"resource": address, "attribute": ["labels"]})
    plan["resource_changes"] = changes
    plan["resource_drift"] = drift
    plan["relevant_attributes"] = relevant
    return plan


GITHUB_LIMIT = 65_536  # characters in one issue or pull-request comment


def many_stacks(count: int) -> list[Any]:
    """`count` stack reviews of the real fixture plans, each under its own stack name and environment."""
    from tierstack.generator.analysis import review

    shapes = ["replace-stateful", "add-capability", "update-labels-dev", "delete-capability", "create"]
    plans = {name: load(FIXTURES / "review" / f"{name}.json") for name in shapes}
    out = []
    for i in range(count):
        env = "prod" if i % 10 == 0 else "dev"
        out.append(review.review_stack(plans[shapes[i % len(shapes)]], f"out/stacks/uc{i:03d}-{env}/plan.json"))
    return out


def render_json(result: Any) -> str:
    """`review --format json`'s document: compact, as the command writes it."""
    from tierstack.generator.analysis import review

    return json.dumps(review.to_data(result), ensure_ascii=False, separators=(",", ":"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stacks", type=int, default=250)
    args = parser.parse_args()
    exe = shutil.which("tierstack", path=str(Path(sys.executable).parent)) or "tierstack"

    from tierstack.generator.analysis import review

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.json"
        path.write_text(json.dumps(synthetic_plan(args.changes)), encoding="utf-8")
        size_mb = path.stat().st_size / 1e6
        stack = review.review_stack(review.load_plan(str(path)), str(path))
        result = review.Review((stack,))
        counts = ", ".join(f"{n} {kind}" for kind, n in result.counts.items() if n)
        print(f"plan: {args.changes} resource changes ({counts}), {len(stack.drift)} relevant drift, {size_mb:.1f} MB")
        cost = stack.cost
        if cost is not None:
            print(
                f"cost delta: {cost.currency} {cost.before:,.2f} -> {cost.after:,.2f}, "
                f"{len(cost.priced)} priced changes, {len(cost.not_priced)} not priced"
            )
        print(f"median of {args.runs} runs; goal: under {GOAL_SECONDS:g} s and {GOAL_MB} MB end to end")

        for fmt in ("markdown", "text", "json"):
            command = [exe, "review", str(path), "--format", fmt]
            peak = 0
            times, cpu = [], []
            for _ in range(args.runs):
                start = time.perf_counter()
                # a fresh process per run; its own peak resident memory (Linux: KiB), via wait4
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                _, status, usage = os.wait4(process.pid, 0)
                times.append(time.perf_counter() - start)
                cpu.append(usage.ru_utime + usage.ru_stime)
                process.returncode = os.waitstatus_to_exitcode(status)
                if process.returncode not in (0, 3):
                    sys.exit(f"tierstack review failed ({process.returncode}): {process.stderr.read().decode()}")
                process.stderr.close()
                peak = max(peak, usage.ru_maxrss)
            seconds, mb = statistics.median(times), peak / 1024
            verdict = "ok" if seconds < GOAL_SECONDS and mb < GOAL_MB else "OVER THE GOAL"
            label = f"tierstack review --format {fmt} (fresh process)"
            print(f"{label:<52}{seconds:>8.2f} s {mb:>6.0f} MB  (CPU {statistics.median(cpu):.2f} s)  {verdict}")

        runs = max(args.runs, 5)
        from tierstack.generator.core.errors import json_printable

        document = render_json(result)
        data = review.load_plan(str(path))
        steps: list[tuple[str, Callable[[], object]]] = [
            ("read and check the JSON (load_plan)", lambda: review.load_plan(str(path))),
            ("the model (review_stack, cost delta included)", lambda: review.review_stack(data, str(path))),
            ("  of which the cost delta (stack_cost)", lambda: review.stack_cost(data)),
            ("render Markdown (to_markdown)", lambda: review.to_markdown(result)),
            ("render text (to_text)", lambda: review.to_text(result)),
            ("render JSON (to_data + json.dumps, as review does)", lambda: render_json(result)),
            ("then the terminal-safe escapes (json_printable)", lambda: json_printable(document)),
        ]
        for label, action in steps:
            print(f"{label:<52}{median_time(action, runs) * 1000:>8.0f} ms")

        steps.clear()
        tracemalloc.start()
        plan = review.load_plan(str(path))
        review.to_markdown(review.Review((review.review_stack(plan, str(path)),)))
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{'peak Python allocations, load + review + Markdown':<52}{traced / 2**20:>8.0f} MB")
        many = review.Review(tuple(many_stacks(args.stacks)))
        seconds = median_time(lambda: review.to_markdown(many), runs)
        length = len(review.to_markdown(many))
        fits = "fits" if length < GITHUB_LIMIT else "TOO LONG FOR GITHUB"
        print(f"{f'Markdown of {args.stacks} stacks: {length:,} characters, {fits}':<52}{seconds * 1000:>8.0f} ms")
    print("tierstack diff between two refs of an example: python bench/diff_bench.py")


if __name__ == "__main__":
    main()
