"""`tierstack verify` of a fleet of 30 stacks against the fake Vertex AI server: prints figures, asserts nothing.

    python bench/verify_bench.py [--stacks 30] [--latency-ms 50] [--workers 16]

The fleet is the checked-in example stacks (fraud-detection-prod, churn-emea-prod, recommender-prod)
copied under other project ids. The fake (tests/fakes/vertex/, a FAKE of the Vertex AI v1 REST API on
127.0.0.1) answers every request after --latency-ms, standing in for the round trip to
<region>-aiplatform.googleapis.com. The real google-cloud-aiplatform client is used, as in the tests.
Reported: the import of the client library, then verify of the fleet with one worker (the reads one
after another) and with --workers threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fakes.vertex.server import FakeVertex  # noqa: E402
from fakes.vertex.world import fill  # noqa: E402

from tierstack.generator import verify as checking  # noqa: E402

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
    args = parser.parse_args()

    start = time.perf_counter()
    with checking._quiet():
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
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
