"""`tierstack verify` of a fleet of 30 stacks against the fake Vertex AI server: prints figures, asserts nothing.

    python bench/verify_bench.py [--stacks 30] [--latency-ms 50] [--workers 16]

The fleet is the checked-in example stacks (fraud-detection-prod, churn-emea-prod, recommender-prod)
copied under other project ids. The fake (tests/fakes/vertex/, a FAKE of the Vertex AI v1 REST API on
127.0.0.1) answers every request after --latency-ms, standing in for the round trip to
<region>-aiplatform.googleapis.com. The real google-cloud-aiplatform client is used, as in the tests.
Reported: the import of the client library, then verify of the fleet with one worker (the reads one
after another) and with --workers threads. Then, end to end through the CLI: a fleet file of
--stacks / 2 members (two environments each, the churn-fleet example's blueprint) is generated, applied to
the fake, and `tierstack verify FLEET` runs in a fresh process (--skip-cli leaves it out).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fakes.vertex.server import FakeVertex  # noqa: E402
from fakes.vertex.world import fill  # noqa: E402

from tierstack.generator.analysis import verify as checking  # noqa: E402
from tierstack.generator.analysis.verify import live  # noqa: E402

TEMPLATES = [
    ("fraud-detection", "prod", "acme-fraud-prod"),
    ("churn-emea", "prod", "acme-churn-prod"),
    ("recommender", "prod", "acme-recs-prod"),
]


def fleet(count: int) -> list[tuple[str, dict]]:
    stacks = []
    for i in range(count):
        example, env, project = TEMPLATES[i % len(TEMPLATES)]
        text = (REPO / "examples" / example / "cdktf.out" / "stacks" / f"{example}-{env}" / "cdk.tf.json").read_text()
        stacks.append((f"{example}-{env}-{i:02d}", json.loads(text.replace(project, f"bench-{i:02d}-{env}"))))
    return stacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stacks", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--skip-cli", action="store_true", help="leave out the end-to-end run through the CLI")
    args = parser.parse_args()

    start = time.perf_counter()
    with live._quiet():
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform_v1  # noqa: F401  (the import verify pays once)
    imported = time.perf_counter() - start

    fake = FakeVertex(latency=args.latency_ms / 1000).start()
    try:
        expectations = []
        for name, data in fleet(args.stacks):
            fill(fake, data)
            use_case = name.rsplit("-", 2)[0]
            expectations.append(checking.expectation(name, "prod", use_case, data, name))
        resources = sum(len(s.resources) for s in expectations)
        shown = f"{args.stacks} stacks, {resources} Vertex AI resources"
        print(f"{shown}, {args.latency_ms:g} ms a request (fake, 127.0.0.1)")
        print(f"{'import google.cloud.aiplatform_v1':<44}{imported:>8.2f} s")
        for workers in (1, args.workers):
            reader = checking.Reader(AnonymousCredentials(), fake.url)
            fake.max_in_flight = 0
            start = time.perf_counter()
            report = checking.verify(expectations, reader, workers=workers)
            elapsed = time.perf_counter() - start
            assert not report.differences, checking.to_text(report)
            label = f"verify, {workers} worker{'s' if workers != 1 else ''} ({reader.requests} requests)"
            print(f"{label:<44}{elapsed:>8.2f} s   (at most {fake.max_in_flight} in flight)")
        if not args.skip_cli:
            fake.resources.clear()
            cli_fleet(fake, max(1, args.stacks // 2))
    finally:
        fake.stop()


def cli_fleet(fake: FakeVertex, members: int) -> None:
    """generate a fleet file of `members` members, put every stack in the fake, time `tierstack verify`."""
    tierstack = str(Path(sys.executable).parent / "tierstack")
    example = REPO / "examples" / "churn-fleet"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(example / "acme-churn.yaml.j2", folder / "acme-churn.yaml.j2")
        head = (example / "churn.fleet.yaml").read_text().split("members:")[0]
        names = [f"churn-{i:02d}" for i in range(members)]
        (folder / "fleet.yaml").write_text(head + "members:\n" + "".join(f"  - name: {n}\n" for n in names))
        subprocess.run([tierstack, "generate", str(folder / "fleet.yaml")], check=True, capture_output=True)
        for stack in sorted(folder.glob("*/cdktf.out/stacks/*/cdk.tf.json")):
            fill(fake, stack)
        env = {**os.environ, checking.ENDPOINT_ENV: fake.url}
        start = time.perf_counter()
        done = subprocess.run(
            [tierstack, "verify", str(folder / "fleet.yaml"), "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
        )
        elapsed = time.perf_counter() - start
        assert done.returncode == 0, done.stdout + done.stderr
        stacks = len(json.loads(done.stdout)["stacks"])
        label = f"tierstack verify FLEET ({stacks} stacks)"
        print(f"{label:<44}{elapsed:>8.2f} s   (a fresh process: start-up, resolve, reads)")


if __name__ == "__main__":
    main()
