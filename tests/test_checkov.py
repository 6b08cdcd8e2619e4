"""checkov, a real security scanner, on every stack of every example and test case, every environment.

Zero failed checks, apart from the documented skips in tests/checkov-baseline.yaml. Stacks are scanned in
four groups (with or without CMEK, production or not), one checkov run each, so a skip applies only where
its scope says. Run with --skip-download (no call to the vendor's API) on the synthesized JSON.
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

pytestmark = pytest.mark.slow  # checkov scans

BASELINE: dict[str, dict[str, Any]] = load_inventory(REPO / "tests" / "checkov-baseline.yaml")["skips"]
GROUPS = [(cmek, env) for cmek in ("cmek", "google-managed") for env in ("production", "non_production")]


def checkov() -> str:
    exe = shutil.which("checkov", path=str(Path(sys.executable).parent)) or shutil.which("checkov")
    assert exe, "checkov is a dev dependency: pip install -e '.[dev]'"
    return exe


def check_id(key: str) -> str:
    """Baseline keys are CHECK or CHECK@scope (production, non_production)."""
    return key.split("@")[0]


def uses_cmek(data: dict[str, Any]) -> bool:
    buckets = data.get("resource", {}).get("google_storage_bucket", {}).values()
    return any("encryption" in body for body in buckets)


@pytest.fixture(scope="module")
def grouped(synthesized: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Every stack, copied one per folder under its group's folder: (cmek, environment class) -> folder."""
    root = tmp_path_factory.mktemp("checkov")
    groups: dict[tuple[str, str], Path] = {}
    for target in synthesized.values():
        for stack in json.loads((target / "manifest.json").read_text())["stacks"]:
            data = read_stack(target, stack)
            group = (
                "cmek" if uses_cmek(data) else "google-managed",
                "production" if stack.endswith("-prod") else "non_production",
            )
            folder = root / "-".join(group) / stack
            folder.mkdir(parents=True)
            shutil.copy(target / "stacks" / stack / "cdk.tf.json", folder / "cdk.tf.json")
            groups[group] = folder.parent
    return groups


def applies(key: str, group: tuple[str, str]) -> bool:
    entry, scope = BASELINE[key], key.partition("@")[2]
    if scope and scope != group[1]:
        return False
    return group[0] == "google-managed" or not entry.get("only_without_cmek")


def skips_for(group: tuple[str, str]) -> list[str]:
    """Checks skipped for the whole group; checks scoped to named resources are filtered after the scan."""
    return sorted({check_id(k) for k, e in BASELINE.items() if "resources" not in e and applies(k, group)})


def unexplained(failed: list[dict[str, Any]], group: tuple[str, str]) -> list[dict[str, Any]]:
    """Failures not covered by a baseline entry scoped to named resources."""

    def covered(f: dict[str, Any]) -> bool:
        return any(
            check_id(k) == f["check_id"]
            and f["resource"].split(".")[-1] in e.get("resources", [])
            and applies(k, group)
            for k, e in BASELINE.items()
        )

    return [f for f in failed if not covered(f)]


def scan(root: Path, skip: list[str], only: list[str] | None = None) -> list[dict[str, Any]]:
    args = [
        checkov(),
        "-d",
        str(root),
        "--framework",
        "terraform_json",
        "--skip-download",
        "--quiet",
        "--compact",
        "-o",
        "json",
    ]
    if skip:
        args += ["--skip-check", ",".join(skip)]
    if only:
        args += ["--check", ",".join(only)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.stdout.strip(), f"checkov printed nothing: {out.stderr[-2000:]}"
    report = json.loads(out.stdout)
    reports = report if isinstance(report, list) else [report]
    assert all(r.get("check_type") == "terraform_json" for r in reports)
    if not only:
        assert sum(r["summary"]["passed"] for r in reports) > 100, "checkov passed almost nothing: did it parse?"
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    return [f for r in reports for f in r["results"].get("failed_checks", [])]


@pytest.mark.parametrize("group", GROUPS, ids=["-".join(g) for g in GROUPS])
def test_every_stack_passes_checkov(group: tuple[str, str], grouped: dict[tuple[str, str], Path]) -> None:
    assert group in grouped, f"no stack in group {group}: the examples and cases must cover every group"
    failed = unexplained(scan(grouped[group], skip=skips_for(group)), group)
    assert not failed, "\n".join(
        f"{f['check_id']} {f['resource']} ({f['file_path']}): {f['check_name']}" for f in failed
    )


def test_every_baseline_entry_is_still_needed_and_compensated(grouped: dict[tuple[str, str], Path]) -> None:
    failing = {(f["check_id"], group) for group, folder in grouped.items() for f in scan(folder, skip=[])}
    for key, entry in BASELINE.items():
        assert len(entry["reason"]) > 80, f"{key}: say why"
        groups = [g for g in grouped if applies(key, g)]
        assert any((check_id(key), g) in failing for g in groups), f"{key} no longer fails: remove it"
        if "requires" not in entry:
            continue
        for group in groups:
            for folder in sorted(grouped[group].iterdir()):
                present = resources(json.loads((folder / "cdk.tf.json").read_text()))
                named = entry.get("resources")
                needs = any(a.split(".")[-1] in named for a in present) if named else True
                if needs:
                    assert entry["requires"] in present, f"{folder.name}: {key} skipped, {entry['requires']} missing"


def test_a_private_endpoint_passes_the_check_the_baseline_skips_for_public_ones(
    synthesized: dict[str, Path], tmp_path: Path
) -> None:
    """CKV2_GCP_33 is skipped only for endpoints without a network: give one and the check passes."""
    data = read_stack(synthesized["examples/fraud-detection/tierstack.yaml"], "fraud-detection-prod")
    folder = tmp_path / "private"
    folder.mkdir()
    (folder / "cdk.tf.json").write_text(json.dumps(data), encoding="utf-8")
    assert [f["check_id"] for f in scan(folder, skip=[], only=["CKV2_GCP_33"])] == ["CKV2_GCP_33"]
    data["resource"]["google_vertex_ai_endpoint"]["model_serving_endpoint"]["network"] = (
        "projects/123456789012/global/networks/ml"
    )
    (folder / "cdk.tf.json").write_text(json.dumps(data), encoding="utf-8")
    assert scan(folder, skip=[], only=["CKV2_GCP_33"]) == []
