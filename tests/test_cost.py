"""`tierstack cost`: the estimate follows from generator/data/prices.yaml and the synthesized stacks."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from conftest import REPO, run
from synth_support import example_configs
from tierstack.generator.analysis import cost, price_catalog
from tierstack.generator.core.yamlio import load_file, to_plain

EXAMPLES = example_configs()  # every example, the regional forks (examples/*/*/tierstack.yaml) too
RECOMMENDER = REPO / "examples" / "recommender"
FRAUD = REPO / "examples" / "fraud-detection"
CHURN = REPO / "examples" / "churn-emea"
PLANS = REPO / "tests" / "fixtures" / "plans"
FLEET_FILE = REPO / "examples" / "churn-fleet" / "churn.fleet.yaml"
DAYS = [dt.date(2024, 1, 1) + dt.timedelta(n) for n in range(1461)]  # 2024-2027, what runs_per_month averages over


@pytest.fixture(autouse=True)
def no_google_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cost` prices from the Cloud Billing Catalog when it finds credentials (--prices auto, the default):
    here nothing can be found, whatever the machine running the tests has, so every figure is the table's."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", price_catalog.ENDPOINT_ENV, price_catalog.MAX_AGE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # an empty gcloud config: no ADC file


def estimate_json(*args: str) -> dict:
    result = run("cost", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_prices(config: Path, spawns: None) -> None:
    data = estimate_json(str(config))
    assert data["estimate"] is True and data["currency"] == "USD"
    assert data["prices"]["origin"].startswith("the shipped table") and data["prices"]["fetched"] is None
    assert data["stacks"] and all(s["lines"] for s in data["stacks"])
    for stack in data["stacks"]:
        assert stack["total"] == pytest.approx(sum(line["monthly"] or 0 for line in stack["lines"]), abs=0.05)
        assert stack["always_on"] + stack["usage"] == pytest.approx(stack["total"], abs=0.02)
    text = run("cost", str(config))
    assert text.exit_code == 0
    assert "An estimate, not a quote" in text.stdout and "leaves out:" in text.stdout


def _table() -> dict:
    return to_plain(load_file(REPO / "generator" / "data" / "prices.yaml"))


def _price(table: dict, item: str, key: str, region: str) -> float:
    (entry,) = [p for p in table["prices"] if (p["item"], p["key"], p["region"]) == (item, key, region)]
    return float(entry["price"])


def _recommender_stack(config: Path, env: str) -> dict:
    """The synthesized cdk.tf.json of the Optimized recommender's stack for `env`."""
    path = config.parent / f"cdktf.out/stacks/recommender-{env}/cdk.tf.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _always_on(stack: dict, table: dict) -> float:
    """The stack's always-on baseline, from prices.yaml and its cdk.tf.json: its Optimized online stores'
    nodes and its scheduler jobs (what the recommender keeps running; its serving is not a pool)."""
    resources = stack["resource"]
    assert "google_vertex_ai_deployment_resource_pool" not in resources
    assert "google_vertex_ai_persistent_resource" not in resources
    hours = table["assumptions"]["hours_per_month"]
    stores = resources.get("google_vertex_ai_feature_online_store", {}).values()
    assert stores and all("optimized" in store for store in stores)
    node = _price(table, "feature_store_optimized_node", "node", "us-central1")
    nodes = len(stores) * table["assumptions"]["feature_store_optimized_nodes"] * hours * node
    jobs = len(resources.get("google_cloud_scheduler_job", {}))
    return nodes + jobs * _price(table, "cloud_scheduler_job", "job", "global")


def _excluded_resources(stack: dict, table: dict) -> int:
    """How many of the stack's resources are of a type prices.yaml excludes: always-on lines not priced."""
    return sum(len(stack["resource"].get(entry["type"], {})) for entry in table["excluded"])


def test_a_stack_recomputed_from_the_table(optimized_recommender: Path) -> None:
    """recommender-prod (us-central1), recomputed here from prices.yaml and its cdk.tf.json alone."""
    table = _table()
    stack = _recommender_stack(optimized_recommender, "prod")
    assumptions = table["assumptions"]
    hours = 24 * 30.4
    assert assumptions["hours_per_month"] == pytest.approx(hours)
    expected = 0.0
    resources = stack["resource"]
    for bucket in resources["google_storage_bucket"].values():
        assert bucket["location"] == "US-CENTRAL1" and bucket.get("storage_class", "STANDARD") == "STANDARD"
        expected += assumptions["bucket_gb"] * _price(table, "cloud_storage_standard", "standard", "us-central1")
    (store,) = resources["google_vertex_ai_feature_online_store"].values()
    assert "optimized" in store
    expected += (
        assumptions["feature_store_optimized_nodes"]
        * hours
        * _price(table, "feature_store_optimized_node", "node", "us-central1")
    )
    # every scheduler job is billed; each starts a workflow, and the one whose workflow starts a pipeline run
    # (the retraining schedule) adds one run each firing
    workflows = resources["google_workflows_workflow"]
    starts_runs = []
    for job in resources["google_cloud_scheduler_job"].values():
        expected += _price(table, "cloud_scheduler_job", "job", "global")
        (workflow,) = [
            w
            for name, w in workflows.items()
            if job["http_target"]["uri"].endswith(f"/workflows/${{google_workflows_workflow.{name}.name}}/executions")
        ]
        if "/pipelineJobs" in workflow["source_contents"]:
            starts_runs.append(job)
    (job,) = starts_runs
    assert job["schedule"] == "0 2 * * 0"
    sundays = sum(
        1
        for n in range((dt.date(2028, 1, 1) - dt.date(2024, 1, 1)).days)
        if (dt.date(2024, 1, 1) + dt.timedelta(n)).weekday() == 6
    )
    expected += sundays / 48 * _price(table, "vertex_pipelines_run", "run", "global")
    logging = _price(table, "cloud_logging_ingestion", "gib", "global")
    expected += max(0, assumptions["logging_gib_per_stack"] - 50) * logging
    (prod,) = estimate_json(str(optimized_recommender), "--env", "prod")["stacks"]
    assert prod["total"] == pytest.approx(expected, abs=0.01)
    node = _price(table, "feature_store_optimized_node", "node", "us-central1")
    assert prod["by_capability"]["feature_repository"] == pytest.approx(node * hours, abs=0.01)
    assert prod["always_on"] == pytest.approx(_always_on(stack, table), abs=0.01)
    unpriced = {line["address"] for line in prod["lines"] if line["monthly"] is None}
    assert unpriced == {
        "google_vertex_ai_metadata_store.metadata_tracking_store",
        "google_pubsub_subscription.cost_controls_budget_subscription",
    }


def _store_line(stack: dict) -> dict:
    (store,) = [line for line in stack["lines"] if line["address"].startswith("google_vertex_ai_feature_online_store.")]
    return store


def test_a_bigtable_online_store_is_priced_where_the_table_has_its_node(spawns: None) -> None:
    """The shipped recommender (us-central1) serves features from Bigtable: its min nodes at the table's
    Bigtable online-serving node price, recomputed here from prices.yaml and the stack's cdk.tf.json."""
    table = _table()
    (prod,) = estimate_json(str(RECOMMENDER / "tierstack.yaml"), "--env", "prod")["stacks"]
    stack = json.loads((RECOMMENDER / "cdktf.out/stacks/recommender-prod/cdk.tf.json").read_text(encoding="utf-8"))
    (resource,) = stack["resource"]["google_vertex_ai_feature_online_store"].values()
    assert resource["region"] == "us-central1" and "optimized" not in resource
    (bigtable,) = resource["bigtable"] if isinstance(resource["bigtable"], list) else [resource["bigtable"]]
    (scaling,) = bigtable["auto_scaling"] if isinstance(bigtable["auto_scaling"], list) else [bigtable["auto_scaling"]]
    node = _price(table, "feature_store_bigtable_node", "node", "us-central1")
    expected = scaling["min_node_count"] * table["assumptions"]["hours_per_month"] * node
    store = _store_line(prod)
    assert "Bigtable" in store["what"] and store["monthly"] == pytest.approx(expected, abs=0.01)
    assert prod["by_capability"]["feature_repository"] == pytest.approx(expected, abs=0.01)


def test_a_bigtable_online_store_is_not_priced_not_zero(spawns: None) -> None:
    """churn-emea serves features from Bigtable in europe-west4, where the table has no node price: a gap
    shown as one, with the entry's note, never as 0."""
    (prod,) = [s for s in estimate_json(str(CHURN / "tierstack.yaml"))["stacks"] if s["environment"] == "prod"]
    assert prod["region"] == "europe-west4"
    entry = cost.load_prices().entries[("feature_store_bigtable_node", "node", "europe-west4")]
    assert entry.price is None and entry.note
    assert prod["by_capability"]["feature_repository"] is None
    store = _store_line(prod)
    assert store["monthly"] is None and "Bigtable" in store["what"] and store["not_priced"] == entry.note
    assert any(w.endswith("not priced: the real figure is higher than shown") for w in prod["warnings"])


def test_baseline_warning_for_a_small_budget(optimized_recommender: Path) -> None:
    config = optimized_recommender.parent / "small" / "tierstack.yaml"
    config.parent.mkdir(exist_ok=True)
    config.write_text(
        re.sub(r"amount: 800\b", "amount: 100", optimized_recommender.read_text(encoding="utf-8")), encoding="utf-8"
    )
    out = str(optimized_recommender.parent / "cdktf.out")
    table, stack = _table(), _recommender_stack(optimized_recommender, "prod")
    baseline, unpriced = _always_on(stack, table), _excluded_resources(stack, table)
    assert baseline > 50 and unpriced >= 1
    warning = (
        f"the always-on baseline alone (USD {baseline:.2f} a month + {unpriced} items not priced) passes the "
        "budget's first threshold (50% of 100.00"
    )
    result = run("cost", str(config), "--out", out, "--env", "prod")
    assert result.exit_code == 0
    assert f"warning: {warning}" in result.stdout and result.stderr == ""
    result = run("cost", str(config), "--out", out, "--env", "prod", "--format", "json")
    assert f"warning: recommender-prod: {warning}" in result.stderr
    data = json.loads(result.stdout)
    assert data["stacks"][0]["budget"]["first_threshold_amount"] == 50.0
    assert any(w.startswith(warning) for w in data["stacks"][0]["warnings"])
    # with the config's own prod budget (800, first threshold 400) the baseline stays below
    result = run("cost", str(optimized_recommender), "--env", "prod")
    assert "always-on baseline alone" not in result.stdout


def test_a_budget_its_own_baseline_passes(optimized_recommender: Path) -> None:
    """recommender-dev: budget 300 (first threshold 50% = 150) under an always-on Optimized Feature Store node."""
    (dev,) = estimate_json(str(optimized_recommender), "--env", "dev")["stacks"]
    baseline = _always_on(_recommender_stack(optimized_recommender, "dev"), _table())
    assert dev["budget"]["first_threshold_amount"] == 150.0
    assert dev["always_on"] == pytest.approx(baseline, abs=0.01) and dev["always_on"] > 150
    assert any(w.startswith(f"the always-on baseline alone (USD {baseline:.2f} a month") for w in dev["warnings"])


def test_the_price_table_names_a_source_and_date_for_every_price() -> None:
    table = _table()
    assert table["currency"] == "USD" and table["prices"]
    for entry in table["prices"]:
        where = f"{entry['item']} {entry['key']} {entry['region']}"
        assert entry["source"].startswith("https://cloud.google.com/"), where
        assert dt.date.fromisoformat(entry["read"]) <= dt.date(2026, 12, 31), where
        if entry.get("as_of"):
            dt.date.fromisoformat(entry["as_of"])
        assert entry["unit"], where
        if entry["price"] is not None:
            assert entry["price"] > 0, where
    keys = [(e["item"], e["key"], e["region"]) for e in table["prices"]]
    assert len(keys) == len(set(keys))
    for region in ("us-central1", "europe-west4", "europe-west1"):  # the examples' regions are in the table
        assert any(e["region"] == region for e in table["prices"])


def test_a_region_without_a_price_is_not_priced_not_zero() -> None:
    (prod,) = estimate_json(str(FRAUD / "tierstack.yaml"), "--env", "prod")["stacks"]
    (pool,) = [
        line
        for line in prod["lines"]
        if line["address"] == "google_vertex_ai_deployment_resource_pool.model_serving_deployment_pool"
    ]
    assert pool["monthly"] is None
    assert "europe-west4" in pool["not_priced"]
    assert prod["not_priced"] >= 1
    assert any("not priced" in w for w in prod["warnings"])
    text = run("cost", str(FRAUD / "tierstack.yaml"), "--env", "prod").stdout
    assert re.search(r"model_serving\s+always on\s+not priced\s+deployment pool: 2 × n1-standard-4", text)


def _unpriced_capabilities(stack: dict) -> set[str]:
    """Capabilities with lines and not one priced line, from the lines themselves."""
    lines = stack["lines"]
    return {
        c
        for c in {line["capability"] for line in lines}
        if all(x["monthly"] is None for x in lines if x["capability"] == c)
    }


@pytest.mark.parametrize("config", [FRAUD / "tierstack.yaml", CHURN / "tierstack.yaml"], ids=["fraud", "churn-emea"])
def test_an_unpriced_capability_is_none_not_zero(config: Path) -> None:
    """Issue 9: a capability none of whose items is priced shows as not priced (JSON null), never 0.00."""
    data = estimate_json(str(config))
    text = run("cost", str(config)).stdout
    for stack in data["stacks"]:
        unpriced = _unpriced_capabilities(stack)
        assert "model_serving" in unpriced, stack["stack"]  # europe-west4 serving nodes: no sourced price
        for capability, figure in stack["by_capability"].items():
            assert (figure is None) == (capability in unpriced), (stack["stack"], capability)
        for capability, count in stack["not_priced_by_capability"].items():
            assert count == sum(1 for x in stack["lines"] if x["capability"] == capability and x["monthly"] is None)
        block = text.split(f"{stack['stack']} ({stack['region']})", 1)[1].split("\n\n", 1)[0]
        by_capability = next(line for line in block.splitlines() if "by capability:" in line)
        assert "model_serving not priced" in by_capability and "model_serving 0.00" not in by_capability
        n = stack["not_priced"]
        assert f"total USD {stack['total']:,.2f} a month + {n} items not priced" in block
    every = sum(s["not_priced"] for s in data["stacks"])
    assert data["not_priced"] == every
    assert f"all stacks: USD {data['total']:,.2f} a month + {every} items not priced" in text
    yaml_out = run("cost", str(config), "--format", "yaml")
    assert yaml_out.exit_code == 0 and "model_serving: null" in yaml_out.stdout


def test_a_partly_priced_capability_says_what_it_leaves_out() -> None:
    """A capability with priced and unpriced lines shows its figure and how many lines it leaves out; one with
    nothing priced shows "not priced". Which capability is which follows from the lines (the table changes)."""
    (prod,) = _stack(FRAUD, "prod")
    # the training bucket is priced, the training pool (g2-standard-8 + L4 in europe-west4) is not
    assert re.fullmatch(r"\d+\.\d\d \+ 1 item not priced", prod.capability_figure("model_training"))
    assert prod.capability_figure("model_serving") == "not priced"
    mixed = 0
    for capability in {line.capability for line in prod.lines}:
        lines = [line for line in prod.lines if line.capability == capability]
        unpriced = sum(1 for line in lines if line.monthly is None)
        figure = prod.capability_figure(capability)
        if unpriced == len(lines):
            assert figure == "not priced", capability
        elif unpriced:
            mixed += 1
            noun = "item" if unpriced == 1 else "items"
            assert re.fullmatch(rf"\d+\.\d\d \+ {unpriced} {noun} not priced", figure), (capability, figure)
        else:
            assert re.fullmatch(r"\d+\.\d\d", figure), (capability, figure)
    assert mixed


def _stack(example: Path, env: str) -> list[cost.StackEstimate]:
    return cost.estimate(example / "tierstack.yaml", environments=(env,)).stacks


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.parent.name)
def test_no_example_meets_a_gap_in_the_price_table(config: Path, spawns: None) -> None:
    """Every price an example needs is in the table for its region, or prices.yaml excludes it with a reason:
    a `price: null` (or a missing entry, or an unknown resource type) nobody listed fails here."""
    for stack in cost.estimate(config).stacks:
        gaps = sorted({gap for line in stack.lines for gap in line.gaps})
        assert not gaps, f"{stack.stack}: not in generator/data/prices.yaml and not excluded there: {gaps}"


# --- what a user reads beside a line that is not priced ------------------------------------------------

MAX_REASON = 100  # one short sentence beside the line, read at a glance
# how the table was researched belongs in generator/data/prices.yaml's comments, not in what users read
RESEARCH_WORDS = re.compile(
    r"\bcop(y|ies)\b|could be read|readable|stored (page|cop)|transcri|searched|not found in|retrosearch", re.I
)
ZONES = to_plain(load_file(REPO / "generator" / "data" / "zones.yaml"))


def _reason_problem(line: cost.Line) -> str | None:
    """What is wrong with a line not priced: no reason, a long one, or one about how the table was made."""
    reason = line.why_not_priced
    if not reason:
        return "no reason given"
    if len(reason) > MAX_REASON:
        return f"{len(reason)} characters (at most {MAX_REASON}): {reason}"
    if RESEARCH_WORDS.search(reason):
        return f"says how the table was researched: {reason}"
    return None


def _billed_lines(stacks: list[cost.StackEstimate]) -> list[tuple[str, cost.Line]]:
    """The always-on lines and the buckets' lines: what the budget warning and the examples' users care about."""
    return [
        (f"{s.stack} ({s.region})", line)
        for s in stacks
        for line in s.lines
        if line.always_on or line.address.startswith("google_storage_bucket.")
    ]


@pytest.mark.parametrize("config", [*EXAMPLES, FLEET_FILE], ids=lambda p: p.parent.name)
def test_every_unpriced_line_of_an_example_says_why_in_a_sentence(config: Path, spawns: None) -> None:
    """Issue 20: every always-on resource and bucket an example's stacks create, in each region they use, is
    priced, or says why it is not in a short sentence a user understands (not how the table was researched)."""
    lines = _billed_lines(cost.estimate(config).stacks)
    assert lines
    problems = [f"{stack}: {line.what}: {_reason_problem(line)}" for stack, line in lines if line.monthly is None]
    assert not [p for p in problems if not p.endswith(": None")], "\n".join(problems)


def _always_on_resources(region: str) -> list[cost.Resource]:
    """One of each always-on (and bucket) resource the capabilities create, in `region`."""
    pool = {"machine_spec": [{"machine_type": "n1-standard-4"}], "min_replica_count": 2}
    training = {"machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_L4", "accelerator_count": 1}
    a100 = {"machine_type": "a2-highgpu-1g", "accelerator_type": "NVIDIA_TESLA_A100", "accelerator_count": 1}
    bodies: list[tuple[str, dict]] = [
        ("google_vertex_ai_deployment_resource_pool", {"region": region, "dedicated_resources": [pool]}),
        (
            "google_vertex_ai_persistent_resource",
            {
                "location": region,
                "resource_pools": [
                    {"machine_spec": [training], "replica_count": 1},
                    {"machine_spec": [a100], "replica_count": 1},
                ],
            },
        ),
        (
            "google_vertex_ai_feature_online_store",
            {"region": region, "bigtable": [{"auto_scaling": [{"min_node_count": 1}]}]},
        ),
        ("google_vertex_ai_feature_online_store", {"region": region, "optimized": [{}]}),
        ("google_storage_bucket", {"location": region.upper(), "name": "b"}),
        ("google_cloud_scheduler_job", {"region": region, "name": "j", "schedule": "0 3 * * 1"}),
        *((t, {"region": region}) for t in sorted(cost.load_prices().excluded)),
    ]
    return [cost.Resource(f"{t}.r{n}", t, body, "x") for n, (t, body) in enumerate(bodies)]


def test_every_region_of_the_data_prices_or_says_why() -> None:
    """In every region of generator/data/zones.yaml, each always-on resource type is priced or says why, briefly."""
    table = cost.load_prices()
    problems = []
    for region in sorted(ZONES["regions"]):
        lines = cost.price(_always_on_resources(region), table, region)
        assert len(lines) >= 7
        for line in lines:
            if line.monthly is None and _reason_problem(line):
                problems.append(f"{region}: {line.what}: {_reason_problem(line)}")
    assert not problems, "\n".join(problems[:20])


def test_the_check_of_reasons_can_fail() -> None:
    """The two tests above fail on the reasons this table used to show."""
    old = cost.Line(
        "a",
        "c",
        "w",
        always_on=True,
        monthly=None,
        not_priced=(
            "cloud storage standard in europe-west4: the copies of the page that could be read here list the "
            "Netherlands (europe-west4) region but cut off before its row"
        ),
    )
    assert "characters" in (_reason_problem(old) or "")
    assert "researched" in (_reason_problem(cost.Line("a", "c", "w", True, None, "not found in any copy")) or "")
    assert _reason_problem(cost.Line("a", "c", "w", True, None, None)) == "no reason given"


def test_the_table_says_its_reasons_briefly() -> None:
    """What prices.yaml gives users to read (an exclusion's `reason`, a `null` price's `note`) is short and says
    how Google bills it, not how the table was researched (that goes in the YAML comments)."""
    table = _table()
    shown = [e["reason"] for e in table["excluded"]] + [e["note"] for e in table["prices"] if e.get("note")]
    assert shown
    for text in shown:
        assert len(text) <= MAX_REASON and not RESEARCH_WORDS.search(text), text


def test_a_missing_price_points_to_the_catalog_once() -> None:
    """Below the lines, not beside each: the items not priced the Cloud Billing Catalog's rules may price."""
    text = run("cost", str(FRAUD / "tierstack.yaml"), "--env", "prod", "--prices", "table").stdout
    data = estimate_json(str(FRAUD / "tierstack.yaml"), "--env", "prod", "--prices", "table")
    (prod,) = data["stacks"]
    catalog = [line for line in prod["lines"] if line["monthly"] is None and not line.get("left_out")]
    # the deployment pool and the training pool (europe-west4 has no table price for either; its buckets
    # have one since 2026-12-07, so they are priced and no longer counted here)
    assert data["prices"]["catalog_may_price"] == len(catalog) >= 2
    assert text.count("--prices catalog") == 1
    assert f"note: {len(catalog)} items not priced may have a price in Google's Cloud Billing Catalog" in text


def test_a_gap_is_caught_when_its_exclusion_is_dropped() -> None:
    """The gap check above can fail: without the table's exclusions, or without a `null` entry, there are gaps."""
    import dataclasses

    table = cost.load_prices()
    assert "google_vertex_ai_metadata_store" in table.excluded
    stack = json.loads((FRAUD / "cdktf.out/stacks/fraud-detection-prod/cdk.tf.json").read_text(encoding="utf-8"))
    null = ("vertex_prediction_machine", "n1-standard-4", "europe-west4")
    assert table.entries[null].price is None  # looked for, not found: not a gap
    bare = dataclasses.replace(table, excluded={}, entries={k: v for k, v in table.entries.items() if k != null})
    gaps = {gap for line in cost.estimate_stack("fraud-detection-prod", "prod", stack, bare).lines for gap in line.gaps}
    assert "google_vertex_ai_metadata_store" in gaps
    assert "vertex_prediction_machine n1-standard-4 europe-west4" in gaps
    lines = cost.estimate_stack("fraud-detection-prod", "prod", stack, table).lines
    (store,) = [line for line in lines if line.address.startswith("google_vertex_ai_metadata_store.")]
    assert store.monthly is None and not store.gaps and store.left_out
    assert store.why_not_priced == table.excluded["google_vertex_ai_metadata_store"]
    (pool,) = [line for line in lines if line.address.startswith("google_vertex_ai_deployment_resource_pool.")]
    assert pool.monthly is None and not pool.gaps and not pool.left_out  # a null price: looked for, not found
    assert pool.why_not_priced == "n1-standard-4 prediction nodes in europe-west4: not in the price table"
    text = run("cost", str(FRAUD / "tierstack.yaml"), "--env", "prod").stdout
    assert f"({store.why_not_priced})" in text and f"({pool.why_not_priced})" in text


def test_every_exclusion_names_a_resource_type() -> None:
    """The table leaves out resource types on purpose; a price it lacks is a `null` entry, never an exclusion."""
    for entry in _table()["excluded"]:
        assert set(entry) == {"type", "reason"}, entry
        assert entry["type"].startswith("google_") and entry["reason"], entry


def test_a_malformed_exclusion_is_one_clear_error(tmp_path: Path) -> None:
    from tierstack.generator.core.errors import UserError

    text = (REPO / "generator" / "data" / "prices.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "prices.yaml"
    broken.write_text(text.replace("excluded:\n", "excluded:\n  - type: google_x\n", 1), encoding="utf-8")
    with pytest.raises(UserError, match=r"excluded entry 1 needs a `type`.* and a `reason`"):
        cost.load_prices(broken)
    old = "excluded:\n  - item: vertex_prediction_machine\n    key: n1-standard-4\n    region: europe-west4\n"
    broken.write_text(text.replace("excluded:\n", old + "    reason: not found\n", 1), encoding="utf-8")
    with pytest.raises(UserError, match="excluded entry 1") as err:
        cost.load_prices(broken)
    assert "price: null" in (err.value.hint or "")


def test_a_region_missing_from_the_table_entirely() -> None:
    table = cost.load_prices()
    resource = cost.Resource(
        "google_vertex_ai_deployment_resource_pool.x",
        "google_vertex_ai_deployment_resource_pool",
        {
            "region": "asia-south2",
            "dedicated_resources": {"machine_spec": {"machine_type": "n1-standard-4"}, "min_replica_count": 2},
        },
        "model_serving",
    )
    (line,) = cost.price([resource], table, "asia-south2")
    assert (
        line.monthly is None
        and line.not_priced == "n1-standard-4 prediction nodes in asia-south2: not in the price table"
    )
    assert line.gaps == ("vertex_prediction_machine n1-standard-4 asia-south2",) and line.catalog_may_price


@pytest.mark.parametrize(
    ("cron", "runs"),
    [
        ("0 3 * * 1", sum(1 for d in DAYS if d.weekday() == 0) / 48),
        ("0 * * * *", 1461 * 24 / 48),
        ("*/15 * * * *", 1461 * 24 * 4 / 48),
        ("0 4 1 * *", 1.0),
        ("30 6 * * MON-FRI", sum(1 for d in DAYS if d.weekday() < 5) / 48),
        (
            "0 0 1,15 * 0",
            sum(1 for d in DAYS if d.day in (1, 15) or d.weekday() == 6) / 48,
        ),  # cron: day of month OR day of week
    ],
)
def test_runs_per_month(cron: str, runs: float) -> None:
    assert cost.runs_per_month(cron) == pytest.approx(runs)


def _pool(min_replicas: int, region: str = "us-central1") -> dict:
    return {
        "region": region,
        "dedicated_resources": [
            {"machine_spec": [{"machine_type": "n1-standard-4"}], "min_replica_count": min_replicas}
        ],
    }


def test_plan_cost_delta_before_and_after() -> None:
    plan = {
        "format_version": "1.2",
        "configuration": {
            "provider_config": {"google": {"expressions": {"region": {"constant_value": "us-central1"}}}}
        },
        "resource_changes": [
            {
                "address": "google_vertex_ai_deployment_resource_pool.model_serving_deployment_pool",
                "type": "google_vertex_ai_deployment_resource_pool",
                "mode": "managed",
                "change": {"actions": ["update"], "before": _pool(1), "after": _pool(3)},
            },
            {
                "address": "google_vertex_ai_persistent_resource.model_training_pool",
                "type": "google_vertex_ai_persistent_resource",
                "mode": "managed",
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": {
                        "location": "europe-west4",
                        "resource_pools": [
                            {
                                "machine_spec": [
                                    {
                                        "machine_type": "g2-standard-8",
                                        "accelerator_type": "NVIDIA_L4",
                                        "accelerator_count": 1,
                                    }
                                ],
                                "replica_count": "1",
                            }
                        ],
                    },
                },
            },
            {
                "address": "google_project_iam_member.foundation_x",
                "type": "google_project_iam_member",
                "mode": "managed",
                "change": {"actions": ["create"], "before": None, "after": {"role": "roles/viewer"}},
            },
        ],
    }
    delta = cost.plan_cost_delta(plan)
    node = 0.219 * 729.6
    assert delta.before == pytest.approx(node)
    assert delta.after == pytest.approx(3 * node)
    assert delta.delta == pytest.approx(2 * node)
    by_address = {r.address: r for r in delta.resources}
    assert set(by_address) == {
        "google_vertex_ai_deployment_resource_pool.model_serving_deployment_pool",
        "google_vertex_ai_persistent_resource.model_training_pool",
    }
    pool = by_address["google_vertex_ai_deployment_resource_pool.model_serving_deployment_pool"]
    assert pool.capability == "model_serving" and pool.delta == pytest.approx(2 * node)
    training = by_address["google_vertex_ai_persistent_resource.model_training_pool"]
    assert training.not_priced and training.delta is None and not training.present_before
    assert cost.plan_cost_delta(plan).to_data()["delta"] == round(2 * node, 2)


def test_cost_delta_of_two_plans() -> None:
    base = json.loads((PLANS / "recommender-prod.json").read_text(encoding="utf-8"))
    for resource in base["planned_values"]["root_module"]["resources"]:
        if resource["type"] == "google_vertex_ai_feature_online_store":  # Optimized, which the table prices
            resource["values"].update(bigtable=[], optimized=[{}])
    head = copy.deepcopy(base)
    for resource in head["planned_values"]["root_module"]["resources"]:
        if resource["type"] == "google_storage_bucket":
            resource["values"]["location"] = "EUROPE-WEST1"  # same price: no delta
    assert cost.cost_delta(base, head).delta == pytest.approx(0)
    head["planned_values"]["root_module"]["resources"] = [
        r
        for r in head["planned_values"]["root_module"]["resources"]
        if r["type"] != "google_vertex_ai_feature_online_store"
    ]
    delta = cost.cost_delta(base, head)
    node = _price(_table(), "feature_store_optimized_node", "node", "us-central1")
    assert delta.delta == pytest.approx(-node * 729.6, abs=0.01)
    (gone,) = [r for r in delta.resources if not r.present_after]
    assert gone.capability == "feature_repository"
    # the weekly schedule starts the retraining workflow (its source unknown in a plan): each firing is a run
    (schedule,) = [r for r in cost.plan_cost_delta(base).resources if r.address.endswith("ml_pipelines_schedule")]
    runs = cost.runs_per_month("0 2 * * 0") * _price(_table(), "vertex_pipelines_run", "run", "global")
    assert schedule.after == pytest.approx(0.10 + runs, abs=0.01) and runs > 0


@pytest.mark.parametrize("plan", sorted(PLANS.glob("*.json")), ids=lambda p: p.stem)
def test_every_fixture_plan_prices(plan: Path) -> None:
    data = json.loads(plan.read_text(encoding="utf-8"))
    delta = cost.plan_cost_delta(data)
    assert delta.before == 0  # every fixture plan creates its stack
    assert delta.after >= 0


def test_never_generated(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text((RECOMMENDER / "tierstack.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    result = run("cost", str(config))
    assert result.exit_code == 2
    assert "never generated" in result.stderr and "tierstack generate" in result.stderr


FLEET = FLEET_FILE


def test_a_fleet_is_estimated_member_by_member() -> None:
    result = run("cost", str(FLEET), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [s["stack"] for s in data["stacks"]] == [
        f"churn-{m}-{e}" for m in ("us", "de", "br") for e in ("dev", "prod")
    ]
    one = run("cost", str(FLEET), "--member", "churn-us", "--env", "prod", "--format", "json")
    assert one.exit_code == 0, one.output
    (prod,) = json.loads(one.stdout)["stacks"]
    assert prod == data["stacks"][1]  # the same estimate, alone
    wrong = run("cost", str(FLEET), "--member", "churn-xx")
    assert wrong.exit_code == 2 and "no member named 'churn-xx'" in wrong.output
