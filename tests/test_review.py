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

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run
from tierstack.generator import review
from tierstack.generator.errors import UserError

FIXTURES = REPO / "tests" / "fixtures" / "review"
SCENARIOS = sorted(p.stem for p in FIXTURES.glob("*.json"))
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
    assert markdown.count("<details>") == 1 and markdown.count("</details>") == 1
    summary = re.search(r"<summary>(.*)</summary>", markdown)
    assert summary and summary.group(1) == "All changes in review-case-prod: 2 to replace"
    details = markdown.split("<details>")[1]
    assert '- `location`: `"US-CENTRAL1"` → `"EU"`' in details
    assert "computed attributes known after apply" in details


def test_a_comment_too_long_for_github_drops_the_details() -> None:
    many = tuple(review.review_stack(plan("create"), f"create{i}.json") for i in range(40))
    markdown = review.to_markdown(review.Review(many))
    assert len(markdown) <= review.MAX_MARKDOWN
    assert "<details>" not in markdown and "longer than GitHub allows" in markdown


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
