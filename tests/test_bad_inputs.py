"""The bad-input corpus: every file must give one clear error and exit 2.

Each file in tests/bad_inputs/ states, in its leading comments, what its
error must say:

    # expect: <text the message must contain>     (any number)
    # expect-field: <the field the message names>
    # expect-line: <the line the message points at>
    # expect-file: <the file the message names, relative to bad_inputs/> (default: the file itself)

Blueprints the cases name live in bad_inputs/blueprints/. `explain` must give
the error; `generate` must give the same one and write nothing; and every other
command that reads a config (READERS) gives it too, exit 2, without a traceback;
`review --config` the cases wrong in the spec itself (it reads the spec for its freezes).
Fleet files are in bad_inputs/fleets/, each read by every command that reads a fleet.

Output directories cannot be checked-in files (a FIFO, a 4 GB sparse file, a link out of the
directory): each case (STACK_FAULTS, REVIEW_FAULTS) is made in a copy of an example's checked-in
output, then read by every command that reads a stack (diff, verify, docs, cost) or the cdktf.json
beside it (review).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from conftest import hang_guard, run

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = sorted(CORPUS.glob("*.yaml"))


def expectations(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        match = re.match(r"^# (expect(?:-field|-line|-file)?): (.*)$", line)
        if not match:
            break
        found.setdefault(match.group(1), []).append(match.group(2))
    return found


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_input_gives_one_clear_error(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    assert_one_clear_error(path, run("explain", path.name))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_input_stops_generate_before_it_writes(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(CORPUS)
    assert_one_clear_error(path, run("generate", "--out", str(tmp_path / "out" / "cdktf.out"), path.name))
    assert list(tmp_path.iterdir()) == []
    assert not (CORPUS / "cdktf.out").exists()


# The other commands that read a tierstack.yaml before anything else: each must refuse the file as explain does.
# plan, apply and verify resolve the config before they look for terraform, a saved plan or credentials;
# upstream before it looks for a git upstream: a bad config stops each of them first, offline.
READERS = (
    ("validate",),
    ("show", "--resolved"),
    ("docs",),
    ("cost",),
    ("bootstrap", "--dry-run"),
    ("blueprints", "--config"),
    ("ci", "github", "--install", "tierstack==0.1.0"),
    ("plan",),
    ("apply",),
    ("verify",),
    ("upstream",),
)
WITH_OUT = ("docs", "ci", "plan", "apply", "verify")  # given --out, so nothing is looked for beside the corpus


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_every_command_that_reads_a_config_refuses_it(
    path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(CORPUS)
    for command in READERS:
        out = ("--out", str(tmp_path / "out")) if command[0] in WITH_OUT else ()
        result = run(*command, *out, path.name)
        assert result.exit_code == 2, f"{' '.join(command)}: exit {result.exit_code}: {result.output}"
        assert "Traceback" not in result.output and "internal error" not in result.output, result.output
        assert_as_expected(path, result.stderr)
    assert not (tmp_path / "out").exists()


def _spec_error(path: Path) -> bool:
    """Whether the case is wrong in the spec itself (what `review --config` reads for its freezes), not only
    in what resolving it finds (a blueprint, a capability's settings)."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.core.errors import UserError

    try:
        load_spec(path)
    except UserError:
        return True
    return False


SPEC_CASES = [path for path in CASES if _spec_error(path)]


@pytest.mark.parametrize("path", SPEC_CASES, ids=[p.stem for p in SPEC_CASES])
def test_review_refuses_a_bad_config_given_with_config(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """review reads a --config for its freezes, even when no plan changes anything: the same error."""
    monkeypatch.chdir(CORPUS)
    plan = Path(__file__).parent / "fixtures" / "plans" / "fraud-detection-dev.json"
    result = run("review", "--config", path.name, str(plan))
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert_as_expected(path, result.stderr)


def test_most_of_the_corpus_is_wrong_in_the_spec_itself() -> None:
    """The review case above runs on enough of the corpus to mean something."""
    assert len(SPEC_CASES) >= 30


FLEETS = sorted((CORPUS / "fleets").glob("*.yaml"))
# the commands that read a fleet file: the whole fleet, or one member of it
FLEET_READERS = (
    ("validate",),
    ("generate",),
    ("cost",),
    ("explain", "--member", "propensity-us"),
    ("show", "--resolved", "--member", "propensity-us"),
)


@pytest.mark.parametrize("path", FLEETS, ids=[p.stem for p in FLEETS])
def test_every_command_that_reads_a_fleet_refuses_it(
    path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Fleet files (bad_inputs/fleets/, expectations as above): the fleet's own error, or its member's."""
    monkeypatch.chdir(path.parent)
    for command in FLEET_READERS:
        out = ("--out", str(tmp_path / "out")) if command[0] == "generate" else ()
        result = run(*command, *out, path.name)
        assert result.exit_code == 2, f"{' '.join(command)}: exit {result.exit_code}: {result.output}"
        assert "Traceback" not in result.output and "internal error" not in result.output, result.output
        assert_as_expected(path, result.stderr)
    assert not (tmp_path / "out").exists() and not (path.parent / "propensity-us").exists()


def assert_one_clear_error(path: Path, result: Result) -> None:
    expect = expectations(path)
    assert expect.get("expect"), f"{path.name} states no expectation"
    err = result.stderr
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert err.startswith("error: ")
    assert "Traceback" not in err and result.stdout == ""
    assert_as_expected(path, err)


def assert_as_expected(path: Path, err: str) -> None:
    """The error names the file, line and fields the corpus file states, and says each expected text."""
    expect = expectations(path)
    file = expect.get("expect-file", [path.name])[0]
    location = file + (f":{expect['expect-line'][0]}" if "expect-line" in expect else "")
    assert f"{location}:" in err or f"{location}," in err, err
    for field in expect.get("expect-field", []):
        assert f"field '{field}'" in err, err
    for text in expect["expect"]:
        assert text in err, err


# --- output directories: the stack files diff, verify, docs and cost read, the cdktf.json review reads --------
#
# These inputs cannot be files in bad_inputs/ (a FIFO, a 4 GB sparse file, a link out of the directory), so each
# is made in a copy of an example's checked-in output directory, then read by every command that reads it.

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "recommender"
STACK = "recommender-dev"
DEEP = 100_000  # far past Python's recursion limit: json.loads itself raises RecursionError


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def _deep_file(stack: Path) -> None:
    stack.write_text(_nested(DEEP), encoding="utf-8")


def _deep_attribute(stack: Path) -> None:
    """A stack json parses, with one attribute nested 900 levels: deep enough to end a recursive walk."""
    data = json.loads(stack.read_text(encoding="utf-8"))
    body = next(iter(next(iter(data["resource"].values())).values()))
    body["labels"] = "@nested@"
    stack.write_text(json.dumps(data).replace('"@nested@"', _nested(900)), encoding="utf-8")


def _fifo(stack: Path) -> None:
    stack.unlink()
    os.mkfifo(stack)


def _sparse(stack: Path) -> None:
    with stack.open("r+b") as handle:
        handle.truncate(4 * 1024**3)


def _link_outside(stack: Path) -> None:
    """A link to the reader's own JSON (credentials, say): `diff` would print it attribute by attribute."""
    secret = stack.parents[4] / "application_default_credentials.json"
    secret.write_text('{"type": "authorized_user", "refresh_token": "SECRET-TOKEN"}', encoding="utf-8")
    stack.unlink()
    stack.symlink_to(secret)


def _folder_outside(stack: Path) -> None:
    """The stack's folder a link to a folder outside the output directory."""
    elsewhere = stack.parents[4] / "elsewhere"
    shutil.move(stack.parent, elsewhere)
    stack.parent.symlink_to(elsewhere, target_is_directory=True)


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _not_utf8(stack: Path) -> None:
    stack.write_bytes(b'{"resource": "\xff\xfe"}')


STACK_FAULTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "deep-cdk-tf-json": (_deep_file, "nests arrays and objects more than 128 levels deep"),
    "deep-attribute": (_deep_attribute, "nests arrays and objects more than 128 levels deep"),
    "fifo-cdk-tf-json": (_fifo, "is a named pipe (FIFO), not a regular file"),
    "sparse-4-gb-cdk-tf-json": (_sparse, "is larger than 64 MiB"),
    "link-out-of-the-output": (_link_outside, "leads outside"),
    "stack-folder-out-of-the-output": (_folder_outside, "leads outside"),
    "not-utf8-cdk-tf-json": (_not_utf8, "is not UTF-8 text"),
}
# each reads DIR/stacks/<stack>/cdk.tf.json (verify before it asks Google anything)
STACK_READERS = (
    ("diff", "base/cdktf.out", "case/cdktf.out"),
    ("verify", "case/tierstack.yaml"),
    ("docs", "case/tierstack.yaml"),
    ("cost", "case/tierstack.yaml"),
)


@pytest.mark.parametrize("fault", STACK_FAULTS, ids=list(STACK_FAULTS))
def test_every_command_that_reads_a_stack_refuses_a_bad_one(
    fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, expected = STACK_FAULTS[fault]
    for name in ("base", "case"):
        shutil.copytree(EXAMPLE, tmp_path / name, symlinks=True)
    make(tmp_path / "case" / "cdktf.out" / "stacks" / STACK / "cdk.tf.json")
    monkeypatch.chdir(tmp_path)
    for command in STACK_READERS:
        with hang_guard():
            result = run(*command)
        assert result.exit_code == 2, f"{' '.join(command)}: exit {result.exit_code}: {result.output}"
        assert "Traceback" not in result.output and "internal error" not in result.output, result.output
        assert f"cdktf.out/stacks/{STACK}/cdk.tf.json" in result.stderr, result.stderr
        assert expected in result.stderr, result.stderr
        assert "SECRET-TOKEN" not in result.output


REVIEW_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "fraud-detection"
REVIEW_FAULTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "deep-cdktf-json": (_deep_file, "nests arrays and objects more than 128 levels deep"),
    "fifo-cdktf-json": (_fifo, "is a named pipe (FIFO), not a regular file"),
    "sparse-4-gb-cdktf-json": (_sparse, "is larger than 1 MiB"),
    "not-json-cdktf-json": (lambda path: _write(path, "{"), "is not valid JSON"),
}


@pytest.mark.parametrize("fault", REVIEW_FAULTS, ids=list(REVIEW_FAULTS))
def test_review_refuses_a_bad_cdktf_json_beside_the_plan(
    fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cdktf.json beside the output names the config whose freezes apply: unreadable, it is an error (exit 2,
    naming it), never a hang, a crash, or a silent fall back to another config."""
    make, expected = REVIEW_FAULTS[fault]
    shutil.copytree(REVIEW_EXAMPLE, tmp_path / "case", symlinks=True)
    stack = tmp_path / "case" / "cdktf.out" / "stacks" / "fraud-detection-dev"
    shutil.copy(Path(__file__).parent / "fixtures" / "plans" / "fraud-detection-dev.json", stack / "plan.json")
    make(tmp_path / "case" / "cdktf.json")
    monkeypatch.chdir(tmp_path)
    with hang_guard():
        result = run("review", str(stack / "plan.json"))
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert result.stderr.startswith("error: case/cdktf.json") and expected in result.stderr, result.stderr
