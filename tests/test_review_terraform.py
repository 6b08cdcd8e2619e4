"""`tierstack review` on plans real Terraform makes for this test, against the offline provider stand-in.

The judge is Terraform itself: it decides what a `-refresh-only` plan, a `-target` plan and an in-place
update look like in `terraform show -json`; review must call each what it is. A small stack (a bucket,
a dataset, a table, a key) is applied to the stand-in, then changed the ways that lose data in place.
Drift comes from tests/standin/review_plans.py's wrapper, whose reads report changes made in the console.
And `review --reviewed`: a plan is reviewed, the state or the config drifts before the deploy plans
again, and the comparison refuses (exit 7); a deploy plan identical to the reviewed one passes (exit 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from tierstack.generator import cli
from tierstack.generator.analysis import review as plan_review

BUCKET = "acme-review-losses"
SCHEMA = [{"name": "entity_id", "type": "STRING"}, {"name": "feature_a", "type": "FLOAT"}]


@pytest.fixture(scope="module")
def drifting(terraform: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real terraform, with the stand-in behind the drifting wrapper (no drift unless the env asks)."""
    from standin import mirror, review_plans

    return mirror.Terraform(terraform.binary, review_plans.build_drifting_mirror(tmp_path_factory.mktemp("drifting")))


def stack(
    schema: list[dict[str, str]] = SCHEMA,
    retention: int = 864_000,
    delete_age: int = 30,
    rotation: str = "7776000s",
    label: str = "a",
) -> dict[str, Any]:
    from standin import mirror

    return {
        "terraform": {"required_providers": {"google": {"source": "hashicorp/google", "version": mirror.VERSION}}},
        "provider": {"google": [{"project": "acme-review", "region": "us-central1"}]},
        "resource": {
            "google_storage_bucket": {
                "b": {
                    "name": BUCKET,
                    "location": "US",
                    "labels": {"team": label},
                    "retention_policy": [{"retention_period": retention}],
                    "lifecycle_rule": [{"action": [{"type": "Delete"}], "condition": [{"age": delete_age}]}],
                }
            },
            "google_bigquery_dataset": {
                "d": {"dataset_id": "d", "default_table_expiration_ms": delete_age * 86_400_000}
            },
            "google_bigquery_table": {
                "t": {"dataset_id": "d", "table_id": "t", "deletion_protection": False, "schema": json.dumps(schema)}
            },
            "google_kms_key_ring": {"r": {"name": "r", "location": "us-central1"}},
            "google_kms_crypto_key": {
                "k": {"name": "k", "key_ring": "${google_kms_key_ring.r.id}", "rotation_period": rotation}
            },
        },
    }


def applied(tf: Any, workdir: Path, body: dict[str, Any] | None = None) -> Path:
    from standin import mirror

    workdir.mkdir(parents=True)
    (workdir / "cdk.tf.json").write_text(json.dumps(body or stack()), encoding="utf-8")
    mirror.plan(tf, workdir)
    mirror.apply(tf, workdir)
    return workdir


def replan(tf: Any, workdir: Path, body: dict[str, Any], *extra: str, name: str = "plan.tfplan") -> dict[str, Any]:
    """Plan the new body against the applied state (with -refresh-only, -target...); its JSON."""
    from standin import mirror

    (workdir / "cdk.tf.json").write_text(json.dumps(body), encoding="utf-8")
    mirror.check(
        tf.run("plan", "-input=false", "-no-color", "-lock=false", f"-out={name}", *extra, cwd=workdir), "plan"
    )
    data: dict[str, Any] = json.loads(mirror.check(tf.run("show", "-json", name, cwd=workdir), "show").stdout)
    return data


def reviewed(data: dict[str, Any]) -> plan_review.Review:
    return plan_review.Review((plan_review.review_stack(data, "plan.json"),))


def test_in_place_updates_that_lose_data_need_an_approval(drifting: Any, tmp_path: Path) -> None:
    """A column dropped, a retention shortened, a delete rule tightened, a default expiration lowered, a key's
    rotation changed: Terraform plans each as an update in place; review counts each as data at risk (3)."""
    workdir = applied(drifting, tmp_path / "w")
    changed = stack(schema=SCHEMA[:1], retention=86_400, delete_age=7, rotation="2592000s")
    data = replan(drifting, workdir, changed)
    assert {c["address"]: c["change"]["actions"] for c in data["resource_changes"]} == {
        "google_bigquery_dataset.d": ["update"],
        "google_bigquery_table.t": ["update"],
        "google_kms_crypto_key.k": ["update"],
        "google_kms_key_ring.r": ["no-op"],
        "google_storage_bucket.b": ["update"],
    }
    result = reviewed(data)
    losses = {c.address: c.losses for c in result.stacks[0].changes}
    assert losses["google_bigquery_table.t"] == (
        "schema drops 1 column (feature_a): the values of the dropped columns",
    )
    assert any("retention_period shortened" in loss for loss in losses["google_storage_bucket.b"])
    assert any("lifecycle_rule" in loss for loss in losses["google_storage_bucket.b"])
    assert any("default_table_expiration_ms lowered" in loss for loss in losses["google_bigquery_dataset.d"])
    assert any("rotation_period changed" in loss for loss in losses["google_kms_crypto_key.k"])
    assert result.approval_required and result.verdict().startswith("Approval required: 4 in-place updates")
    (tmp_path / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    out = run("review", str(tmp_path / "plan.json"))
    assert out.exit_code == cli.EXIT_DESTRUCTIVE_CHANGE, out.output
    assert "### Updated in place, losing data" in out.output and "feature\\_a" in out.output

    # adding a column and lengthening the retention lose nothing: no approval
    safe = replan(
        drifting,
        applied(drifting, tmp_path / "safe"),
        stack(schema=[*SCHEMA, {"name": "c", "type": "INT64"}], retention=8_640_000),
    )
    assert not reviewed(safe).approval_required


def test_a_refresh_only_plan_lists_its_drift_and_a_freeze_blocks_it(
    drifting: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from standin import review_plans

    workdir = applied(drifting, tmp_path / "w")
    console = [{"type": "google_storage_bucket", "match": {"name": BUCKET}, "merge": {"labels": {"owner": "alice"}}}]
    monkeypatch.setenv(review_plans.DRIFT_ENV, json.dumps(console))
    data = replan(drifting, workdir, stack(), "-refresh-only")
    assert "resource_changes" not in data and data["resource_drift"], "Terraform's refresh-only shape changed"
    result = reviewed(data)
    stack_review = result.stacks[0]
    assert stack_review.refresh_only and stack_review.has_changes
    (drift,) = stack_review.drift
    assert drift.address == "google_storage_bucket.b"
    assert any(a.path == "labels.owner" and a.after == '"alice"' for a in drift.attributes)
    assert result.verdict().startswith("Refresh only: applying writes 1 change made outside Terraform")
    assert "No changes" not in plan_review.to_markdown(result)

    stack_dir = tmp_path / "uc" / "cdktf.out" / "stacks" / "refresh-prod"
    stack_dir.mkdir(parents=True)
    (stack_dir / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "uc" / "freeze.yaml").write_text(FREEZE, encoding="utf-8")
    out = run(
        "review",
        str(stack_dir / "plan.json"),
        "--config",
        str(tmp_path / "uc" / "freeze.yaml"),
        "--at",
        "2026-11-28T12:00:00Z",
    )
    assert out.exit_code == cli.EXIT_FROZEN, out.output


FREEZE = """\
name: refresh
team: ml-platform
use_case:
  stage: production
  serving: batch
region: us-central1
environments:
  prod:
    project: acme-review-prod
freezes:
  - name: black-friday
    reason: Peak season
    start: 2026-11-27
    end: 2026-11-30
"""


def test_a_targeted_plan_is_incomplete_and_needs_an_approval(drifting: Any, tmp_path: Path) -> None:
    workdir = applied(drifting, tmp_path / "w")
    data = replan(drifting, workdir, stack(label="b", retention=8_640_000), "-target=google_storage_bucket.b")
    assert data["complete"] is False, "Terraform 1.11 writes complete: false for a -target plan"
    result = reviewed(data)
    assert result.stacks[0].incomplete and result.approval_required
    assert "not complete" in result.verdict()
    (tmp_path / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    out = run("review", str(tmp_path / "plan.json"))
    assert out.exit_code == cli.EXIT_DESTRUCTIVE_CHANGE and "Not the whole change" in out.output
    as_json = run("review", str(tmp_path / "plan.json"), "--format", "json")
    assert as_json.exit_code == cli.EXIT_DESTRUCTIVE_CHANGE
    assert json.loads(as_json.stdout)["stacks"][0]["incomplete"]
    as_text = run("review", str(tmp_path / "plan.json"), "--format", "text")
    assert "NOT THE WHOLE CHANGE" in as_text.stdout


def test_the_deploy_refuses_a_plan_that_is_not_the_reviewed_one(drifting: Any, tmp_path: Path) -> None:
    """Review a label change; before the deploy the state drifts (edited) or the config changes: the deploy's
    new plan differs and `review --reviewed` exits 7 naming the differences; the same plan again exits 0."""
    from standin import mirror

    workdir = applied(drifting, tmp_path / "w")
    change = stack(label="b")
    (tmp_path / "reviewed.json").write_text(
        json.dumps(replan(drifting, workdir, change, name="r.tfplan")), encoding="utf-8"
    )

    (tmp_path / "same.json").write_text(
        json.dumps(replan(drifting, workdir, change, name="s.tfplan")), encoding="utf-8"
    )
    same = run("review", "--reviewed", str(tmp_path / "reviewed.json"), str(tmp_path / "same.json"))
    assert same.exit_code == 0, same.output
    assert "The new plans are the reviewed plans" in same.output

    # the state drifts between review and deploy: the key's rotation was changed by hand (and recorded)
    state = json.loads((workdir / "terraform.tfstate").read_text(encoding="utf-8"))
    for resource in state["resources"]:
        if resource["type"] == "google_kms_crypto_key":
            resource["instances"][0]["attributes"]["rotation_period"] = "100000s"
    state["serial"] += 1
    (workdir / "terraform.tfstate").write_text(json.dumps(state), encoding="utf-8")
    (tmp_path / "drifted.json").write_text(
        json.dumps(replan(drifting, workdir, change, name="d.tfplan")), encoding="utf-8"
    )
    refused = run("review", "--reviewed", str(tmp_path / "reviewed.json"), str(tmp_path / "drifted.json"))
    assert refused.exit_code == cli.EXIT_PLAN_CHANGED, refused.output
    assert "google_kms_crypto_key.k: reviewed no change, now update in place" in refused.output

    # the config changes (another merge): an attribute's after value differs
    other = replan(drifting, workdir, stack(label="c"), name="c.tfplan")
    (tmp_path / "other.json").write_text(json.dumps(other), encoding="utf-8")
    refused = run("review", "--reviewed", str(tmp_path / "reviewed.json"), str(tmp_path / "other.json"))
    assert refused.exit_code == cli.EXIT_PLAN_CHANGED, refused.output
    assert 'google_storage_bucket.b: labels.team: reviewed "b", now "c"' in refused.output
    assert mirror  # the stand-in made every plan above
