"""`tierstack generate`: errors before writing, atomic output, hand edits, --env, no Node banner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import REPO, run, use_case
from tierstack.generator import generate as generate_mod
from tierstack.generator.errors import UserError
from tierstack.generator.resolve import resolve
from tierstack.generator.spec import load_spec

TWO_ENVS = "environments:\n  dev:\n    project: acme-gen-dev\n  prod:\n    project: acme-gen-prod\n"
SPEC = use_case(serving="online", retraining="on_degradation") + TWO_ENVS


def test_generate_prints_a_summary_per_stack(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    result = run("generate", str(config))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("demo-case-dev: ") and "foundation " in lines[0] and "model_serving " in lines[0]
    assert lines[-1] == f"wrote {config.parent / 'cdktf.out'}/ (2 stacks)"
    assert (config.parent / "cdktf.out" / "stacks" / "demo-case-prod" / "cdk.tf.json").is_file()


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ("environments:\n  dev: {}\n  prod:\n    overrides:\n      capabilities:\n        model_serving:\n"
         "          min_replicas: 1\n    serving_class: production\n",
         "environments.prod.capabilities.model_serving.min_replicas", "at least 2 replicas"),
        ("state_bucket: Not_A_Bucket\n", "state_bucket", "is not a GCS bucket name"),
    ],
)
def test_bad_input_fails_before_any_file_is_written(
    extra: str, field: str, message: str, write: Callable[..., Path]
) -> None:
    config = write(use_case(serving="online") + extra)
    result = run("generate", str(config))
    assert result.exit_code == 2, result.output
    assert f"field '{field}'" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in config.parent.iterdir()) == ["tierstack.yaml"]


def test_a_bucket_name_over_63_characters_names_the_project_that_made_it(write: Callable[..., Path]) -> None:
    long_project = "acme-a-very-long-project-id-01"  # 30, the most GCP allows
    config = write(use_case(retraining="scheduled", schedule="0 1 * * *").replace("demo-case", "twenty-characters-uc")
                   + f"environments:\n  dev:\n    project: {long_project}\n  prod: {{}}\n")
    result = run("generate", str(config))
    assert result.exit_code == 2, result.output
    assert "field 'environments.dev.project'" in result.stderr
    assert f"'{long_project}-twenty-characters-uc-pipeline-root' is 65 characters" in result.stderr
    assert not (config.parent / "cdktf.out").exists()


@pytest.mark.parametrize("case", ["24-tpu-not-in-region", "33-label-key", "29-region-invalid", "35-budget-negative",
                                  "36-budget-without-account", "22-gpu-count"])
def test_the_bad_input_corpus_stops_generate_before_anything_is_written(case: str, tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    shutil.copy(REPO / "tests" / "bad_inputs" / f"{case}.yaml", config)
    result = run("generate", str(config))
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "field '" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tierstack.yaml"]


def test_the_state_bucket_comes_from_the_config(write: Callable[..., Path]) -> None:
    config = write(use_case(serving="batch") + "state_bucket: acme-terraform-state\n")
    assert run("generate", str(config)).exit_code == 0
    data = json.loads((config.parent / "cdktf.out" / "stacks" / "demo-case-dev" / "cdk.tf.json").read_text())
    assert data["terraform"]["backend"]["gcs"] == {"bucket": "acme-terraform-state", "prefix": "demo-case-dev"}


def test_training_pool_machine_must_match_the_accelerator(write: Callable[..., Path]) -> None:
    config = write(use_case(accelerator="gpu:NVIDIA_L4×1") + "overrides:\n  capabilities:\n    model_training:\n"
                   "      training_pool:\n        machine_type: n1-standard-8\n")
    result = run("generate", str(config))
    assert result.exit_code == 2
    assert "n1-standard-8 with 1×NVIDIA_L4 is not a valid machine" in result.stderr
    assert "1×NVIDIA_L4 on g2-standard-8" in result.stderr
    assert not (config.parent / "cdktf.out").exists()


def test_unknown_env_is_named(write: Callable[..., Path]) -> None:
    result = run("generate", str(write(SPEC)), "--env", "prd")
    assert result.exit_code == 2 and "field '--env'" in result.stderr and "did you mean 'prod'" in result.stderr


def test_a_crash_during_synthesis_leaves_the_previous_output_intact(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    plan = resolve(load_spec(config))
    generate_mod.generate(plan, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def crash(resolved: object, outdir: Path, environments: object = None) -> list[str]:
        (outdir / "stacks").mkdir()
        (outdir / "stacks" / "half.json").write_text("{")
        raise RuntimeError("killed mid-synthesis")

    import tierstack.generator.stacks as stacks

    monkeypatch.setattr(stacks, "synthesize", crash)
    with pytest.raises(RuntimeError):
        generate_mod.generate(plan, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in config.parent.iterdir()) == ["cdktf.json", "cdktf.out", "tierstack.yaml"]


def test_an_interrupted_swap_is_recovered(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    plan = resolve(load_spec(config))
    generate_mod.generate(plan, out)
    os.replace(out, config.parent / ".cdktf.out.previous")  # as if killed between the two renames
    generate_mod.generate(plan, out)
    assert (out / "manifest.json").is_file() and not (config.parent / ".cdktf.out.previous").exists()


def test_hand_edits_are_never_replaced_without_force(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    assert run("generate", str(config)).exit_code == 0
    stack = config.parent / "cdktf.out" / "stacks" / "demo-case-dev" / "cdk.tf.json"
    stack.write_text(stack.read_text().replace('"region"', '"region" ', 1))
    (config.parent / "cdktf.out" / "notes.txt").write_text("mine")
    result = run("generate", str(config))
    assert result.exit_code == 2
    assert "stacks/demo-case-dev/cdk.tf.json" in result.stderr and "notes.txt" in result.stderr
    assert "--force" in result.stderr
    assert (config.parent / "cdktf.out" / "notes.txt").read_text() == "mine"
    assert run("generate", str(config), "--force").exit_code == 0
    assert not (config.parent / "cdktf.out" / "notes.txt").exists()
    json.loads(stack.read_text())


def test_a_directory_tierstack_did_not_write_is_left_alone(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    out = config.parent / "build"
    out.mkdir()
    (out / "main.tf").write_text("# someone's terraform")
    result = run("generate", str(config), "--out", str(out))
    assert result.exit_code == 2 and "not written by tierstack" in result.stderr
    assert (out / "main.tf").read_text() == "# someone's terraform"


def test_env_regenerates_one_stack_and_keeps_the_others(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    dev_before = (out / "stacks" / "demo-case-dev" / "cdk.tf.json").read_bytes()
    config.write_text(config.read_text().replace("acme-gen-prod", "acme-gen-prod2"))
    result = run("generate", str(config), "--env", "prod")
    assert result.exit_code == 0, result.output
    assert "(1 stack)" in result.stdout
    assert (out / "stacks" / "demo-case-dev" / "cdk.tf.json").read_bytes() == dev_before
    assert "acme-gen-prod2" in (out / "stacks" / "demo-case-prod" / "cdk.tf.json").read_text()
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == ["demo-case-dev", "demo-case-prod"]
    assert run("generate", str(config)).exit_code == 0  # the manifest still vouches for every file


def test_a_users_own_cdktf_json_is_not_replaced(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    (config.parent / "cdktf.json").write_text('{"app": "python main.py"}\n')
    assert run("generate", str(config)).exit_code == 0
    assert (config.parent / "cdktf.json").read_text() == '{"app": "python main.py"}\n'


@pytest.mark.skipif(not shutil.which("node") or not subprocess.run(
    ["node", "--version"], capture_output=True, text=True).stdout.startswith("v20"),
    reason="needs a Node 20 on PATH to show that an end-of-life Node's banner is kept from the user")
def test_no_jsii_banner_even_with_an_end_of_life_node(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(SPEC)
    env = {**os.environ, "JSII_NODE": shutil.which("node") or "node"}
    out = subprocess.run([sys.executable, "-m", "tierstack.generator.cli", "generate", str(config)],
                         capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "!!" not in out.stderr and "end-of-life" not in out.stderr
    assert out.stderr.strip() == "synthesizing (loading the Google provider bindings takes a few seconds)..."


def test_jsii_node_that_does_not_exist_is_a_clear_error(write: Callable[..., Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSII_NODE", "/nowhere/node")
    from tierstack.generator import jsii_env

    with pytest.raises(UserError, match="JSII_NODE points at '/nowhere/node'"):
        jsii_env.prepare()


# --- manifest.json names only what exists --------------------------------------------------------


def _manifest_paths(out: Path) -> list[str]:
    """Every file or directory manifest.json names (constructPath is a construct's, not a file's)."""
    manifest = json.loads((out / "manifest.json").read_text())
    return [value for entry in manifest["stacks"].values() for key, value in entry.items()
            if key.endswith(("Path", "Directory")) and key != "constructPath"]


def test_every_path_the_manifest_names_exists(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    full = _manifest_paths(out)
    assert len(full) == 4 and all((out / path).exists() for path in full), full
    assert run("generate", str(config), "--env", "prod").exit_code == 0
    assert _manifest_paths(out) == full and all((out / path).exists() for path in full)


# --- permissions follow the umask ----------------------------------------------------------------


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)],
                         ids=["umask-022", "umask-027"])
def test_output_follows_the_umask(mask: int, file_mode: int, dir_mode: int, write: Callable[..., Path]) -> None:
    config = write(SPEC)
    previous = os.umask(mask)
    try:
        assert run("generate", str(config)).exit_code == 0
    finally:
        os.umask(previous)
    out = config.parent / "cdktf.out"
    paths = [out, *out.rglob("*"), config.parent / "cdktf.json"]
    modes = {p.relative_to(config.parent).as_posix(): oct(p.stat().st_mode & 0o777) for p in paths}
    assert modes == {rel: oct(dir_mode if (config.parent / rel).is_dir() else file_mode) for rel in modes}


def test_write_atomic_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    from tierstack.generator.fsio import write_atomic

    target = tmp_path / "cdktf.json"
    previous = os.umask(0o022)
    try:
        write_atomic(target, "one\n")
        assert target.stat().st_mode & 0o777 == 0o644
        target.chmod(0o600)
        write_atomic(target, "two\n")
    finally:
        os.umask(previous)
    assert target.read_text() == "two\n" and target.stat().st_mode & 0o777 == 0o600
