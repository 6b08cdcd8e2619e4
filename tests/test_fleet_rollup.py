"""Fleet roll-ups (generator/analysis/rollup/): `tierstack cost FLEET` and `explain FLEET` per member, team,
cost label and capability, against each stack's budget.

The judge of the cost roll-up is the single-config command: the test writes each member of the example
fleet (examples/churn-fleet) as a tierstack.yaml of its own, merging the defaults itself (a few lines,
not the fleet module's merge), runs the installed `tierstack cost` on it over the member's checked-in
stacks, and sums those figures itself. The budgets are judged against what the test itself wrote into
each member's config.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run
from tierstack.generator.analysis import rollup
from tierstack.generator.analysis.rollup.model import Amount, Budget, BudgetCheck, of_lines, status
from tierstack.generator.core.yamlio import dump, load_file, to_plain

EXAMPLE = REPO / "examples" / "churn-fleet"
FLEET = EXAMPLE / "churn.fleet.yaml"
TIERSTACK = str(Path(sys.executable).with_name("tierstack"))
PRICES = ("--prices", "table")  # the shipped table, whatever cache or credentials the machine has
ACCOUNT = "012345-6789AB-CDEF01"

# what this test declares, member by member and environment by environment: (amount, currency) or None
BUDGETS: dict[str, dict[str, tuple[float, str | None] | None]] = {
    "churn-us": {"dev": (150.0, "USD"), "prod": (400.0, "USD")},  # dev over; prod under so far (1 not priced)
    "churn-de": {"dev": None, "prod": None},  # budgets off; every stack has items not priced
    "churn-br": {"dev": (400.0, "EUR"), "prod": (400.0, "EUR")},  # another currency than the estimate's
}


def merged(defaults: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    """What docs/fleets.md says a member is: mappings merged key by key, the member's value winning."""
    out = copy.deepcopy(defaults)
    for key, value in member.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def budgeted_example() -> dict[str, Any]:
    """The example fleet with budgets: a default of USD 400, churn-us's dev at 150, churn-de's off, churn-br's
    in EUR."""
    fleet = to_plain(load_file(FLEET))
    fleet["defaults"]["budget"] = {"billing_account": ACCOUNT, "amount": 400, "currency": "USD"}
    members = {m["name"]: m for m in fleet["members"]}
    members["churn-us"]["environments"] = {"dev": {"budget": {"amount": 150}}, "prod": {}}
    members["churn-de"]["budget"] = {"enabled": False}
    members["churn-br"]["budget"] = {"currency": "EUR"}
    return dict(fleet)


@pytest.fixture
def fleet_copy(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """The example fleet in tmp_path with its members' checked-in stacks, and the budgets above."""
    folder = tmp_path / "churn-fleet"
    shutil.copytree(EXAMPLE, folder)
    fleet = budgeted_example()
    path = folder / "churn.fleet.yaml"
    path.write_text(dump(fleet), encoding="utf-8")
    return path, fleet


def tierstack(*args: str) -> dict[str, Any]:
    """The installed CLI, its JSON; no credentials in its environment."""
    env = {k: v for k, v in os.environ.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
    done = subprocess.run([TIERSTACK, *args, "--format", "json"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def single_costs(path: Path, fleet: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each member as a tierstack.yaml of its own (the test's merge), priced by the single-config command over
    the member's stacks: member -> its stacks' estimates."""
    out = {}
    for member in fleet["members"]:
        config = merged({"blueprint": fleet["blueprint"], **fleet["defaults"]}, member)
        config["blueprint"] = str((path.parent / fleet["blueprint"]).resolve())
        single = path.parent / "single" / member["name"] / "tierstack.yaml"
        single.parent.mkdir(parents=True)
        single.write_text(dump(config), encoding="utf-8")
        stacks = path.parent / member["name"] / "cdktf.out"
        out[member["name"]] = tierstack("cost", str(single), "--out", str(stacks), *PRICES)
    return out


def close(a: float | None, b: float, stacks: int) -> bool:
    """Equal up to the rounding of each stack's figure to the cent."""
    return a is not None and abs(a - b) <= 0.005 * max(stacks, 1) + 1e-9


def test_the_rollup_totals_are_the_single_configs_sums(fleet_copy: tuple[Path, dict[str, Any]], spawns: None) -> None:
    path, fleet = fleet_copy
    singles = single_costs(path, fleet)
    data = tierstack("cost", str(path), *PRICES)
    roll = data["rollup"]
    stacks = {s["stack"]: (member, s) for member, d in singles.items() for s in d["stacks"]}
    assert [s["stack"] for s in roll["stacks"]] == list(stacks)  # every stack, in the fleet file's order

    def judged(groups: list[dict[str, Any]], belongs: Any) -> None:
        for group in groups:
            mine = [s for name, (member, s) in stacks.items() if belongs(group, member, s)]
            assert group["stacks"] == [s["stack"] for s in mine], group
            assert close(group["estimate"], sum(s["total"] for s in mine), len(mine)), group
            assert group["not_priced"] == sum(s["not_priced"] for s in mine), group

    judged(roll["members"], lambda g, member, s: member == g["member"])
    teams = {m["name"]: merged(fleet["defaults"], m)["team"] for m in fleet["members"]}
    assert [g["team"] for g in roll["teams"]] == sorted(set(teams.values()))
    judged(roll["teams"], lambda g, member, s: teams[member] == g["team"])
    labels = {m["name"]: merged(fleet["defaults"], m).get("labels", {}) for m in fleet["members"]}
    assert {g["label"] for g in roll["labels"]} >= {"cost-center", "data-residency", "program"}
    judged(
        [g for g in roll["labels"] if g["label"] in ("cost-center", "data-residency")],
        lambda g, member, s: labels[member].get(g["label"]) == g["value"],
    )
    everything = [s for _, s in stacks.values()]
    assert close(roll["estimate"], sum(s["total"] for s in everything), len(everything))
    assert roll["not_priced"] == sum(s["not_priced"] for s in everything) > 0
    for group in roll["capabilities"]:
        having = [s for s in everything if group["capability"] in s["by_capability"]]
        assert group["stacks"] == [s["stack"] for s in having]
        priced = [s["by_capability"][group["capability"]] for s in having]
        unpriced = sum(s["not_priced_by_capability"].get(group["capability"], 0) for s in having)
        assert group["not_priced"] == unpriced
        if all(p is None for p in priced):
            assert group["estimate"] is None  # not priced anywhere: never 0.00
        else:
            assert close(group["estimate"], sum(p or 0 for p in priced), len(having))


def test_each_budget_is_what_the_member_declares(fleet_copy: tuple[Path, dict[str, Any]], spawns: None) -> None:
    path, fleet = fleet_copy
    singles = single_costs(path, fleet)
    roll = tierstack("cost", str(path), *PRICES)["rollup"]
    for check in roll["stacks"]:
        member, env = check["member"], check["stack"].removeprefix(check["member"] + "-")
        declared = BUDGETS[member][env]
        single = next(s for s in singles[member]["stacks"] if s["stack"] == check["stack"])
        if declared is None:
            assert check["budget"] is None and check["status"] == "no_budget"
            assert single["budget"] == {"configured": False}
            continue
        amount, currency = declared
        assert check["budget"] == {"amount": amount, "currency": currency}
        assert (single["budget"]["amount"], single["budget"]["currency"]) == declared  # the single config agrees
        if currency != "USD":
            assert check["status"] == "other_currency" and check["difference"] is None
        elif single["total"] > amount:
            assert check["status"] == "over" and close(check["difference"], single["total"] - amount, 1)
        else:
            assert check["status"] == ("unknown" if single["not_priced"] else "under")
            assert close(check["difference"], single["total"] - amount, 1)
    by_stack = {c["stack"]: c["status"] for c in roll["stacks"]}
    assert by_stack == {
        "churn-us-dev": "over",  # 163.78 > 150, whatever the item not priced costs
        "churn-us-prod": "unknown",  # 323.80 < 400 so far, with an item not priced
        "churn-de-dev": "no_budget",
        "churn-de-prod": "no_budget",
        "churn-br-dev": "other_currency",
        "churn-br-prod": "other_currency",
    }
    fleet_budget = roll["budget"]
    assert fleet_budget["budgeted"] == ["churn-us-dev", "churn-us-prod"] and fleet_budget["amount"] == 550.0
    assert fleet_budget["without_budget"] == ["churn-de-dev", "churn-de-prod"]
    assert fleet_budget["other_currency"] == ["churn-br-dev", "churn-br-prod"]
    assert fleet_budget["over"] == ["churn-us-dev"]
    us = next(g for g in roll["teams"] if g["team"] == "retail")  # 487.58 + 2 not priced against 550.00
    assert us["budget"]["amount"] == 550.0 and us["budget"]["status"] == "unknown"
    assert us["budget"]["over"] == ["churn-us-dev"]  # the sum is under; one of its stacks is not


# --- in-process: the same command, what it says ------------------------------------------------------


def cost_json(path: Path, *args: str) -> dict[str, Any]:
    result = run("cost", str(path), *args, *PRICES, "--format", "json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_a_member_with_items_not_priced_is_reported_as_such(fleet_copy: tuple[Path, dict[str, Any]]) -> None:
    path, _ = fleet_copy
    roll = cost_json(path)["rollup"]
    de = next(g for g in roll["members"] if g["member"] == "churn-de")
    assert de["not_priced"] == 12 and de["estimate"] == 0.23  # europe-west3 is not in the price table
    metadata = next(g for g in roll["capabilities"] if g["capability"] == "metadata_tracking")
    assert metadata["estimate"] is None and metadata["not_priced"] == 6  # nothing of it priced: not 0.00
    text = run("cost", str(path), *PRICES)
    assert text.exit_code == 0, text.output
    rollups = text.stdout[text.stdout.index("Roll-ups of fleet churn") :]
    row = next(line for line in rollups.splitlines() if line.strip().startswith("churn-de "))
    assert "0.23 + 12 not priced" in row and "no budget" in row
    metadata_row = next(line for line in rollups.splitlines() if line.strip().startswith("metadata_tracking"))
    assert metadata_row.rstrip().endswith("not priced") and "0.00" not in metadata_row
    prod = next(line for line in rollups.splitlines() if line.strip().startswith("churn-us-prod"))
    assert "under by 76.20 so far: 1 not priced" in prod  # 400 - 323.80, not "under" outright
    assert "over by 13.78" in next(line for line in rollups.splitlines() if line.strip().startswith("churn-us-dev"))
    assert "without a budget: churn-de-dev, churn-de-prod" in rollups


def test_each_labels_groups_add_up_to_the_fleet() -> None:
    """Per label key, one group per value and one for the stacks without it: every stack once."""
    roll = cost_json(FLEET)["rollup"]
    stacks = [s["stack"] for s in roll["stacks"]]
    for key in {g["label"] for g in roll["labels"]}:
        groups = [g for g in roll["labels"] if g["label"] == key]
        assert sorted(s for g in groups for s in g["stacks"]) == sorted(stacks), key
        assert sum(g["not_priced"] for g in groups) == roll["not_priced"]
        assert abs(sum(g["estimate"] or 0 for g in groups) - roll["estimate"]) < 0.01 * len(stacks)
    residency = [(g["value"], g["members"]) for g in roll["labels"] if g["label"] == "data-residency"]
    assert residency == [("eu", ["churn-de"]), (None, ["churn-us", "churn-br"])]  # the unset last
    assert {g["label"] for g in roll["labels"]}.isdisjoint({"use-case", "team", "managed-by"})


def test_the_rollup_is_deterministic_and_the_same_in_yaml() -> None:
    first, second = run("cost", str(FLEET), *PRICES), run("cost", str(FLEET), *PRICES)
    assert first.exit_code == 0 and first.stdout == second.stdout
    yaml_out = run("cost", str(FLEET), *PRICES, "--format", "yaml")
    assert yaml_out.exit_code == 0, yaml_out.output
    from tierstack.generator.core.yamlio import parse

    assert to_plain(parse(yaml_out.stdout, Path("-")))["rollup"] == cost_json(FLEET)["rollup"]
    assert [g["team"] for g in cost_json(FLEET)["rollup"]["teams"]] == ["retail", "retail-br", "retail-de"]


def test_member_and_env_narrow_the_rollup() -> None:
    roll = cost_json(FLEET, "--member", "churn-us", "--env", "prod")["rollup"]
    assert [s["stack"] for s in roll["stacks"]] == ["churn-us-prod"]
    assert [g["member"] for g in roll["members"]] == ["churn-us"]


def test_a_single_config_has_no_rollup() -> None:
    data = cost_json(REPO / "examples" / "fraud-detection" / "tierstack.yaml")
    assert "rollup" not in data


# --- explain FLEET -------------------------------------------------------------------------------------


def explain_json(path: Path) -> dict[str, Any]:
    result = run("explain", str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_explain_rolls_up_what_the_members_select_and_declare(fleet_copy: tuple[Path, dict[str, Any]]) -> None:
    path, fleet = fleet_copy
    data = explain_json(path)
    assert [m["name"] for m in data["members"]] == ["churn-us", "churn-de", "churn-br"]
    for member in data["members"]:
        config = merged(fleet["defaults"], next(m for m in fleet["members"] if m["name"] == member["name"]))
        assert member["team"] == config["team"]
        for stack in member["stacks"]:
            declared = BUDGETS[member["name"]][stack["environment"]]
            want = None if declared is None else {"amount": declared[0], "currency": declared[1]}
            assert stack["budget"] == want, stack
            assert {k: v for k, v in stack["labels"].items() if k in config.get("labels", {})} == config["labels"]
    assert data["budgets"]["amounts"] == [{"currency": "EUR", "amount": 800.0}, {"currency": "USD", "amount": 550.0}]
    assert data["budgets"]["without_budget"] == ["churn-de-dev", "churn-de-prod"]
    teams = {g["team"]: g["members"] for g in data["teams"]}
    assert teams == {"retail": ["churn-us"], "retail-br": ["churn-br"], "retail-de": ["churn-de"]}
    serving = next(c for c in data["capabilities"] if c["id"] == "model_serving")
    assert serving["members"] == ["churn-us", "churn-de", "churn-br"]
    assert [r["members"] for r in serving["reasons"]] == [["churn-us", "churn-de", "churn-br"]]
    assert "use_case.serving = online" in serving["reasons"][0]["reason"]
    assert "feature_repository" in data["not_selected"]


def test_explain_tells_members_apart_by_what_they_select(tmp_path: Path) -> None:
    """A member that answers differently shows apart: the capability lists only the members selecting it."""
    fleet = to_plain(load_file(FLEET))
    fleet["blueprint"] = str(EXAMPLE / "acme-churn.yaml.j2")
    fleet["members"][2]["use_case"] = {"serving": "batch"}  # churn-br: no online endpoint
    path = tmp_path / "churn.fleet.yaml"
    path.write_text(dump(dict(fleet)), encoding="utf-8")
    data = explain_json(path)
    monitoring = next(c for c in data["capabilities"] if c["id"] == "model_monitoring")
    assert monitoring["members"] == ["churn-us", "churn-de"]
    serving = next(c for c in data["capabilities"] if c["id"] == "model_serving")
    assert [(r["reason"].split(":")[0], r["members"]) for r in serving["reasons"]] == [
        ("use_case.serving = online", ["churn-us", "churn-de"]),
        ("use_case.serving = batch", ["churn-br"]),
    ]
    text = run("explain", str(path))
    assert text.exit_code == 0, text.output
    assert "model_monitoring — Model monitoring: 2 of 3: churn-us, churn-de\n" in text.stdout


@pytest.mark.parametrize("command", ["explain", "cost"])
def test_a_bad_member_is_exit_2_at_its_line(tmp_path: Path, command: str) -> None:
    text = FLEET.read_text(encoding="utf-8").replace("    region: europe-west3\n", "    region: Europe\n")
    path = tmp_path / "churn.fleet.yaml"
    path.write_text(text.replace("./acme-churn.yaml.j2", str(EXAMPLE / "acme-churn.yaml.j2")), encoding="utf-8")
    line = text.splitlines().index("    region: Europe") + 1
    result = run(command, str(path))
    assert result.exit_code == 2, result.output
    assert f"churn.fleet.yaml:{line}, field 'members[churn-de].region'" in result.stderr
    assert "Traceback" not in result.output


def test_explain_lists_every_bad_member(tmp_path: Path) -> None:
    text = FLEET.read_text(encoding="utf-8").replace("./acme-churn.yaml.j2", str(EXAMPLE / "acme-churn.yaml.j2"))
    text = text.replace("    region: europe-west3\n", "    region: Europe\n")
    text = text.replace("    region: us-central1\n", "    regio: x\n")
    path = tmp_path / "churn.fleet.yaml"
    path.write_text(text, encoding="utf-8")
    result = run("explain", str(path))
    assert result.exit_code == 2, result.output
    assert "members[churn-us].regio" in result.stderr and "members[churn-de].region" in result.stderr


def test_a_bad_fleet_file_is_exit_2_at_its_line(tmp_path: Path) -> None:
    text = FLEET.read_text(encoding="utf-8").replace("  team: retail\n", "  teem: retail\n")
    path = tmp_path / "churn.fleet.yaml"
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  teem: retail") + 1
    for command in ("explain", "cost"):
        result = run(command, str(path))
        assert result.exit_code == 2, result.output
        assert f"churn.fleet.yaml:{line}, field 'defaults.teem'" in result.stderr
        assert "did you mean 'team'?" in result.stderr


def test_a_description_is_shown_never_obeyed(tmp_path: Path) -> None:
    text = FLEET.read_text(encoding="utf-8").replace("./acme-churn.yaml.j2", str(EXAMPLE / "acme-churn.yaml.j2"))
    text = text.replace("description: one churn model", 'description: "\\e]0;pwned\\a one churn model')
    text = text.replace("served online to the CRM\n", 'served online to the CRM"\n')
    path = tmp_path / "churn.fleet.yaml"
    path.write_text(text, encoding="utf-8")
    result = run("explain", str(path))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\\x1b]0;pwned\\x07 one churn model" in result.stdout


@pytest.mark.parametrize("command", ["explain", "cost"])
def test_the_fleet_rollups_load_no_bindings(command: str, spawns: None) -> None:
    """explain and cost of a fleet read plans and written stacks: the cdktn bindings never load."""
    args = [command, str(FLEET), *(PRICES if command == "cost" else ())]
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from tierstack.generator.cli import main\n"
        f"result = CliRunner().invoke(main, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'Roll-ups of fleet' in result.output or result.output.startswith('Fleet churn'), result.output\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    loaded = set(json.loads(out.stdout))
    assert "tierstack.generator.analysis.rollup" in loaded and "tierstack.generator.services.fleet" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in {"cdktn", "cdktn_provider_google", "constructs", "jsii"})
    assert heavy == [], f"{command} of a fleet loads the bindings: {heavy[:5]}"


# --- the model's rules, alone --------------------------------------------------------------------------


def test_an_item_not_priced_is_never_zero() -> None:
    nothing = of_lines([None, None])
    assert nothing.figure is None and nothing.not_priced == 2
    free = of_lines([0.0, None])
    assert free.figure == 0.0 and free.not_priced == 1  # a price of 0.00 is a price; the other is not
    assert rollup.cost_text is not None and (nothing + free).figure == 0.0
    from tierstack.generator.analysis.rollup.render import figure_text

    assert figure_text(nothing) == "not priced" and figure_text(free) == "0.00 + 1 not priced"


def test_over_under_and_unknown() -> None:
    assert status(Amount(120.0, 3, 1), 100.0) == "over"  # what is not priced only adds to it
    assert status(Amount(80.0, 3, 0), 100.0) == "under"
    assert status(Amount(80.0, 3, 1), 100.0) == "unknown"
    check = BudgetCheck("a-dev", "a", Amount(80.0, 1, 0), Budget(100.0, "EUR"), "USD")
    assert check.status == "other_currency" and check.difference is None
    account = BudgetCheck("a-dev", "a", Amount(80.0, 1, 0), Budget(100.0, None), "USD")
    assert account.status == "under" and account.difference == -20.0


def test_a_long_list_of_members_is_cut_in_text_only() -> None:
    from tierstack.generator.analysis.rollup.render import SHOWN_NAMES, _names

    names = [f"m{i}" for i in range(SHOWN_NAMES + 3)]
    assert _names(names, 20) == f"{len(names)} of 20: {', '.join(names[:SHOWN_NAMES])} and 3 more"
    assert _names(names[:2], 20) == "2 of 20: m0, m1" and _names(names, len(names)) == f"all {len(names)}"
