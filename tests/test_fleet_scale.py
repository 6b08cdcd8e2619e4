"""A large fleet (issue 19, scale): what the members share is parsed once, and no member gets another's values.

`validate` of thousands of members is fast because what members render alike is done once: a render that
differs from an earlier one only in lines of their own is that one with those lines rendered again; its
parse is the earlier parse with the few scalars replaced (level-0's state bucket is `<name>-tfstate`,
generator/config/rendercache.py); the chain is merged once and each member's differing leaves are set on a copy
(generator/config/blueprint/shared.py). The judges here are not those caches: each member written as a tierstack.yaml of
its own and resolved alone, cold (caches emptied, every chain merged layer by layer); the same member
resolved again cold; yamlio.parse of the whole rendered text for every patched document; and the full render
for every line rendered again. Speed is measured in bench/fleet_validate_bench.py, not here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.comments import CommentedMap
from test_fleet import line_of, merged, write

from conftest import run
from tierstack.generator.config import blueprint as bp
from tierstack.generator.config import rendercache
from tierstack.generator.config.blueprint import rendered as bp_rendered
from tierstack.generator.config.blueprint import shared as bp_shared
from tierstack.generator.config.blueprint import template as bp_template
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.yamlio import dump, parse, to_plain
from tierstack.generator.plan.resolve import Resolved, resolve
from tierstack.generator.services import fleet as fleets
from tierstack.generator.services import fleet_workers

REGIONS = ("us-central1", "europe-west3", "europe-west4", "us-east1", "asia-south1", "europe-west1")
DEFAULTS: dict[str, Any] = {
    "team": "growth",
    "use_case": {"stage": "production", "retraining": "scheduled", "schedule": "0 4 * * *", "serving": "batch"},
    "labels": {"cost-center": "cc-100"},
}


def member(i: int) -> dict[str, Any]:
    """Member i: its own name and region; some with their own bucket, key, schedule, serving or GPU."""
    region = REGIONS[i % len(REGIONS)]
    entry: dict[str, Any] = {"name": f"prop-m{i:03d}", "region": region}
    if i % 7 == 3:
        entry["state_bucket"] = f"acme-state-{i}"
    if i % 11 == 5:
        entry["variables"] = {"kms_key": f"projects/acme-kms/locations/{region}/keyRings/ml/cryptoKeys/k{i}"}
    if i % 5 == 1:
        entry["use_case"] = {"schedule": f"0 {i % 24} * * 1", "serving": "online", "mission_critical": True}
    if i % 13 == 6:
        entry["use_case"] = {"stage": "research", "retraining": "none", "schedule": None, "serving": "none"}
        entry["use_case"]["accelerator"] = "gpu:NVIDIA_TESLA_T4×1"
    if i % 4 == 2:
        entry["team"] = f"growth-{i}"
        entry["labels"] = {"unit": f"u{i}"}
    return entry


def fleet_file(tmp_path: Path, members: list[dict[str, Any]], blueprint: str | None = None) -> Path:
    top: dict[str, Any] = {"fleet": "propensity"}
    if blueprint is not None:
        top["blueprint"] = blueprint
    return write(tmp_path / "fleet.yaml", dump({**top, "defaults": DEFAULTS, "members": members}))


@pytest.fixture
def cold(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Runs its argument as before any sharing: the render caches emptied (every blueprint parsed in full) and
    every chain merged layer by layer."""

    def empty() -> None:
        bp_rendered._RENDERED.clear()
        bp_rendered._BASES.clear()
        bp_shared._SHARED.clear()

    def run_cold(work: Callable[..., Any], *args: Any) -> Any:
        empty()
        with monkeypatch.context() as patch:
            patch.setattr(bp_shared, "_shared", lambda rendered: None)
            return work(*args)

    yield run_cold
    empty()


def seen(plan: Resolved) -> tuple[Any, ...]:
    """Everything of a plan a command shows: the plan of record, where each value was set, the merged blueprint."""
    layer = plan.blueprint.layer
    return (
        plan.to_data(),
        {key: str(where) for key, where in plan.provenance().items()},
        layer.data,
        {key: str(where) for key, where in layer.prov.items()},
        plan.selection.warnings,
    )


def test_validate_of_200_members_names_each_bad_one_at_its_line(tmp_path: Path) -> None:
    members = [member(i) for i in range(200)]
    members[137]["region"] = "mars-north1"
    members[61]["labels"] = {"Bad Label": "x"}
    path = fleet_file(tmp_path, members)
    result = run("validate", str(path))
    assert result.exit_code == 2, result.output
    assert f"{path}:{line_of(path, 'mars-north1')}, field 'members[prop-m137].region':" in result.output
    assert f"{path}:{line_of(path, 'Bad Label')}, field 'members[prop-m061].labels.Bad Label':" in result.output
    assert "2 of 200 members have problems" in result.output
    data = json.loads(run("validate", str(path), "--format", "json").stdout)
    invalid = [m["member"] for m in data["members"] if not m["valid"]]
    assert invalid == ["members[prop-m061]", "members[prop-m137]"]
    valid = [m for m in data["members"] if m["valid"]]
    assert len(valid) == 198
    assert valid[-1]["stacks"] == ["prop-m199-dev", "prop-m199-prod"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="worker processes are forked; without fork one process checks all")
def test_validate_in_worker_processes_finds_exactly_what_one_process_finds(tmp_path: Path) -> None:
    """Members checked in three forked workers come back in order, each problem with its file, line, field and
    hint (UserError pickled by its fields), each warning and summary as one process gives them."""
    members = [member(i) for i in range(60)]
    members[37]["region"] = "mars-north1"
    members[11]["labels"] = {"Bad Label": "x"}
    members[58]["use_case"] = {"schedule": "61 * * * *"}
    path = fleet_file(tmp_path, members)
    alone, together = fleets.validate_fleet(path, jobs=1), fleets.validate_fleet(path, jobs=3)
    assert fleets.validation_data(path, *together) == fleets.validation_data(path, *alone)
    assert fleets.validation_lines(path, together[1]) == fleets.validation_lines(path, alone[1])
    bad = [(item.name, [p.render() for p in result.problems]) for item, result in together[1] if result.problems]
    assert [name for name, _ in bad] == ["prop-m011", "prop-m037", "prop-m058"]
    assert all(f"{path}:" in text for _, problems in bad for text in problems)


def test_the_worker_count_follows_the_members_and_what_is_asked() -> None:
    assert fleet_workers.validation_jobs(3, jobs=8) == 3  # never more workers than members
    assert fleet_workers.validation_jobs(fleet_workers.MIN_MEMBERS_PER_JOB - 1, jobs=None) == 1  # small: here
    assert fleet_workers.validation_jobs(10_000, jobs=1) == 1


def test_each_member_equals_its_own_config_resolved_alone(tmp_path: Path, cold: Any) -> None:
    members = [member(i) for i in range(40)]
    fleet = fleets.load_fleet(fleet_file(tmp_path, members))
    buckets = set()
    for i, (entry, found) in enumerate(zip(members, fleet.members, strict=True)):
        assert found.resolved is not None, found.error
        single = write(tmp_path / f"single-{i}" / "tierstack.yaml", dump(merged(DEFAULTS, entry)))
        alone = cold(lambda path: resolve(load_spec(path)), single)
        assert found.resolved.to_data() == alone.to_data(), entry["name"]
        for env in found.resolved.environments.values():
            assert env.region == entry["region"]
            assert env.settings["state"]["bucket"] == entry.get("state_bucket", f"{entry['name']}-tfstate")
            buckets.add(env.settings["state"]["bucket"])
    assert len(buckets) == len(members)  # no member got another's render


ORG = "extends: level-1-pipeline-automation\ndefaults:\n"
CHAINS: dict[str, dict[str, str]] = {  # the blueprints beside the fleet file; the members use org.yaml.j2
    "built-in": {},
    # a line that passes the member's own value on: attributed to the member's line
    "passes-on": {"org.yaml.j2": ORG + "  labels:\n    region: {{ region | tojson }}\n"},
    # the leaf level-0 writes per member, written again above it: the later blueprint's wins
    "rewrites": {"org.yaml.j2": ORG + "  state:\n    bucket: {{ (name ~ '-org') | tojson }}\n"},
    # a list passed on from the member's variables, appended to by the blueprint above
    "appends": {
        "base.yaml.j2": ORG + "  capabilities:\n    foundation:\n      apis: {{ apis | tojson }}\n",
        "org.yaml.j2": "extends: ./base.yaml.j2\ndefaults:\n  capabilities:\n    foundation:\n"
        "      apis+: [bigquery.googleapis.com]\n",
    },
}


@pytest.mark.parametrize("chain", CHAINS)
def test_members_resolved_with_warm_caches_equal_the_same_resolved_cold(tmp_path: Path, cold: Any, chain: str) -> None:
    for name, text in CHAINS[chain].items():
        write(tmp_path / name, text)
    blueprint = "./org.yaml.j2" if CHAINS[chain] else None
    members = [member(i) for i in range(30)]
    if chain == "appends":
        for entry in members:
            entry["variables"] = {
                **entry.get("variables", {}),
                "apis": ["aiplatform.googleapis.com", f"{entry['name']}.googleapis.com"],
            }
    fleet = fleets.load_fleet(fleet_file(tmp_path, members, blueprint))
    for found in fleet.members:
        loaded = found.loaded
        assert loaded is not None and found.resolved is not None, found.error
        assert seen(found.resolved) == seen(cold(resolve, loaded)), found.label
    first = fleet.members[0].resolved
    assert first is not None
    if chain == "passes-on":
        where = first.provenance()["environments.dev.labels.region"]
        assert str(where).endswith(f":{line_of(fleet.path, 'region: us-central1')}")
    if chain == "rewrites":
        assert first.environments["dev"].settings["state"]["bucket"] == "prop-m000-org"
    if chain == "appends":
        apis = first.environments["dev"].settings["capabilities"]["foundation"]["apis"]
        assert apis == ["aiplatform.googleapis.com", "prop-m000.googleapis.com", "bigquery.googleapis.com"]


def test_a_variable_set_to_null_is_not_one_left_out(tmp_path: Path) -> None:
    """The render cache keys on the variables a template reads: `kms_key: null` is defined, a missing one is not."""
    write(tmp_path / "org.yaml.j2", ORG + '  labels:\n    keyed: {{ "yes" if kms_key is defined else "no" }}\n')
    members = [member(i) for i in range(3)]
    members[0]["variables"] = members[2]["variables"] = {"kms_key": None}
    fleet = fleets.load_fleet(fleet_file(tmp_path, members, "./org.yaml.j2"))
    keyed = [m.resolved.environments["dev"].settings["labels"]["keyed"] for m in fleet.members if m.resolved]
    assert keyed == ["yes", "no", "yes"]


# --- rendercache: a patched document is the document yamlio.parse reads -------------------------------------

BASE = """\
tier: 0
defaults:
  state:
    bucket: "a-tfstate"   # the state bucket
  size: 3
  apis:
    - "one"
  flow: {x: "1", y: "2"}
  enabled: null
"""

PATCHED = [
    ('bucket: "a-tfstate"', 'bucket: "another-one-tfstate"'),
    ('bucket: "a-tfstate"', 'bucket: "caf\\u00e9 \\"q\\""'),  # escapes: read by the parser itself
    ("size: 3", "size: 12.5"),
    ("tier: 0", "tier: 2"),
]
PARSED_IN_FULL = [
    ("enabled: null", 'enabled: "yes"'),  # a plain value for a quoted one
    ('- "one"', '- "two"'),  # in a list
    ('{x: "1", y: "2"}', '{x: "1", y: "3"}'),  # two values on one line
    ("size: 3", "size: 3\n  more: 1"),  # a line more
    ('bucket: "a-tfstate"', 'bucket: "\\q"'),  # an escape YAML refuses: the full parse says where
]


def lines_of(node: Any) -> Any:
    """Every mapping's keys with their line and column, and every list's items', as plain data."""
    if isinstance(node, CommentedMap):
        return {str(k): (node.lc.data[k], lines_of(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [lines_of(v) for v in node]
    return None


def judged(text: str) -> rendercache.Parsed:
    return rendercache.parsed(text, parse(text, "bp.yaml"))


@pytest.mark.parametrize(("old", "new"), PATCHED)
def test_a_changed_scalar_is_replaced_as_the_parser_reads_it(old: str, new: str) -> None:
    base = judged(BASE)
    text = BASE.replace(old, new)
    found = rendercache.patched(base, text)
    assert found is not None
    full = judged(text)
    assert to_plain(found.doc) == to_plain(full.doc) == found.plain == full.plain
    assert [type(leaf.value) for leaf in found.leaves] == [type(leaf.value) for leaf in full.leaves]
    assert found.leaves == full.leaves
    assert lines_of(found.doc) == lines_of(full.doc)
    assert to_plain(base.doc) == to_plain(parse(BASE, "bp.yaml"))  # the shared document is unchanged


@pytest.mark.parametrize(("old", "new"), PARSED_IN_FULL)
def test_any_other_change_is_parsed_in_full(old: str, new: str) -> None:
    assert rendercache.patched(judged(BASE), BASE.replace(old, new)) is None


def test_a_plain_value_that_goes_on_to_the_next_line_is_parsed_in_full() -> None:
    text = "a: 1\n  more\nb: 2\n"
    assert to_plain(parse(text, "bp.yaml"))["a"] == "1 more"
    assert rendercache.patched(judged(text), text.replace("a: 1", "a: 2")) is None


@pytest.mark.parametrize(
    "text",
    [
        'base: &b\n  k: "v"\nother:\n  - *b\n',  # an alias: the value shows in two places
        'base: &b\n  k: "v"\nother:\n  <<: *b\n  j: 1\n',  # a merge key copies it
        'a: "v"\r\nb: 1\n',  # a line break other than \\n
    ],
)
def test_a_document_whose_values_show_twice_is_never_patched(text: str) -> None:
    assert judged(text).scalars is None


def test_a_member_whose_render_the_parser_refuses_gets_the_full_parse_error_at_the_template_line(
    tmp_path: Path,
) -> None:
    template = 'extends: level-1-pipeline-automation\ndefaults:\n  labels:\n    note: "{{ note }}"\n'
    blueprint = write(tmp_path / "org.yaml.j2", template)
    members = [{**member(i), "variables": {"note": "ok"}} for i in range(12)]
    members[7]["variables"] = {"note": "bad\\q"}  # renders "bad\q": an escape YAML does not have
    result = run("validate", str(fleet_file(tmp_path, members, "./org.yaml.j2")))
    assert result.exit_code == 2, result.output
    line = template.splitlines().index('    note: "{{ note }}"') + 1
    assert f"{blueprint}:{line}: this is not valid YAML" in result.output
    assert "(in the rendered template)" in result.output
    assert "1 of 12 members has problems" in result.output
    assert "members[prop-m008]: valid" in result.output


# --- rendering again only the lines that read what differs: the judge is the full render ---------------------


def rendered_both(source: str, first: dict[str, Any], second: dict[str, Any]) -> tuple[Any, Any]:
    """(second rendered from the first's render, or None; second rendered in full) of one template."""
    name = "org.yaml.j2"
    bp_rendered._ROOTS.clear()
    used = bp_template._compiled(name, source)[2]
    text, line_map, _ = bp_template._render(name, source, first)
    bp_rendered._remember(name, source, first, bp_rendered._given(first, used), text, line_map)
    again = bp_rendered._rerendered(name, source, second, bp_rendered._given(second, used))
    try:
        full: Any = bp_template._render(name, source, second)[:2]
    except UserError as err:
        full = err
    bp_rendered._ROOTS.clear()
    return again, full


LINE_OF_ITS_OWN = [
    "a: 1\nbucket: {{ name | tojson }}\nb: {{ team | tojson }}\n",
    "{% if team == 'x' %}\nt: 1\n{% endif %}\nbucket: {{ (name ~ '-state') | tojson }}  # the name's\nend: 2\n",
    "{% for i in range(2) %}\n- {{ i }}\n{% endfor %}\nb: {{ name }}-{{ team }}\n",
]
READ_ELSEWHERE = [
    "{% if name == 'x' %}a: 1\n{% endif %}bucket: {{ name | tojson }}\n",  # in a tag
    "{% set n = name %}bucket: {{ n | tojson }}\nother: {{ name | tojson }}\n",  # set from it
    "{% macro name() %}m{% endmacro %}x: {{ name() }}\n",  # a name the template defines
    "a: {{ team }}\n{{- name | tojson }}\n",  # a trim marker that joins it to the line above
    "a: {{ name\n  | tojson }}\n",  # an output over two lines
    "{% for i in range(2) %}{{ name }}\n{% endfor %}",  # in a loop
]


@pytest.mark.parametrize("source", LINE_OF_ITS_OWN)
def test_a_line_of_its_own_is_rendered_again_as_the_full_render_writes_it(source: str) -> None:
    again, full = rendered_both(source, {"name": "first", "team": "x"}, {"name": "second-one", "team": "x"})
    assert again is not None
    assert again == full


@pytest.mark.parametrize("source", READ_ELSEWHERE)
def test_a_variable_read_anywhere_else_is_rendered_in_full(source: str) -> None:
    again, full = rendered_both(source, {"name": "x", "team": "t"}, {"name": "y", "team": "t"})
    assert again is None or again == full
    assert again is None


def test_a_line_that_would_break_the_render_is_rendered_in_full() -> None:
    source = "a: 1\nb: {{ name }}\nc: 2\n"
    again, full = rendered_both(source, {"name": "x"}, {"name": "two\nlines"})
    assert again is None and full[0] == "a: 1\nb: two\nlines\nc: 2\n"
    padded = "pad: " + "a" * (bp.MAX_OUTPUT - 1000) + "\n" + source
    again, full = rendered_both(padded, {"name": "x"}, {"name": "y" * 2000})  # alone, the line is within limits
    assert again is None
    assert isinstance(full, UserError) and "renders to more than" in full.message
