"""Every file tierstack reads goes through fsio's bounded reader (issue 19): the reads that did not.

`tierstack schema --out` a FIFO blocked forever; the CI file `ci` finds where it writes, the README.md
`docs` compares its page with, were read whole whatever their size; JSON nested past Python's recursion
limit was an internal error in every command that walks it. Each case is run in-process under a hang
guard, so a regression fails instead of hanging; the stack files and cdktf.json of output directories
are in tests/test_bad_inputs.py, run through every command that reads them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import hang_guard, run
from tierstack.generator.core import fsio
from tierstack.generator.core.errors import UserError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "recommender"
GIB = 1024**3


def sparse(path: Path, size: int = 4 * GIB) -> None:
    with path.open("wb") as handle:
        handle.truncate(size)


# --- fsio.read_json: the one place JSON's depth is bounded ------------------------------------------


def test_json_nested_past_the_recursion_limit_is_a_user_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(UserError) as caught:
        fsio.read_json(path, "stack", fsio.MAX_JSON_BYTES, shown="out/deep.json")
    assert caught.value.file == "out/deep.json"
    assert f"more than {fsio.MAX_JSON_DEPTH} levels deep" in caught.value.message


def test_json_that_parses_but_nests_past_the_limit_is_refused(tmp_path: Path) -> None:
    """900 levels: json.loads manages, a recursive walk over the value would not."""
    path = tmp_path / "deep.json"
    path.write_text('{"a": ' + "[" * 900 + "]" * 900 + "}", encoding="utf-8")
    with pytest.raises(UserError, match="levels deep"):
        fsio.read_json(path, "stack", fsio.MAX_JSON_BYTES)


def test_json_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    levels = fsio.MAX_JSON_DEPTH
    path.write_text("[" * levels + "]" * levels, encoding="utf-8")
    data = fsio.read_json(path, "stack", fsio.MAX_JSON_BYTES)
    assert not fsio.too_deep(data) and fsio.too_deep([data])


def test_damaged_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "a": 1,\n  oops\n}', encoding="utf-8")
    with pytest.raises(UserError) as caught:
        fsio.read_json(path, "stack", fsio.MAX_JSON_BYTES, hint="regenerate it")
    assert (caught.value.file, caught.value.line, caught.value.hint) == (path, 3, "regenerate it")
    assert caught.value.message.startswith("stack is not valid JSON: ")


def test_a_number_json_refuses_to_convert_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    path.write_text("1" * 5000, encoding="utf-8")
    with pytest.raises(UserError, match="not valid JSON"):
        fsio.read_json(path, "stack", fsio.MAX_JSON_BYTES)


def test_a_link_out_of_the_given_directory_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text('{"token": "x"}', encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "inside.json").write_text("{}", encoding="utf-8")
    (tmp_path / "out" / "link.json").symlink_to(tmp_path / "secret.json")
    (tmp_path / "out" / "link-inside.json").symlink_to("inside.json")
    with pytest.raises(UserError, match="leads outside"):
        fsio.read_json(tmp_path / "out" / "link.json", "stack", 1024, within=tmp_path / "out")
    assert fsio.read_json(tmp_path / "out" / "link-inside.json", "stack", 1024, within=tmp_path / "out") == {}


# --- schema --out --------------------------------------------------------------------------------


def test_schema_out_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    target = tmp_path / "tierstack.schema.json"
    os.mkfifo(target)
    with hang_guard():
        result = run("schema", "--out", str(target))
    assert result.exit_code == 2, result.output
    assert "is a named pipe (FIFO), not a regular file; not replacing it" in result.stderr
    assert f"{target}, field '--out'" in result.stderr


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda path: sparse(path), id="sparse-4-gb"),
        pytest.param(lambda path: path.write_text("[" * 100_000, encoding="utf-8"), id="deep-json"),
        pytest.param(lambda path: path.write_text('{"title": "mine"}', encoding="utf-8"), id="another-schema"),
    ],
)
def test_schema_out_a_file_not_its_own_is_left_alone(make: Callable[[Path], object], tmp_path: Path) -> None:
    target = tmp_path / "tierstack.schema.json"
    make(target)
    size = target.stat().st_size
    with hang_guard():
        result = run("schema", "--out", str(target))
    assert result.exit_code == 2, result.output
    assert "exists and is not a schema tierstack wrote; not replacing it" in result.stderr
    assert target.stat().st_size == size


def test_schema_out_replaces_its_own_schema(tmp_path: Path) -> None:
    target = tmp_path / "tierstack.schema.json"
    assert run("schema", "--out", str(target)).exit_code == 0
    written = target.read_text(encoding="utf-8")
    target.write_text(written.replace('"title"', '"description": "older", "title"', 1), encoding="utf-8")
    assert run("schema", "--out", str(target)).exit_code == 0
    assert target.read_text(encoding="utf-8") == written


# --- ci: the file already where a CI file goes --------------------------------------------------------


def test_ci_leaves_a_huge_sparse_file_where_its_workflow_goes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "case", symlinks=True)
    monkeypatch.chdir(tmp_path / "case")
    args = ("ci", "github", "--install", "tierstack==0.1.0", "--out", "wf", "tierstack.yaml")
    assert run(*args).exit_code == 0
    (workflow,) = sorted(Path("wf").iterdir())
    workflow.unlink()
    sparse(workflow)
    with hang_guard():
        result = run(*args)
    assert result.exit_code == 2, result.output
    assert f"{workflow}: not written by tierstack" in result.stderr
    assert workflow.stat().st_size == 4 * GIB


# --- docs: the README.md beside a stack ------------------------------------------------------------


def test_docs_compares_a_huge_readme_without_reading_it_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "case", symlinks=True)
    monkeypatch.chdir(tmp_path / "case")
    readme = Path("cdktf.out/stacks/recommender-dev/README.md")
    readme.unlink()
    sparse(readme)
    with hang_guard():
        result = run("docs", "tierstack.yaml")
    assert result.exit_code == 0, result.output
    assert f"warning: {readme} is not this page: README.md is larger than 4 MiB" in result.stderr
    assert "<!-- Written by tierstack" in result.stdout


def test_docs_reads_each_stack_it_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The good case beside the bad ones: an example's checked-in output is read and printed."""
    shutil.copytree(EXAMPLE, tmp_path / "case", symlinks=True)
    monkeypatch.chdir(tmp_path / "case")
    result = run("docs", "tierstack.yaml")
    assert result.exit_code == 0, result.output
    stacks = json.loads(Path("cdktf.out/manifest.json").read_text(encoding="utf-8"))["stacks"]
    assert result.stdout.count("<!-- Written by tierstack") == len(stacks)


# --- the output tree: files generate vouches for by their digest --------------------------------------


def test_sha256_bounded_hashes_regular_files_only(tmp_path: Path) -> None:
    import hashlib

    plain = tmp_path / "plain"
    plain.write_bytes(b"x" * 3_000_000)  # more than one chunk
    assert fsio.sha256_bounded(plain) == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    assert fsio.sha256_bounded(plain, limit=2_999_999) is None
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(plain)
    sparse(tmp_path / "sparse")
    with hang_guard():
        found = [fsio.sha256_bounded(tmp_path / name) for name in ("fifo", "link", "sparse", "gone", "a\0b")]
    assert found == [None] * 5


@pytest.mark.parametrize("kind", ["fifo", "sparse"])
def test_generate_check_calls_a_fifo_or_a_huge_file_in_the_output_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None, kind: str
) -> None:
    """A pull request may put anything where tierstack wrote a page or cdktf.json: `--check` never reads it whole."""
    shutil.copytree(EXAMPLE, tmp_path / "case", symlinks=True)
    monkeypatch.chdir(tmp_path / "case")
    page, beside = Path("cdktf.out/stacks/recommender-dev/README.md"), Path("cdktf.json")
    for path in (page, beside):
        path.unlink()
        os.mkfifo(path) if kind == "fifo" else sparse(path)
    with hang_guard():
        result = run("generate", "--check", "tierstack.yaml")
    assert result.exit_code == 5, result.output
    assert f"stale: {page}\n" in result.output, result.output
    assert os.stat(beside).st_size == (0 if kind == "fifo" else 4 * GIB)  # foreign: left as it is
