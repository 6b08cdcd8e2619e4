"""Rendering, line maps, extends, merging and provenance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import use_case
from tierstack.generator.config import blueprint as bp
from tierstack.generator.config.provenance import Provenance, Source
from tierstack.generator.core.errors import UserError
from tierstack.generator.plan.resolve import Resolved

VARS = {"flag": True, "items": ["a", "b"], "name": "x"}


def test_rendered_lines_map_back_to_source_lines_through_if_and_for() -> None:
    source = "a: 1\n{% if flag %}\nb: 2\n{% endif %}\nc:\n{% for i in items %}\n  - {{ i }}\n{% endfor %}\nd: 4\n"
    text, mapping = bp.render("t.j2", source, VARS)
    lines = text.split("\n")
    where = {line.strip(): mapping[n] for n, line in enumerate(lines, start=1) if line.strip()}
    assert where == {"a: 1": 1, "b: 2": 3, "c:": 5, "- a": 7, "- b": 7, "d: 4": 9}


def test_line_map_survives_a_false_branch() -> None:
    source = "a: 1\n{% if not flag %}\nb: 2\nb2: 3\n{% endif %}\nc: 3\n"
    text, mapping = bp.render("t.j2", source, VARS)
    [c_line] = [n for n, line in enumerate(text.split("\n"), start=1) if line == "c: 3"]
    assert mapping[c_line] == 6


def test_multiline_tags_do_not_get_markers_inside() -> None:
    source = "a: {{ name\n  | upper }}\nb: 1\n"
    text, mapping = bp.render("t.j2", source, VARS)
    assert text.startswith("a: X\nb: 1")
    assert mapping[2] == 3


def test_strict_undefined_names_the_variable_and_line() -> None:
    with pytest.raises(UserError) as err:
        bp.render("t.j2", "a: 1\nb: {{ nope }}\n", VARS)
    assert err.value.field == "variables.nope"
    assert err.value.line == 2


def test_syntax_error_has_the_line() -> None:
    with pytest.raises(UserError) as err:
        bp.render("t.j2", "a: 1\n{% if %}\n", VARS)
    assert err.value.line == 2 and "template error" in err.value.message


def _layer(data: dict, source: str) -> bp.Layer:
    return bp.Layer(data, {p: Provenance.in_file(source, 1) for p in bp.leaf_paths(data)})


def test_merge_is_deep_and_lists_replace() -> None:
    base = _layer({"a": {"x": 1, "y": [1, 2]}, "b": 1}, "base")
    over = _layer({"a": {"y": [3]}, "c": 2}, "over")
    merged = bp.merge(base, over)
    assert merged.data == {"a": {"x": 1, "y": [3]}, "b": 1, "c": 2}
    assert merged.prov[("a", "x")] == Provenance.in_file("base", 1)
    assert merged.prov[("a", "y")] == Provenance.in_file("over", 1)


def test_plus_key_appends_and_keeps_both_sources() -> None:
    merged = bp.merge(_layer({"apis": ["a"]}, "base"), _layer({"apis+": ["b"]}, "over"))
    assert merged.data == {"apis": ["a", "b"]}
    assert merged.prov[("apis",)] == Provenance.of(Source.in_file("base", 1), Source.in_file("over", 1))
    assert str(merged.prov[("apis",)]) == "base:1 + over:1"


def test_plus_key_onto_a_scalar_is_an_error_at_the_appending_line() -> None:
    with pytest.raises(UserError, match="appends a list") as err:
        bp.merge(_layer({"a": 1}, "base"), _layer({"a+": [2]}, "over"))
    assert (err.value.file, err.value.line, err.value.field) == ("over", 1, "a+")


def test_fork_extends_builtin_and_provenance_names_each_file(
    write: Callable[..., Path], resolve_text: Callable[..., Resolved]
) -> None:
    write(
        """
        extends: level-0-manual
        defaults:
          labels:
            region-team: emea
          capabilities:
            foundation:
              apis+: [cloudkms.googleapis.com]
        """,
        "forks/emea.yaml.j2",
    )
    plan = resolve_text(use_case(serving="batch") + "blueprint: forks/emea.yaml.j2\n")
    assert plan.blueprint.chain == [plan.blueprint.chain[0], "tierstack:level-0-manual"]
    assert plan.blueprint.chain[0].endswith("forks/emea.yaml.j2")
    dev = plan.environments["dev"]
    assert dev.settings["labels"]["region-team"] == "emea"
    apis = dev.settings["capabilities"]["foundation"]["apis"]
    assert apis[-1] == "cloudkms.googleapis.com" and "aiplatform.googleapis.com" in apis
    [builtin, fork] = dev.provenance[("capabilities", "foundation", "apis")].sources
    assert builtin == Source.in_builtin("level-0-manual", builtin.line) and builtin.line
    assert fork.file is not None and fork.file.endswith("emea.yaml.j2") and fork.line == 7
    assert str(dev.provenance[("labels", "region-team")]).endswith("emea.yaml.j2:4")


def test_circular_extends_is_named(write: Callable[..., Path], resolve_text: Callable[..., Resolved]) -> None:
    write("extends: ./b.yaml.j2\n", "a.yaml.j2")
    write("extends: ./a.yaml.j2\n", "b.yaml.j2")
    with pytest.raises(UserError) as err:
        resolve_text(use_case() + "blueprint: ./a.yaml.j2\n")
    assert "circle" in err.value.message and "a.yaml.j2 -> " in err.value.message


def test_provenance_points_at_the_spec_for_overrides(resolve_text: Callable[..., Resolved]) -> None:
    plan = resolve_text(
        use_case(serving="online")
        + "overrides:\n  capabilities:\n    model_serving:\n      machine_type: n2-standard-8\n"
    )
    dev = plan.environments["dev"]
    assert dev.settings["capabilities"]["model_serving"]["machine_type"] == "n2-standard-8"
    assert str(dev.provenance[("capabilities", "model_serving", "machine_type")]).endswith("tierstack.yaml:9")
    replicas = dev.provenance[("capabilities", "model_serving", "min_replicas")]
    assert str(replicas).startswith("tierstack:level-0-manual:")


def test_environment_overrides_win_over_top_level_overrides(resolve_text: Callable[..., Resolved]) -> None:
    plan = resolve_text(
        use_case(serving="online")
        + "overrides:\n  capabilities:\n    model_serving:\n      max_replicas: 5\n"
        + "environments:\n  dev:\n    overrides:\n      capabilities:\n        model_serving:\n"
        + "          max_replicas: 1\n  prod: {}\n"
    )
    assert plan.environments["dev"].settings["capabilities"]["model_serving"]["max_replicas"] == 1
    assert plan.environments["prod"].settings["capabilities"]["model_serving"]["max_replicas"] == 5


def test_role_overrides_apply_by_role_not_name(resolve_text: Callable[..., Resolved]) -> None:
    text = use_case(code_changes="frequent", serving="online") + (
        "environments:\n  sbx: {}\n  preprod: {}\n  live: {}\n"
        "variables: {ci_repository: acme/demo, ci_repository_id: 1, ci_repository_owner_id: 2}\n"
    )
    envs = resolve_text(text).environments
    assert [e.role for e in envs.values()] == ["development", "staging", "production"]
    assert envs["live"].settings["serving_class"] == "production"
    assert envs["live"].settings["capabilities"]["model_serving"]["min_replicas"] == 2
    assert envs["preprod"].settings["capabilities"]["model_serving"]["request_logging"]["sampling_rate"] == 1.0


def test_only_selected_capabilities_reach_an_environment(resolve_text: Callable[..., Resolved]) -> None:
    plan = resolve_text(use_case(serving="batch"))
    assert list(plan.environments["dev"].settings["capabilities"]) == list(plan.selection.ids)
