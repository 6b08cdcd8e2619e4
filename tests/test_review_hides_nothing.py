"""The review hides nothing and nothing in a plan can write into the comment.

On the real plans of tests/fixtures/review/ (real Terraform against the stand-in): every resource type the
stacks create is classified in generator/data/resource_types.yaml, an unknown type possibly holds data,
a value sensitive on either side is never printed, unknown values are shown as Terraform shows them, the
comment fits GitHub's limit at 250 stacks with the verdict, the data at risk and prod first, and hostile
strings in every string field of a plan cannot forge a marker, an HTML comment or a mention.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from tierstack.generator.analysis import diff as diffing
from tierstack.generator.analysis import review
from tierstack.generator.facts import resource_types
from tierstack.generator.facts.stateful import STATEFUL_TYPES, is_stateful

FIXTURES = REPO / "tests" / "fixtures" / "review"
GITHUB_LIMIT = 65_536
MARKER = "<!-- tierstack-review:review-case -->"  # what generator/output/ci.py writes before the comment


def plan(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def reviewed(*plans: tuple[str, dict[str, Any]]) -> review.Review:
    return review.Review(tuple(review.review_stack(p, source) for source, p in plans))


def types_in(root: Path) -> set[str]:
    found: set[str] = set()
    for stack in root.glob("**/cdk.tf.json"):
        found |= set(json.loads(stack.read_text(encoding="utf-8")).get("resource", {}))
    return found


# --- one table of resource types --------------------------------------------------------------------


def test_every_type_the_examples_create_is_classified() -> None:
    found = types_in(REPO / "examples")
    assert len(found) > 30, "no example stacks found"
    missing = sorted(t for t in found if not resource_types.known(t))
    assert not missing, f"classify these in {resource_types.DATA_FILE}: {missing}"


def test_every_type_the_test_cases_synthesize_is_classified(synthesized: dict[str, Path]) -> None:
    found = set().union(*(types_in(out) for out in synthesized.values()))
    missing = sorted(t for t in found if not resource_types.known(t))
    assert not missing, f"classify these in {resource_types.DATA_FILE}: {missing}"


def test_the_fifteen_old_stateful_types_still_hold_data() -> None:
    old = {
        "google_storage_bucket", "google_bigquery_dataset", "google_bigquery_table", "google_vertex_ai_metadata_store",
        "google_vertex_ai_feature_online_store", "google_vertex_ai_feature_group",
        "google_vertex_ai_feature_online_store_featureview", "google_vertex_ai_endpoint",
        "google_vertex_ai_deployment_resource_pool", "google_vertex_ai_persistent_resource",
        "google_vertex_ai_tensorboard", "google_workbench_instance", "google_artifact_registry_repository",
        "google_kms_key_ring", "google_kms_crypto_key",
    }  # fmt: skip
    assert old <= set(STATEFUL_TYPES)
    assert {"google_pubsub_topic", "google_secret_manager_secret"} <= set(STATEFUL_TYPES)  # issue 18: not "no data"
    assert not is_stateful("google_project_iam_member") and not is_stateful("terraform_data")


def test_an_unknown_type_possibly_holds_data_in_review_and_diff() -> None:
    data = plan("delete-capability")
    (first,) = [c for c in data["resource_changes"] if c["change"]["actions"] == ["delete"]][:1]
    for change in data["resource_changes"]:
        if change["change"]["actions"] == ["delete"]:
            change["type"] = "google_vertex_ai_new_thing"
    result = reviewed(("plan.json", data))
    at_risk = [c for _, c in result.at_risk]
    assert at_risk and all((c.data_at_risk or "").startswith("possibly data") for c in at_risk)
    assert result.approval_required
    body = {"resource": {"google_vertex_ai_new_thing": {"cap_x": {"name": "x"}}}}
    report = diffing.compare({"s": diffing.parse_stack("s", body)}, {"s": diffing.parse_stack("s", {})})
    assert [r.address for r in report.at_risk] == ["google_vertex_ai_new_thing.cap_x"]
    assert first


# --- sensitive and unknown values ----------------------------------------------------------------------


def _bucket_update(data: dict[str, Any]) -> dict[str, Any]:
    return next(
        c
        for c in data["resource_changes"]
        if c["type"] == "google_storage_bucket" and c["change"]["actions"] == ["update"]
    )


@pytest.mark.parametrize("side", ["before_sensitive", "after_sensitive"])
def test_a_value_sensitive_on_either_side_is_never_printed(side: str) -> None:
    data = plan("update-labels-prod")
    change = _bucket_update(data)["change"]
    change["before"]["labels"]["cost-center"] = "OLD-SECRET-4410"
    change["after"]["labels"]["cost-center"] = "NEW-SECRET-4410"
    change[side] = {**(change.get(side) or {}), "labels": True}
    result = reviewed(("plan.json", data))
    for text in (review.to_markdown(result), review.to_text(result), json.dumps(review.to_data(result))):
        assert "SECRET" not in text
        assert "(sensitive)" in text


def test_an_update_whose_only_changes_are_unknown_shows_them() -> None:
    data = plan("update-labels-prod")
    raw = _bucket_update(data)
    change = raw["change"]
    change["after"] = copy.deepcopy(change["before"])
    del change["after"]["self_link"]
    change["after_unknown"] = {"self_link": True}
    result = reviewed(("plan.json", data))
    bucket = next(c for c in result.stacks[0].changes if c.address == raw["address"])
    assert [(a.path, a.after) for a in bucket.attributes] == [("self_link", "(known after apply)")]
    assert "`self_link`: " in review.to_markdown(result) and "(known after apply)" in review.to_text(result)


# --- the comment fits GitHub's limit -----------------------------------------------------------------


def _stacks(count: int) -> list[tuple[str, dict[str, Any]]]:
    """`count` stack plans from real plan shapes: replaced data, creates, label updates, one in prod."""
    shapes = ["replace-stateful", "add-capability", "update-labels-dev", "delete-capability", "create"]
    out = []
    for i in range(count):
        data = copy.deepcopy(plan(shapes[i % len(shapes)]))
        labels = data["configuration"]["provider_config"]["google"]["expressions"]["default_labels"]["constant_value"]
        labels["environment"] = "prod" if i == count - 5 else f"dev{i}"  # a replace-stateful shape
        labels["use-case"] = f"uc{i:03d}"
        out.append((f"out/stacks/uc{i:03d}-{labels['environment']}/plan.json", data))
    return out


def test_the_comment_of_250_stacks_fits_with_the_verdict_data_at_risk_and_prod_first() -> None:
    result = reviewed(*_stacks(250))
    markdown = review.to_markdown(result)
    assert len(MARKER) + 1 + len(markdown) < GITHUB_LIMIT
    assert markdown.startswith("## tierstack review\n\n**Approval required:")
    risky = markdown.index("| **high**")
    assert risky < markdown.index("| stack | environment |")  # data at risk before the long table
    first_row = markdown[risky:].split("\n", 1)[0]
    assert "uc245-prod" in first_row  # prod's data at risk first
    assert "Left out to fit GitHub's comment limit" in markdown or "Lists are cut" in markdown


def test_a_comment_that_fits_is_whole() -> None:
    markdown = review.to_markdown(reviewed(*_stacks(3)))
    assert "<details>" in markdown and "Left out" not in markdown


# --- nothing from a plan writes into the comment -----------------------------------------------------

HOSTILE = st.lists(
    st.sampled_from(
        [
            "<!--",
            "-->",
            MARKER,
            "<!-- tierstack-review:other -->",
            "@user",
            "@org/team",
            "[x](https://evil.example)",
            "![i](https://evil.example/i.png)",
            "|",
            "\n| a | b |\n|---|---|\n",
            "`",
            "``",
            "<details>",
            "</summary>",
            "&lt;!--",
            "<",
            "!",
            "-",
            ">",
            "@",
            "x",
            " ",
        ]
    ),
    min_size=1,
    max_size=8,
).map("".join)
STRUCTURE = {"format_version", "actions", "mode"}  # what makes the JSON a plan: left as Terraform wrote it


def _poison(value: Any, hostile: Any, key: str = "") -> Any:
    """Every string of the plan (and the names of outputs and labels) wrapped in hostile text."""
    if isinstance(value, dict):
        renamed = key in ("output_changes", "labels", "constant_value")
        return {(next(hostile) + k if renamed else k): _poison(v, hostile, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, hostile, key) for v in value]
    if isinstance(value, str) and key not in STRUCTURE:
        return next(hostile) + value + next(hostile)
    return value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(HOSTILE, min_size=1, max_size=13),
    st.sampled_from(["forget", "terraform-data", "replace-stateful", "drift", "move", "update-labels-prod"]),
)
def test_hostile_strings_in_every_field_cannot_forge_markers_comments_or_mentions(
    strings: list[str], name: str
) -> None:
    hostile = itertools.cycle(strings)
    poisoned = _poison(plan(name), hostile)
    result = reviewed((next(hostile) + ".json", poisoned))
    comment = MARKER + "\n" + review.to_markdown(result)
    assert comment.count(MARKER) == 1  # the upsert looks for the whole marker: only the one tierstack wrote
    assert "<!--" not in comment[len(MARKER) :] and "-->" not in comment[len(MARKER) :]
    assert not re.search("@(?!\u2060)", comment), "an @ without the word joiner after it: a mention"
    _judge_markdown(comment[len(MARKER) :])


_OWN_HTML = re.compile(r"^(<details>|</details>|<summary>[^<>]*</summary>)$")


def _judge_markdown(comment: str) -> None:
    """A CommonMark parser (markdown-it-py, with GitHub's tables) reads the comment: no link, image or
    HTML but tierstack's own <details>/<summary>, and every row of a table has its header's cells."""
    import sys

    from markdown_it import MarkdownIt

    split_cells = sys.modules["markdown_it.rules_block.table"].escapedSplit  # the parser's own cell split

    tokens = MarkdownIt("commonmark").enable("table").parse(comment)
    for token in tokens:
        if token.type == "html_block":
            assert all(_OWN_HTML.match(line) for line in token.content.splitlines() if line), token.content
        for child in token.children or ():
            assert child.type not in ("link_open", "image", "html_inline", "autolink"), (child.type, token.content)
    table: list[int] = []
    for line in [*comment.splitlines(), ""]:
        if line.startswith("|"):
            table.append(len(split_cells(line)))
        elif table:
            assert len(set(table)) == 1, f"a table row with extra cells: {table}"
            table = []


def test_deferred_changes_are_listed_and_need_an_approval() -> None:
    """`deferred_changes` as Terraform's JSON output format documents it (1.9+, with -allow-deferral): each
    a `reason` and the `resource_change` that waits. The stand-in cannot defer, so the list is added to a
    real plan."""
    data = plan("update-labels-prod")
    waiting = data["resource_changes"][0]
    data["complete"] = False
    data["deferred_changes"] = [{"reason": "resource_config_unknown", "resource_change": waiting}]
    result = reviewed(("plan.json", data))
    assert result.approval_required and not result.at_risk
    (reason,) = result.stacks[0].incomplete
    assert reason == f"1 change deferred to a later plan ({waiting['address']})"
    assert result.verdict().startswith("Approval required: 1 plan not complete")
    assert "### Not the whole change (approval required)" in review.to_markdown(result)
    data["complete"] = True
    del data["deferred_changes"]
    assert not reviewed(("plan.json", data)).approval_required
