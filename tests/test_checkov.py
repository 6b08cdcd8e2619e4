"""checkov, a real security scanner, on every production-environment stack.

Zero failed checks, apart from the documented skips in tests/checkov-baseline.yaml.
Run with --skip-download (no call to the vendor's API) on the synthesized JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from synth_support import REPO, load_inventory, read_stack, resources

BASELINE = load_inventory(REPO / "tests" / "checkov-baseline.yaml")["skips"]


def checkov() -> str:
    exe = shutil.which("checkov", path=str(Path(sys.executable).parent)) or shutil.which("checkov")
    assert exe, "checkov is a dev dependency: pip install -e '.[dev]'"
    return exe


@pytest.fixture(scope="module")
def production_stacks(synthesized: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every production-environment stack, copied one per folder, grouped by whether it uses CMEK."""
    root = tmp_path_factory.mktemp("checkov")
    stacks = {}
    for target in synthesized.values():
        for stack in json.loads((target / "manifest.json").read_text())["stacks"]:
            data = read_stack(target, stack)
            if not data["terraform"]["backend"]["gcs"]["prefix"].endswith("-prod"):
                continue
            folder = root / ("cmek" if uses_cmek(data) else "google-managed") / stack
            folder.mkdir(parents=True)
            shutil.copy(target / "stacks" / stack / "cdk.tf.json", folder / "cdk.tf.json")
            stacks[stack] = folder
    return stacks


def uses_cmek(data: dict[str, Any]) -> bool:
    buckets = data.get("resource", {}).get("google_storage_bucket", {}).values()
    return any("encryption" in body for body in buckets)


def skips_for(group: str) -> list[str]:
    """Checks skipped for the whole group; checks scoped to named resources are filtered after the scan."""
    return sorted(c for c, e in BASELINE.items() if "resources" not in e
                  and (group == "google-managed" or not e.get("only_without_cmek")))


def unexplained(failed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failures not covered by a baseline entry scoped to named resources."""
    def covered(f: dict[str, Any]) -> bool:
        entry = BASELINE.get(f["check_id"], {})
        return f["resource"].split(".")[-1] in entry.get("resources", [])
    return [f for f in failed if not covered(f)]


def scan(root: Path, skip: list[str]) -> list[dict[str, Any]]:
    args = [checkov(), "-d", str(root), "--framework", "terraform_json", "--skip-download", "--quiet",
            "--compact", "-o", "json"]
    if skip:
        args += ["--skip-check", ",".join(skip)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.stdout.strip(), f"checkov printed nothing: {out.stderr[-2000:]}"
    report = json.loads(out.stdout)
    reports = report if isinstance(report, list) else [report]
    assert all(r.get("check_type") == "terraform_json" for r in reports)
    assert sum(r["summary"]["passed"] for r in reports) > 100, "checkov passed almost nothing: did it parse?"
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    return [f for r in reports for f in r["results"].get("failed_checks", [])]


@pytest.mark.parametrize("group", ["cmek", "google-managed"])
def test_production_stacks_pass_checkov(group: str, production_stacks: dict[str, Path]) -> None:
    folders = {s: f for s, f in production_stacks.items() if f.parent.name == group}
    expected = {"cmek": {"fraud-detection-prod", "churn-emea-prod", "tier1-online-prod"},
                "google-managed": {"recommender-prod", "tier2-cicd-prod"}}[group]
    assert expected <= set(folders)
    failed = unexplained(scan(next(iter(folders.values())).parent, skip=skips_for(group)))
    assert not failed, "\n".join(f"{f['check_id']} {f['resource']} ({f['file_path']}): {f['check_name']}"
                                 for f in failed)


def test_every_baseline_entry_is_still_needed_and_compensated(production_stacks: dict[str, Path]) -> None:
    root = next(iter(production_stacks.values())).parent.parent
    failing = {f["check_id"] for f in scan(root, skip=[])}
    assert set(BASELINE) <= failing, f"no longer failing, remove from the baseline: {set(BASELINE) - failing}"
    for check, entry in BASELINE.items():
        assert len(entry["reason"]) > 80, f"{check}: say why"
        if "requires" not in entry:
            continue
        for stack, folder in production_stacks.items():
            present = resources(json.loads((folder / "cdk.tf.json").read_text()))
            kind = entry["requires"].split(".")[0]
            if "resources" in entry:  # scoped: compensated wherever a named resource is
                if any(a.split(".")[-1] in entry["resources"] for a in present):
                    assert entry["requires"] in present, f"{stack}: {check} scoped but {entry['requires']} missing"
                continue
            if any(a.startswith(kind) for a in present) or check == "CKV_GCP_62":
                assert entry["requires"] in present, f"{stack}: {check} is skipped but {entry['requires']} is missing"
