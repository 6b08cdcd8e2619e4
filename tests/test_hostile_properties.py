"""Hostile strings everywhere: what tierstack prints carries them as text, never as instructions (issue 19).

A config key or value, a file name, a plan's address can hold terminal control characters (`ESC ] 0 ;`
retitles the terminal, `ESC [ 2 J` clears it, a bidirectional override reorders what is shown), Terraform
and Jinja delimiters, HTML comment markers, or be very long. Every message goes through one renderer
(`errors.printable`, applied by `UserError.render` and the CLI's `_report`), so a control character is
shown escaped (`\\x1b`); `NO_COLOR` turns tierstack's own colours off on a real terminal.

The property tests at the end build configs, blueprints and plans from their schemas (`tierstack schema`
for the first two, the shape of `terraform show -json` from tests/fixtures/plans for plans), put hostile
strings in their string fields, run validate, explain and review in-process, and check the outcome:
exit 0 or 2, no traceback, no control character that tierstack did not write itself. A few examples run the
real CLI in a subprocess under a memory and CPU limit (the in-process runs have neither), and `generate` gets
a hostile value in every string field: each is refused, or is in cdk.tf.json as Terraform reads it literally.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierstack.generator.cli import main
from tierstack.generator.core.errors import UserError, printable

TIERSTACK = str(Path(sys.executable).with_name("tierstack"))

# what tierstack itself writes on a terminal: click.style's SGR codes (colour, bold, reset)
OWN_STYLES = re.compile(r"\x1b\[[0-9;]*m")
# what must never reach a terminal unescaped: C0 controls but newline and tab, DEL, C1, bidi overrides
STEERING = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """In-process, with colour forced on, so click strips nothing: what a terminal would get, byte for byte."""
    return CliRunner().invoke(main, list(args), color=True, catch_exceptions=True, env=env)


def steering(text: str) -> list[str]:
    """The control characters in text that tierstack did not write as its own colours."""
    return STEERING.findall(OWN_STYLES.sub("", text))


# --- one renderer ------------------------------------------------------------------------------------


def test_printable_escapes_what_steers_a_terminal_and_keeps_lines() -> None:
    text = "a\x1b]0;pwned\x07b\x1b[2Jc\x9bd\u202ee\rf\x00\x7f\n\tg"
    shown = printable(text)
    assert shown == "a\\x1b]0;pwned\\x07b\\x1b[2Jc\\x9bd\\u202ee\\x0df\\x00\\x7f\n\tg"
    assert steering(shown) == []
    assert printable(shown) == shown  # escaping twice changes nothing more


def test_a_user_error_renders_its_file_field_message_and_hint_escaped() -> None:
    err = UserError("unknown key '\x1b[2J'", file="a\x1b.yaml", field="use_case.\x07", hint="try '\u202e'")
    assert err.render() == "a\\x1b.yaml, field 'use_case.\\x07': unknown key '\\x1b[2J'\n  hint: try '\\u202e'"


def test_a_config_key_with_terminal_escapes_is_shown_escaped(tmp_path: Path) -> None:
    """The issue's case: an unknown key that retitles the terminal, echoed in the error message."""
    config = tmp_path / "tierstack.yaml"
    config.write_text(
        'name: demo-case\nteam: ml\nuse_case:\n  stage: research\n  "st\\e]0;pwned\\a": 1\n', encoding="utf-8"
    )
    result = invoke("validate", str(config))
    assert result.exit_code == 2, result.output
    assert "unknown key 'st\\x1b]0;pwned\\x07'" in result.stderr
    assert steering(result.output + result.stderr) == []


def test_a_file_name_with_terminal_escapes_is_shown_escaped(tmp_path: Path) -> None:
    result = invoke("explain", str(tmp_path / "x\x1b[2J\x9b.yaml"))
    assert result.exit_code == 2
    assert "x\\x1b[2J\\x9b.yaml" in result.stderr
    assert steering(result.stderr) == []


def test_a_usage_error_quoting_what_was_typed_is_shown_escaped() -> None:
    result = invoke("x\x1b[2Jy")
    assert result.exit_code == 2
    assert "No such command 'x\\x1b[2Jy'" in result.stderr
    assert steering(result.stderr) == []


# --- notes, warnings and "wrote" lines go through the same renderer -------------------------------------

CLI = Path(__file__).parents[1] / "generator" / "cli"
RAW_ECHO = re.compile(r"\bclick\.s?echo\(")
# modules other helpers of this step still print from directly; each is listed until it goes through views
RAW_ECHO_LEFT: set[str] = set()


def test_a_written_file_name_with_terminal_escapes_is_shown_escaped(tmp_path: Path) -> None:
    """Not an error: `schema --out` reports the file it wrote, and its name is shown, never obeyed."""
    out = tmp_path / "s\x1b]0;pwned\x07\x1b[2J.json"
    result = invoke("schema", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert "s\\x1b]0;pwned\\x07\\x1b[2J.json" in result.stderr
    assert steering(result.output + result.stderr) == []


def test_a_tool_line_keeps_its_colours_and_loses_every_other_control(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """terraform's output is relayed: its SGR colours stay (it colours only on a terminal that asked),
    a value it quotes from a config or plan (an OSC title, a screen clear) is escaped."""
    from tierstack.generator.cli.views import relay

    monkeypatch.setattr("click.utils.should_strip_ansi", lambda stream=None, color=None: False)  # a terminal

    relay("\x1b[31mError:\x1b[0m name \x1b]0;pwned\x07 and \x1b[2J\x9b here")
    shown = capsys.readouterr().err
    assert shown == "\x1b[31mError:\x1b[0m name \\x1b]0;pwned\\x07 and \\x1b[2J\\x9b here\n"
    assert steering(shown) == []


def test_every_command_prints_through_the_views_renderer() -> None:
    """The shared mechanism: a command module that called click.echo itself would print a hostile name raw."""
    raw = sorted(p.name for p in CLI.glob("*.py") if p.name != "views.py" and RAW_ECHO.search(p.read_text("utf-8")))
    assert raw == sorted(RAW_ECHO_LEFT), "print with views.echo (or views.relay for another tool's lines)"


# --- each command that printed with click.echo itself: a value from its input, shown escaped ------------

EXAMPLES = Path(__file__).parents[1] / "examples"
OSC = "\x1b]0;pwned\x07"  # retitles the terminal
OSC_SHOWN = "\\x1b]0;pwned\\x07"


def _shown_escaped(result: Result) -> None:
    text = result.output + result.stderr
    assert result.exit_code == 0, text[-3000:]
    assert OSC_SHOWN in text and steering(text) == [], text[-3000:]


def test_cost_diff_shows_a_plan_address_escaped(tmp_path: Path) -> None:
    """cost.py: an address in the plan (Terraform takes it from the configuration) is in the text."""
    import json

    data = json.loads((PLANS / "recommender-dev.json").read_text(encoding="utf-8"))
    [change] = [c for c in data["resource_changes"] if c["address"].endswith(".metadata_tracking_store")]
    change["address"] += OSC
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(data), encoding="utf-8")
    _shown_escaped(invoke("cost", "--diff", str(plan), "--prices", "table"))


def test_show_provenance_names_a_config_folder_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """explain.py (show): each value's provenance names the file, with the folder it is in."""
    folder = tmp_path / f"case{OSC}"
    folder.mkdir()
    shutil.copy(EXAMPLES / "fraud-detection" / "tierstack.yaml", folder / "tierstack.yaml")
    monkeypatch.chdir(tmp_path)
    result = invoke("show", f"case{OSC}/tierstack.yaml", "--resolved", "--provenance")
    _shown_escaped(result)
    assert f"  # case{OSC_SHOWN}/tierstack.yaml:" in result.output


def test_upstream_shows_a_fork_file_name_escaped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spawns: None) -> None:
    """upstream.py: a conflict names the fork's file where it keeps its own value."""
    from synth_support import prepare_examples

    prepare_examples()
    example = EXAMPLES / "regional-propensity"
    shutil.copytree(example / "us", tmp_path / "us")
    shutil.copytree(example / "org-blueprints.git", tmp_path / "org-blueprints.git")
    (tmp_path / "us" / "propensity-us.yaml.j2").rename(tmp_path / "us" / f"fork{OSC}.yaml.j2")
    config = tmp_path / "us" / "tierstack.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("./propensity-us.yaml.j2", '"./fork\\e]0;pwned\\a.yaml.j2"'), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke("upstream", "us/tierstack.yaml", "--no-resources")
    _shown_escaped(result)
    assert f"CONFLICT: this fork sets it itself at us/fork{OSC_SHOWN}.yaml.j2:" in result.output


def test_generate_shows_the_directory_it_wrote_escaped(tmp_path: Path, synthesizes: None) -> None:
    """generate.py: `wrote DIR/` names the --out directory as given."""
    out = tmp_path / f"out{OSC}"
    result = invoke("generate", str(EXAMPLES / "research-prototype" / "tierstack.yaml"), "--out", str(out))
    _shown_escaped(result)
    assert (out / "stacks").is_dir() and f"wrote {out}/".replace(OSC, OSC_SHOWN) in result.output


def test_generate_of_a_fleet_shows_each_member_s_directory_escaped(tmp_path: Path, synthesizes: None) -> None:
    """fleet_view.py: a member's line names its output directory, below --out."""
    out = tmp_path / f"out{OSC}"
    fleet = str(EXAMPLES / "churn-fleet" / "churn.fleet.yaml")
    result = invoke("generate", fleet, "--only", "name=churn-us", "--out", str(out))
    _shown_escaped(result)
    assert (out / "churn-us" / "cdktf.out" / "stacks").is_dir()
    assert f"-> {out}/churn-us/cdktf.out/".replace(OSC, OSC_SHOWN) in result.output


# --- NO_COLOR on a real terminal -----------------------------------------------------------------------


def _on_a_terminal(args: list[str], no_color: str | None) -> tuple[int, bytes]:
    """Run tierstack with stdin, stdout and stderr on a pseudo-terminal; what the terminal received."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    if no_color is not None:
        env["NO_COLOR"] = no_color
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    finally:
        os.close(slave)
    received = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            received += chunk
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
        proc.kill()
    return code, received


@pytest.mark.skipif(os.name == "nt", reason="a POSIX pseudo-terminal")
@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("", True), ("1", False), ("no", False)])
def test_no_color_turns_colour_off_on_a_terminal(
    tmp_path: Path, no_color: str | None, coloured: bool, spawns: None
) -> None:
    """https://no-color.org: any non-empty NO_COLOR; an empty one is as if unset (the error is red then)."""
    code, received = _on_a_terminal([TIERSTACK, "validate", str(tmp_path / "missing.yaml")], no_color)
    assert code == 2
    assert b"use-case spec not found" in received
    assert (b"\x1b[" in received) is coloured, received


# --- review's input is bounded: a device, a sparse file, a FIFO, a closed stdin ---------------------------

PLANS = Path(__file__).parent / "fixtures" / "plans"
LIMITED_MEMORY = 1 << 30  # the subprocess's address space: a plan read whole into memory would pass it


def _limited() -> None:
    """In the child, before exec: memory and CPU bounded, so a regression fails instead of eating the machine."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (LIMITED_MEMORY, LIMITED_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (60, 60))


def _review(args: list[str], **popen: object) -> subprocess.CompletedProcess[str]:
    """`tierstack review ARGS` under resource limits; the timeout only guards a hang (a FIFO read blocks)."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [TIERSTACK, "review", *args], capture_output=True, text=True, preexec_fn=_limited, timeout=120, **popen
    )


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _sparse(path: Path) -> Path:
    with open(path, "wb") as handle:
        handle.truncate(4 << 30)  # 4 GiB that take no disk: st_size says so, reading would fill memory
    return path


@pytest.mark.skipif(os.name == "nt", reason="devices, FIFOs and rlimits as on POSIX")
@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: Path("/dev/zero"), "/dev/zero: the plan is a character device, not a regular file"),
        (lambda tmp: _sparse(tmp / "sparse.json"), "sparse.json: plan is larger than 256 MiB, the limit for a plan"),
        (lambda tmp: _fifo(tmp / "plan.json"), "plan.json: the plan is a named pipe (FIFO), not a regular file"),
    ],
    ids=["dev-zero", "sparse-4-GiB", "fifo-without-writer"],
)
def test_review_refuses_what_never_ends_or_blocks(tmp_path: Path, make: object, says: str, spawns: None) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    out = _review([str(path)])
    assert out.returncode == 2, out.stderr
    assert says in out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr


@pytest.mark.skipif(os.name == "nt", reason="rlimits as on POSIX")
def test_review_of_an_endless_stdin_stops_at_the_limit(spawns: None) -> None:
    with open("/dev/zero", "rb") as zeros:
        out = _review(["-"], stdin=zeros)
    assert out.returncode == 2, out.stderr
    assert "error: <stdin>: plan is larger than 256 MiB, the limit for a plan" in out.stderr


@pytest.mark.skipif(os.name == "nt", reason="a closed descriptor as on POSIX")
def test_review_with_stdin_closed_says_so(spawns: None) -> None:
    out = subprocess.run(
        ["bash", "-c", '"$T" review - <&-'],
        env={**os.environ, "T": TIERSTACK},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert "error: <stdin>: standard input is closed, so there is no plan to read" in out.stderr


def test_review_reads_a_plan_from_stdin() -> None:
    plan = (PLANS / "recommender-dev.json").read_text(encoding="utf-8")
    result = CliRunner().invoke(main, ["review", "-", "--format", "json"], input=plan)
    assert result.exit_code == 0, result.output


def test_a_plan_change_without_a_type_is_a_damaged_plan(tmp_path: Path) -> None:
    import json

    data = json.loads((PLANS / "recommender-dev.json").read_text(encoding="utf-8"))
    del data["resource_changes"][0]["type"]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = invoke("review", str(path))
    assert result.exit_code == 2, result.output
    assert "resource_changes[0] has no address, type or actions: this plan JSON is damaged" in result.stderr


# --- property: hostile strings in every string field of configs, blueprints and plans -------------------

HOSTILE = [
    "\x1b]0;pwned\x07",  # OSC: retitles the terminal
    "\x1b[2J\x1b[H",  # clear the screen, cursor home
    "\x9b31m",  # the 8-bit CSI
    "a\u202eb",  # right-to-left override (Trojan Source)
    "line\rover",
    "${7*7919}",  # Terraform interpolation
    "%{ if true }x%{ endif }",  # Terraform directive
    "{{ 7*7919 }}",  # Jinja expression: 55433 if it were run
    "{% raw %}x{% endraw %}",
    "<!-- hidden -->",  # ends or opens an HTML comment in a PR comment
    "-->",
    "x" * 5000,  # very long
]
EVALUATED = "55433"  # 7 * 7919: in an output only if a delimiter was run


def _hostile() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.tuples(st.sampled_from(["", "ok-", "acme "]), st.sampled_from(HOSTILE)).map("".join),
    )


def _resolve_ref(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def string_paths(schema: dict[str, Any], node: dict[str, Any] | None = None, depth: int = 0) -> list[tuple[str, ...]]:
    """Every path to a string field the schema allows (through $ref, anyOf, nested objects, maps), the
    generator's own reading of `tierstack schema`: '*' stands for a key of a map (labels, variables)."""
    node = _resolve_ref(schema, schema if node is None else node)
    if depth > 6:
        return []
    found: list[tuple[str, ...]] = []
    for option in node.get("anyOf", []) + node.get("oneOf", []):
        found += string_paths(schema, option, depth + 1)
    if node.get("type") == "string":
        found.append(())
    for key, child in (node.get("properties") or {}).items():
        found += [(key, *rest) for rest in string_paths(schema, child, depth + 1)]
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        found += [("*", *rest) for rest in string_paths(schema, extra, depth + 1)]
    return sorted(set(found))


def put(doc: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    """Set doc at path (a '*' a hostile key too), making the mappings on the way."""
    for key in path[:-1]:
        key = value if key == "*" else key
        if not isinstance(doc.get(key), dict):
            doc[key] = {}
        doc = doc[key]
    doc[value if path[-1] == "*" else path[-1]] = value


def check_outcome(result: Result, allowed: tuple[int, ...] = (0, 2)) -> None:
    """exit 0 or 2 (review: 3, 4 too), no traceback, nothing steering the terminal, no delimiter run."""
    text = result.output + result.stderr
    assert result.exit_code in allowed, text[-3000:]
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]
    assert steering(text) == [], text[-3000:]
    assert EVALUATED not in text


def _schema(kind: str) -> dict[str, Any]:
    import json

    result = CliRunner().invoke(main, ["schema", "--kind", kind])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


CONFIG_SCHEMA = _schema("config")
BLUEPRINT_SCHEMA = _schema("blueprint")
CONFIG_PATHS = string_paths(CONFIG_SCHEMA)
BLUEPRINT_PATHS = [p for p in string_paths(BLUEPRINT_SCHEMA) if p and p[0] not in ("extends",)]
BASE_CONFIG = Path(__file__).parents[1] / "examples" / "fraud-detection" / "tierstack.yaml"


def test_the_schemas_have_string_fields_to_attack() -> None:
    """The generator reads the schemas: it must find the fields a person would (or it tests nothing)."""
    assert {("name",), ("description",), ("labels", "*")} <= set(CONFIG_PATHS)
    assert ("description",) in BLUEPRINT_PATHS and len(BLUEPRINT_PATHS) > 20


def _config_with(tmp: Path, changes: list[tuple[tuple[str, ...], str]], blueprint: str | None = None) -> Path:
    from tierstack.generator.core.yamlio import dump, load_file, to_plain

    doc = to_plain(load_file(BASE_CONFIG))
    for path, value in changes:
        put(doc, path, value)
    if blueprint is not None:
        (tmp / "hostile.yaml.j2").write_text(blueprint, encoding="utf-8")
        doc["blueprint"] = "./hostile.yaml.j2"
    config = tmp / "tierstack.yaml"
    config.write_text(dump(doc), encoding="utf-8")
    return config


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(CONFIG_PATHS), _hostile()), min_size=1, max_size=4))
def test_validate_of_a_config_with_hostile_strings(changes: list[tuple[tuple[str, ...], str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = _config_with(Path(tmp), changes)
        check_outcome(invoke("validate", str(config)))
        check_outcome(invoke("validate", str(config), "--format", "json"))


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(BLUEPRINT_PATHS), _hostile()), min_size=1, max_size=4))
def test_validate_of_a_blueprint_with_hostile_strings(changes: list[tuple[tuple[str, ...], str]]) -> None:
    from tierstack.generator.core.yamlio import dump

    layer: dict[str, Any] = {"extends": "level-2-cicd"}
    for path, value in changes:
        put(layer, path, value)
    text = "{% raw %}" + dump(layer) + "{% endraw %}\n"  # the values as written, not as Jinja would read them
    with tempfile.TemporaryDirectory() as tmp:
        config = _config_with(Path(tmp), [], blueprint=text)
        check_outcome(invoke("validate", str(config)))


@pytest.mark.slow
@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(st.tuples(st.sampled_from(CONFIG_PATHS), _hostile()), min_size=1, max_size=2))
def test_explain_of_a_config_with_hostile_strings(
    changes: list[tuple[tuple[str, ...], str]], synthesizes: None
) -> None:
    """explain synthesizes (seconds each): a few examples, all outcomes checked as validate's."""
    with tempfile.TemporaryDirectory() as tmp:
        config = _config_with(Path(tmp), changes)
        check_outcome(invoke("explain", str(config)))


PLAN_PATHS: list[tuple[str | int, ...]] = [
    ("resource_changes", 0, "address"),
    ("resource_changes", 0, "name"),
    ("resource_changes", 0, "type"),
    ("resource_changes", 0, "provider_name"),
    ("resource_changes", 0, "action_reason"),
    ("resource_changes", 0, "change", "after", "labels", "*"),
    ("resource_changes", 1, "change", "after", "display_name"),
    ("resource_changes", 1, "previous_address"),
    ("output_changes", "*"),
    ("terraform_version",),
]


def _plan_with(changes: list[tuple[tuple[str | int, ...], str]]) -> dict[str, Any]:
    import json

    plan: dict[str, Any] = json.loads((PLANS / "fraud-detection-prod.json").read_text(encoding="utf-8"))
    for path, value in changes:
        node: Any = plan
        for key in path[:-1]:
            key = value if key == "*" else key
            if isinstance(node, dict) and not isinstance(node.get(key), (dict, list)):
                node[key] = {}
            node = node[key]
        last = value if path[-1] == "*" else path[-1]
        node[last] = {"actions": ["update"], "before": "a", "after": value} if path[0] == "output_changes" else value
    return plan


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.lists(st.tuples(st.sampled_from(PLAN_PATHS), _hostile()), min_size=1, max_size=4),
    fmt=st.sampled_from(["markdown", "text", "json"]),
)
def test_review_of_a_plan_with_hostile_strings(changes: list[tuple[tuple[str | int, ...], str]], fmt: str) -> None:
    import json

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.json"
        path.write_text(json.dumps(_plan_with(changes)), encoding="utf-8")
        result = invoke("review", str(path), "--format", fmt, "--at", "2026-01-01T00:00:00Z")
        check_outcome(result, allowed=(0, 2, 3, 4))
        if fmt == "markdown" and result.exit_code != 2:
            assert result.stdout.count("<!--") == result.stdout.count("-->")  # no comment left open or closed early


# --- the same properties in a subprocess, under a time and a memory limit ----------------------------------


def _limited_run(args: list[str]) -> subprocess.CompletedProcess[str]:
    """tierstack ARGS in a child bounded like `_review`'s (1 GiB of address space, 60 s of CPU); the timeout
    only guards a hang. An input that makes tierstack allocate without bound is then a MemoryError (exit 1,
    `internal error`) or a kill by signal, a loop a kill by SIGXCPU: each fails the outcome check."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TIERSTACK_DEBUG")}
    return subprocess.run([TIERSTACK, *args], capture_output=True, text=True, preexec_fn=_limited, timeout=180, env=env)


def check_limited(out: subprocess.CompletedProcess[str], allowed: tuple[int, ...] = (0, 2)) -> None:
    """check_outcome for a child: a negative return code is a kill (SIGXCPU, SIGKILL, SIGSEGV)."""
    text = out.stdout + out.stderr
    assert out.returncode in allowed, f"exit {out.returncode}: {text[-3000:]}"
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]
    assert steering(text) == [], text[-3000:]
    assert EVALUATED not in text


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="rlimits as on POSIX")
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    config_changes=st.lists(st.tuples(st.sampled_from(CONFIG_PATHS), _hostile()), min_size=1, max_size=4),
    plan_changes=st.lists(st.tuples(st.sampled_from(PLAN_PATHS), _hostile()), min_size=1, max_size=4),
    fmt=st.sampled_from(["markdown", "text", "json"]),
)
def test_validate_and_review_of_hostile_input_under_resource_limits(
    config_changes: list[tuple[tuple[str, ...], str]],
    plan_changes: list[tuple[tuple[str | int, ...], str]],
    fmt: str,
    spawns: None,
) -> None:
    """The in-process properties above have no bound on time or memory: here the real CLI runs in a child that
    has both, so input that expands without bound fails the test instead of the machine."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        config = _config_with(Path(tmp), config_changes)
        check_limited(_limited_run(["validate", str(config)]))
        plan = Path(tmp) / "plan.json"
        plan.write_text(json.dumps(_plan_with(plan_changes)), encoding="utf-8")
        check_limited(
            _limited_run(["review", str(plan), "--format", fmt, "--at", "2026-01-01T00:00:00Z"]),
            allowed=(0, 2, 3, 4),
        )


# --- generate: a hostile value is refused, or carried into cdk.tf.json literally -----------------------------

# Fields that reach a stack as written, beyond the schema's (a capability's settings are not in it): the
# notification channel's address and an IAM member, where tests/test_terraform_literals.py has real terraform
# read hostile-but-valid values back.
CARRIERS: list[tuple[str, ...]] = [
    ("overrides", "capabilities", "model_monitoring", "notification_email"),
    ("overrides", "capabilities", "foundation", "persona_groups", "viewers"),
]
GENERATED = [
    "\x1b]0;pwned\x07",  # refused everywhere it could reach a stack
    "${7*7919}",  # a Terraform expression: refused
    "x{{7*7919}}@example.com",  # a valid address holding a Jinja expression: 55433 if anything ran it
    "a$b%c{d}e@example.com",  # every character Terraform treats specially, never as `${` or `%{`
    "{%raw%}|~&@example.com",  # a Jinja statement, valid as an address
]


def _terraform_literal(value: str) -> str:
    """How Terraform JSON writes `value` so that it reads it back as the text itself."""
    return value.replace("${", "$${").replace("%{", "%%{")


def _strings(node: Any) -> Iterator[str]:
    """Every string in a parsed JSON document, keys too."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item


@pytest.mark.slow
@pytest.mark.parametrize("hostile", GENERATED, ids=[repr(h) for h in GENERATED])
def test_generate_refuses_a_hostile_value_or_writes_it_literally(hostile: str, synthesizes: None) -> None:
    """Each string field (the schema's, and CARRIERS) gets the value behind a tag of its own; those validate
    takes alone are generated together (one synthesis). Every stack string holding a tag holds that field's
    value as Terraform reads it literally: not cut, not slugged, not evaluated."""
    import json

    paths = [*CONFIG_PATHS, *CARRIERS]
    values = {f"zq{i:03d}": f"zq{i:03d}{hostile}" for i in range(len(paths))}
    accepted: list[tuple[tuple[str, ...], str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, value in zip(paths, values.values(), strict=True):
            alone = Path(tmp) / "alone"
            alone.mkdir()
            if invoke("validate", str(_config_with(alone, [(path, value)]))).exit_code == 0:
                accepted.append((path, value))
            shutil.rmtree(alone)
        config = _config_with(Path(tmp), accepted)
        out = Path(tmp) / "cdktf.out"
        result = invoke("generate", str(config), "--out", str(out))
        check_outcome(result)
        if result.exit_code != 0:
            return
        reached = set()
        for stack in sorted(out.glob("stacks/*/cdk.tf.json")):
            text = stack.read_text(encoding="utf-8")
            assert EVALUATED not in text
            for string in _strings(json.loads(text)):
                for tag in re.findall(r"zq\d{3}", string):
                    assert _terraform_literal(values[tag]) in string, (stack.name, tag, string)
                    reached.add(tag)
    if "@" in hostile:  # a valid address reaches the stacks through CARRIERS: the literal check was made
        assert reached, accepted
