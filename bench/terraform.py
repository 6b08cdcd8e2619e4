"""Terraform benchmark: prints figures, asserts nothing.

    python bench/terraform.py [--runs N]

For every stack of every example and test case: the time of `terraform init
-backend=false` + `validate`, and of `init` + `plan` (local backend override),
against the offline Google provider stand-in (tests/standin), median of N runs.
Also the stand-in's own start-up (a plugin process per provider per command),
so the suite's Terraform tests stay fast.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from standin import mirror
    from synth_support import example_configs
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    binary, version = mirror.find_terraform()
    print(f"terraform {'.'.join(map(str, version))} at {binary}; {args.runs} runs, median")
    configs = [*example_configs(REPO / "examples"), *sorted((REPO / "tests" / "cases").glob("*.yaml"))]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        terraform = mirror.Terraform(binary, mirror.build(root / "standin"))
        # what each plugin process pays before it serves: interpreter, gRPC, protocol messages, a certificate
        startup = (
            f"import sys; sys.path.insert(0, {str(REPO / 'tests/standin')!r}); import provider, grpc; "
            "import tf.gen.tfplugin_pb2; provider.load_schema('google'); provider._certificate()"
        )
        start = time.perf_counter()
        subprocess.run([sys.executable, "-B", "-c", startup], capture_output=True, check=True)
        print(f"stand-in process start-up: {1000 * (time.perf_counter() - start):.0f} ms")
        totals = {"validate": 0.0, "plan": 0.0}
        print(f"{'stack':32} {'resources':>9} {'validate s':>10} {'plan s':>8}")
        for i, config in enumerate(configs):
            out = root / f"out{i}"
            generate(resolve(load_spec(config)), out)
            for stack_dir in sorted((out / "stacks").iterdir()):
                times: dict[str, list[float]] = {"validate": [], "plan": []}
                for run in range(args.runs):
                    work = mirror.workdir_for(stack_dir, root / "work" / f"{stack_dir.name}-{run}")
                    start = time.perf_counter()
                    mirror.validate(terraform, work)
                    times["validate"].append(time.perf_counter() - start)
                    start = time.perf_counter()
                    plan = mirror.plan(terraform, work)
                    times["plan"].append(time.perf_counter() - start)
                medians = {k: statistics.median(v) for k, v in times.items()}
                for k, v in medians.items():
                    totals[k] += v
                print(
                    f"{stack_dir.name:32} {len(plan.get('resource_changes', [])):>9} "
                    f"{medians['validate']:>10.2f} {medians['plan']:>8.2f}"
                )
        print(f"{'all stacks':32} {'':>9} {totals['validate']:>10.2f} {totals['plan']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
