"""The bad-input corpus: every file must give one clear error and exit 2.

Each file in tests/bad_inputs/ states, in its leading comments, what its
error must say:

    # expect: <text the message must contain>     (any number)
    # expect-field: <the field the message names>
    # expect-line: <the line the message points at>
    # expect-file: <the file the message names, relative to bad_inputs/> (default: the file itself)

Blueprints the cases name live in bad_inputs/blueprints/. `explain` must give
the error; `generate` must give the same one and write nothing; and every other
command that reads a config (READERS) gives it too, exit 2, without a traceback.
Fleet files are in bad_inputs/fleets/, each read by every command that reads a fleet.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import Result

from conftest import run

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
READERS = (
    ("validate",),
    ("show", "--resolved"),
    ("docs",),
    ("cost",),
    ("bootstrap", "--dry-run"),
    ("blueprints", "--config"),
    ("ci", "github", "--install", "tierstack==0.1.0"),
)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_every_command_that_reads_a_config_refuses_it(
    path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(CORPUS)
    for command in READERS:
        out = ("--out", str(tmp_path / "out")) if command[0] in ("docs", "ci") else ()
        result = run(*command, *out, path.name)
        assert result.exit_code == 2, f"{' '.join(command)}: exit {result.exit_code}: {result.output}"
        assert "Traceback" not in result.output and "internal error" not in result.output, result.output
        assert_as_expected(path, result.stderr)
    assert not (tmp_path / "out").exists()


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
