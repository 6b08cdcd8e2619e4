"""`tierstack review`, judged on real plans: tests/fixtures/review/ (tests/standin/review_plans.py made them).

Each fixture is the `terraform show -json` of a real plan against the offline stand-in, beside
Terraform's own rendering of the same plan (`<scenario>.txt`). The counts, moves, forgets and
drift tierstack reports are held against Terraform's rendering, a judge tierstack did not write;
the verdicts and exit codes against what each scenario did to the stack.

What the stand-in cannot plan, and where these plans get it (tests/standin/review_plans.py):
imports come from Terraform's built-in `terraform_data` (the stand-in refuses ImportResourceState,
there is no cloud behind it), and drift from the stand-in run behind a wrapper whose reads report
changes made in the console (its own refresh returns the state unchanged, so it never drifts).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, run
from refresh import review_markdown, review_plans
from tierstack.generator.analysis import cost, review
from tierstack.generator.core.errors import UserError

FIXTURES = REPO / "tests" / "fixtures" / "review"
SCENARIOS = sorted(p.stem for p in FIXTURES.glob("*.json"))
PLANS = REPO / "tests" / "fixtures" / "plans"  # terraform show -json of each example's stacks, created from nothing
POOL = "google_vertex_ai_deployment_resource_pool.model_serving_deployment_pool"
BUCKET = "google_storage_bucket.model_serving_predictions_bucket"
DATASET = "google_bigquery_dataset.model_serving_predictions_dataset"


def plan(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def reviewed(*names: str) -> review.Review:
    return review.Review(tuple(review.review_stack(plan(n), f"{n}.json") for n in names))


def terraform_says(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")


def test_every_scenario_is_there() -> None:
    expected = {
        "create",
        "update-labels-prod",
        "update-labels-dev",
        "replace-stateful",
        "delete-capability",
        "add-capability",
        "rename-stack",
        "move",
        "forget",
        "drift",
        "terraform-data",
    }
    assert set(SCENARIOS) == expected
    assert all((FIXTURES / f"{n}.txt").is_file() for n in SCENARIOS)
    for name in SCENARIOS:  # real Terraform wrote them, in the format review reads
        data = plan(name)
        assert data["format_version"] == "1.2" and data["terraform_version"].startswith("1."), name


# --- against Terraform's own rendering ------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_counts_agree_with_terraforms_plan_line(name: str) -> None:
    """Terraform's `Plan: [I to import, ]A to add, C to change, D to destroy.`: a replacement adds and destroys."""
    match = re.search(
        r"Plan: (?:(\d+) to import, )?(\d+) to add, (\d+) to change, (\d+) to destroy\.", terraform_says(name)
    )
    assert match, name
    imports, add, change, destroy = (int(g or 0) for g in match.groups())
    counts = reviewed(name).counts
    assert (
        counts["import"],
        counts["create"] + counts["replace"],
        counts["update"],
        counts["delete"] + counts["replace"],
    ) == (
        imports,
        add,
        change,
        destroy,
    )


@pytest.mark.parametrize("name", SCENARIOS)
def test_moves_and_forgets_agree_with_terraform(name: str) -> None:
    text = terraform_says(name)
    moved = set(re.findall(r"# (\S+) has moved to (\S+)", text))
    forgotten = set(re.findall(r"# (\S+) will no longer be managed by Terraform", text))
    stack = reviewed(name).stacks[0]
    assert {(c.previous_address, c.address) for c in stack.changes if c.moved} == moved
    assert {c.address for c in stack.changes if "forget" in c.counted} == forgotten


@pytest.mark.parametrize("name", SCENARIOS)
def test_drift_is_what_terraform_shows(name: str) -> None:
    """Terraform lists under 'Objects have changed outside of Terraform' only drift in relevant_attributes."""
    shown = set(re.findall(r"# (\S+) has changed\n", terraform_says(name)))
    assert {d.address for d in reviewed(name).stacks[0].drift} == shown


def test_drift_is_filtered_by_relevant_attributes() -> None:
    """Two resources drifted; the plan depends on one (an output reads the TensorBoard's id), not on the other
    (nothing reads the bucket's labels)."""
    data = plan("drift")
    assert {d["address"] for d in data["resource_drift"]} == {
        BUCKET,
        "google_vertex_ai_tensorboard.experimentation_tensorboard",
    }
    stack = reviewed("drift").stacks[0]
    assert [d.address for d in stack.drift] == ["google_vertex_ai_tensorboard.experimentation_tensorboard"]
    assert [a.path for a in stack.drift[0].attributes] == ["id"]
    assert stack.drift_not_relevant == 1
    assert stack.counts["update"] == 1  # the bucket's console label is undone, as a planned change
    markdown = review.to_markdown(reviewed("drift"))
    assert "Changed outside Terraform" in markdown and "owner" not in markdown.split("<details>")[0]


# --- what each scenario did ---------------------------------------------------------------------


def test_creates_only() -> None:
    result = reviewed("create")
    assert result.counts == {**dict.fromkeys(review.COUNTED, 0), "create": 30}
    assert not result.destructive and not result.approval_required
    assert result.verdict() == "No resource is destroyed (30 to create)"


def test_label_only_updates_exit_0() -> None:
    result = run("review", str(FIXTURES / "update-labels-prod.json"), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"]["update"] == 4 and sum(data["counts"].values()) == 4
    assert data["approval_required"] is False
    paths = {a["path"] for c in data["stacks"][0]["changes"] for a in c["attributes"]}
    assert paths == {"labels.cost-center", "effective_labels.cost-center", "terraform_labels.cost-center"}


def test_a_stateful_replace_exits_3_and_names_the_data_at_risk() -> None:
    result = run("review", str(FIXTURES / "replace-stateful.json"))
    assert result.exit_code == 3, result.output
    assert result.output.splitlines()[2].startswith("**Approval required: 2 stateful resources")
    rows = [line for line in result.output.splitlines() if line.startswith("| **high**")]
    assert len(rows) == 2, result.output
    bucket_row = next(r for r in rows if f"`{BUCKET}`" in r)
    assert "replace (destroy, then create)" in bucket_row
    assert "an argument cannot be updated in place" in bucket_row  # replace_because_cannot_update
    assert bucket_row.endswith("| `location` |")  # replace_paths
    assert "the objects in the bucket" in bucket_row


def test_removing_a_capability_deletes_its_notebook_and_tensorboard() -> None:
    result = reviewed("delete-capability")
    assert result.counts["delete"] == 7
    assert {c.address for _, c in result.destructive if c.data_at_risk} == {
        "google_vertex_ai_tensorboard.experimentation_tensorboard",
        "google_workbench_instance.experimentation_workbench",
    }
    assert all(c.action_reason == "delete_because_no_resource_config" for _, c in result.destructive)
    assert run("review", str(FIXTURES / "delete-capability.json")).exit_code == 3


def test_a_move_is_rendered_previous_arrow_new_and_is_not_destructive() -> None:
    result = run("review", str(FIXTURES / "move.json"))
    assert result.exit_code == 0, result.output
    assert (
        f"- `{BUCKET}` → `google_storage_bucket.model_serving_batch_output_bucket` (`review-case-prod`)"
        in result.output
    )
    assert reviewed("move").counts == {**dict.fromkeys(review.COUNTED, 0), "move": 1}


def test_a_removed_block_forgets_without_destroying() -> None:
    result = reviewed("forget")
    assert result.counts == {**dict.fromkeys(review.COUNTED, 0), "forget": 1}
    assert not result.destructive
    assert [(o.name, o.kind) for o in result.stacks[0].outputs] == [("experimentation_tensorboard", "delete")]


def test_terraform_data_import_forget_and_both_replacement_orders() -> None:
    stack = reviewed("terraform-data").stacks[0]
    by_address = {c.address: c for c in stack.changes}
    assert by_address["terraform_data.adopted"].import_id == "adopted-7f3a"
    assert by_address["terraform_data.rebuilt"].actions == ("delete", "create")
    assert by_address["terraform_data.rolled"].actions == ("create", "delete")
    assert by_address["terraform_data.rolled"].replace_paths == ("triggers_replace",)
    assert by_address["terraform_data.handed_over"].kind == "forget"
    assert by_address["terraform_data.retired"].kind == "delete"
    assert stack.counts == {"create": 0, "update": 1, "replace": 2, "delete": 1, "import": 1, "move": 0, "forget": 1}
    assert stack.stack == "terraform-data"  # no tierstack labels: the file's name
    result = run("review", str(FIXTURES / "terraform-data.json"), "--format", "text")
    assert result.exit_code == 0, result.output  # destructive, but terraform_data holds no data
    assert result.output.startswith("Destructive: 3 resources would be destroyed or replaced, none holds data")


def test_no_changes() -> None:
    data = plan("update-labels-prod")
    for change in data["resource_changes"]:
        change["change"]["actions"] = ["no-op"]
    result = review.Review((review.review_stack(data, "x.json"),))
    assert result.verdict() == "No changes: applying these plans changes nothing"


# --- grouping, formats --------------------------------------------------------------------------


def test_grouped_per_stack_and_capability() -> None:
    result = reviewed("update-labels-prod", "update-labels-dev")
    assert [(s.stack, s.environment) for s in result.stacks] == [
        ("review-case-prod", "prod"),
        ("review-case-dev", "dev"),
    ]
    groups = {(stack, cap): n["update"] for stack, cap, n in review.by_capability(result)}
    assert groups == {
        ("review-case-prod", "experimentation"): 2,
        ("review-case-prod", "model_serving"): 2,
        ("review-case-dev", "experimentation"): 2,
        ("review-case-dev", "model_serving"): 2,
    }
    markdown = review.to_markdown(result)
    assert "| **total** |  | **0** | **8** |" in markdown


def test_unlabelled_resources_group_by_their_address() -> None:
    """IAM members and service accounts carry no labels: `<type>.<capability>_<name>` says whose they are."""
    changes = {c.address: c.capability for c in reviewed("create").stacks[0].changes}
    assert changes["google_bigquery_dataset_iam_member.model_serving_predictions_dataset_serving_dataeditor"] == (
        "model_serving"
    )
    assert changes["google_service_account.foundation_serving_sa"] == "foundation"
    assert changes["google_compute_firewall.experimentation_deny_ingress"] == "experimentation"
    assert "other" not in changes.values()


def test_markdown_collapses_the_details() -> None:
    markdown = review.to_markdown(reviewed("replace-stateful"))
    assert markdown.count("<details>") == 2 and markdown.count("</details>") == 2
    summaries = re.findall(r"<summary>(.*)</summary>", markdown)
    assert summaries == ["What the estimate leaves out", "All changes in review-case-prod: 2 to replace"]
    details = markdown.split("<details>")[2]
    assert '- `location`: `"US-CENTRAL1"` → `"EU"`' in details
    assert "computed attributes known after apply" in details


def test_a_comment_too_long_for_github_leaves_out_details_and_says_which() -> None:
    many = tuple(review.review_stack(plan("create"), f"create{i}.json") for i in range(40))
    markdown = review.to_markdown(review.Review(many))
    assert len(markdown) <= review.MAX_MARKDOWN
    assert markdown.startswith("## tierstack review\n\n**No resource is destroyed")
    assert "Left out to fit GitHub's comment limit: the details of review-case-prod" in markdown


def test_a_huge_destructive_plan_still_fits_a_comment() -> None:
    """10,000 deletes (the delete-capability plan's, under new addresses): the lists are cut, not the verdict."""
    data = plan("delete-capability")
    deletes = [c for c in data["resource_changes"] if c["change"]["actions"] == ["delete"]]
    data["resource_changes"] = [
        {**c, "address": f"{c['address']}_{i}", "name": f"{c['name']}_{i}"} for i in range(1430) for c in deletes
    ][:10_000]
    result = review.Review((review.review_stack(data, "big.json"),))
    markdown = review.to_markdown(result)
    assert len(markdown) <= review.MAX_MARKDOWN
    assert result.counts["delete"] == 10_000 and "10000 to destroy" in markdown
    assert f"- and {10_000 - review.SHORT_LIST} more" in markdown
    assert markdown.count("| **high**") + markdown.count("| low:") == review.SHORT_LIST


def test_plan_values_cannot_write_html_links_or_mentions_into_the_comment() -> None:
    data = plan("forget")
    data["output_changes"]["experimentation_tensorboard"]["before"] = "</details><img src=x onerror=alert(1)> @acme/all"
    forgotten = next(c for c in data["resource_changes"] if c["change"]["actions"] == ["forget"])
    forgotten["address"] = "google_x.a|b`c"
    data["configuration"]["provider_config"]["google"]["expressions"]["default_labels"]["constant_value"][
        "environment"
    ] = "<b>@everyone</b> [x](https://evil.example)"
    markdown = review.to_markdown(review.Review((review.review_stack(data, "plan.json"),)))
    outside_code = re.sub(r"(`+).+?\1", "", markdown)
    assert set(re.findall(r"</?([a-z]+)", outside_code)) == {"details", "summary"}
    assert "@everyone" not in outside_code and "@\u2060everyone" in outside_code
    assert "](" not in outside_code.replace("\\]", "")
    assert "a\\|b" in markdown  # a table cell's pipe, escaped inside its code span


def test_json_and_text_formats() -> None:
    result = run("review", str(FIXTURES / "terraform-data.json"), str(FIXTURES / "move.json"), "--format", "json")
    data = json.loads(result.output)
    assert [s["stack"] for s in data["stacks"]] == ["terraform-data", "review-case-prod"]
    assert data["counts"]["move"] == 1 and data["counts"]["import"] == 1
    assert data["freeze"]["unchecked"] == ["terraform-data", "review-case-prod"]
    text = run("review", str(FIXTURES / "replace-stateful.json"), "--format", "text").output
    assert "DATA AT RISK: every table in the dataset" in text
    assert 'location: "us-central1" -> "EU"' in text


def test_a_plan_read_from_stdin() -> None:
    result = run("review", "-", "--format", "text", input=(FIXTURES / "move.json").read_text(encoding="utf-8"))
    assert result.exit_code == 0, result.output
    assert "1 to move" in result.output


# --- the estimated monthly cost change (generator/analysis/cost.py's price table) ------------------------


SUBSCRIPTION = "google_pubsub_subscription.cost_controls_budget_subscription"


def example_plan(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PLANS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def table_price(item: str, key: str, region: str) -> float:
    """A price read straight from generator/data/prices.yaml, not through generator/analysis/cost.py."""
    table = yaml.safe_load((REPO / "generator" / "data" / "prices.yaml").read_text(encoding="utf-8"))
    (entry,) = [p for p in table["prices"] if (p["item"], p["key"], p["region"]) == (item, key, region)]
    return float(entry["price"])


def assumption(name: str) -> float:
    table = yaml.safe_load((REPO / "generator" / "data" / "prices.yaml").read_text(encoding="utf-8"))
    return float(table["assumptions"][name])


def test_a_created_deployment_pool_costs_what_the_price_table_says() -> None:
    """tier1-online-dev creates, in us-central1, a deployment pool at 1 n1-standard-4 node (min replicas) and
    three buckets: the delta is recomputed here from prices.yaml and the plan's own values."""
    data = example_plan("tier1-online-dev")
    pool = next(c for c in data["resource_changes"] if c["address"] == POOL)["change"]["after"]
    spec = pool["dedicated_resources"][0]
    assert data["configuration"]["provider_config"]["google"]["expressions"]["region"]["constant_value"] == (
        "us-central1"
    )
    hours = assumption("hours_per_month")
    pool_monthly = (
        spec["min_replica_count"]
        * hours
        * table_price("vertex_prediction_machine", spec["machine_spec"][0]["machine_type"], "us-central1")
    )
    buckets = [c for c in data["resource_changes"] if c["type"] == "google_storage_bucket"]
    assert {b["change"]["after"]["location"] for b in buckets} == {"US-CENTRAL1"}
    bucket_monthly = assumption("bucket_gb") * table_price("cloud_storage_standard", "standard", "us-central1")
    expected = pool_monthly + len(buckets) * bucket_monthly
    assert pool_monthly == pytest.approx(159.78, abs=0.01)  # 0.219 USD a node hour × 729.6 h

    stack = review.review_stack(data, "tier1-online-dev.json")
    assert stack.cost is not None and stack.cost.shown
    assert stack.cost.delta == pytest.approx(expected)
    assert stack.cost.delta == pytest.approx(cost.plan_cost_delta(data).delta)  # what cost.py computes
    # the budget's Pub/Sub subscription bills by message: left out of the table on purpose, so not priced
    assert stack.cost.before == 0
    assert [c.address for c in stack.cost.not_priced] == [SUBSCRIPTION]
    by_address = {c.address: c for c in stack.cost.changes}
    assert by_address[POOL].delta == pytest.approx(pool_monthly)
    assert (by_address[POOL].action, by_address[POOL].present_before) == ("create", False)

    markdown = review.to_markdown(review.Review((stack,)))
    section = markdown.split("### Estimated monthly cost (USD)")[1].split("### By capability")[0]
    assert f"| `tier1-online-dev` | 0.00 | {expected:,.2f} | **+{expected:,.2f}** | 1 |" in section
    assert f"| `tier1-online-dev` | `{POOL}` | create | — | {pool_monthly:,.2f} | +{pool_monthly:,.2f} |" in section
    assert "An estimate, not a quote: on-demand list prices in USD from `generator/data/prices.yaml`" in section
    assert "729.6 h a month" in section and "each bucket holds 50 GB" in section
    assert "What the estimate leaves out" in section and "network egress" in section


def test_a_created_feature_store_and_the_json_and_text_formats(tmp_path: Path) -> None:
    """recommender-prod, its online store made Optimized (priced: 1 node × 0.30 × 729.6 h in us-central1)."""
    source = example_plan("recommender-prod")
    for change in source["resource_changes"]:
        if change["type"] == "google_vertex_ai_feature_online_store":
            change["change"]["after"].update(bigtable=[], optimized=[{}])
    optimized = tmp_path / "recommender-prod.json"
    optimized.write_text(json.dumps(source), encoding="utf-8")
    result = run("review", str(optimized), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    store = assumption("feature_store_optimized_nodes") * assumption("hours_per_month")
    store *= table_price("feature_store_optimized_node", "node", "us-central1")
    (stack,) = data["stacks"]
    changes = {c["address"]: c for c in stack["cost"]["resources"]}
    online = changes["google_vertex_ai_feature_online_store.feature_repository_online_store"]
    assert online["delta"] == round(store, 2) and online["capability"] == "feature_repository"
    assert stack["cost"]["delta"] == round(cost.plan_cost_delta(source).delta, 2)
    metadata = changes["google_vertex_ai_metadata_store.metadata_tracking_store"]
    assert metadata["delta"] is None and "metadata stored" in metadata["not_priced"]
    total = data["cost"]
    assert total["estimate"] is True and total["currency"] == "USD" and total["delta"] == stack["cost"]["delta"]
    assert total["not_priced"] == 2 and total["prices"] == "generator/data/prices.yaml"
    assert total["assumptions"]["hours_per_month"] == 729.6 and total["leaves_out"]

    text = run("review", str(optimized), "--format", "text").output
    assert f"estimated monthly cost (USD): 0.00 -> {stack['cost']['after']:,.2f}" in text
    assert f"+{store:,.2f}  google_vertex_ai_feature_online_store.feature_repository_online_store: create" in text
    assert "not priced  google_vertex_ai_metadata_store.metadata_tracking_store: create" in text
    assert "An estimate, not a quote" in text and "It leaves out:" in text


@pytest.mark.parametrize("name", ["update-labels-prod", "update-labels-dev", "drift", "move", "forget"])
def test_no_cost_section_when_nothing_priced_changes(name: str) -> None:
    """Labels, a console label undone, a move, a forgotten TensorBoard (it keeps running): no bill changes, and
    the resources the table cannot price (the TensorBoard, the notebook) are not listed for a label change."""
    stack = reviewed(name).stacks[0]
    assert stack.cost is not None and not stack.cost.shown
    assert "Estimated monthly cost" not in review.to_markdown(reviewed(name))
    assert "estimated monthly cost" not in review.to_text(reviewed(name))
    data = json.loads(run("review", str(FIXTURES / f"{name}.json"), "--format", "json").output)
    assert data["cost"] is None and data["stacks"][0]["cost"] is None


def test_label_only_updates_of_unpriced_resources_are_not_listed() -> None:
    """The same plan with the notebook's machine type changed too: now its cost may change, so it is listed."""
    data = plan("update-labels-prod")
    workbench = next(c for c in data["resource_changes"] if c["type"] == "google_workbench_instance")
    assert review.stack_cost(data).changes == ()
    workbench["change"]["after"]["gce_setup"][0]["machine_type"] = "n1-standard-8"
    (listed,) = review.stack_cost(data).changes
    assert listed.address == workbench["address"] and "Compute Engine VM" in (listed.not_priced or "")


def test_destroying_unpriced_resources_lists_them_and_not_terraform_data() -> None:
    deleted = reviewed("delete-capability").stacks[0].cost
    assert deleted is not None and deleted.delta == 0
    assert {(c.address, c.action) for c in deleted.not_priced} == {
        ("google_vertex_ai_tensorboard.experimentation_tensorboard", "destroy"),
        ("google_workbench_instance.experimentation_workbench", "destroy"),
    }
    builtin = reviewed("terraform-data").stacks[0].cost  # Terraform's own resources: nobody bills them
    assert builtin is not None and not builtin.shown


def test_a_replacement_the_table_cannot_price_after_compares_like_with_like() -> None:
    """The bucket moves to the EU, which the table has no price for: cost.py's totals drop its 1.00 (a saving
    that is not one); the review leaves it out of both sides and lists it as not priced."""
    data = plan("replace-stateful")
    assert cost.plan_cost_delta(data).delta == pytest.approx(-1.0)
    priced = review.stack_cost(data)
    assert (priced.before, priced.after, priced.delta) == (0, 0, 0)
    (bucket,) = priced.changes
    assert bucket.address == BUCKET and bucket.action == "replace (destroy, then create)"
    assert "in eu" in (bucket.not_priced or "") and bucket.before == pytest.approx(1.0) and bucket.after is None


def test_a_priced_update_and_a_forgotten_pool() -> None:
    """min replicas 1 -> 3 costs two more nodes; a forgotten pool leaves the state, not the bill."""
    data = example_plan("tier1-online-dev")
    raw = next(c for c in data["resource_changes"] if c["address"] == POOL)
    node = table_price("vertex_prediction_machine", "n1-standard-4", "us-central1") * assumption("hours_per_month")
    after = raw["change"]["after"]
    raw["change"]["before"] = copy.deepcopy(after)
    after["dedicated_resources"][0]["min_replica_count"] = 3
    raw["change"]["actions"] = ["update"]
    data["resource_changes"] = [raw]
    scaled = review.stack_cost(data)
    assert scaled.delta == pytest.approx(2 * node) and scaled.before == pytest.approx(node)
    assert [(c.address, c.action) for c in scaled.changes] == [(POOL, "update in place")]

    raw["change"]["actions"], raw["change"]["after"] = ["forget"], None
    assert cost.plan_cost_delta(data).delta == pytest.approx(-node)  # what leaves the stack's state
    forgotten = review.stack_cost(data)
    assert not forgotten.shown and forgotten.after == pytest.approx(node)  # still running, still billed

    raw["change"]["actions"], raw["change"]["after"] = ["create", "forget"], after  # old one kept, forgotten
    kept = review.stack_cost(data)
    assert (kept.before, kept.after) == (pytest.approx(node), pytest.approx(4 * node))
    assert [(c.address, c.delta) for c in kept.changes] == [(POOL, pytest.approx(3 * node))]


ALL_PLANS = sorted([*FIXTURES.glob("*.json"), *PLANS.glob("*.json")])


@pytest.mark.parametrize("path", ALL_PLANS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_review_prices_every_plan_as_cost_py_does(path: Path) -> None:
    """Before, after and every listed change are cost.py's figures, with what is not priced on a side left out
    of both totals (the review skips the types cost.py gives no line, and keeps forgotten objects billed)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    delta = cost.plan_cost_delta(data)
    ours = review.stack_cost(data)
    if not any("forget" in c["change"]["actions"] for c in data["resource_changes"]):
        unpriced = [r for r in delta.resources if r.not_priced]
        assert ours.before == pytest.approx(delta.before - sum(r.before or 0 for r in unpriced))
        assert ours.after == pytest.approx(delta.after - sum(r.after or 0 for r in unpriced))
    theirs = {r.address: r for r in delta.resources}
    for change in ours.changes:
        assert change.delta == (
            None if theirs[change.address].delta is None else pytest.approx(theirs[change.address].delta)
        )
        assert change.not_priced == theirs[change.address].not_priced


def test_cost_totals_over_stacks() -> None:
    stacks = [
        review.review_stack(example_plan(name), f"{name}.json")
        for name in ("tier1-online-dev", "tier1-online-prod", "tier0-batch-dev")
    ]
    result = review.Review((*stacks, review.review_stack(plan("update-labels-prod"), "labels.json")))
    total = result.cost_total()
    assert total is not None
    deltas = [cost.plan_cost_delta(example_plan(n)).delta for n in ("tier1-online-dev", "tier1-online-prod")]
    assert total[1] - total[0] == pytest.approx(sum(deltas) + 1.0)  # tier0's one bucket: 50 GB × 0.02
    markdown = review.to_markdown(result)
    not_priced = sum(len(s.cost.not_priced) for s in stacks if s.cost is not None)
    assert not_priced == 2  # the budget subscriptions of the two tier-1 stacks (tier0 has no budget)
    row = f"| **all 4 stacks** | 1.00 | {total[1]:,.2f} | **+{total[1] - total[0]:,.2f}** | {not_priced} |"
    assert row in markdown
    assert "`review-case-prod` | 1.00" not in markdown  # a stack whose cost does not change has no row


def test_cost_reasons_from_a_plan_are_escaped() -> None:
    data = example_plan("tier1-online-dev")
    raw = next(c for c in data["resource_changes"] if c["address"] == POOL)
    raw["change"]["after"]["dedicated_resources"][0]["machine_spec"][0]["machine_type"] = "<img src=x> @acme/all"
    markdown = review.to_markdown(review.Review((review.review_stack(data, "p.json"),)))
    line = next(x for x in markdown.splitlines() if x.startswith(f"- `{POOL}`"))
    assert "&lt;img src=x&gt; @\u2060acme/all" in line and "<img" not in line


# --- golden Markdown: what a pull request gets, read by eye (make refresh writes them) ----------


@pytest.mark.change_detector
@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_markdown(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/fixtures/review/<scenario>.md is `tierstack review --format markdown` of the scenario's plan.

    A change detector: when it fails, run `make refresh`, then read the diff and the rendered file."""
    monkeypatch.chdir(REPO)
    golden = FIXTURES / f"{name}.md"
    assert golden.is_file(), f"{golden} is missing: run make refresh"
    assert review_markdown(Path("tests/fixtures/review") / f"{name}.json") == golden.read_text(encoding="utf-8")


def test_every_golden_has_its_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert {p.stem for p in review_plans()} == set(SCENARIOS)
    goldens = {p.stem for p in FIXTURES.glob("*.md")} - {"README"}
    assert goldens == set(SCENARIOS)


# --- bad input: one message naming the file and what to do, exit 2 -------------------------------


def _bad(tmp_path: Path, content: bytes | str, name: str = "plan.json") -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run("review", str(path))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert str(path) in result.output
    return result.output


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    truncated = (FIXTURES / "move.json").read_text(encoding="utf-8")[:5000]
    old = {**plan("move"), "format_version": "0.2", "terraform_version": "0.14.11"}
    cases = {
        "empty": ("", "the file is empty"),
        "text": ("Terraform will perform the following actions:\n", "this is not JSON"),
        "truncated": (truncated, "the file looks truncated"),
        "array": ("[1, 2]", "is not a Terraform plan"),
        "other JSON": ('{"name": "x"}', "is not a Terraform plan"),
        "state file": ('{"version": 4, "serial": 3, "lineage": "a", "resources": []}', "a Terraform state, not a plan"),
        "state shown": ('{"format_version": "1.0", "values": {"root_module": {}}}', "a Terraform state, not a plan"),
        "old format": (json.dumps(old), "older than 1.2"),
        "new format": (json.dumps({**old, "format_version": "2.0"}), "newer than tierstack knows"),
        "binary plan": (b"PK\x03\x04\x14\x00\x00\x00", "binary plan file"),
        "not UTF-8": (b"\xff\xfe{\x00", "not UTF-8"),
        "damaged": ('{"format_version": "1.2", "resource_changes": [{"change": {}}]}', "damaged"),
        "deep": ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    }
    for label, (content, message) in cases.items():
        output = _bad(tmp_path, content)
        assert message in output, (label, output)
        assert "hint:" in output, label
    assert "Terraform 1.7 or newer" in _bad(tmp_path, json.dumps(old))


@pytest.mark.parametrize("actions", [["read", "create"], ["update", "create"], ["explode"], [], ["delete", "delete"]])
def test_an_action_list_terraform_does_not_write_is_refused(tmp_path: Path, actions: list[str]) -> None:
    data = plan("move")
    data["resource_changes"][0]["change"]["actions"] = actions
    output = _bad(tmp_path, json.dumps(data))
    assert f"resource_changes[0].change.actions is {json.dumps(actions)}" in output
    assert "an action list Terraform does not write" in output and "hint:" in output


def test_every_action_list_of_the_fixtures_is_one_terraform_writes() -> None:
    """The list of action lists is Terraform's: every fixture, made by real Terraform, keeps to it."""
    seen = set()
    for path in ALL_PLANS:
        data = json.loads(path.read_text(encoding="utf-8"))
        for key in ("resource_changes", "resource_drift"):
            for change in data.get(key, []):
                assert change["change"]["actions"] in review.ACTION_LISTS, (path, change["address"])
                seen.add(tuple(change["change"]["actions"]))
    assert {("create",), ("update",), ("delete", "create"), ("create", "delete"), ("forget",)} <= seen


def test_two_plans_of_one_stack_are_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    shutil.copy(FIXTURES / "move.json", first)
    shutil.copy(FIXTURES / "move.json", second)
    result = run("review", str(first), str(second))
    assert result.exit_code == 2, result.output
    assert f"{first} and {second} are both plans of stack" in result.output
    assert "counted twice" in result.output and "Traceback" not in result.output


def test_a_missing_or_unreadable_plan(tmp_path: Path) -> None:
    result = run("review", str(tmp_path / "nope.json"))
    assert result.exit_code == 2 and "no such file" in result.output and "nope.json" in result.output
    result = run("review", str(tmp_path))
    assert result.exit_code == 2, result.output
    path = tmp_path / "locked.json"
    shutil.copy(FIXTURES / "move.json", path)
    path.chmod(0)
    try:
        if not path.stat().st_mode & 0o444 and _unreadable(path):
            result = run("review", str(path))
            assert result.exit_code == 2 and "cannot read" in result.output and "locked.json" in result.output
    finally:
        path.chmod(0o644)


def _unreadable(path: Path) -> bool:
    try:
        path.read_bytes()
    except PermissionError:
        return True
    return False  # root reads anything


def test_read_plan_errors_are_user_errors() -> None:
    with pytest.raises(UserError, match=r"older than 1\.2"):
        review.read_plan({"format_version": "1.1", "planned_values": {}}, "p.json")
    assert review.read_plan(plan("move"), "p.json")["format_version"] == "1.2"


# --- end to end, with the real terraform ---------------------------------------------------------

FREEZES = """\
freezes:
  - name: black-friday
    reason: Peak season; production changes wait
    start: 2026-11-27
    end: 2026-11-30
"""


def test_end_to_end_with_real_terraform(terraform: Any, tmp_path: Path) -> None:
    """generate, apply to the stand-in, move a bucket and a dataset to the EU, plan, `terraform show -json`
    into the stack directory, review: the config is found from there, the freeze blocks (4), an override
    lets it through to the approval a stateful replacement needs (3), and the counts are Terraform's."""
    from standin import mirror, review_plans

    out = review_plans.synth(review_plans.CONFIG + FREEZES, tmp_path / "uc")
    stack_dir = out / "stacks" / review_plans.STACK
    applied = mirror.workdir_for(stack_dir, tmp_path / "applied")
    mirror.plan(terraform, applied)
    mirror.apply(terraform, applied)
    workdir = review_plans.edited(stack_dir, tmp_path / "relocated", review_plans.relocate)
    shutil.copy(applied / "terraform.tfstate", workdir / "terraform.tfstate")
    data = mirror.plan(terraform, workdir)
    (stack_dir / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    shown = mirror.check(terraform.run("show", "-no-color", "plan.tfplan", cwd=workdir), "show").stdout
    assert "Plan: 2 to add, 0 to change, 2 to destroy." in shown

    blocked = run("review", str(stack_dir / "plan.json"), "--at", "2026-11-28T12:00:00Z")
    assert blocked.exit_code == 4, blocked.output
    assert "Blocked by change freeze 'black-friday'" in blocked.output
    result = run(
        "review",
        str(stack_dir / "plan.json"),
        "--at",
        "2026-11-28T12:00:00Z",
        "--override-freeze",
        "INC-9: region move",
    )
    assert result.exit_code == 3, result.output
    assert "Emergency override, recorded: INC-9: region move" in result.output
    assert f"| `{review_plans.STACK}` | prod | 0 | 0 | 2 | 0 | 0 | 0 | 0 | 0 |" in result.output
    assert "<details>" in result.output
    assert run("review", str(stack_dir / "plan.json"), "--at", "2026-12-02T12:00:00Z").exit_code == 3
