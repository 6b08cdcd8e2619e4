"""Where values come from, and the built-in blueprints a user can read: `tierstack blueprints [--show NAME]`."""

from __future__ import annotations

import json
import re
from importlib import resources

from ruamel.yaml import YAML

from conftest import REPO, run
from tierstack.generator import blueprint as bp
from tierstack.generator.catalog import load_catalog
from tierstack.generator.spec import load_spec

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
    from tierstack.generator.resolve import template_variables
    from tierstack.generator.selection import select

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
