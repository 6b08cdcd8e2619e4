"""The layers hold: who may import what (docs/architecture.md).

The judge is import-linter (`lint-imports`, contracts in pyproject.toml's [tool.importlinter]): the layer
order of generator/, where the capabilities sit, cdktn only in synthesis and modules/, click and rich only
in generator/cli/. The tests below run it, prove in a scratch copy that it fails on a forbidden import, and
keep its lists consistent. The checks of the source's own import statements that follow are the second line
(they also cover cdktn_provider_google_beta, which no module imports, so import-linter cannot name it):

- cdktn (and jsii, constructs, the provider bindings) only in the synthesis code and the capability modules;
- click only in the command package generator/cli/ (one module a command, none over 600 lines, none
  importing the group back);
- the analyses (generator/analysis/) never reach up into the CLI, nor down into cdktn;
- the exit codes have one definition.
Each rule is checked on every Python file of the product, so a new file is held to it without a test edit.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO

PRODUCT = sorted([*(REPO / "generator").rglob("*.py"), *(REPO / "modules").rglob("*.py")])
SYNTH_PACKAGES = ("cdktn", "cdktn_provider_google", "cdktn_provider_google_beta", "constructs", "jsii")
# where each import is allowed (paths relative to the repository)
SYNTH_ALLOWED = ("generator/synth/stacks.py", "generator/synth/jsii_env.py", "modules/")  # synthesis, its jsii runtime
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
    assert len(PRODUCT) > 60 and any(relative(p) == "generator/synth/stacks.py" for p in PRODUCT)


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
    assert set(defining) == {"generator/core/exit_codes.py"}


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


# --- import-linter: the contracts in pyproject.toml, judged by the tool --------------------------------------


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`lint-imports` (installed with the dev dependencies, beside this interpreter) run in `cwd`, on the
    pyproject.toml there; without a cache, so what it reads is the source as it is now."""
    tool = Path(sys.executable).parent / "lint-imports"
    assert tool.exists(), f"{tool} is missing: install the dev dependencies, pip install -e '.[dev]' (make test does)"
    env = {**os.environ, "PYTHONPATH": str(pythonpath)} if pythonpath is not None else None
    return subprocess.run(
        [str(tool), "--no-cache", "--no-logo"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_import_contracts_hold(spawns: None) -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def scratch_copy(tmp_path: Path) -> Path:
    """generator/, modules/ and pyproject.toml laid out as the installed names (tmp/tierstack/generator...):
    with it first on PYTHONPATH, import-linter reads the copy rather than the repository."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("generator", "modules"):
        shutil.copytree(REPO / folder, tmp_path / "tierstack" / folder, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


# each: the file of the copy changed, the line added, the contract that must then be broken
FORBIDDEN = {
    "click outside cli": ("generator/core/fsio.py", "import click", "click and rich (the progress bar) only in"),
    "rich outside cli": (
        "generator/services/fleet.py",
        "import rich.progress",
        "click and rich (the progress bar) only in",
    ),
    "cdktn in output": (
        "generator/output/report/__init__.py",
        "import cdktn",
        "cdktn, jsii, constructs and the provider bindings",
    ),
    "core importing the cli": (
        "generator/core/errors.py",
        "from tierstack.generator import cli",
        "generator/ in layers, each importing only those below it BROKEN",
    ),
    "a file in no layer": (
        "generator/unplaced.py",
        "",
        "generator/ in layers, each importing only those below it BROKEN",
    ),
    "a capability importing an output": (
        "modules/base.py",
        "from tierstack.generator.output import report",
        "modules/ imports only the layers below synthesis BROKEN",
    ),
    "plan importing a capability": (
        "generator/plan/selection.py",
        "from tierstack.modules import foundation",
        "the layers below synthesis import modules/ only through the listed registry",
    ),
}


def test_the_scratch_copy_is_judged_and_holds(spawns: None, tmp_path: Path) -> None:
    """The control for the test below: the unchanged copy passes, and it is the copy that is read."""
    root = scratch_copy(tmp_path)
    done = lint_imports(root, pythonpath=root)
    assert done.returncode == 0, done.stdout + done.stderr
    (root / "tierstack" / "generator" / "core" / "fsio.py").write_text("import click\n", encoding="utf-8")
    assert lint_imports(root, pythonpath=root).returncode != 0, "the copy is not what import-linter read"


@pytest.mark.parametrize("case", sorted(FORBIDDEN))
def test_lint_imports_fails_on_a_forbidden_import(spawns: None, tmp_path: Path, case: str) -> None:
    file, line, contract = FORBIDDEN[case]
    root = scratch_copy(tmp_path)
    target = root / "tierstack" / file
    before = target.read_text(encoding="utf-8") if target.exists() else '"""A module no layer names."""\n'
    target.write_text(before + line + "\n", encoding="utf-8")
    done = lint_imports(root, pythonpath=root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert contract in " ".join(done.stdout.split()), done.stdout


def contracts() -> dict[str, dict[str, Any]]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def layer_modules() -> list[list[str]]:
    """The layers contract's layers, top first, each the full names of its modules."""
    return [
        ["tierstack.generator." + name.strip() for name in layer.replace("|", ":").split(":")]
        for layer in contracts()["layers"]["layers"]
    ]


def test_the_capabilities_sit_between_synthesis_and_plan() -> None:
    """The two contracts that place tierstack.modules name exactly the layers above and below it: a module
    placed in the layers contract is placed for them too, or this fails."""
    layers = layer_modules()
    synth = next(i for i, layer in enumerate(layers) if "tierstack.generator.synth" in layer)
    above = [name for layer in layers[: synth + 1] for name in layer]
    below = [name for layer in layers[synth + 1 :] for name in layer]
    found = contracts()
    assert found["capabilities-below-synthesis"]["forbidden_modules"] == above
    assert found["capabilities-above-plan"]["source_modules"] == below


def test_every_module_of_generator_is_in_one_layer() -> None:
    """import-linter checks this too (`exhaustive`); here it is said by file, and twice-named is caught."""
    named = [name.removeprefix("tierstack.generator.") for layer in layer_modules() for name in layer]
    children = sorted(
        p.stem if p.is_file() else p.name
        for p in (REPO / "generator").iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p.is_dir() and (p / "__init__.py").exists())
    )
    assert sorted(named) == children
