"""Constants defined once (issue 21): each has one home, every other product file imports it.

An ast scan over every Python file of generator/ and modules/ (docstrings and comments are not values, so
prose may name the folder): a new file that writes the value again fails here without a test edit. The
files that still hold a value are listed (a path or a module's prefix, so `diff` is diff.py and diff/), each
with where it goes; they belong to work in progress elsewhere, and the lead empties each list as they are
converted. An entry that matches no file holding the value fails too, so a list only shrinks.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from conftest import REPO

PRODUCT = sorted([*(REPO / "generator").rglob("*.py"), *(REPO / "modules").rglob("*.py")])
PATHS = "generator/core/paths.py"
CATALOG = "generator/facts/catalog.py"
TERRAFORM = "generator/facts/terraform.py"

# "cdktf.out" still written out; each goes to core.paths (DEFAULT_OUT, default_out, member_out)
OUT_NOT_YET: set[str] = set()

# still pick the always-selected capabilities out themselves; each goes to Catalog.always_selected
ALWAYS_NOT_YET: set[str] = set()

# still work out a path's display themselves (a one-argument os.path.relpath); each goes to core.paths
DISPLAY_NOT_YET: set[str] = set()


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def outside(found: dict[str, list[int]], home: str, not_yet: set[str]) -> tuple[set[str], set[str]]:
    """The files holding the value that are neither its home nor listed; the listed entries holding none."""
    others = {file for file in found if file != home}
    unlisted = {file for file in others if not file.startswith(tuple(not_yet))}
    stale = {entry for entry in not_yet if not any(file.startswith(entry) for file in others)}
    return unlisted, stale


def nodes(path: Path) -> Iterator[ast.AST]:
    return ast.walk(ast.parse(path.read_text(encoding="utf-8")))


def lines_of(path: Path, match: Callable[[ast.AST], bool]) -> list[int]:
    return [_line(node) for node in nodes(path) if match(node)]


def _line(node: ast.AST) -> int:
    """Where a node is; a comprehension's `for` has no line of its own: its target's."""
    return node.target.lineno if isinstance(node, ast.comprehension) else getattr(node, "lineno", 0)


def holding(match: Callable[[ast.AST], bool]) -> dict[str, list[int]]:
    """The product files with a node that matches, and its lines."""
    return {relative(path): lines for path in PRODUCT if (lines := lines_of(path, match))}


def is_literal(value: str) -> Callable[[ast.AST], bool]:
    return lambda node: isinstance(node, ast.Constant) and node.value == value


def test_the_product_files_are_found() -> None:
    assert len(PRODUCT) > 60 and any(relative(p) == PATHS for p in PRODUCT)


def test_the_default_output_folder_is_named_once() -> None:
    from tierstack.generator.core.paths import DEFAULT_OUT

    found = holding(is_literal(DEFAULT_OUT))
    assert list(found.get(PATHS, [])) != [], "core/paths.py defines it"
    unlisted, stale = outside(found, PATHS, OUT_NOT_YET)
    assert unlisted == set(), f"import DEFAULT_OUT or default_out from core.paths: {found}"
    assert stale == set(), "converted: take it off OUT_NOT_YET"


def test_the_scan_sees_a_value_and_not_prose(tmp_path: Path) -> None:
    """The judge can fail: the value as an expression is found, in a docstring or a longer string it is not."""
    probe = tmp_path / "probe.py"
    probe.write_text('"""Writes cdktf.out."""\nA = "cdktf.out"\nB = f"{A}/x"\nC = "see cdktf.out"\n', encoding="utf-8")
    assert lines_of(probe, is_literal("cdktf.out")) == [2]


def filters_on_always(node: ast.AST) -> bool:
    """A comprehension that keeps the capabilities whose `always` is set: `(c for c in ... if c.always)`."""
    return isinstance(node, ast.comprehension) and any(
        isinstance(part, ast.Attribute) and part.attr == "always" for test in node.ifs for part in ast.walk(test)
    )


def test_the_always_selected_capabilities_are_picked_out_once() -> None:
    found = holding(filters_on_always)
    assert CATALOG in found, "facts/catalog.py picks them out (Catalog.always_selected)"
    unlisted, stale = outside(found, CATALOG, ALWAYS_NOT_YET)
    assert unlisted == set(), f"read Catalog.always_selected: {found}"
    assert stale == set(), "converted: take it off ALWAYS_NOT_YET"


def test_the_always_scan_sees_a_filter_and_not_a_flag(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "ids = [c.id for c in caps if c.always]\nnote = 'always' if cap.always else 'tier'\n", encoding="utf-8"
    )
    assert lines_of(probe, filters_on_always) == [1]


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes: prose, not values."""
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


VERSION_TEXT = re.compile(r"\b(Terraform|OpenTofu|terraform) (>= ?)?\d+\.\d+(\.\d+)?(\+| or newer| and newer)")


def states_a_terraform_version(path: Path) -> list[int]:
    """A version tuple (1, 7, 0) or (1, 7), or a string (not a docstring) saying "Terraform 1.7 or newer"."""
    from tierstack.generator.facts.terraform import MIN_TERRAFORM

    tree = ast.parse(path.read_text(encoding="utf-8"))
    prose = _docstrings(tree)
    versions = {MIN_TERRAFORM, MIN_TERRAFORM[:2]}
    return [
        node.lineno
        for node in ast.walk(tree)
        if (
            isinstance(node, ast.Tuple)
            and all(isinstance(e, ast.Constant) and type(e.value) is int for e in node.elts)
            and tuple(e.value for e in node.elts if isinstance(e, ast.Constant)) in versions
        )
        or (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in prose
            and VERSION_TEXT.search(node.value) is not None
        )
    ]


def test_the_oldest_terraform_is_stated_once() -> None:
    found = {relative(path): lines for path in PRODUCT if (lines := states_a_terraform_version(path))}
    assert found == {TERRAFORM: found.get(TERRAFORM, [])} and found.get(TERRAFORM), (
        f"import MIN_TERRAFORM (or MIN_TERRAFORM_TEXT) from facts/terraform.py: {found}"
    )


def test_the_terraform_scan_sees_a_tuple_and_a_hint_and_not_prose(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        '"""Needs Terraform 1.7 or newer."""\nOLD = (1, 7, 0)\nFORMAT = (1, 2)\nHINT = "use Terraform 1.7 or newer"\n',
        encoding="utf-8",
    )
    assert states_a_terraform_version(probe) == [2, 4]


def displays_a_path(node: ast.AST) -> bool:
    """os.path.relpath(p) with no start: p relative to the working directory, which is how a path is shown."""
    return (
        isinstance(node, ast.Call)
        and ast.unparse(node.func) == "os.path.relpath"
        and len(node.args) == 1
        and not node.keywords
    )


def test_a_path_is_shown_by_one_function() -> None:
    found = holding(displays_a_path)
    assert PATHS in found, "core/paths.py's display_path"
    unlisted, stale = outside(found, PATHS, DISPLAY_NOT_YET)
    assert unlisted == set(), f"show a path with core.paths.display_path: {found}"
    assert stale == set(), "converted: take it off DISPLAY_NOT_YET"


def test_the_display_scan_sees_relpath_from_here_only(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import os\na = os.path.relpath(p)\nb = os.path.relpath(p, top)\n", encoding="utf-8")
    assert lines_of(probe, displays_a_path) == [2]
