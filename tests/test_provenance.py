"""Provenance as a typed value: attributed to the innermost place, shown where the user can go.

A value's provenance stays data (generator/config/provenance.py) from the blueprint loader to the commands;
`show --provenance` formats it as text or writes it as JSON/YAML data. Built-in blueprints are shown
as `tierstack:NAME:LINE`, and `tierstack blueprints --show NAME` prints the file those lines count in.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import REPO, run, use_case
from synth_support import example_configs
from tierstack.generator.config import blueprint as bp
from tierstack.generator.config.provenance import Provenance, Source
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.errors import UserError
from tierstack.generator.facts.catalog import load_catalog
from tierstack.generator.plan.resolve import Resolved, resolve

EXAMPLES = example_configs()  # every example, the regional forks (examples/*/*/tierstack.yaml) too
WINDOWS = "C:\\work\\x.yaml"


# --- the value ---------------------------------------------------------------------------------------


def test_each_kind_of_place_is_shown_as_the_user_can_find_it() -> None:
    assert str(Source.in_file("examples/recommender/tierstack.yaml", 11)) == "examples/recommender/tierstack.yaml:11"
    assert str(Source.in_file("tierstack.yaml")) == "tierstack.yaml"
    assert str(Source.in_builtin("level-1-pipeline-automation", 37)) == "tierstack:level-1-pipeline-automation:37"
    assert str(Source.by_tierstack("automatic label")) == "tierstack (automatic label)"
    appended = Provenance.of(Source.in_builtin("level-0-manual", 29)) + Provenance.in_file("fork.yaml.j2", 13)
    assert str(appended) == "tierstack:level-0-manual:29 + fork.yaml.j2:13"
    assert appended.innermost == Source.in_file("fork.yaml.j2", 13)


@pytest.mark.parametrize(
    "fields",
    [{}, {"file": "a", "builtin": "b"}, {"rule": "r", "line": 3}, {"file": "a", "line": 0}, {"file": ""}],
)
def test_a_source_is_exactly_one_place(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Source(**fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Provenance(())


def test_a_windows_path_survives_display_data_and_errors() -> None:
    source = Source.in_file(WINDOWS, 3)
    assert str(source) == "C:\\work\\x.yaml:3"
    assert (source.file, source.line) == (WINDOWS, 3)
    prov = Provenance.of(Source.in_builtin("level-0-manual", 29), source)
    assert Provenance.from_data(json.loads(json.dumps(prov.to_data()))) == prov
    assert prov.to_data()[-1] == {"file": WINDOWS, "line": 3}
    error = prov.error("bad", field="a.b", fallback="tierstack.yaml")
    assert (error.file, error.line) == (WINDOWS, 3)
    assert error.render().startswith("C:\\work\\x.yaml:3, field 'a.b': bad")
    without_line = Provenance.in_file(WINDOWS).error("bad", fallback="tierstack.yaml")
    assert (without_line.file, without_line.line) == (WINDOWS, None)


def test_a_windows_path_survives_merging_and_the_append_error() -> None:
    base = bp.Layer(
        {"apis": ["a"], "n": 1}, {("apis",): Provenance.in_file(WINDOWS, 2), ("n",): Provenance.in_file(WINDOWS, 4)}
    )
    over = bp.Layer({"apis+": ["b"]}, {("apis+",): Provenance.in_file("D:\\fork.yaml.j2", 7)})
    merged = bp.merge(base, over)
    assert merged.prov[("apis",)].sources == (Source.in_file(WINDOWS, 2), Source.in_file("D:\\fork.yaml.j2", 7))
    assert merged.prov[("n",)] == Provenance.in_file(WINDOWS, 4)
    with pytest.raises(UserError) as err:
        bp.merge(base, bp.Layer({"n+": [2]}, {("n+",): Provenance.in_file("D:\\fork.yaml.j2", 9)}))
    assert (err.value.file, err.value.line, err.value.field) == ("D:\\fork.yaml.j2", 9, "n+")


def test_a_config_whose_name_holds_a_drive_colon_is_named_whole_in_errors(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "C:\\work\\tierstack.yaml"  # one file name on POSIX: the colon and backslashes are part of it
    path = write(
        use_case(serving="online") + "overrides:\n  capabilities:\n    model_serving:\n      machine_type: N1\n", name
    )
    monkeypatch.chdir(path.parent)
    with pytest.raises(UserError) as err:
        resolve(load_spec(Path(name)))
    assert (err.value.file, err.value.line) == (name, 9)
    assert err.value.field == "overrides.capabilities.model_serving.machine_type"
    assert err.value.render().startswith("C:\\work\\tierstack.yaml:9, field 'overrides.")


# --- through resolve to `show --provenance` -----------------------------------------------------------


def _plan(config: Path) -> Resolved:
    return resolve(load_spec(config.relative_to(REPO)))


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_provenance_data_round_trips_through_show(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    config = REPO / "examples/churn-emea/tierstack.yaml"
    expected = _plan(config).provenance()
    result = run("show", "--resolved", "--provenance", "--format", fmt, str(config.relative_to(REPO)))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout) if fmt == "json" else YAML(typ="safe").load(result.stdout)
    shown = {key: Provenance.from_data(value) for key, value in data["provenance"].items()}
    assert shown == expected
    # every kind of place is in this example: the config, the fork, the built-ins, tierstack's rules
    kinds = {("file" if s.file else "builtin" if s.builtin else "rule") for p in shown.values() for s in p.sources}
    assert kinds == {"file", "builtin", "rule"}
    assert any(len(p.sources) == 3 for p in shown.values())  # apis: level-0, then level-1 and the fork append


def test_the_provenance_listing_is_the_default_and_formats_each_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    config = REPO / "examples/fraud-detection/tierstack.yaml"
    plan = _plan(config)
    output = run("show", "--resolved", "--provenance", str(config.relative_to(REPO))).stdout
    listed = dict(
        re.match(r"^(\S+) += .*  # (.*)$", line).groups()  # type: ignore[union-attr]
        for line in output.splitlines()
        if not line.startswith("#")
    )
    assert listed == {key: str(prov) for key, prov in plan.provenance().items()}
    assert "blueprints/" not in output and ".yaml.j2" not in output  # no path inside the installed package
    assert '# blueprint: ["tierstack:level-2-cicd", ' in output


# --- the innermost place -------------------------------------------------------------------------------


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work where the configs are written, so they are shown as `tierstack.yaml`, as a user sees them."""
    monkeypatch.chdir(tmp_path)


# tierstack init's layout: the schedule is on line 20 (the example)
INIT_LIKE = """\
# tierstack.yaml — one ML use case, written by `tierstack init`.
# `tierstack explain` shows what these answers select and why;
# docs/spec.md describes every field.

# Names stacks (<name>-<environment>) and resources.
name: claims
# The owning team.
team: ops

use_case:
  # research or production
  stage: production
  # Does an outage or a bad model hurt the business?
  # (monitoring, evaluation, registry, metadata, production serving)
  mission_critical: no
  # reused by other teams?
  reusable: no
  # none | on_degradation | scheduled
  retraining: scheduled
  schedule: "0 4 * * *"
  # rare | frequent
  code_changes: rare
  serving: online
region: us-central1
variables:
  alert_email: claims-oncall@example.com
"""


def _line_of(text: str, needle: str) -> int:
    [line] = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return line


def _blueprint_line(name: str, line: int) -> str:
    shown = run("blueprints", "--show", name)
    assert shown.exit_code == 0, shown.output
    return shown.stdout.splitlines()[line - 1]


@pytest.mark.usefixtures("in_tmp")
def test_a_schedule_written_in_the_config_is_attributed_to_its_line(resolve_text: Callable[..., Resolved]) -> None:
    assert _line_of(INIT_LIKE, "schedule:") == 20
    plan = resolve_text(INIT_LIKE)
    schedule = ("capabilities", "ml_pipelines", "schedule")
    prod = plan.environments["prod"]
    assert prod.settings["capabilities"]["ml_pipelines"]["schedule"] == "0 4 * * *"
    assert prod.provenance[schedule] == Provenance.in_file("tierstack.yaml", 20)
    # dev runs pipelines by hand: the blueprint's role override set that null, and says so at its line
    [dev] = plan.environments["dev"].provenance[schedule].sources
    assert dev.builtin == "level-1-pipeline-automation" and dev.line is not None
    assert _blueprint_line("level-1-pipeline-automation", dev.line).strip() == "schedule: null"
    # a variable passed on as it is: the config's line; a value the blueprint computes: the blueprint's
    alert = prod.provenance[("capabilities", "model_monitoring", "notification_email")]
    assert alert == Provenance.in_file("tierstack.yaml", _line_of(INIT_LIKE, "alert_email:"))
    [computed] = prod.provenance[("capabilities", "ml_pipelines", "retrain_on_degradation")].sources
    assert computed.builtin == "level-1-pipeline-automation"
    assert "retrain_on_degradation:" in _blueprint_line("level-1-pipeline-automation", computed.line or 0)
    # `mission_critical or kms_key is defined` is false here, as mission_critical is, but the blueprint computed it
    [cmek] = prod.provenance[("encryption", "cmek")].sources
    assert prod.settings["encryption"]["cmek"] is False and cmek.builtin == "level-0-manual"
    assert _blueprint_line("level-0-manual", cmek.line or 0).strip().startswith("cmek:")


@pytest.mark.usefixtures("in_tmp")
def test_overrides_in_the_config_win_the_attribution(resolve_text: Callable[..., Resolved]) -> None:
    text = INIT_LIKE + (
        "environments:\n  dev: {}\n  prod:\n    overrides:\n      capabilities:\n        ml_pipelines:\n"
        '          schedule: "0 5 * * *"\n'
        "overrides:\n  capabilities:\n    ml_pipelines:\n      time_zone: Europe/Paris\n"
    )
    plan = resolve_text(text)
    prod = plan.environments["prod"].provenance
    assert prod[("capabilities", "ml_pipelines", "schedule")] == Provenance.in_file(
        "tierstack.yaml", _line_of(text, '"0 5 * * *"')
    )
    for env in ("dev", "prod"):
        assert plan.environments[env].provenance[("capabilities", "ml_pipelines", "time_zone")] == (
            Provenance.in_file("tierstack.yaml", _line_of(text, "time_zone:"))
        )


def test_an_invalid_variable_is_reported_where_the_user_wrote_it(write: Callable[..., Path]) -> None:
    text = INIT_LIKE.replace("claims-oncall@example.com", "not-an-email")
    result = run("explain", str(write(text)))
    assert result.exit_code == 2
    line = _line_of(text, "alert_email:")
    assert f"tierstack.yaml:{line}, field 'variables.alert_email'" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("in_tmp")
def test_a_user_blueprint_passing_a_variable_on_is_not_the_innermost_place(
    write: Callable[..., Path], resolve_text: Callable[..., Resolved]
) -> None:
    write(
        "extends: level-1-pipeline-automation\n"
        "defaults:\n  capabilities:\n    ml_pipelines:\n"
        "      pipeline_template: {{ template_name | tojson }}\n"
        "      template_tag: {{ ('v-' ~ template_name) | tojson }}\n",
        "fork.yaml.j2",
    )
    text = INIT_LIKE.replace("variables:\n", "variables:\n  template_name: churn\n") + "blueprint: ./fork.yaml.j2\n"
    prov = resolve_text(text).environments["prod"].provenance
    assert prov[("capabilities", "ml_pipelines", "pipeline_template")] == Provenance.in_file(
        "tierstack.yaml", _line_of(text, "template_name:")
    )
    [tag] = prov[("capabilities", "ml_pipelines", "template_tag")].sources  # 'v-churn' is the fork's own value
    assert tag.file is not None and tag.file.endswith("fork.yaml.j2") and tag.line == 6


# --- built-in blueprints: tierstack:NAME:LINE, and that line holds the key ----------------------------------


@pytest.mark.parametrize("config", EXAMPLES, ids=[c.parent.name for c in EXAMPLES])
def test_every_blueprint_line_named_holds_the_key(config: Path, monkeypatch: pytest.MonkeyPatch, spawns: None) -> None:
    monkeypatch.chdir(REPO)
    plan = _plan(config)
    texts: dict[Source, list[str]] = {}
    checked = 0
    for key, _, prov in plan.leaves():
        leaf = key.rsplit(".", 1)[-1]
        for source in prov.sources:
            if source.builtin is not None:
                file = Source.in_builtin(source.builtin)
                if file not in texts:
                    texts[file] = run("blueprints", "--show", source.builtin).stdout.splitlines()
            elif source.file is not None and source.file.endswith(".j2"):
                file = Source.in_file(source.file)
                if file not in texts:
                    texts[file] = _blueprint_text(source.file, config.parent).splitlines()
            else:
                continue
            assert source.line is not None, f"{key}: {prov}"
            line = texts[file][source.line - 1]
            assert re.match(rf"^\s*{re.escape(leaf)}\+?:", line), f"{key} = {prov}, but that line is {line!r}"
            checked += 1
    assert checked > 20


def _blueprint_text(shown: str, folder: Path) -> str:
    """A blueprint file as provenance names it: a path, or `REPO.git@REF:PATH` for one read from git (REPO as
    tierstack.lock names it: relative to the config's `folder`)."""
    repo, at, rest = shown.partition(".git@")
    if not at:
        return Path(shown).read_text(encoding="utf-8")
    ref, _, path = rest.partition(":")
    git = ["git", f"--git-dir={folder / repo}.git", "show", f"{ref}:{path}"]
    return subprocess.run(git, capture_output=True, text=True, check=True).stdout


def test_built_in_blueprints_are_never_shown_as_package_paths() -> None:
    for config in EXAMPLES:
        text = (config.parent / "resolved.txt").read_text(encoding="utf-8")
        assert "tierstack:level-0-manual:" in text
        assert "blueprints/level-" not in text


def test_an_error_in_a_value_from_a_built_in_names_it_and_how_to_read_it(write: Callable[..., Path]) -> None:
    text = use_case(serving="online") + "environments:\n  dev:\n    serving_class: production\n  prod: {}\n"
    result = run("explain", str(write(text)))
    assert result.exit_code == 2
    match = re.search(
        r"error: tierstack:level-0-manual:(\d+), field 'environments\.dev\.capabilities\.model_serving\.min_replicas'",
        result.stderr,
    )
    assert match, result.stderr
    assert _blueprint_line("level-0-manual", int(match.group(1))).strip().startswith("min_replicas:")
    assert "`tierstack blueprints --show level-0-manual`" in result.stderr


# --- tierstack blueprints ----------------------------------------------------------------------------------


def test_blueprints_lists_every_built_in_with_its_tier_and_parent() -> None:
    data = json.loads(run("blueprints", "--format", "json").stdout)
    assert [b["name"] for b in data] == bp.builtin_names()
    by_name = {b["name"]: b for b in data}
    for tier in load_catalog().tiers:
        assert by_name[tier.blueprint]["tier"] == tier.level
    assert by_name["level-0-manual"]["extends"] is None
    assert by_name["level-1-pipeline-automation"]["extends"] == "level-0-manual"
    assert by_name["level-2-cicd"]["extends"] == "level-1-pipeline-automation"
    for blueprint in data:
        assert blueprint["description"] and "{" not in blueprint["description"]
        loaded = bp.load(blueprint["name"], _variables(), None, "test")
        assert (loaded.tier, loaded.description) == (blueprint["tier"], blueprint["description"])
    assert YAML(typ="safe").load(run("blueprints", "--format", "yaml").stdout) == data
    text = run("blueprints").stdout
    for blueprint in data:
        assert re.search(rf"^{blueprint['name']} +tier {blueprint['tier']}", text, re.M)
        assert blueprint["description"] in text
    assert "tierstack blueprints --show NAME" in text


def _variables() -> dict[str, object]:
    from tierstack.generator.plan.resolve import template_variables
    from tierstack.generator.plan.selection import select

    loaded = load_spec(REPO / "examples/fraud-detection/tierstack.yaml")
    return template_variables(loaded, select(loaded, load_catalog()))


def test_blueprints_show_prints_the_shipped_file() -> None:
    for name in bp.builtin_names():
        result = run("blueprints", "--show", name)
        assert result.exit_code == 0
        shipped = resources.files("tierstack.blueprints").joinpath(f"{name}.yaml.j2").read_text(encoding="utf-8")
        assert result.stdout == shipped


def test_blueprints_show_an_unknown_name_is_a_clear_error() -> None:
    result = run("blueprints", "--show", "level-1-pipeline")
    assert result.exit_code == 2
    assert "error: 'level-1-pipeline' is not a built-in blueprint" in result.stderr
    assert "did you mean 'level-1-pipeline-automation'?" in result.stderr
    for name in bp.builtin_names():
        assert name in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_blueprints_show_takes_no_format() -> None:
    result = run("blueprints", "--show", "level-0-manual", "--format", "json")
    assert result.exit_code == 2 and "--format goes with the list" in result.output
