"""One resource-type table, which a capability extends for a type it adds (issue 21).

generator/data/resource_types.yaml says, per type, what it holds and how it can lose it, how Google bills
it, its part in a page's diagram and its API; generator/facts/resource_types.py is its one reader. A capability
declares the rows of the types it adds (`resource_types` on its class). The toy capability
tests/plugins/vector_search.py creates a type nothing else in the repository names, and review (a real
plan of deleting it), diff, cost, docs and the assembler learn the type from that file alone.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from synth_support import read_stack
from tierstack.generator.analysis import cost
from tierstack.generator.config.settings import Settings
from tierstack.generator.config.spec import load_spec
from tierstack.generator.facts import resource_types as rt
from tierstack.generator.output import docs
from tierstack.generator.plan.resolve import resolve
from tierstack.modules import base

PLUGINS = REPO / "tests" / "plugins"
TOY_TYPE = "google_vertex_ai_index_endpoint"
ADDRESS = f"{TOY_TYPE}.vector_search_queries"
WITHOUT_TOY = (
    (PLUGINS / "data_validation.example.yaml")
    .read_text(encoding="utf-8")
    .replace("capabilities:\n  add: [data_validation]\n", "")
)
WITH_TOY = WITHOUT_TOY + "capabilities:\n  add: [vector_search]\n"


def types_in(root: Path) -> set[str]:
    found: set[str] = set()
    for stack in root.glob("**/cdk.tf.json"):
        found |= set(json.loads(stack.read_text(encoding="utf-8")).get("resource", {}))
    return found


@pytest.fixture
def forget() -> Iterator[list[str]]:
    """Capability ids a test defines inline, forgotten (with the types they added) after it."""
    ids: list[str] = []
    try:
        yield ids
    finally:
        for capability in ids:
            base.unregister(capability)


def declare(capability: str, **attributes: Any) -> type:
    """Define a capability class, as a `class` statement in a module would."""
    declared = {"title": "x", "definition": "x", "process": "x", "provisions": ("x",), "settings_model": Settings}
    return type(
        capability.title().replace("_", ""),
        (base.CapabilityModule,),
        {"capability": capability, **declared, **attributes},
    )


@pytest.fixture
def vector_search() -> Iterator[Any]:
    """The toy capability, registered for one test and forgotten after it."""
    module = importlib.import_module("plugins.vector_search")
    try:
        yield module
    finally:
        base.unregister("vector_search")
        sys.modules.pop("plugins.vector_search", None)


# --- the table ------------------------------------------------------------------------------------------


def test_the_type_of_the_toy_is_nowhere_but_in_its_module() -> None:
    """Without its module the toy's type is unknown: possibly data, a gap in the price table, a plain box."""
    assert not rt.known(TOY_TYPE)
    assert rt.holds_data(TOY_TYPE) == f"possibly data: {rt.DATA_FILE} does not say what a {TOY_TYPE} holds"
    assert rt.billing(TOY_TYPE) is None and rt.diagram_role(TOY_TYPE) == "part"
    product = [*(REPO / "generator").rglob("*.py"), *(REPO / "generator" / "data").glob("*.yaml")]
    product += [*(REPO / "modules").rglob("*.py")]
    assert not [p for p in product if TOY_TYPE in p.read_text(encoding="utf-8")]


def test_the_price_table_and_the_type_table_agree_on_what_is_not_priced() -> None:
    """prices.yaml's `excluded` list gives the reasons; the type table says which types are billed so."""
    excluded = set(cost.load_prices().excluded)
    not_priced = {name for name, row in rt.table().items() if row.billing == "not_priced"}
    assert excluded <= not_priced, f"give these billing: not_priced in {rt.DATA_FILE}: {sorted(excluded - not_priced)}"
    silent = sorted(t for t in not_priced - excluded if not rt.not_priced_reason(t))
    assert not silent, f"these are not_priced with no reason in prices.yaml's excluded list or `not_priced:` {silent}"


def test_every_type_the_examples_create_is_billed_somehow() -> None:
    """A type with no billing class is a gap in every estimate: classify it where its `holds` is."""
    found = types_in(REPO / "examples")
    assert len(found) > 30, "no example stacks found"
    assert not sorted(t for t in found if rt.billing(t) is None), f"give these a billing class in {rt.DATA_FILE}"


def test_every_type_the_test_cases_synthesize_is_classified_in_every_column(synthesized: dict[str, Path]) -> None:
    found = set().union(*(types_in(out) for out in synthesized.values()))
    unclassified = sorted(t for t in found if not rt.known(t) or rt.billing(t) is None)
    assert not unclassified, f"classify these in {rt.DATA_FILE} (holds and billing): {unclassified}"
    no_api = sorted(t for t in found if rt.api_of(t) is None and not rt.needs_no_api(t))
    assert no_api == ["google_project_service_identity"], no_api  # made by foundation, after its API


def test_the_readers_views_follow_the_table() -> None:
    """docs' and cost's sets are the table's rows, so a type added to the table is in them."""
    assert "google_project_iam_member" in docs.PLUMBING and "google_project_service_identity" in docs.AGENTS
    assert "google_kms_crypto_key" in docs.KEYS and "google_kms_crypto_key" in docs.STORES
    assert "google_service_account" in docs.IDENTITIES and "google_storage_bucket" not in docs.IDENTITIES
    assert "google_workflows_workflow" in cost.CONTEXT_TYPES and "google_workflows_workflow" in cost.USAGE_ONLY_TYPES
    assert "google_vertex_ai_endpoint" in cost.NO_CHARGE_TYPES and "google_storage_bucket" not in cost.NO_CHARGE_TYPES
    assert "google_project_service" in base.NO_API and base.api_for("google_project_service") is None
    assert base.api_for("google_vertex_ai_endpoint") == "aiplatform.googleapis.com"


# --- a capability extends it --------------------------------------------------------------------------------


def test_a_capability_adds_its_rows_and_unregister_removes_them(forget: list[str]) -> None:
    forget.append("widget_maker")
    row = rt.ResourceType(holds="config", billing="usage", diagram="trigger", api="widgets.googleapis.com")
    declare("widget_maker", resource_types={"google_widget": row})
    assert rt.known("google_widget") and rt.holds_data("google_widget") is None
    assert rt.billing("google_widget") == "usage" and "google_widget" in cost.USAGE_ONLY_TYPES
    assert rt.diagram_role("google_widget") == "trigger" and "google_widget" in docs.TRIGGERS
    assert base.api_for("google_widget") == "widgets.googleapis.com"
    base.unregister("widget_maker")
    assert not rt.known("google_widget") and "google_widget" not in docs.TRIGGERS


def test_a_key_service_may_name_a_type_the_capability_adds(forget: list[str]) -> None:
    """The key check asks the type's API; the row the class declares answers it."""
    forget.append("widget_maker")
    row = rt.ResourceType(holds="data", loses="the widgets", api="widgets.googleapis.com")
    declare(
        "widget_maker",
        resource_types={"google_widget": row},
        key_services={"google_widget": "widgets"},
        service_agents={"widgets": "widgets.googleapis.com"},
    )
    assert base.registered()["widget_maker"].key_services["google_widget"] == "widgets"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ({"google_storage_bucket": rt.ResourceType(holds="config")}, r"resource_types.yaml classifies google_storage_"),
        ({"google_widget": rt.ResourceType(holds="data")}, r"holds must be one of .* with `loses` exactly for data"),
        ({"google_widget": rt.ResourceType(holds="config", billing="cheap")}, r"billing must be one of"),  # type: ignore[arg-type]
        ({"google_widget": rt.ResourceType(holds="config", not_priced="why")}, r"goes with billing: not_priced"),
        ({"google_widget": rt.ResourceType(holds="config", diagram="box")}, r"diagram must be one of"),  # type: ignore[arg-type]
        ({"google_widget": rt.ResourceType(holds="config", api="widgets")}, r"api must be an API name"),
        ({"google_widget": {"holds": "config"}}, r"it is not a ResourceType"),
    ],
)
def test_a_bad_row_is_refused_where_it_is_declared(rows: dict[str, Any], expected: str, forget: list[str]) -> None:
    forget.append("bad_rows")
    with pytest.raises(TypeError, match=expected) as raised:
        declare("bad_rows", resource_types=rows)
    assert "BadRows.resource_types" in str(raised.value)
    assert "bad_rows" not in base.registered() and not rt.known("google_widget")


def test_two_capabilities_cannot_classify_one_type(forget: list[str]) -> None:
    forget += ["widget_maker", "widget_copier"]
    declare("widget_maker", resource_types={"google_widget": rt.ResourceType(holds="config")})
    with pytest.raises(TypeError, match=r"WidgetCopier.resource_types\['google_widget'\]: .*WidgetMaker classifies"):
        declare("widget_copier", resource_types={"google_widget": rt.ResourceType(holds="none")})
    assert rt.table()["google_widget"].holds == "config" and "widget_copier" not in base.registered()


def test_a_class_refused_for_its_keys_leaves_no_rows_behind(forget: list[str]) -> None:
    forget.append("bad_keys")
    with pytest.raises(TypeError, match="no service whose agent"):
        declare(
            "bad_keys",
            resource_types={"google_widget": rt.ResourceType(holds="config", api="widgets.googleapis.com")},
            key_services={"google_widget": "widgets"},
        )
    assert not rt.known("google_widget")


def test_a_process_that_reads_only_plans_knows_the_capabilities_rows(spawns: None, tmp_path: Path) -> None:
    """`review` and `diff` import no capability themselves: asking the table loads the capabilities, so a
    row a built-in or an installed one declares is there. Shown in a fresh interpreter with the toy
    installed as a package's capability is: a dist-info declaring it in the `tierstack.capabilities` group."""
    dist = tmp_path / "toy_capability-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-capability\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(
        "[tierstack.capabilities]\nvector_search = plugins.vector_search\n", encoding="utf-8"
    )
    script = f"from tierstack.generator.facts import resource_types as rt; print(rt.holds_data('{TOY_TYPE}'))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO / "tests")])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "the indexes deployed on it and the address clients query"


# --- the toy capability: nothing but its module --------------------------------------------------------------


def generated(text: str, root: Path) -> Path:
    from tierstack.generator.output.generate import generate

    root.mkdir(parents=True)
    (root / "tierstack.yaml").write_text(text, encoding="utf-8")
    out = root / "cdktf.out"
    generate(resolve(load_spec(root / "tierstack.yaml")), out)
    return out


def standin_knowing(resource_type: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Real terraform with a copy of the provider stand-in whose schema also has `resource_type`.

    The stand-in serves the schema of the types tierstack's own stacks emit (tests/standin/schema/); the
    toy's type is extracted from the same pinned bindings into a copy, so the checked-in one is untouched.
    """
    from standin import extract, mirror

    copy = root / "standin"
    shutil.copytree(mirror.HERE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    schema_file = copy / "schema" / extract.schema_path("google").name
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    schema["resource_schemas"] |= extract.extract("google", {f"resource.{resource_type}"})["resource_schemas"]
    schema_file.write_text(json.dumps(schema), encoding="utf-8")
    binary, _ = mirror.find_terraform()
    monkeypatch.setattr(mirror, "HERE", copy)  # build() points the mirror's provider at the copy
    return mirror.Terraform(binary, mirror.build(root / "terraform"))


def test_the_toy_capabilitys_type_is_known_to_every_reader(
    vector_search: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None, spawns: None
) -> None:
    from standin import mirror
    from tierstack.generator.analysis import diff, review

    with_toy, without = generated(WITH_TOY, tmp_path / "with"), generated(WITHOUT_TOY, tmp_path / "without")
    stack = read_stack(with_toy, "dv-demo-dev")
    assert list(stack["resource"][TOY_TYPE]) == ["vector_search_queries"]
    # the assembler: the API its prefix needs, enabled, and the endpoint waits for it
    assert (
        "google_project_service.foundation_api_aiplatform"
        in stack["resource"][TOY_TYPE]["vector_search_queries"]["depends_on"]
    )

    # docs: the page lists it, and draws it as a store (its row's diagram role)
    page = (with_toy / "stacks" / "dv-demo-dev" / docs.PAGE).read_text(encoding="utf-8")
    assert f"| `{ADDRESS}` |" in page
    assert '    r_vector_search_queries[("vertex ai index endpoint' in page

    # cost: a line for it, not priced, with the reason its row gives; no gap in the price table
    estimate = cost.estimate_stack("dv-demo-dev", "dev", stack, cost.load_prices())
    (line,) = [line for line in estimate.lines if line.address == ADDRESS]
    assert line.monthly is None and line.not_priced == vector_search.NOT_PRICED and line.left_out
    assert not line.gaps and vector_search.NOT_PRICED in page  # the page's budget section says it too

    # diff: removing the capability destroys what its row says the type holds
    report = diff.compare(diff.load_synthesis(with_toy), diff.load_synthesis(without))
    at_risk = {r.address: r.at_risk for r in report.at_risk}
    assert vector_search.LOSES in str(at_risk[ADDRESS])

    # review: a real plan (terraform against the stand-in) of removing it from an applied stack
    terraform = standin_knowing(TOY_TYPE, tmp_path / "standin", monkeypatch)
    applied = mirror.workdir_for(with_toy / "stacks" / "dv-demo-dev", tmp_path / "applied")
    mirror.plan(terraform, applied)
    mirror.apply(terraform, applied)
    replan = mirror.workdir_for(without / "stacks" / "dv-demo-dev", tmp_path / "replan")
    (replan / "terraform.tfstate").write_bytes((applied / "terraform.tfstate").read_bytes())
    plan = mirror.plan(terraform, replan)
    reviewed = review.review_stack(plan, "plan.json")
    (change,) = [c for c in reviewed.changes if c.address == ADDRESS]
    assert change.actions == ("delete",) and change.data_at_risk == vector_search.LOSES
    markdown = review.to_markdown(review.Review((reviewed,)))
    assert "Approval required" in markdown and vector_search.LOSES in markdown

    # and the row is what they read: without the capability the same plan's type is unknown again
    base.unregister("vector_search")
    unknown = review.review_stack(plan, "plan.json")
    assert [c.data_at_risk for c in unknown.changes if c.address == ADDRESS] == [rt.holds_data(TOY_TYPE)]
    assert "possibly data" in str(rt.holds_data(TOY_TYPE))
