"""Constants defined once (issue 21): each has one home, every other product file imports it.

An ast scan over every Python file of generator/ and modules/ (docstrings and comments are not values, so
prose may name the folder): a new file that writes the value again fails here without a test edit. The
files that still hold a value are listed, each with where it goes; they belong to work in progress
elsewhere, and the lead empties each list as they are converted. A listed file that no longer holds the
value fails too, so a list only shrinks.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

from conftest import REPO

PRODUCT = sorted([*(REPO / "generator").rglob("*.py"), *(REPO / "modules").rglob("*.py")])
PATHS = "generator/core/paths.py"
CATALOG = "generator/facts/catalog.py"

# "cdktf.out" still written out; each goes to core.paths (DEFAULT_OUT, default_out, member_out)
OUT_NOT_YET = {
    "generator/analysis/diff.py",  # the committed output beside a config, at a git ref: default_out
    "generator/output/ci.py",  # the stacks directory the CI plans: default_out(config) / "stacks"
}

# still pick the always-selected capabilities out themselves; each goes to Catalog.always_selected
ALWAYS_NOT_YET = {
    "generator/plan/selection.py",  # select(): `for always in catalog.always_selected`
}


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def nodes(path: Path) -> Iterator[ast.AST]:
    return ast.walk(ast.parse(path.read_text(encoding="utf-8")))


def lines_of(path: Path, match: Callable[[ast.AST], bool]) -> list[int]:
    return [getattr(node, "lineno", 0) for node in nodes(path) if match(node)]


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
    others = {file for file in found if file != PATHS}
    assert others - OUT_NOT_YET == set(), f"import DEFAULT_OUT or default_out from core.paths: {found}"
    assert OUT_NOT_YET - others == set(), "converted: take it off OUT_NOT_YET"


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
    others = {file for file in found if file != CATALOG}
    assert others - ALWAYS_NOT_YET == set(), f"read Catalog.always_selected: {found}"
    assert ALWAYS_NOT_YET - others == set(), "converted: take it off ALWAYS_NOT_YET"


def test_the_always_scan_sees_a_filter_and_not_a_flag(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "ids = [c.id for c in caps if c.always]\nnote = 'always' if cap.always else 'tier'\n", encoding="utf-8"
    )
    assert len(lines_of(probe, filters_on_always)) == 1
