"""`tierstack cost --diff`: a plan's monthly cost change per stack and capability, judged on real plans.

The plans are `terraform show -json` output of real Terraform (tests/fixtures/review/, made by
tests/standin/review_plans.py; tests/fixtures/plans/, one per example stack). The expected figures are
worked out here from the plan's own resource values and generator/data/prices.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run
from tierstack.generator.analysis import cost, price_catalog, review
from tierstack.generator.core.yamlio import load_file, to_plain

REVIEW = REPO / "tests" / "fixtures" / "review"
PLANS = REPO / "tests" / "fixtures" / "plans"
TABLE = to_plain(load_file(REPO / "generator" / "data" / "prices.yaml"))


@pytest.fixture(autouse=True)
def no_google_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--prices auto (the default) reads the Cloud Billing Catalog when it finds credentials: here it finds
    none, whatever the machine running the tests has, so every figure is the shipped table's."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", price_catalog.ENDPOINT_ENV, price_catalog.MAX_AGE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


def diff_json(*plans: Path | str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    result = run("cost", "--diff", *map(str, plans), "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["prices"]["origin"].startswith("the shipped table")
    return data


def diff_text(*plans: Path | str) -> str:
    result = run("cost", "--diff", *map(str, plans))
    assert result.exit_code == 0, result.output
    return result.stdout


def price(item: str, key: str, region: str) -> float:
    (entry,) = [p for p in TABLE["prices"] if (p["item"], p["key"], p["region"]) == (item, key, region)]
    return float(entry["price"])


def changes(plan: Path, resource_type: str, action: str) -> list[dict[str, Any]]:
    data = json.loads(plan.read_text(encoding="utf-8"))
    return [c for c in data["resource_changes"] if c["type"] == resource_type and c["change"]["actions"] == [action]]


def capability(stack: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in stack["capabilities"] if c["capability"] == name]
    return found


def test_a_plan_that_adds_a_capability_shows_its_cost_under_it() -> None:
    """add-capability: feature_repository added to the config; the plan creates its Optimized online store."""
    plan = REVIEW / "add-capability.json"
    (store,) = changes(plan, "google_vertex_ai_feature_online_store", "create")
    after = store["change"]["after"]
    assert after["optimized"] and not after.get("bigtable") and after["region"] == "us-central1"
    hours = TABLE["assumptions"]["hours_per_month"]
    nodes = TABLE["assumptions"]["feature_store_optimized_nodes"]
    node_month = nodes * hours * price("feature_store_optimized_node", "node", "us-central1")
    (bucket,) = changes(plan, "google_storage_bucket", "create")  # Dataflow's bucket: the second capability added
    bucket_month = TABLE["assumptions"]["bucket_gb"] * price("cloud_storage_standard", "standard", "us-central1")
    assert bucket["change"]["after"]["location"] == "US-CENTRAL1"

    (stack,) = diff_json(plan)["stacks"]
    assert stack["stack"] == "review-case-prod" and stack["plan"] == str(plan) and stack["region"] == "us-central1"
    features = capability(stack, "feature_repository")
    assert features["before"] == 0.0 and features["changed"]
    assert features["after"] == pytest.approx(node_month, abs=0.01)
    assert features["change"] == pytest.approx(node_month, abs=0.01)
    assert capability(stack, "data_processing")["change"] == pytest.approx(bucket_month, abs=0.01)
    assert stack["change"] == pytest.approx(node_month + bucket_month, abs=0.01)
    unchanged = [c for c in stack["capabilities"] if c["capability"] not in ("feature_repository", "data_processing")]
    assert unchanged and all(c["change"] == 0.0 and not c["changed"] for c in unchanged)
    text = diff_text(plan)
    row = next(line for line in text.splitlines() if line.strip().startswith("feature_repository"))
    assert row.split() == ["feature_repository", "0.00", f"{node_month:,.2f}", f"+{node_month:,.2f}"]


@pytest.mark.parametrize("name", ["update-labels-dev", "update-labels-prod"])
def test_a_plan_that_only_changes_labels_changes_no_cost(name: str) -> None:
    """`labels: {cost-center: ...}` added: four resources updated in their labels only, the TensorBoard and the
    Workbench instance among them, which the table cannot price; a label bills nothing, so none is listed."""
    plan = REVIEW / f"{name}.json"
    updated = changes(plan, "google_workbench_instance", "update") + changes(
        plan, "google_vertex_ai_tensorboard", "update"
    )
    assert len(updated) == 2
    for change in updated:
        before, after = change["change"]["before"], change["change"]["after"]
        assert {k for k in set(before) | set(after) if before.get(k) != after.get(k)} <= {
            "labels",
            "effective_labels",
            "terraform_labels",
        }
    data = diff_json(plan)
    (stack,) = data["stacks"]
    assert stack["change"] == 0.0 and stack["before"] == stack["after"] > 0
    assert stack["resources"] == [] and stack["not_priced"] == 0 and data["not_priced"] == 0
    assert all(not c["changed"] and c["change"] == 0.0 for c in stack["capabilities"])
    text = diff_text(plan)
    assert f"no change to the monthly cost: USD {stack['before']:,.2f} a month before and after" in text
    assert "not priced" not in text.split("\n\n", 1)[1].split("all plans:")[0]  # below the heading


def test_an_unpriced_created_resource_is_listed_never_zero() -> None:
    """create: the prod stack on an empty state; its TensorBoard and Workbench instance have no price."""
    plan = REVIEW / "create.json"
    created = {c["address"] for c in changes(plan, "google_vertex_ai_tensorboard", "create")} | {
        c["address"] for c in changes(plan, "google_workbench_instance", "create")
    }
    assert len(created) == 2
    (stack,) = diff_json(plan)["stacks"]
    unpriced = {r["address"]: r for r in stack["resources"] if "not_priced" in r}
    assert set(unpriced) == created
    excluded = cost.load_prices().excluded
    for address, resource in unpriced.items():
        assert resource["after"] is None and resource["change"] is None and resource["present_after"]
        assert resource["not_priced"] == excluded[address.split(".")[0]] and resource["action"] == "create"
    experimentation = capability(stack, "experimentation")
    assert experimentation["after"] is None and experimentation["change"] is None  # not priced, never 0.00
    assert experimentation["not_priced"] == 2 and stack["not_priced"] == 2
    text = diff_text(plan)
    row = next(line for line in text.splitlines() if line.strip().startswith("experimentation "))
    assert row.split() == ["experimentation", "0.00", "not", "priced", "not", "priced", "2"]
    for address in created:
        line = next(x for x in text.splitlines() if address in x)
        assert line.strip().startswith(f"experimentation: {address}, create: ")
        assert line.endswith(excluded[address.split(".")[0]])


def test_a_region_the_table_lacks_is_not_priced_per_capability() -> None:
    """fraud-detection-prod (europe-west4): the deployment pool has no price there; model_serving says so."""
    plan = PLANS / "fraud-detection-prod.json"
    (pool,) = changes(plan, "google_vertex_ai_deployment_resource_pool", "create")
    (stack,) = diff_json(plan)["stacks"]
    serving = capability(stack, "model_serving")
    assert serving["after"] is None and serving["change"] is None and serving["not_priced"] == 1
    (listed,) = [r for r in stack["resources"] if r["address"] == pool["address"]]
    assert listed["not_priced"] == "n1-standard-4 prediction nodes in europe-west4: not in the price table"


def test_the_figures_are_the_reviews() -> None:
    """`cost --diff` and `tierstack review` price a plan alike: the same stack totals, the same resources listed."""
    for plan in [*sorted(REVIEW.glob("*.json")), PLANS / "recommender-prod.json"]:
        data = review.load_plan(str(plan))
        expected = review.stack_cost(data)
        (stack,) = diff_json(plan)["stacks"]
        assert (stack["before"], stack["after"]) == (round(expected.before, 2), round(expected.after, 2)), plan.name
        assert {r["address"] for r in stack["resources"]} == {c.address for c in expected.changes}, plan.name
        priced = sum(c["change"] or 0.0 for c in stack["capabilities"])
        assert priced == pytest.approx(stack["change"], abs=0.02), plan.name


def test_several_plans_and_standard_input() -> None:
    data = diff_json(REVIEW / "add-capability.json", REVIEW / "update-labels-dev.json")
    assert [s["stack"] for s in data["stacks"]] == ["review-case-prod", "review-case-dev"]
    assert data["change"] == pytest.approx(sum(s["change"] for s in data["stacks"]), abs=0.01)
    assert data["before"] == pytest.approx(sum(s["before"] for s in data["stacks"]), abs=0.01)
    text = REVIEW.joinpath("create.json").read_text(encoding="utf-8")
    result = run("cost", "--diff", "-", "--format", "json", input=text)
    assert result.exit_code == 0, result.output
    (stack,) = json.loads(result.stdout)["stacks"]
    assert stack["stack"] == "review-case-prod" and stack["plan"] == "<stdin>"
    yaml_out = run("cost", "--diff", str(REVIEW / "create.json"), "--format", "yaml")
    assert yaml_out.exit_code == 0 and "not_priced: billed per GB" in yaml_out.stdout


def test_two_plans_of_one_stack_are_refused() -> None:
    result = run("cost", "--diff", str(REVIEW / "create.json"), str(REVIEW / "add-capability.json"))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "are both plans of stack review-case-prod" in result.stderr and "counted twice" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--diff",), "--diff prices plans: give one or more"),
        (("--diff", "p.json", "--env", "prod"), "--env is for a config's stacks"),
        (("a.yaml", "b.yaml"), "cost reads one config, and 2 paths were given; to price plans, add --diff"),
        (("-",), "cost reads a config file, not standard input"),
        (("--diff", "missing.json"), "missing.json: no such file"),
        (("--diff", "README.md"), "README.md: this is not JSON"),
    ],
)
def test_bad_input_is_exit_2_with_the_fix(
    args: tuple[str, ...], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    result = run("cost", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and expected in result.stderr, result.stderr


def test_a_plan_of_another_format_is_refused(tmp_path: Path) -> None:
    """A plan without resource changes' before/after (not `terraform show -json`) is the review reader's error."""
    plan = tmp_path / "old.json"
    plan.write_text(json.dumps({"format_version": "0.1", "resource_changes": []}), encoding="utf-8")
    result = run("cost", "--diff", str(plan))
    assert result.exit_code == 2 and "Traceback" not in result.output and str(plan) in result.stderr
