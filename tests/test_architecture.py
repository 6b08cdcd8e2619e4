"""The layers hold: who may import what, read from the source's own import statements (docs/architecture.md).

- cdktn (and jsii, constructs, the provider bindings) only in the synthesis code and the capability modules;
- click only in the command package generator/cli/ (one module a command, none over 600 lines, none
  importing the group back);
- the analyses (generator/analysis/) never reach up into the CLI, nor down into cdktn;
- the exit codes have one definition.
Each rule is checked on every Python file of the product, so a new file is held to it without a test edit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PRODUCT = sorted([*(REPO / "generator").rglob("*.py"), *(REPO / "modules").rglob("*.py")])
SYNTH_PACKAGES = ("cdktn", "cdktn_provider_google", "cdktn_provider_google_beta", "constructs", "jsii")
# where each import is allowed (paths relative to the repository)
SYNTH_ALLOWED = ("generator/stacks.py", "generator/jsii_env.py", "modules/")  # synthesis, its jsii runtime
CLI = "generator/cli/"
CLICK_ALLOWED = (CLI,)  # no exception: fleet.py tells a Reporter, which generator/cli/fleet_view.py prints
CLI_MODULE_LINES = 600


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def offenders(packages: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    return [
        f"{relative(path)} imports {name}"
        for path in PRODUCT
        if not relative(path).startswith(allowed)
        for name in sorted(imported(path))
        if name.split(".")[0] in packages
    ]


def test_the_product_files_are_found() -> None:
    assert len(PRODUCT) > 60 and any(relative(p) == "generator/stacks.py" for p in PRODUCT)


def test_cdktn_only_in_synthesis_and_the_modules() -> None:
    assert offenders(SYNTH_PACKAGES, SYNTH_ALLOWED) == []


def test_click_only_in_the_commands() -> None:
    assert offenders(("click",), CLICK_ALLOWED) == []


def test_the_cli_is_one_module_a_command_none_over_600_lines() -> None:
    modules = [p for p in PRODUCT if relative(p).startswith(CLI)]
    assert len(modules) > 15, "generator/cli/ holds the commands, one module each"
    long = {
        relative(p): n for p in modules if (n := len(p.read_text(encoding="utf-8").splitlines())) > CLI_MODULE_LINES
    }
    assert long == {}


def test_no_command_module_imports_the_group() -> None:
    """The commands sit below the group: generator/cli/__init__.py imports them to register them, so one
    importing a name from it back would be an import cycle (shared helpers live in options, views, context)."""
    package = "tierstack.generator.cli"
    back = [
        relative(p)
        for p in PRODUCT
        if relative(p).startswith(CLI) and p.name not in ("__init__.py", "__main__.py") and package in imported(p)
    ]
    assert back == []


@pytest.mark.parametrize("forbidden", ["tierstack.generator.cli", "click", "cdktn"])
def test_the_analyses_reach_neither_up_nor_into_synthesis(forbidden: str) -> None:
    analyses = [p for p in PRODUCT if relative(p).startswith("generator/analysis/")]
    assert analyses, "generator/analysis/ has no modules"
    bad = [
        relative(p) for p in analyses for name in imported(p) if name == forbidden or name.startswith(forbidden + ".")
    ]
    assert bad == []


def test_exit_codes_have_one_definition() -> None:
    defining = [
        relative(path)
        for path in PRODUCT
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id.startswith(("EXIT_", "REVIEW_")) for t in node.targets)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, int)
    ]
    assert set(defining) == {"generator/exit_codes.py"}


def test_a_checker_that_can_fail() -> None:
    """The judge judges: a file that imports cdktn outside the allowed places is reported."""
    probe = REPO / "generator" / "analysis" / "review" / "read.py"
    assert "cdktn" not in " ".join(imported(probe))
    assert offenders(("json",), ()) != []  # every file importing json is reported when nothing is allowed


def test_every_product_module_imports_first_in_a_fresh_interpreter(spawns: None) -> None:
    """No import cycle hides behind import order: each module is the first tierstack module a new
    interpreter imports (a cycle through the catalog once made `tierstack review` an internal error,
    while the in-process tests, which had imported the spec earlier, passed)."""
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    names = sorted(
        "tierstack." + ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__") for p in PRODUCT
    )

    def first_import(name: str) -> str | None:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=120)
        return None if done.returncode == 0 else f"{name}: {done.stderr.strip().splitlines()[-1]}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(first_import, names) if f]
    assert len(names) > 60 and failures == []
