"""The command line, as a user and a script see it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from conftest import REPO, run, use_case
from tierstack.generator import cli as cli_module
from tierstack.generator.cli import main
from tierstack.modules import BUILT_IN

FRAUD = str(REPO / "examples/fraud-detection/tierstack.yaml")
COMMANDS = ["capabilities", "tiers", "init", "explain", "show", "blueprints"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output


# what `tierstack --help` may load of tierstack itself: the command modules and what they import at start
LIGHT_TIERSTACK_MODULES = {
    "tierstack",
    "tierstack.generator",
    "tierstack.generator.cli",
    *(f"tierstack.generator.cli.{p.stem}" for p in (REPO / "generator" / "cli").glob("*.py") if p.stem[0] != "_"),
    "tierstack.generator.config",  # a layer's package: its docstring only
    "tierstack.generator.config.choices",
    "tierstack.generator.core",
    "tierstack.generator.core.exit_codes",  # constants only, no imports
}


def test_help_loads_no_dependency_but_click(spawns: None) -> None:
    """The heavy modules are tierstack's own dependencies (read from its metadata, so none can be missed)
    and tierstack's other modules, which import them."""
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from tierstack.generator.cli import main\n"
        "CliRunner().invoke(main, ['--help'])\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # What the interpreter has before tierstack runs is not tierstack's doing: google-cloud-aiplatform's
    # wheel installs a google_cloud_aiplatform-*-nspkg.pth that puts empty `google` and `google.cloud`
    # namespace modules into sys.modules at start-up (no google code runs).
    bare = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(json.loads(out.stdout)) - set(json.loads(bare.stdout))
    dependencies = {
        re.split(r"[^A-Za-z0-9_.-]", req, maxsplit=1)[0].lower().replace("_", "-")
        for req in importlib.metadata.requires("tierstack") or []
        if "extra ==" not in req
    }
    assert {"click", "pydantic", "cdktn"} <= dependencies  # the metadata was read
    by_distribution = importlib.metadata.packages_distributions()
    heavy = sorted(
        module
        for module in loaded
        if "." not in module
        and module != "click"
        and {d.lower().replace("_", "-") for d in by_distribution.get(module, [])} & dependencies
    )
    assert heavy == [], f"tierstack --help imports its dependencies {heavy}"
    ours = sorted(m for m in loaded if m.startswith("tierstack") and m not in LIGHT_TIERSTACK_MODULES)
    assert ours == [], f"tierstack --help imports {ours}, which load the heavy dependencies"


def test_show_reads_every_capability_without_the_bindings(spawns: None) -> None:
    """show --resolved imports every capability class for its declarations and settings; the cdktn bindings
    (seconds to load) must stay out of it, so each capability file imports them only where it builds
    resources. explain synthesizes the stacks to say what they hold, so it loads them (issue 11); validate,
    the fast check, has its own such test (test_validate_loads_no_bindings)."""
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from tierstack.generator.cli import main\n"
        f"result = CliRunner().invoke(main, ['show', {FRAUD!r}, '--resolved', '--provenance'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert "tierstack.modules.model_serving" in loaded  # the capabilities were read
    heavy = sorted(m for m in loaded if m.split(".")[0] in {"cdktn", "cdktn_provider_google", "constructs", "jsii"})
    assert heavy == [], f"show loads the bindings: {heavy[:5]}"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_capabilities_and_tiers_as_data(fmt: str) -> None:
    caps = _load(run("capabilities", "--format", fmt).output, fmt)
    tiers = _load(run("tiers", "--format", fmt).output, fmt)
    assert [c["id"] for c in caps] == list(BUILT_IN)
    assert [t["level"] for t in tiers] == [0, 1, 2]
    assert "ml_pipelines" in tiers[1]["capabilities"] and "ml_pipelines" not in tiers[0]["capabilities"]


def test_capabilities_text_lists_every_id() -> None:
    output = run("capabilities").output
    for cap_id in ("foundation", "metadata_tracking", "online_experimentation"):
        assert cap_id in output


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_explain_as_data(fmt: str, synthesizes: None) -> None:
    result = run("explain", FRAUD, "--format", fmt)
    assert result.exit_code == 0, result.output
    data = _load(result.output, fmt)
    assert data["tier"] == 2
    caps = {c["id"]: c for c in data["capabilities"]}
    assert caps["online_experimentation"]["reasons"][0]["answer"] == "use_case.online_experimentation"
    assert [e["stack"] for e in data["environments"]] == [
        "fraud-detection-dev",
        "fraud-detection-staging",
        "fraud-detection-prod",
    ]
    # what each environment gets, from the synthesized stacks (issue 11): the GPU pool only in production
    pools = {
        env: n.get("google_vertex_ai_persistent_resource", 0) for env, n in caps["model_training"]["generated"].items()
    }
    assert pools == {"dev": 0, "staging": 0, "prod": 1}
    assert (
        "google_vertex_ai_persistent_resource ×1 (prod), none in dev, staging" in caps["model_training"]["provisions"]
    )


def test_show_spec_and_resolved() -> None:
    spec = _load(run("show", FRAUD).output, "yaml")
    assert spec["use_case"]["accelerator"] == {"kind": "gpu", "type": "NVIDIA_L4", "count": 1}
    resolved = json.loads(run("show", FRAUD, "--resolved", "--format", "json").output)
    assert resolved["environments"]["prod"]["serving_class"] == "production"
    with_prov = json.loads(run("show", FRAUD, "--resolved", "--provenance", "--format", "json").output)
    [serving_class] = with_prov["provenance"]["environments.prod.serving_class"]
    [delete_protection] = with_prov["provenance"]["environments.prod.delete_protection"]
    assert serving_class["blueprint"] == delete_protection["blueprint"] == "level-0-manual"


def test_show_provenance_text_puts_the_source_beside_each_value() -> None:
    output = run("show", FRAUD, "--resolved", "--provenance").output
    [line] = [ln for ln in output.splitlines() if ln.startswith("environments.prod.capabilities.model_serving.min_")]
    assert "= 2" in line and "# tierstack:level-0-manual:" in line


def test_provenance_needs_resolved() -> None:
    result = run("show", FRAUD, "--provenance")
    assert result.exit_code == 2 and "--provenance goes with --resolved" in result.output


def test_default_config_is_tierstack_yaml_in_the_working_directory(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, synthesizes: None
) -> None:
    path = write(use_case(serving="batch"))
    monkeypatch.chdir(path.parent)
    result = run("explain")
    assert result.exit_code == 0 and "demo-case" in result.output


def test_missing_default_config_says_how_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("explain")
    assert result.exit_code == 2
    assert "tierstack.yaml: use-case spec not found" in result.stderr and "tierstack init" in result.stderr


def test_a_bug_is_reported_as_a_bug_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import tierstack.generator.plan.resolve as resolve_mod

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(resolve_mod, "resolve", boom)
    result = run("explain", FRAUD)
    assert result.exit_code == 1
    assert "internal error: RuntimeError: kaput" in result.stderr and "Traceback" not in result.stderr


# --- init ----------------------------------------------------------------------------------------

INIT_FLAGS = [
    "--no-input",
    "--name",
    "churn",
    "--team",
    "growth",
    "--stage",
    "production",
    "--mission-critical",
    "--retraining",
    "scheduled",
    "--schedule",
    "0 4 * * *",
    "--serving",
    "online",
    "--region",
    "europe-west4",
    "--budget",
    "250",
    "--billing-account",
    "01A2B3-C4D5E6-F7A8B9",
    "--alert-email",  # mission critical selects monitoring: its alerts need a receiver (issue 11)
    "ml-oncall@example.com",
]


def test_init_with_flags_writes_a_commented_valid_spec(tmp_path: Path, synthesizes: None) -> None:
    path = tmp_path / "tierstack.yaml"
    result = run("init", str(path), *INIT_FLAGS)
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert "# Does an outage or a bad model hurt the business?" in text
    assert "mission_critical: yes" in text and 'schedule: "0 4 * * *"' in text
    data = json.loads(run("explain", str(path), "--format", "json").output)
    assert data["tier"] == 1
    assert [e["name"] for e in data["environments"]] == ["dev", "prod"]  # the tier's environments
    assert data["environments"][0]["project"] == "churn-dev"


def test_init_interactive_asks_and_reasks_a_bad_answer(tmp_path: Path, synthesizes: None) -> None:
    path = tmp_path / "tierstack.yaml"
    answers = (
        "\n".join(
            [
                "Bad Name",
                "vision",
                "research-team",
                "research",
                "gpu:NVIDIA_L4×1",
                "us-central1",
                "",
                "",
            ]
        )
        + "\n"
    )
    result = run("init", str(path), input=answers)
    assert result.exit_code == 0, result.output
    assert "cannot name stacks" in result.output  # the bad name was refused, then asked again
    data = json.loads(run("explain", str(path), "--format", "json").output)
    assert data["name"] == "vision" and data["answers"]["accelerator"] == "gpu:NVIDIA_L4×1"
    assert [c["id"] for c in data["capabilities"]] == [
        "foundation",
        "cost_controls",
        "experimentation",
        "data_processing",
    ]


def test_init_never_replaces_a_file_without_force(tmp_path: Path) -> None:
    path = tmp_path / "tierstack.yaml"
    path.write_text("# my hand-edited file\n")
    result = run("init", str(path), *INIT_FLAGS)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert path.read_text() == "# my hand-edited file\n"
    assert run("init", str(path), *INIT_FLAGS, "--force").exit_code == 0
    assert "name: churn" in path.read_text()


def test_init_writes_nothing_when_the_answers_contradict(tmp_path: Path) -> None:
    path = tmp_path / "tierstack.yaml"
    result = run(
        "init",
        str(path),
        "--no-input",
        "--name",
        "churn",
        "--team",
        "growth",
        "--stage",
        "production",
        "--region",
        "asia-south1",
        "--accelerator",
        "tpu:TPU_V3",
    )
    assert result.exit_code == 2
    assert "TPU_V3 is not offered" in result.stderr and "nothing was written" in result.stderr
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_init_no_input_requires_a_name(tmp_path: Path) -> None:
    result = run("init", str(tmp_path / "t.yaml"), "--no-input")
    assert result.exit_code == 2 and "--name is required" in result.stderr


def _load(text: str, fmt: str) -> object:
    return json.loads(text) if fmt == "json" else YAML(typ="safe").load(text)


def test_main_is_the_console_script() -> None:
    assert main.name == "main" and callable(main)


# --- validate (issue 11, item 5) -------------------------------------------------------------------


def test_validate_passes_a_valid_config_and_names_its_stacks() -> None:
    result = run("validate", FRAUD)
    assert result.exit_code == 0, result.output
    assert "valid: fraud-detection, tier 2, 3 stacks" in result.stdout and result.stderr == ""


def test_validate_reports_every_problem_of_the_spec(write: Callable[..., Path]) -> None:
    config = write(
        "name: Bad Name\nteam: growth\nuse_case:\n  stage: production\n  servng: online\n  retraining: weekly\n"
    )
    result = run("validate", str(config))
    assert result.exit_code == cli_module.EXIT_USER_ERROR
    for part in ("tierstack.yaml:1, field 'name'", "field 'use_case.retraining'", "did you mean 'serving'?"):
        assert part in result.stderr
    assert "3 problems; nothing was synthesized" in result.stderr and "Traceback" not in result.stderr


def test_validate_reports_the_resolved_settings_problems(write: Callable[..., Path]) -> None:
    config = write(
        use_case(serving="online")
        + "overrides:\n  capabilities:\n    model_serving:\n      max_replicas: lots\n      min_replicas: 1.5\n"
    )
    result = run("validate", str(config), "--format", "json")
    assert result.exit_code == cli_module.EXIT_USER_ERROR
    data = json.loads(result.stdout)
    assert data["valid"] is False and data["stacks"] == []
    fields = {p["field"] for p in data["problems"]}
    assert {
        "overrides.capabilities.model_serving.max_replicas",
        "overrides.capabilities.model_serving.min_replicas",
    } <= fields
    assert all(p["file"].endswith("tierstack.yaml") and p["line"] for p in data["problems"]), fields


def test_validate_as_json_for_a_valid_config_and_its_warnings(write: Callable[..., Path]) -> None:
    config = write(use_case(serving="online"))  # monitoring's alerts, and no alert_email: nobody would hear them
    result = run("validate", str(config), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["valid"] is True and data["problems"] == [] and data["tier"] == 1
    assert data["stacks"] == ["demo-case-dev", "demo-case-prod"]
    assert any("notify nobody" in w for w in data["warnings"])
    text = run("validate", str(config))
    assert text.exit_code == 0 and "warning: model_monitoring" in text.stderr


def test_validate_loads_no_bindings(spawns: None) -> None:
    """validate stays under a second: it resolves, as explain does, and never loads the cdktn bindings."""
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from tierstack.generator.cli import main\n"
        f"result = CliRunner().invoke(main, ['validate', {FRAUD!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert "tierstack.modules.model_serving" in loaded and "tierstack.generator.plan.resolve" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in {"cdktn", "cdktn_provider_google", "constructs", "jsii"})
    assert heavy == [], f"validate loads the bindings: {heavy[:5]}"


# --- shell completion (issue 11, item 5) ------------------------------------------------------------

TIERSTACK = str(Path(sys.executable).with_name("tierstack"))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_script_is_produced(shell: str, spawns: None) -> None:
    """What the README tells users to put in their shell's startup file."""
    env = {**os.environ, "_TIERSTACK_COMPLETE": f"{shell}_source"}
    out = subprocess.run([TIERSTACK], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == ""
    assert "_TIERSTACK_COMPLETE" in out.stdout and "_tierstack_completion" in out.stdout


def test_completing_gen_offers_generate(spawns: None) -> None:
    """The protocol the bash script speaks, in a subprocess; then click's ShellComplete API in-process."""
    env = {**os.environ, "_TIERSTACK_COMPLETE": "bash_complete", "COMP_WORDS": "tierstack gen", "COMP_CWORD": "1"}
    out = subprocess.run([TIERSTACK], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["plain,generate"]

    from click.shell_completion import ShellComplete

    complete = ShellComplete(main, {}, "tierstack", "_TIERSTACK_COMPLETE")
    assert [c.value for c in complete.get_completions([], "gen")] == ["generate"]
    assert [c.value for c in complete.get_completions([], "val")] == ["validate"]
    assert [c.value for c in complete.get_completions(["validate", "--format"], "")] == ["text", "json"]


# --- the exit codes, one table (issue 11, item 5) -----------------------------------------------------


def _exit_codes() -> dict[int, str]:
    """The EXIT_* constants the CLI's group imports (generator/core/exit_codes.py): code -> name."""
    return {
        value: name for name, value in vars(cli_module).items() if name.startswith("EXIT_") and isinstance(value, int)
    }


def test_the_readme_has_one_exit_code_table_and_it_lists_every_code() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme.count("| code | meaning |") == 1, "the exit codes are documented in one table"
    section = readme.split("## Errors and exit codes", 1)[1].split("\n## ", 1)[0]
    documented = [int(code) for code in re.findall(r"^\| `(\d+)` \|", section, re.MULTILINE)]
    assert documented == sorted(documented), "the table is in numeric order"
    assert set(documented) == set(_exit_codes()), (
        f"README lists {sorted(documented)}; generator/core/exit_codes.py defines {sorted(_exit_codes().items())}"
    )


def test_the_cli_docstring_lists_every_exit_code() -> None:
    assert cli_module.__doc__ is not None
    listed = {int(code) for code in re.findall(r"^  (\d+)  ", cli_module.__doc__, re.MULTILINE)}
    assert listed == set(_exit_codes())
