"""Fleets (generator/services/fleet.py): one file, several use cases over shared defaults, generated in one process.

The judge of a fleet member is the same use case written as a tierstack.yaml of its own: the test merges
the defaults into each member itself (its own few lines, not the fleet module's merge), writes the single
configs and generates them, and the stacks must be byte for byte the fleet's.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.errors import ErrorList, UserError
from tierstack.generator.core.yamlio import dump
from tierstack.generator.plan.resolve import resolve
from tierstack.generator.services import fleet as fleets

ANSI = re.compile(r"\x1b\[")

DEFAULTS: dict[str, Any] = {
    "team": "growth",
    "use_case": {"stage": "production", "serving": "batch"},
    "labels": {"cost-center": "cc-100"},
}
MEMBERS: list[dict[str, Any]] = [
    {"name": "prop-us", "region": "us-central1", "environments": {"dev": {"project": "acme-prop-us-dev"}}},
    {
        "name": "prop-uk",
        "team": "growth-uk",
        "region": "europe-west2",
        "labels": {"data-residency": "uk"},
        "environments": {"dev": {"project": "acme-prop-uk-dev", "labels": {"tier-owner": "uk"}}},
    },
    {
        "name": "prop-de",
        "region": "europe-west3",
        "use_case": {"retraining": "scheduled", "schedule": "0 4 * * *"},  # tier 1: dev and prod
        "overrides": {"capabilities": {"data_processing": {"datasets": ["features", "scores"]}}},
    },
]


def merged(defaults: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    """What the fleet file documents: mappings merge key by key, the member's value wins, the rest replaces."""
    out = copy.deepcopy(defaults)
    for key, value in member.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def fleet_text(members: list[dict[str, Any]] = MEMBERS, defaults: dict[str, Any] = DEFAULTS) -> str:
    return dump(
        {"fleet": "propensity", "description": "one model per region", "defaults": defaults, "members": members}
    )


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet_text(), encoding="utf-8")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, text: str, after: str | None = None) -> int:
    """The 1-based line of the first line holding `text` (after the first holding `after`)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


# --- loading: each member is a tierstack.yaml over the defaults --------------------------------------


def test_each_member_is_its_single_config(fleet_file: Path, tmp_path: Path) -> None:
    fleet = fleets.load_fleet(fleet_file)
    assert fleet.name == "propensity"
    assert [m.name for m in fleet.members] == ["prop-us", "prop-uk", "prop-de"]
    for member, given in zip(fleet.members, MEMBERS, strict=True):
        single = write(tmp_path / "single" / str(member.name) / "tierstack.yaml", dump(merged(DEFAULTS, given)))
        assert member.error is None and member.loaded is not None and member.resolved is not None
        assert member.loaded.spec == load_spec(single).spec
        assert member.resolved.to_data() == resolve(load_spec(single)).to_data()
    uk = fleet.members[1].resolved
    assert uk is not None
    assert uk.environments["dev"].settings["labels"] == {
        "cost-center": "cc-100",
        "data-residency": "uk",
        "environment": "dev",
        "managed-by": "tierstack",
        "team": "growth-uk",
        "tier": "tier-0",
        "tier-owner": "uk",
        "use-case": "prop-uk",
    }


def test_provenance_points_into_the_fleet_file(fleet_file: Path) -> None:
    uk = fleets.load_fleet(fleet_file).members[1].resolved
    assert uk is not None
    where = {key: str(source) for key, _, source in uk.leaves()}
    shown = fleets.display_path(fleet_file)
    assert where["environments.dev.region"] == f"{shown}:{line_of(fleet_file, 'europe-west2')}"
    # a default: the defaults' line; the member's own label: the member's line
    assert where["environments.dev.labels.cost-center"] == f"{shown}:{line_of(fleet_file, 'cost-center')}"
    assert where["environments.dev.labels.data-residency"] == f"{shown}:{line_of(fleet_file, 'data-residency')}"
    assert where["environments.dev.project"] == f"{shown}:{line_of(fleet_file, 'acme-prop-uk-dev')}"
    de = fleets.load_fleet(fleet_file).members[2].resolved
    assert de is not None
    datasets = {k: str(s) for k, _, s in de.leaves()}["environments.prod.capabilities.data_processing.datasets"]
    assert datasets == f"{shown}:{line_of(fleet_file, 'datasets:')}"


def test_a_bad_member_names_the_fleet_file_the_member_and_the_field(tmp_path: Path) -> None:
    members = [dict(MEMBERS[0]), {**MEMBERS[1], "region": "Europe"}, {**MEMBERS[2], "use_case": {"servng": "online"}}]
    path = write(tmp_path / "fleet.yaml", fleet_text(members))
    fleet = fleets.load_fleet(path)
    ok, uk, de = fleet.members
    assert ok.error is None
    assert isinstance(uk.error, UserError) and not isinstance(uk.error, ErrorList)
    assert (uk.error.file, uk.error.line, uk.error.field) == (path, line_of(path, "Europe"), "members[prop-uk].region")
    assert "not a GCP region" in uk.error.message
    assert de.error is not None
    assert (de.error.line, de.error.field) == (line_of(path, "servng"), "members[prop-de].use_case.servng")
    assert de.error.hint == "did you mean 'serving'?"


def test_an_error_in_a_default_names_the_default(tmp_path: Path) -> None:
    defaults = {**DEFAULTS, "use_case": {"stage": "production", "serving": "batch", "accelerator": "gpu:NOPE"}}
    path = write(tmp_path / "fleet.yaml", fleet_text(MEMBERS[:1], defaults))
    (member,) = fleets.load_fleet(path).members
    assert member.error is not None
    assert member.error.field == "defaults.use_case.accelerator"
    assert member.error.line == line_of(path, "gpu:NOPE")


def test_an_error_found_when_resolving_names_the_member(tmp_path: Path) -> None:
    members = [{**MEMBERS[0], "overrides": {"lables": {"x": "y"}}}]
    path = write(tmp_path / "fleet.yaml", fleet_text(members))
    (member,) = fleets.load_fleet(path).members
    assert member.error is not None
    assert member.error.field == "members[prop-us].overrides.lables"
    assert member.error.line == line_of(path, "lables")
    assert member.error.hint == "did you mean 'labels'?"


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("fleet: propensity\nmembers: []\n", "members", "at least 1 item"),
        ("fleet: propensity\nmemebers: [{name: a-b-c}]\n", "memebers", "unknown key 'memebers'"),
        ("fleet: Propensity!\nmembers: [{name: abc}]\n", "fleet", "cannot name stacks"),
        ("fleet: x-y-z\ndefaults: {name: abc}\nmembers: [{team: t}]\n", "defaults.name", "same stacks"),
        ("fleet: x-y-z\ndefaults: {regoin: us-east4}\nmembers: [{name: abc}]\n", "defaults.regoin", "unknown key"),
        (
            "fleet: x-y-z\nblueprint: level-0-manual\ndefaults: {blueprint: level-0-manual}\nmembers: [{name: abc}]\n",
            "defaults.blueprint",
            "given twice",
        ),
        (
            "fleet: x-y-z\nmembers:\n  - name: abc\n    team: t\n  - name: abc\n    team: u\n",
            "members[1].name",
            "two members are named 'abc' (lines 3 and 5)",
        ),
    ],
)
def test_a_bad_fleet_file_is_one_error(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = write(tmp_path / "fleet.yaml", text)
    with pytest.raises(UserError) as caught:
        fleets.load_fleet(path)
    errors = caught.value.errors if isinstance(caught.value, ErrorList) else [caught.value]
    found = next(e for e in errors if e.field == field)
    assert message in found.message
    assert found.file == path


def test_two_members_with_one_name_stop_generate_before_anything_is_written(tmp_path: Path) -> None:
    members = [MEMBERS[0], {**MEMBERS[1], "name": "prop-us"}]
    path = write(tmp_path / "fleet.yaml", fleet_text(members))
    result = run("generate", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "two members are named 'prop-us'" in result.output
    assert "field 'members[1].name'" in result.output
    assert not (tmp_path / "out").exists()


def test_a_member_that_is_not_a_mapping_is_its_own_error(tmp_path: Path) -> None:
    path = write(tmp_path / "fleet.yaml", "fleet: x-y-z\nmembers:\n  - just-a-name\n  - name: abc\n    team: t\n")
    first, second = fleets.load_fleet(path).members
    assert first.error is not None and (first.error.field, first.error.line) == ("members[0]", 3)
    assert "a member is a mapping" in first.error.message
    assert second.error is not None  # abc lacks use_case: its own error, at its own line
    assert (second.error.field, second.error.line) == ("members[abc].use_case", 4)


def test_commands_taking_one_use_case_say_so_for_a_fleet_file(fleet_file: Path) -> None:
    with pytest.raises(UserError) as caught:
        load_spec(fleet_file)
    assert "fleet file" in caught.value.message and "--member" in str(caught.value.hint)
    result = run("bootstrap", str(fleet_file), "--dry-run")
    assert result.exit_code == 2 and "this is a fleet file" in result.output


# --- --only ----------------------------------------------------------------------------------------


def chosen(fleet_file: Path, *only: str) -> list[tuple[str | None, list[str] | None]]:
    return [(c.member.name, c.environments) for c in fleets.select(fleets.load_fleet(fleet_file), list(only))]


def test_only_selects_stacks_by_name_team_region_and_environment(fleet_file: Path) -> None:
    everyone = [("prop-us", None), ("prop-uk", None), ("prop-de", None)]
    assert chosen(fleet_file) == everyone
    assert chosen(fleet_file, "team=growth-uk") == [("prop-uk", None)]
    assert chosen(fleet_file, "team=growth") == [("prop-us", None), ("prop-de", None)]
    assert chosen(fleet_file, "name=prop-us", "name=prop-de") == [("prop-us", None), ("prop-de", None)]  # either
    assert chosen(fleet_file, "region=europe-west3") == [("prop-de", None)]
    # an environment: those stacks only; a member with no such stack is left out
    assert chosen(fleet_file, "environment=prod") == [("prop-de", ["prod"])]
    assert chosen(fleet_file, "environment=dev", "team=growth") == [("prop-us", None), ("prop-de", ["dev"])]
    assert chosen(fleet_file, "team=growth", "region=europe-west2") == []  # both keys must match


@pytest.mark.parametrize(
    ("only", "message", "hint"),
    [
        ("tem=uk", "'tem' is not a key members are selected by", "did you mean 'team'?"),
        ("colour=blue", "'colour' is not a key", "keys: name, team, region, environment"),
        ("team", "'team' is not KEY=VALUE", "e.g. --only team=uk"),
        ("team=growth-ukk", "no member has team 'growth-ukk'", "did you mean 'growth-uk'?"),
        ("environment=qa", "no member has environment 'qa'", "environments in"),
    ],
)
def test_a_bad_only_is_a_clear_error(fleet_file: Path, only: str, message: str, hint: str) -> None:
    with pytest.raises(UserError) as caught:
        fleets.select(fleets.load_fleet(fleet_file), [only])
    assert caught.value.field == "--only"
    assert message in caught.value.message
    assert hint in str(caught.value.hint)
    result = run("generate", str(fleet_file), "--only", only)
    assert result.exit_code == 2
    assert message in result.output


def test_only_and_member_go_with_fleet_files(tmp_path: Path) -> None:
    single = write(tmp_path / "tierstack.yaml", dump(merged(DEFAULTS, MEMBERS[0])))
    result = run("generate", str(single), "--only", "team=uk")
    assert result.exit_code == 2 and "--only selects members of a fleet file" in result.output
    result = run("show", str(single), "--member", "prop-us")
    assert result.exit_code == 2 and "--member names a member of a fleet file" in result.output


def test_a_member_with_errors_is_selected_by_what_its_config_tells(tmp_path: Path) -> None:
    members = [MEMBERS[0], {**MEMBERS[1], "region": "Europe"}]
    path = write(tmp_path / "fleet.yaml", fleet_text(members))
    assert chosen(path, "team=growth-uk") == [("prop-uk", None)]
    assert chosen(path, "team=growth") == [("prop-us", None)]
    assert chosen(path, "environment=dev") == [("prop-us", None), ("prop-uk", None)]  # its error must show


# --- validate, show, explain ---------------------------------------------------------------------------


def test_validate_checks_every_member(tmp_path: Path) -> None:
    members = [MEMBERS[0], {**MEMBERS[1], "region": "Europe"}, MEMBERS[2]]
    path = write(tmp_path / "fleet.yaml", fleet_text(members))
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert "members[prop-us]: valid: tier 0, 1 stack (prop-us-dev)" in result.output
    assert f"{path}:{line_of(path, 'Europe')}, field 'members[prop-uk].region'" in result.output
    assert "members[prop-de]: valid: tier 1, 2 stacks (prop-de-dev, prop-de-prod)" in result.output
    assert "1 of 3 members has problems" in result.output
    data = json.loads(run("validate", str(path), "--format", "json").stdout)
    assert data["valid"] is False
    assert [(m["member"], m["valid"]) for m in data["members"]] == [
        ("members[prop-us]", True),
        ("members[prop-uk]", False),
        ("members[prop-de]", True),
    ]
    assert data["members"][1]["problems"][0]["field"] == "members[prop-uk].region"
    good = write(tmp_path / "good.yaml", fleet_text())
    result = run("validate", str(good))
    assert result.exit_code == 0, result.output
    assert "all 3 members are valid" in result.output


def test_validate_reports_a_bad_fleet_file_as_data(tmp_path: Path) -> None:
    path = write(tmp_path / "fleet.yaml", "fleet: x-y-z\nmemebers: []\n")
    data = json.loads(run("validate", str(path), "--format", "json").stdout)
    assert data["valid"] is False and data["members"] == []
    assert [p["field"] for p in data["problems"]] == ["members", "memebers"]


def test_show_a_member(fleet_file: Path) -> None:
    result = run("show", str(fleet_file), "--member", "prop-uk")
    assert result.exit_code == 0, result.output
    assert "name: prop-uk\nteam: growth-uk\n" in result.output
    result = run("show", str(fleet_file), "--member", "prop-uk", "--resolved", "--provenance")
    assert result.exit_code == 0, result.output
    shown = fleets.display_path(fleet_file)
    region = next(line for line in result.output.splitlines() if line.startswith("environments.dev.region "))
    assert region.endswith(f'"europe-west2"  # {shown}:{line_of(fleet_file, "europe-west2")}')
    result = run("show", str(fleet_file), "--member", "prop-ukk")
    assert result.exit_code == 2
    assert "no member named 'prop-ukk'" in result.output and "did you mean 'prop-uk'?" in result.output
    result = run("explain", str(fleet_file))  # the fleet's roll-ups (tests/test_fleet_rollup.py)
    assert result.exit_code == 0 and result.output.startswith("Fleet propensity"), result.output


# --- generate: synthesis ---------------------------------------------------------------------------


def stack_files(out: Path) -> dict[str, bytes]:
    """Every stack's cdk.tf.json and the manifest.json of a cdktf output directory."""
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.glob("stacks/*/cdk.tf.json"))}
    return files | {"manifest.json": (out / "manifest.json").read_bytes()}


def test_a_bad_member_is_reported_and_the_others_generated(tmp_path: Path, synthesizes: None) -> None:
    """Also: plain lines, no colours, when the output is not a terminal; --env is --only environment=."""
    members = [MEMBERS[0], {**MEMBERS[1], "region": "Europe"}]
    path = write(tmp_path / "fleet.yaml", fleet_text(members))
    result = run("generate", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert not ANSI.search(result.output)
    lines = result.output.splitlines()
    assert (
        lines[0]
        == "fleet propensity: generating 2 of 2 members (loading the Google provider bindings takes a few seconds)..."
    )
    assert "[1/2] prop-us: ok: 1 stack, " in result.output
    error = f"[2/2] prop-uk: error: {path}:{line_of(path, 'Europe')}, field 'members[prop-uk].region': 'Europe' is not"
    assert error in result.output
    assert re.search(r"fleet propensity: 1 of 2 members done, 1 stack, [0-9.]+ s; 1 failed: prop-uk$", result.output)
    assert (tmp_path / "out" / "prop-us" / "cdktf.out" / "stacks" / "prop-us-dev" / "cdk.tf.json").is_file()
    assert not (tmp_path / "out" / "prop-uk").exists()
    cdktf_json = json.loads((tmp_path / "out" / "prop-us" / "cdktf.json").read_text())
    assert cdktf_json["app"] == "tierstack generate ../../fleet.yaml --only name=prop-us --out .."
    # selecting the good member only: exit 0; the bad one is not even mentioned
    result = run("generate", str(path), "--out", str(tmp_path / "out"), "--only", "name=prop-us")
    assert result.exit_code == 0, result.output
    assert "prop-uk" not in result.output
    assert "[1/1] prop-us: ok" in result.output
    result = run("generate", str(path), "--out", str(tmp_path / "out"), "--env", "prod")
    assert result.exit_code == 2 and "no member has environment 'prod'" in result.output


def test_the_progress_bar_is_for_terminals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None) -> None:
    """With a terminal, rich draws the bar; each member's result is printed above it all the same."""
    from tierstack.generator.cli import generate as cli_generate

    path = write(tmp_path / "fleet.yaml", fleet_text([MEMBERS[0]]))
    monkeypatch.setattr(cli_generate, "stderr_is_tty", lambda: True)  # where generate looks it up
    result = run("generate", str(path), "--out", str(tmp_path / "out"), "--check")
    assert result.exit_code == 5, result.output
    assert "prop-us: " in result.output and "is stale: " in result.output
    assert "[1/1]" not in result.output  # not the plain lines


def org_labels(out: Path) -> set[str]:
    """Every value of an `org` label in a member's stacks (the upstream blueprint sets it)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            labels = node.get("labels")
            if isinstance(labels, dict) and "org" in labels:
                found.add(str(labels["org"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for stack in out.glob("stacks/*/cdk.tf.json"):
        walk(json.loads(stack.read_text(encoding="utf-8")))
    return found


@pytest.mark.slow  # synthesizes
def test_a_fleet_pins_its_git_upstreams_in_tierstack_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a tierstack.yaml: generate writes the lock beside the fleet file, a moved tag keeps the locked
    commit (with a note), a ref the lock disagrees with is exit 2; members left out keep their pins."""
    from test_upstream import ORG, Repo, git

    from tierstack.generator.config.lockfile import LOCK_NAME, read_lock

    monkeypatch.setenv("TIERSTACK_CACHE", str(tmp_path / "cache"))
    repo = Repo(tmp_path / "org")
    repo.org()
    repo.commit({"blueprints/uk.yaml.j2": ORG.format(org="acme-uk", days=30)})
    repo.tag("v1.0.0")
    locked = git("rev-parse", "v1.0.0^{commit}", cwd=repo.path)

    def fleet_with(ref: str) -> Path:
        source = {"git": "../org", "ref": ref, "path": "blueprints/org.yaml.j2"}
        uk = {"name": "prop-uk", "blueprint": {**source, "ref": "v1.0.0", "path": "blueprints/uk.yaml.j2"}}
        text = dump({"fleet": "propensity", "blueprint": source, "defaults": DEFAULTS, "members": [MEMBERS[0], uk]})
        return write(tmp_path / "fleets" / "fleet.yaml", text)

    path = fleet_with("v1.0.0")
    lock = path.parent / LOCK_NAME
    result = run("generate", str(path))
    assert result.exit_code == 0, result.output
    assert f"wrote {lock} (2 upstreams)" in result.output
    entries = read_lock(lock)
    assert sorted(entries) == [("../org", "blueprints/org.yaml.j2"), ("../org", "blueprints/uk.yaml.j2")]
    assert {e.commit for e in entries.values()} == {locked}
    written = lock.read_text(encoding="utf-8")

    repo.org(org="moved")
    repo.tag("v1.0.0")  # someone moved the tag
    monkeypatch.setenv("TIERSTACK_CACHE", str(tmp_path / "fresh-cache"))  # a new machine: it fetches
    result = run("generate", str(path), "--only", "name=prop-us")
    assert result.exit_code == 0, result.output
    assert "note: ../org blueprints/org.yaml.j2: v1.0.0 now points at" in result.output
    assert f"tierstack.lock keeps {locked[:12]}" in result.output
    assert org_labels(path.parent / "prop-us" / "cdktf.out") == {"acme"}  # the locked commit's blueprint
    assert lock.read_text(encoding="utf-8") == written  # prop-uk was left out: its pin stays

    repo.tag("v1.1.0")
    path = fleet_with("v1.1.0")
    for command in ("generate", "validate"):
        result = run(command, str(path))
        assert result.exit_code == 2, result.output
        where = f"{path}:{line_of(path, 'ref: v1.1.0')}, field 'blueprint.ref'"  # the fleet's own blueprint
        assert where in result.output
        assert "tierstack.lock pins ../org blueprints/org.yaml.j2 at v1.0.0" in result.output
        assert "and this asks for v1.1.0" in result.output
    assert lock.read_text(encoding="utf-8") == written
    assert "--update writes tierstack.lock" in run("generate", str(path), "--update", "--check").output
    result = run("generate", str(path), "--update")  # moved on purpose: every member's ref, anew
    assert result.exit_code == 0, result.output
    moved = git("rev-parse", "v1.1.0^{commit}", cwd=repo.path)
    assert {(e.path, e.ref, e.commit) for e in read_lock(lock).values()} == {
        ("blueprints/org.yaml.j2", "v1.1.0", moved),
        ("blueprints/uk.yaml.j2", "v1.0.0", moved),
    }
    assert org_labels(path.parent / "prop-us" / "cdktf.out") == {"moved"}


def test_two_members_pinning_one_upstream_file_at_two_refs_is_an_error_at_the_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spawns: None
) -> None:
    """One tierstack.lock for the fleet holds one commit per upstream file."""
    from test_upstream import Repo

    monkeypatch.setenv("TIERSTACK_CACHE", str(tmp_path / "cache"))
    repo = Repo(tmp_path / "org")
    repo.org()
    repo.tag("v1.0.0")
    repo.org(org="acme-two")
    repo.tag("v1.1.0")
    members = [
        {**MEMBERS[0], "blueprint": {"git": "../org", "ref": ref, "path": "blueprints/org.yaml.j2"}, "name": name}
        for name, ref in (("prop-one", "v1.0.0"), ("prop-two", "v1.1.0"))
    ]
    path = write(tmp_path / "fleets" / "fleet.yaml", fleet_text(members))
    result = run("validate", str(path))
    assert result.exit_code == 2, result.output
    second = line_of(path, "ref: v1.1.0")
    assert f"{path}:{second}, field 'members[prop-two].blueprint.ref': " in result.output
    assert "is pinned at v1.0.0 elsewhere" in result.output and "by another member of this fleet" in result.output
    assert "members[prop-one]: valid" in result.output


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """The fleet generated by the CLI into <tmp>/a/out, and each member's single config into <tmp>/single/."""
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    root = tmp_path_factory.mktemp("fleet")
    path = write(root / "fleet.yaml", fleet_text())
    result = run("generate", str(path), "--out", str(root / "a" / "out"))
    assert result.exit_code == 0, result.output
    for member in MEMBERS:
        single = write(root / "single" / member["name"] / "tierstack.yaml", dump(merged(DEFAULTS, member)))
        generate(resolve(load_spec(single)), single.parent / "cdktf.out")
    return root, path, result


@pytest.mark.slow
def test_a_fleet_generates_what_each_member_would_alone(generated: tuple[Path, Path, Any]) -> None:
    root, _, result = generated
    for member in MEMBERS:
        fleet_out = root / "a" / "out" / member["name"] / "cdktf.out"
        single_out = root / "single" / member["name"] / "cdktf.out"
        assert stack_files(fleet_out) == stack_files(single_out), member["name"]
        assert len(stack_files(fleet_out)) == (3 if member["name"] == "prop-de" else 2)
    assert "[3/3] prop-de: ok: 2 stacks" in result.output


@pytest.mark.slow
def test_fleet_output_is_deterministic_and_regenerates_in_place(generated: tuple[Path, Path, Any]) -> None:
    root, path, _ = generated
    result = run("generate", str(path), "--out", str(root / "b" / "out"))
    assert result.exit_code == 0, result.output

    def tree(top: Path) -> dict[str, bytes]:
        return {p.relative_to(top).as_posix(): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}

    assert tree(root / "a" / "out") == tree(root / "b" / "out")
    # again into the same place: nothing changes, no line about changes; --check agrees
    before = tree(root / "b" / "out")
    result = run("generate", str(path), "--out", str(root / "b" / "out"))
    assert result.exit_code == 0, result.output
    assert "since the last generation" not in result.output
    assert tree(root / "b" / "out") == before
    result = run("generate", str(path), "--out", str(root / "b" / "out"), "--check")
    assert result.exit_code == 0, result.output
    assert "prop-de: " in result.output and "is up to date" in result.output


@pytest.mark.slow
def test_a_member_changed_by_hand_stops_only_that_member(generated: tuple[Path, Path, Any]) -> None:
    root, path, _ = generated
    out = root / "c" / "out"
    assert run("generate", str(path), "--out", str(out)).exit_code == 0
    edited = out / "prop-uk" / "cdktf.out" / "stacks" / "prop-uk-dev" / "cdk.tf.json"
    edited.write_text(edited.read_text() + "\n")
    result = run("generate", str(path), "--out", str(out), "--only", "environment=dev")
    assert result.exit_code == 2
    assert "prop-uk: error: " in result.output and "changed by hand" in result.output
    assert "prop-us: ok" in result.output and "prop-de: ok: 1 stack" in result.output
    # prod of prop-de was carried over as it was (generate --env)
    assert (out / "prop-de" / "cdktf.out" / "stacks" / "prop-de-prod" / "cdk.tf.json").is_file()
    result = run("generate", str(path), "--out", str(out), "--only", "name=prop-uk", "--force")
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_explain_a_member(fleet_file: Path) -> None:
    result = run("explain", str(fleet_file), "--member", "prop-de")
    assert result.exit_code == 0, result.output
    assert "prop-de" in result.output
