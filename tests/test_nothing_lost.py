"""Nothing of the user's is lost, whatever is beside or behind the output (issue 19, "Data loss").

generate replaces an output directory as a whole. The previous output is set aside for the swap in a
directory tierstack makes and marks (`.<out>.old-XXXXXXXX`, holding `.tierstack-old`): only such a
directory is ever removed, so a directory of the user's beside the output is never deleted, whatever its
name (`.cdktf.out.previous` was the old backup's). A fleet member's output directory that leads through a
symbolic link to another member's is refused: generating it would replace that member's stacks. Damaged
JSON where tierstack looks (a deeply nested cdktf.json or manifest) is exit 2, not a bug; `init` with
stdin closed says so. The swap is tested on its own (fast); generate and the fleet end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import REPO, run, use_case
from tierstack.generator.output import generate as generate_mod
from tierstack.generator.services import fleet as fleet_mod

SPEC = use_case(serving="batch")
FLEET = """\
fleet: propensity
defaults:
  team: growth
  use_case: {stage: research}
members:
  - name: propensity-us
  - name: propensity-uk
"""


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _own_dir(parent: Path, name: str) -> Path:
    """A directory of the user's, with a file in it."""
    mine = parent / name
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n", encoding="utf-8")
    return mine


def _output(parent: Path, text: str) -> Path:
    out = parent / "cdktf.out"
    out.mkdir()
    (out / "manifest.json").write_text(text, encoding="utf-8")
    return out


def _new_tree(parent: Path, text: str) -> Path:
    new = parent / ".cdktf.out.new-abcdefgh"
    new.mkdir()
    (new / "manifest.json").write_text(text, encoding="utf-8")
    return new


# --- the swap --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [".cdktf.out.previous", ".cdktf.out.old-abcdefgh", ".cdktf.out.old-x"])
def test_a_directory_of_the_users_beside_the_output_is_never_deleted(name: str, tmp_path: Path) -> None:
    """`.cdktf.out.previous` was deleted by every swap; a look-alike of the new holder has no mark."""
    mine = _own_dir(tmp_path, name)
    out = _output(tmp_path, "old\n")
    generate_mod._swap(_new_tree(tmp_path, "new\n"), out)
    generate_mod._recover_interrupted_swap(out)
    generate_mod._clean_leftovers(out)
    assert (out / "manifest.json").read_text() == "new\n"
    assert (mine / "notes.txt").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["cdktf.out", name])


def test_a_look_alike_without_the_mark_is_not_put_back_as_the_output(tmp_path: Path) -> None:
    mine = _own_dir(tmp_path, ".cdktf.out.old-abcdefgh")
    (mine / "cdktf.out").mkdir()
    generate_mod._recover_interrupted_swap(tmp_path / "cdktf.out")
    generate_mod._clean_leftovers(tmp_path / "cdktf.out")
    assert not (tmp_path / "cdktf.out").exists() and (mine / "cdktf.out").is_dir()


def test_a_swap_killed_between_its_renames_is_put_back_then_cleaned(tmp_path: Path) -> None:
    out = _output(tmp_path, "old\n")
    holder = generate_mod._set_aside(out)  # killed here: the output is set aside, nothing in its place
    assert not out.exists() and (holder / generate_mod.OLD_MARKER).is_file()
    assert holder.name.startswith(".cdktf.out.old-")
    generate_mod._recover_interrupted_swap(out)
    assert (out / "manifest.json").read_text() == "old\n"
    generate_mod._clean_leftovers(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdktf.out"]


def test_a_swap_killed_after_its_renames_leaves_a_holder_the_next_run_removes(tmp_path: Path) -> None:
    out = _output(tmp_path, "old\n")
    holder = generate_mod._set_aside(out)
    os.replace(_new_tree(tmp_path, "new\n"), out)  # killed before the holder was removed
    generate_mod._recover_interrupted_swap(out)
    generate_mod._clean_leftovers(out)
    assert (out / "manifest.json").read_text() == "new\n" and not holder.exists()


def test_generate_keeps_the_users_previous_directory(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(SPEC)
    mine = _own_dir(config.parent, ".cdktf.out.previous")
    for _ in range(2):  # the first run writes the output, the second swaps it
        result = run("generate", str(config))
        assert result.exit_code == 0, result.output
    assert (mine / "notes.txt").read_text() == "mine\n"
    assert [p.name for p in config.parent.iterdir() if p.name.startswith(".cdktf.out.")] == [mine.name]


# --- damaged JSON where generate looks ---------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


def test_a_deeply_nested_cdktf_json_beside_the_output_is_the_users(write: Callable[..., Path]) -> None:
    out = write(SPEC).parent / "cdktf.out"
    (out.parent / "cdktf.json").write_text(DEEP, encoding="utf-8")
    action, note = generate_mod._cdktf_json_action(out, "{}\n", None)
    assert action == "foreign" and note is not None and "not tierstack's" in note


@pytest.mark.parametrize("text", [DEEP, '{"stacks": []}', '{"stacks": {"a": 1}}', "not json"])
def test_a_damaged_manifest_json_that_env_carries_over_is_exit_2(text: str, tmp_path: Path) -> None:
    out = _output(tmp_path, text)
    with pytest.raises(generate_mod.UserError, match=r"its manifest\.json is unreadable"):
        generate_mod._carried_manifest(out)


def test_a_deeply_nested_output_manifest_is_exit_2(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    out.mkdir()
    (out / generate_mod.MANIFEST).write_text('{"files": ' + DEEP + "}", encoding="utf-8")
    result = run("generate", str(config))
    assert result.exit_code == 2, result.output
    assert "is unreadable" in result.stderr and "Traceback" not in result.output


# --- fleets ------------------------------------------------------------------------------------------


def _fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET, encoding="utf-8")
    return path


def test_a_member_whose_folder_links_to_another_members_is_refused(tmp_path: Path) -> None:
    path = _fleet(tmp_path)
    (tmp_path / "propensity-us" / "cdktf.out").mkdir(parents=True)
    (tmp_path / "propensity-uk").symlink_to("propensity-us")
    found = fleet_mod.shared_outputs(fleet_mod.load_fleet(path, members=()), tmp_path)
    assert list(found) == ["propensity-uk"]
    error = found["propensity-uk"]
    assert error.field == "members[propensity-uk]" and "would replace propensity-us's stacks" in error.message
    assert "remove the link" in str(error.hint)


@pytest.mark.parametrize("link", ["propensity-us/cdktf.out", "propensity-us/cdktf.out/stacks", "."])
def test_an_output_that_links_into_or_around_another_members_is_refused(link: str, tmp_path: Path) -> None:
    path = _fleet(tmp_path)
    (tmp_path / "propensity-us" / "cdktf.out" / "stacks").mkdir(parents=True)
    (tmp_path / "propensity-uk").mkdir()
    target = tmp_path / link
    (tmp_path / "propensity-uk" / "cdktf.out").symlink_to(target if link != "." else tmp_path / "propensity-us")
    found = fleet_mod.shared_outputs(fleet_mod.load_fleet(path, members=()), tmp_path)
    assert list(found) == ["propensity-uk"]


def test_a_member_folder_linked_elsewhere_is_fine(tmp_path: Path) -> None:
    path = _fleet(tmp_path)
    elsewhere = tmp_path / "disk" / "uk"
    elsewhere.mkdir(parents=True)
    (tmp_path / "propensity-uk").symlink_to(elsewhere)
    assert fleet_mod.shared_outputs(fleet_mod.load_fleet(path, members=()), tmp_path) == {}


def test_generate_does_not_write_through_a_link_to_another_members_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None
) -> None:
    path = _fleet(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run("generate", str(path), "--only", "name=propensity-us").exit_code == 0
    before = _tree(tmp_path / "propensity-us")
    (tmp_path / "propensity-uk").symlink_to("propensity-us")
    result = run("generate", str(path))
    assert result.exit_code == 2, result.output
    assert "propensity-uk: error:" in result.output and "would replace propensity-us's stacks" in result.output
    assert _tree(tmp_path / "propensity-us") == before
    stacks = json.loads((tmp_path / "propensity-us" / "cdktf.out" / "manifest.json").read_text())["stacks"]
    assert list(stacks) == ["propensity-us-dev"]


# --- init with stdin closed ----------------------------------------------------------------------------


def test_init_with_stdin_closed_is_exit_2_and_writes_nothing(tmp_path: Path, spawns: None) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tierstack.generator.cli", "init", str(tmp_path / "tierstack.yaml")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=REPO,
        preexec_fn=lambda: os.close(0),  # closes stdin in the child only
    )
    assert done.returncode == 2, done.stderr
    assert "init needs answers: stdin closed before 'Use-case name'" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
