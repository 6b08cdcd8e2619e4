"""Configs and blueprints are untrusted: they cannot run code, hang, or take the memory.

The bad-input corpus (tests/bad_inputs/) holds every case that is a file; the
cases here need a FIFO, a device, a directory, a symbolic link loop, a file
written at test time, a marker that a shell command would create, or a clock.
Each runs through the CLI, both `explain` and `generate`, and checks exit 2,
one clear message, and that nothing was written. Time bounds are generous;
they guard against hangs (a FIFO blocked forever, `range(10**9)` took 21 s, an
alias bomb 79 s and 2.3 GB), they do not benchmark.
"""

from __future__ import annotations

import ast
import os
import signal
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from conftest import hang_guard, run
from tierstack.generator.config import blueprint as bp
from tierstack.generator.config.blueprint import sandbox as bp_sandbox
from tierstack.generator.config.blueprint import template as bp_template
from tierstack.generator.core import yamlio
from tierstack.generator.core.errors import UserError

REPO = Path(__file__).resolve().parent.parent
SPEC = "name: demo-case\nteam: ml\nuse_case: {stage: research}\n"
# Far above the second any of these takes, on a busy machine too: only there so that a regression (input that
# expands without bound, a FIFO that blocks) fails instead of hanging. How fast they are is bench/'s to say.

posix_only = pytest.mark.skipif(
    not hasattr(signal, "setitimer") or not hasattr(os, "mkfifo"),
    reason="needs POSIX: FIFOs, /dev/zero and an interval timer",
)


def cli(*args: str, trace_memory: bool = True) -> tuple[Result, int]:
    """Run the CLI in-process under the hang guard: the result and the peak bytes allocated.

    Tracing memory makes Python several times slower; cases that test a time limit turn it off.
    """
    if trace_memory:
        tracemalloc.start()
    try:
        with hang_guard():
            result = run(*args)
    finally:
        peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
        tracemalloc.stop()
    return result, peak


def assert_refused(result: Result, *texts: str) -> None:
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output and "internal error" not in result.output
    for text in texts:
        assert text in result.stderr, result.stderr


def explain_and_generate(config: str, tmp_path: Path, *texts: str, peak_limit: int | None = 200 * 2**20) -> None:
    """`explain` and `generate` both refuse with the texts; generate writes nothing at all."""
    before = sorted(p.name for p in tmp_path.iterdir())
    for args in (("explain", config), ("generate", config)):
        result, peak = cli(*args, trace_memory=peak_limit is not None)
        assert_refused(result, *texts)
        assert peak_limit is None or peak < peak_limit, f"{args[0]} allocated {peak / 2**20:.0f} MiB"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no cdktf.out, no cdktf.json
    assert not (tmp_path / "cdktf.out").exists()


# --- blueprints cannot run code -----------------------------------------------------------------

# Each payload would create MARKER (a shell command, or Python's open()) if the template could reach
# the interpreter. The blueprint puts it where the rendered text lands, as an ordinary template would.
PAYLOADS = {
    "cycler-globals-os": "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "lipsum-globals-os": "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "joiner-globals-builtins": "{{ joiner.__init__.__globals__.__builtins__.open('MARKER', 'w') }}",
    "namespace-globals": "{{ namespace.__init__.__globals__.os.system('touch MARKER') }}",
    "self-reference": "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch MARKER') }}",
    "subclasses-popen": "{% for c in ''.__class__.__mro__[1].__subclasses__() %}"
    "{% if c.__name__ == 'Popen' %}{{ c(['touch', 'MARKER']) }}{% endif %}{% endfor %}",
    "format-string-attribute": "{{ '{0.__class__.__mro__}'.format(name) }}",
    "range-globals": "{{ range.__self__.__class__ }}",
    "loop-internals": "{% for i in [1] %}{{ loop._iterator.__class__ }}{% endfor %}",
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=list(PAYLOADS))
def test_a_blueprint_cannot_run_commands(
    payload: str, write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran.marker"
    write('extends: level-0-manual\ndescription: "' + payload.replace("MARKER", str(marker)) + '"\n', "evil.yaml.j2")
    write(SPEC + "blueprint: ./evil.yaml.j2\n")
    monkeypatch.chdir(tmp_path)
    explain_and_generate("tierstack.yaml", tmp_path, "evil.yaml.j2:2")
    assert not marker.exists(), "the template ran a command"


def test_a_blueprint_cannot_read_files(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = write("s3cr3t-token-value\n", "secret.txt")
    write(
        "extends: level-0-manual\n"
        f"description: {{{{ lipsum.__globals__['__builtins__']['open']('{secret}').read() | tojson }}}}\n",
        "evil.yaml.j2",
    )
    write(SPEC + "blueprint: ./evil.yaml.j2\n")
    monkeypatch.chdir(tmp_path)
    for args in (("explain", "tierstack.yaml"), ("generate", "tierstack.yaml")):
        result, _ = cli(*args)
        assert_refused(result, "evil.yaml.j2:2", "'lipsum' is not available in blueprints")
        assert "s3cr3t" not in result.output
    assert not (tmp_path / "cdktf.out").exists()


def test_a_forked_blueprint_is_sandboxed_too(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payload sits in a blueprint two `extends:` away from the one the config names."""
    marker = tmp_path / "ran.marker"
    write(
        "extends: level-0-manual\n"
        f"description: \"{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}\"\n",
        "shared/base.yaml.j2",
    )
    write("extends: ./shared/base.yaml.j2\n", "fork.yaml.j2")
    write(SPEC + "blueprint: ./fork.yaml.j2\n")
    monkeypatch.chdir(tmp_path)
    explain_and_generate("tierstack.yaml", tmp_path, "shared/base.yaml.j2:2", "'cycler' is not available")
    assert not marker.exists()


# --- rendering is bounded in time and memory ----------------------------------------------------

MEMORY_BOMBS = {
    # name: (template body after 'extends: level-0-manual\n', text of the error, its line)
    "range-1e9": ("{% for i in range(10**9) %}{% endfor %}\n", "over the limit of 10,000", 2),
    "string-1e10": ("description: {{ 'x' * 10**10 }}\n", "more than 1,000,000 characters", 2),
    "power-tower": ("description: {{ 10 ** (10 ** 10) }}\n", "more than 128 bits", 2),
    "join-separator": ("description: {{ range(10000) | join('x' * 100000) }}\n", "more than 1,000,000", 2),
    "concat-doubling": ("{% set a = 'x' * 600000 %}\n{% set b = a ~ a %}\n", "more than 1,000,000", 3),
    "macro-output": (
        "{% macro m() %}{% for i in range(10000) %}" + "x" * 200 + "{% endfor %}{% endmacro %}\n"
        "{% set discarded = m() %}\n",
        "renders to more than 128 KiB",
        2,
    ),
    "format-width": ("description: {{ '%.999999999f' % 1.5 }}\n", "format width or precision", 2),
}
TIME_BOMBS = {
    "nested-loops": (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}\n",
        "loops ran more than 100,000 times",
        2,
    ),
    "recursive-loop": (
        "{% for x in range(3) recursive %}{% if loop.depth < 5 %}{{ loop(range(10000)) }}{% endif %}{% endfor %}\n",
        "loops ran more than 100,000 times",
        2,
    ),
}


@pytest.mark.parametrize("case", [*MEMORY_BOMBS.values(), *TIME_BOMBS.values()], ids=[*MEMORY_BOMBS, *TIME_BOMBS])
def test_rendering_stops_at_its_limits_quickly(
    case: tuple[str, str, int], write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, text, line = case
    write("extends: level-0-manual\n" + body, "bomb.yaml.j2")
    write(SPEC + "blueprint: ./bomb.yaml.j2\n")
    monkeypatch.chdir(tmp_path)
    peak_limit = None if case in TIME_BOMBS.values() else 64 * 2**20
    explain_and_generate("tierstack.yaml", tmp_path, f"bomb.yaml.j2:{line}", text, peak_limit=peak_limit)


def test_range_within_the_limit_renders(write: Callable[..., Path], resolve_text: Callable[..., object]) -> None:
    write(
        "extends: level-0-manual\ndefaults:\n  labels:\n"
        "{% for i in range(3) %}\n    l{{ i }}: v{{ i }}\n{% endfor %}\n",
        "ok.yaml.j2",
    )
    plan = resolve_text(SPEC + "blueprint: ./ok.yaml.j2\n")
    layer = plan.blueprint.layer  # type: ignore[attr-defined]
    assert {"l0": "v0", "l1": "v1", "l2": "v2"}.items() <= layer.data["defaults"]["labels"].items()
    assert str(layer.prov[("defaults", "labels", "l2")]).endswith("ok.yaml.j2:5")


def test_a_render_that_runs_out_of_time_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bp_template, "MAX_SECONDS", 0.0)  # the render's deadline
    monkeypatch.setattr(bp_sandbox, "MAX_SECONDS", 0.0)  # the limit the sandbox names
    with pytest.raises(UserError) as err:
        bp.render("t.yaml.j2", "a: 1\n{% for i in range(3) %}\nb{{ i }}: 1\n{% endfor %}\n", {})
    assert "rendering took more than 0 seconds" in err.value.message
    assert err.value.file == "t.yaml.j2" and err.value.line == 1  # the first thing it writes


def test_the_sandbox_renders_what_blueprints_are_documented_to_use() -> None:
    source = (
        "{% macro row(k, v) %}{{ k }}: {{ v | tojson }}{% endmacro %}\n"
        "{{ row('a', name | upper) }}\n"
        "{% for k, v in labels.items() %}\n"
        "l_{{ k }}: {{ v | default('x') | lower | trim | tojson }}\n"
        "{% endfor %}\n"
        "b: {{ (items | join(',') ~ '-' ~ items | length) | tojson }}\n"
        "c: {{ 'yes' if missing is defined else 'no' }}\n"
        "d: {{ labels.get('team') }} {{ name.startswith('de') | tojson }} {{ range(2) | join('') }}\n"
        "{% for x in [1, 2] %}\n"
        "e{{ loop.index }}: {{ loop.cycle('odd', 'even') }}\n"
        "{% endfor %}\n"
    )
    text, _ = bp.render("t.yaml.j2", source, {"name": "demo", "labels": {"team": "ML "}, "items": [1, 2]})
    assert text.split("\n")[:9] == [
        "",
        'a: "DEMO"',
        "",
        'l_team: "ml"',
        "",
        'b: "1,2-2"',
        "c: no",
        "d: ML  true 01",
        "",
    ]
    assert "e1: odd" in text and "e2: even" in text


def test_every_filter_method_and_limit_is_documented() -> None:
    docs = (REPO / "docs" / "blueprints.md").read_text(encoding="utf-8")
    names = [*bp.FILTERS, *bp.STR_METHODS, *bp.DICT_METHODS, *(f"loop.{m}" for m in bp.LOOP_METHODS), "range"]
    for name in names:
        assert f"`{name}" in docs, name
    for limit in (bp.MAX_RANGE, bp.MAX_ITERATIONS, bp.MAX_VALUE, bp.MAX_WORK, bp.MAX_FORMAT_WIDTH):
        assert f"{limit:,}" in docs, limit
    assert f"{bp.MAX_INT_BITS} bits" in docs and f"{bp.MAX_SECONDS:g} seconds" in docs
    assert yamlio.size_text(yamlio.MAX_FILE_BYTES) in docs and f"{yamlio.MAX_DEPTH} levels" in docs
    assert f"{yamlio.MAX_ALIAS_NODES:,}" in docs


# --- YAML is bounded ----------------------------------------------------------------------------

ALIAS_BOMB = "".join(
    f"  {name}: &{name} [{', '.join([f'*{prev}'] * 9 if prev else ['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def test_an_alias_bomb_in_a_config_is_refused_quickly_and_small(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(SPEC + "variables:\n" + ALIAS_BOMB)
    assert config.stat().st_size < 600  # 9 ** 9 = 387 million 'lol's when expanded
    monkeypatch.chdir(tmp_path)
    explain_and_generate(
        "tierstack.yaml", tmp_path, "tierstack.yaml:9", "aliases repeat more than 10,000", peak_limit=32 * 2**20
    )


def test_an_alias_bomb_in_a_blueprint_is_refused_at_its_source_line(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("extends: level-0-manual\ndefaults:\n{% if true %}\n" + ALIAS_BOMB + "{% endif %}\n", "bomb.yaml.j2")
    write(SPEC + "blueprint: ./bomb.yaml.j2\n")
    monkeypatch.chdir(tmp_path)
    explain_and_generate(
        "tierstack.yaml",
        tmp_path,
        "bomb.yaml.j2:8",
        "aliases repeat more than 10,000",
        "in the rendered template",
        peak_limit=32 * 2**20,
    )


def test_aliases_within_the_budget_still_work(write: Callable[..., Path], resolve_text: Callable[..., object]) -> None:
    plan = resolve_text(
        SPEC + "labels: &common {cost-center: ml-42}\n"
        "environments:\n  dev: {labels: *common}\n  prod:\n    labels:\n      <<: *common\n      tier: gold\n"
    )
    envs = plan.environments  # type: ignore[attr-defined]
    assert envs["dev"].settings["labels"]["cost-center"] == "ml-42"
    assert envs["prod"].settings["labels"]["cost-center"] == "ml-42"
    assert envs["prod"].settings["labels"]["tier"] == "gold"


def test_nesting_too_deep_is_refused_before_anything_recurses() -> None:
    for text in (
        "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "- " * 50_000 + "x\n",
        "".join(" " * i + "k:\n" for i in range(200)) + " " * 200 + "k: 1\n",
    ):
        with hang_guard(), pytest.raises(UserError, match="nests more than 64 levels deep"):
            yamlio.parse(text, "deep.yaml")
    assert yamlio.parse("a: " + "[" * 63 + "1" + "]" * 63 + "\n", "ok.yaml") is not None


# --- files that are not regular files, or too large ---------------------------------------------


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()


def _symlink_loop(path: Path) -> None:
    other = path.with_name("other-" + path.name)
    path.symlink_to(other.name)
    other.symlink_to(path.name)


def _too_large(path: Path) -> None:
    path.write_bytes(b"# padding\n" * (yamlio.MAX_FILE_BYTES // 10 + 1))


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


KINDS: dict[str, tuple[Callable[[Path], None], str]] = {
    "fifo": (_fifo, "is a named pipe (FIFO), not a regular file"),
    "dev-zero": (_dev_zero, "is a character device, not a regular file"),
    "directory": (_directory, "is a directory"),
    "symlink-loop": (_symlink_loop, "is a loop of symbolic links"),
    "too-large": (_too_large, "is larger than 128 KiB"),
}


@posix_only
@pytest.mark.parametrize("kind", KINDS, ids=list(KINDS))
def test_config_path_that_is_no_regular_file(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make, text = KINDS[kind]
    make(tmp_path / "tierstack.yaml")
    monkeypatch.chdir(tmp_path)
    explain_and_generate("tierstack.yaml", tmp_path, text, peak_limit=16 * 2**20)


@posix_only
@pytest.mark.parametrize("kind", KINDS, ids=list(KINDS))
def test_blueprint_path_that_is_no_regular_file(
    kind: str, write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, text = KINDS[kind]
    make(tmp_path / "bp.yaml.j2")
    write(SPEC + "blueprint: ./bp.yaml.j2\n")
    monkeypatch.chdir(tmp_path)
    where = "bp.yaml.j2:" if kind == "too-large" else "tierstack.yaml:4, field 'blueprint'"
    explain_and_generate("tierstack.yaml", tmp_path, where, text, peak_limit=16 * 2**20)


@posix_only
@pytest.mark.parametrize("kind", KINDS, ids=list(KINDS))
def test_extends_path_that_is_no_regular_file(
    kind: str, write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, text = KINDS[kind]
    make(tmp_path / "base.yaml.j2")
    write("extends: ./base.yaml.j2\n", "fork.yaml.j2")
    write(SPEC + "blueprint: ./fork.yaml.j2\n")
    monkeypatch.chdir(tmp_path)
    where = "base.yaml.j2:" if kind == "too-large" else "fork.yaml.j2:1, field 'extends'"
    explain_and_generate("tierstack.yaml", tmp_path, where, text, peak_limit=16 * 2**20)


@posix_only
def test_dev_zero_named_directly(write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result, _ = cli("explain", "/dev/zero")
    assert_refused(result, "/dev/zero: use-case spec is a character device")
    write(SPEC + "blueprint: /dev/zero\n")
    explain_and_generate("tierstack.yaml", tmp_path, "blueprint '/dev/zero' is a character device")


def test_reading_stops_one_byte_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a" * 100)
    assert yamlio.read_bytes_bounded(path, "file", limit=100) == b"a" * 100
    path.write_bytes(b"a" * 101)
    with pytest.raises(UserError, match="larger than 100 bytes"):
        yamlio.read_bytes_bounded(path, "file", limit=100)


def test_text_keeps_open_s_newline_handling(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\r\nb: 2\rc: 3\n")
    assert yamlio.read_text(path, "file") == "a: 1\nb: 2\nc: 3\n"


# A YAML block scalar (`name: |`) ends in a newline, and Python's `$` matches before a final newline:
# every grammar must take the whole value, or "x\n" would reach a resource name or a filter.
GOOD_VALUES = [
    ("check_bucket_name", "acme-artifacts"),
    ("check_repository", "acme/fraud"),
    ("check_email", "oncall@example.com"),
    ("check_kms_key", "projects/acme-kms/locations/us-central1/keyRings/ml/cryptoKeys/k"),
    ("check_network", "projects/123456/global/networks/vpc"),
    ("check_cron", "0 4 * * 1"),
    ("check_project", "acme-ml-prod"),
    ("check_billing_account", "012345-6789AB-CDEF01"),
    ("check_currency", "EUR"),
    ("check_subject", "environment:prod"),
    ("check_repository_id", "models"),
]


@pytest.mark.parametrize(("check", "value"), GOOD_VALUES, ids=[c for c, _ in GOOD_VALUES])
def test_a_trailing_newline_is_not_part_of_a_valid_value(check: str, value: str) -> None:
    from tierstack.generator.core import grammars

    getattr(grammars, check)(value)  # the value itself is valid
    with pytest.raises(ValueError):
        getattr(grammars, check)(value + "\n")


SPEC_VALUES = [
    ("check_name", "demo-case"),
    ("check_team", "ml"),
    ("check_region", "us-central1"),
    ("check_label_key", "cost-center"),
    ("check_label_value", "cc-100"),
    ("check_environment_name", "prod"),
]


@pytest.mark.parametrize(("check", "value"), SPEC_VALUES, ids=[c for c, _ in SPEC_VALUES])
def test_a_trailing_newline_is_not_part_of_a_valid_spec_value(check: str, value: str) -> None:
    from tierstack.generator.config import spec

    getattr(spec, check)(value)
    with pytest.raises(ValueError, match=r"\\n'"):  # and the message shows the newline as \n
        getattr(spec, check)(value + "\n")


# Python's int() and `\d` take the digits of every script; Google's APIs take 0-9.
OTHER_DIGITS = {"arabic-indic": "\u0660\u0664", "fullwidth": "\uff10\uff14", "devanagari": "\u0966\u096a"}


@pytest.mark.parametrize("digits", OTHER_DIGITS.values(), ids=list(OTHER_DIGITS))
def test_a_cron_written_with_other_digits_is_refused(digits: str) -> None:
    from tierstack.generator.core import grammars

    assert int(digits) == 4  # what a check built on int() would have taken
    for value in (f"0 {digits} * * *", f"*/{digits} * * * *", f"0 4 * * {digits[1]}", f"0 4 1-{digits} * *"):
        with pytest.raises(ValueError, match="written with the digits 0-9"):
            grammars.check_cron(value)


@pytest.mark.parametrize("digits", OTHER_DIGITS.values(), ids=list(OTHER_DIGITS))
def test_a_freeze_moment_written_with_other_digits_is_refused(digits: str) -> None:
    from tierstack.generator.config import freeze

    freeze.check_moment("2026-11-04")
    freeze.check_week_time("fri 04:00")
    with pytest.raises(ValueError):
        freeze.check_moment(f"2026-11-{digits}")
    with pytest.raises(ValueError):
        freeze.check_week_time(f"fri {digits}:00")


@pytest.mark.parametrize("value", ["0 4 * * *\n", " 0 4 * * *", "0 4 * * *\u00a0", "0\t4 * * *", "0 4 * * *\r"])
def test_a_cron_with_other_whitespace_is_refused(value: str) -> None:
    from tierstack.generator.core import grammars

    grammars.check_cron("0  4 * * *")  # spaces between fields are fine
    with pytest.raises(ValueError, match="five fields separated by spaces"):
        grammars.check_cron(value)


@pytest.mark.parametrize("value", ["google-ml-prod", "acme-google", "my-googleproj"])
def test_a_project_id_holding_google_is_refused(value: str) -> None:
    from tierstack.generator.core import grammars

    with pytest.raises(ValueError, match="cannot contain 'google'"):
        grammars.check_project(value)
    grammars.check_project(value.replace("google", "goog1e"))  # the grammar itself is met


def test_a_capability_setting_with_a_trailing_newline_is_refused() -> None:
    from tierstack.modules.model_evaluation import ModelEvaluationSettings

    good = {"dataset": "evaluation", "bucket_prefix": "evaluation/"}
    ModelEvaluationSettings.model_validate(good)
    with pytest.raises(ValueError, match="not a name part"):
        ModelEvaluationSettings.model_validate({**good, "dataset": "evaluation\n"})


# --- every grammar takes a value whole -------------------------------------------------------------


def _pattern_text(node: ast.expr) -> str | None:
    """The text of a pattern written as a literal (an f-string's literal parts), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value for part in node.values if isinstance(part, ast.Constant) and isinstance(part.value, str)
        )
    return None


def _compiles(node: ast.expr) -> str | None:
    """The pattern of `re.compile(P)` or `grammar(P)`, if `node` is such a call."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return _pattern_text(node.args[0]) if name in ("compile", "grammar") else None


def _anchored(pattern: str) -> bool:
    """Ends in `$`, where a final newline would be let through (`\\s*$` takes it anyway: that is the same)."""
    return pattern.endswith("$") and not pattern.endswith(r"\s*$")


def _partial_matches(source: str) -> list[tuple[int, str]]:
    """(line, what) for each `.match` or `.search` with a pattern that ends in `$`: it would take "x\\n"."""
    tree = ast.parse(source)
    anchored: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and (text := _compiles(node.value)) is not None and _anchored(text):
            anchored |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("match", "search"):
            continue
        owner = node.func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
        if owner_name in anchored:
            found.append((node.lineno, f"{owner_name}.{node.func.attr}"))
        elif owner_name == "re" and node.args and (text := _pattern_text(node.args[0])) and _anchored(text):
            found.append((node.lineno, f"re.{node.func.attr}({text!r})"))
    return found


def test_every_anchored_grammar_is_matched_with_fullmatch() -> None:
    """A pattern that ends in `$`, used with .match or .search, takes "x\\n" (a YAML block scalar's value): the
    newline would reach a resource name, a label or a cron job. In generator/ and modules/ they use fullmatch."""
    found = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for folder in ("generator", "modules")
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, what in _partial_matches(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_check_of_anchored_grammars_finds_one() -> None:
    source = (
        'import re\nX_RE = re.compile(r"^[a-z]+$")\nok = X_RE.fullmatch(v)\nbad = X_RE.match(v)\nre.search(r"^a$", v)\n'
        'S_RE = re.compile(r"^a\\s*$")\nS_RE.match(v)\n'
    )
    assert _partial_matches(source) == [(4, "X_RE.match"), (5, "re.search('^a$')")]
