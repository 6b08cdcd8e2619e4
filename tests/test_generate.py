"""`tierstack generate`: errors before writing, atomic output, hand edits, --env, no Node banner."""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run, use_case
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.errors import UserError
from tierstack.generator.facts.providers import GOOGLE_PROVIDER_VERSION
from tierstack.generator.output import generate as generate_mod
from tierstack.generator.plan.resolve import resolve

TWO_ENVS = "environments:\n  dev:\n    project: acme-gen-dev\n  prod:\n    project: acme-gen-prod\n"
SPEC = use_case(serving="online", retraining="on_degradation") + TWO_ENVS
WITH_STAGING = SPEC + "  staging:\n    project: acme-gen-staging\n"


def test_generate_prints_a_summary_per_stack(write: Callable[..., Path], synthesizes: None) -> None:
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
        (
            "environments:\n  dev: {}\n  prod:\n    overrides:\n      capabilities:\n        model_serving:\n"
            "          min_replicas: 1\n    serving_class: production\n",
            "environments.prod.overrides.capabilities.model_serving.min_replicas",
            "at least 2 replicas",
        ),
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


def test_a_bucket_name_over_63_characters_names_the_project_that_made_it(
    write: Callable[..., Path], synthesizes: None
) -> None:
    long_project = "acme-a-very-long-project-id-01"  # 30, the most GCP allows
    config = write(
        use_case(retraining="scheduled", schedule="0 1 * * *").replace("demo-case", "twenty-characters-uc")
        + f"environments:\n  dev:\n    project: {long_project}\n  prod: {{}}\n"
    )
    result = run("generate", str(config))
    assert result.exit_code == 2, result.output
    assert "field 'environments.dev.project'" in result.stderr
    assert f"'{long_project}-twenty-characters-uc-pipeline-root' is 65 characters" in result.stderr
    assert not (config.parent / "cdktf.out").exists()


@pytest.mark.parametrize(
    "case",
    [
        "24-tpu-not-in-region",
        "33-label-key",
        "29-region-invalid",
        "35-budget-negative",
        "36-budget-without-account",
        "22-gpu-count",
    ],
)
def test_the_bad_input_corpus_stops_generate_before_anything_is_written(case: str, tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    shutil.copy(REPO / "tests" / "bad_inputs" / f"{case}.yaml", config)
    result = run("generate", str(config))
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "field '" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tierstack.yaml"]


def test_the_state_bucket_comes_from_the_config(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(use_case(serving="batch") + "state_bucket: acme-terraform-state\n")
    assert run("generate", str(config)).exit_code == 0
    data = json.loads((config.parent / "cdktf.out" / "stacks" / "demo-case-dev" / "cdk.tf.json").read_text())
    assert data["terraform"]["backend"]["gcs"] == {"bucket": "acme-terraform-state", "prefix": "demo-case-dev"}


def test_training_pool_machine_must_match_the_accelerator(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(
        use_case(accelerator="gpu:NVIDIA_L4×1") + "overrides:\n  capabilities:\n    model_training:\n"
        "      training_pool:\n        machine_type: n1-standard-8\n"
    )
    result = run("generate", str(config))
    assert result.exit_code == 2
    assert "n1-standard-8 with 1×NVIDIA_L4 is not a valid machine" in result.stderr
    assert "1×NVIDIA_L4 on g2-standard-8" in result.stderr
    assert not (config.parent / "cdktf.out").exists()


def test_unknown_env_is_named(write: Callable[..., Path]) -> None:
    result = run("generate", str(write(SPEC)), "--env", "prd")
    assert result.exit_code == 2 and "field '--env'" in result.stderr and "did you mean 'prod'" in result.stderr


def test_a_crash_during_synthesis_leaves_the_previous_output_intact(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, synthesizes: None
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

    import tierstack.generator.synth.stacks as stacks

    monkeypatch.setattr(stacks, "synthesize", crash)
    with pytest.raises(RuntimeError):
        generate_mod.generate(plan, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in config.parent.iterdir()) == ["cdktf.json", "cdktf.out", "tierstack.yaml"]


def test_an_interrupted_swap_is_recovered(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    plan = resolve(load_spec(config))
    generate_mod.generate(plan, out)
    generate_mod._set_aside(out)  # as if killed between the two renames of the swap
    assert not out.exists()
    generate_mod.generate(plan, out)
    assert (out / "manifest.json").is_file()
    assert [p.name for p in config.parent.iterdir() if p.name.startswith(".cdktf.out.")] == []


def test_hand_edits_are_never_replaced_without_force(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(SPEC)
    assert run("generate", str(config)).exit_code == 0
    stack = config.parent / "cdktf.out" / "stacks" / "demo-case-dev" / "cdk.tf.json"
    stack.write_text(stack.read_text().replace('"region"', '"region" ', 1))
    (config.parent / "cdktf.out" / "notes.txt").write_text("mine")
    edited = stack.read_bytes()
    result = run("generate", str(config))
    assert result.exit_code == 2
    assert "stacks/demo-case-dev/cdk.tf.json" in result.stderr and "notes.txt" in result.stderr
    assert "--force" in result.stderr
    assert (config.parent / "cdktf.out" / "notes.txt").read_text() == "mine"
    result = run("generate", str(config), "--force")  # replaces the edited stack, never deletes notes.txt
    assert result.exit_code == 2 and "cdktf.out (the default output directory): " in result.stderr
    assert "field '--out'" not in result.stderr  # no --out was given
    assert "tierstack did not write: notes.txt" in result.stderr and "never deletes" in result.stderr
    assert (config.parent / "cdktf.out" / "notes.txt").read_text() == "mine" and stack.read_bytes() == edited
    (config.parent / "cdktf.out" / "notes.txt").rename(config.parent / "notes.txt")
    assert run("generate", str(config), "--force").exit_code == 0
    assert stack.read_bytes() != edited
    json.loads(stack.read_text())


def test_a_directory_tierstack_did_not_write_is_left_alone(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    out = config.parent / "build"
    out.mkdir()
    (out / "main.tf").write_text("# someone's terraform")
    result = run("generate", str(config), "--out", str(out))
    assert result.exit_code == 2 and "not written by tierstack" in result.stderr
    assert (out / "main.tf").read_text() == "# someone's terraform"
    result = run("generate", str(config), "--out", str(out), "--force")  # not even with --force
    assert result.exit_code == 2 and "not written by tierstack" in result.stderr and "main.tf" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["main.tf"] and not (config.parent / "cdktf.json").exists()


def test_env_regenerates_one_stack_and_keeps_the_others(write: Callable[..., Path], synthesizes: None) -> None:
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


def test_a_users_own_cdktf_json_is_not_replaced(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(SPEC)
    (config.parent / "cdktf.json").write_text('{"app": "python main.py"}\n')
    for force in ([], ["--force"]):
        result = run("generate", str(config), *force)
        assert result.exit_code == 0, result.output
        assert (config.parent / "cdktf.json").read_text() == '{"app": "python main.py"}\n'
        assert "left cdktf.json as it is: it is not tierstack's" in result.stderr
    assert "beside" not in json.loads((config.parent / "cdktf.out" / ".tierstack-manifest.json").read_text())


def test_a_hand_edited_cdktf_json_is_protected_like_the_stacks(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(SPEC)
    cdktf, out = config.parent / "cdktf.json", config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    recorded = json.loads((out / ".tierstack-manifest.json").read_text())["beside"]
    assert recorded == {"cdktf.json": hashlib.sha256(cdktf.read_bytes()).hexdigest()}
    data = json.loads(cdktf.read_text())
    data["context"] = {"excludeStackIdFromLogicalIds": "true"}  # the mark stays: still an edit
    cdktf.write_text(json.dumps(data, indent=2) + "\n")
    edited, before = cdktf.read_text(), _tree(out)

    result = run("generate", str(config))
    assert result.exit_code == 2
    assert "changed by hand since tierstack wrote them: ../cdktf.json" in result.stderr and "--force" in result.stderr
    assert cdktf.read_text() == edited and _tree(out) == before

    result = run("generate", str(config), "--force")
    assert result.exit_code == 0, result.output
    assert json.loads(cdktf.read_text())["context"] == {}
    assert json.loads((out / ".tierstack-manifest.json").read_text())["beside"] == recorded
    assert run("generate", str(config)).exit_code == 0


def test_a_cdktf_json_tierstack_wrote_for_another_output_is_left_alone(
    write: Callable[..., Path], synthesizes: None
) -> None:
    config = write(SPEC)
    cdktf = config.parent / "build" / "cdktf.json"
    assert run("generate", str(config), "--out", str(config.parent / "build" / "a")).exit_code == 0
    first = cdktf.read_text()
    result = run("generate", str(config), "--out", str(config.parent / "build" / "b"), "--force")
    assert result.exit_code == 0, result.output
    assert cdktf.read_text() == first and json.loads(first)["output"] == "a"
    assert "left cdktf.json as it is: tierstack wrote it for the output directory 'a'" in result.stderr


@pytest.mark.skipif(
    not shutil.which("node")
    or not subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.startswith("v20"),
    reason="needs a Node 20 on PATH to show that an end-of-life Node's banner is kept from the user",
)
@pytest.mark.slow
def test_no_jsii_banner_even_with_an_end_of_life_node(tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(SPEC)
    env = {**os.environ, "JSII_NODE": shutil.which("node") or "node"}
    out = subprocess.run(
        [sys.executable, "-m", "tierstack.generator.cli", "generate", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    assert "!!" not in out.stderr and "end-of-life" not in out.stderr
    assert [line for line in out.stderr.splitlines() if not line.startswith("warning: ")] == [
        "synthesizing (loading the Google provider bindings takes a few seconds)..."
    ]


def test_jsii_node_that_does_not_exist_is_a_clear_error(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JSII_NODE", "/nowhere/node")
    from tierstack.generator.synth import jsii_env

    with pytest.raises(UserError, match="JSII_NODE points at '/nowhere/node'"):
        jsii_env.prepare()


# --- manifest.json names only what exists --------------------------------------------------------


def _manifest_paths(out: Path) -> list[str]:
    """Every file or directory manifest.json names (constructPath is a construct's, not a file's)."""
    manifest = json.loads((out / "manifest.json").read_text())
    return [
        value
        for entry in manifest["stacks"].values()
        for key, value in entry.items()
        if key.endswith(("Path", "Directory")) and key != "constructPath"
    ]


def test_every_path_the_manifest_names_exists(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    full = _manifest_paths(out)
    assert len(full) == 4 and all((out / path).exists() for path in full), full
    assert run("generate", str(config), "--env", "prod").exit_code == 0
    assert _manifest_paths(out) == full and all((out / path).exists() for path in full)


# --- permissions follow the umask ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)], ids=["umask-022", "umask-027"]
)
def test_output_follows_the_umask(
    mask: int, file_mode: int, dir_mode: int, write: Callable[..., Path], synthesizes: None
) -> None:
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
    from tierstack.generator.core.fsio import write_atomic

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


# --- Terraform's own files in a stack directory --------------------------------------------------


def _tree(root: Path) -> dict[str, tuple[str, bytes]]:
    """Everything under root, symlinks as links (never followed): relative path -> (kind, content or target)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = ("symlink", os.readlink(path).encode())
            elif path.is_dir():
                found[rel] = ("dir", b"")
            else:
                found[rel] = ("file", path.read_bytes())
    return found


def _terraform_files(stack: Path) -> dict[str, tuple[str, bytes]]:
    return {rel: entry for rel, entry in _tree(stack).items() if rel not in ("cdk.tf.json", "README.md")}


def _terraform_init(stack: Path, cache: Path) -> dict[str, tuple[str, bytes]]:
    """What `terraform init` with a plugin cache, a local state, a workspace and `plan -out` leave in a stack."""
    provider = cache / "registry.terraform.io" / "hashicorp" / "google" / GOOGLE_PROVIDER_VERSION / "linux_amd64"
    provider.mkdir(parents=True, exist_ok=True)
    (provider / f"terraform-provider-google_v{GOOGLE_PROVIDER_VERSION}_x5").write_bytes(b"\x7fELF" + bytes(4096))
    link = stack / ".terraform" / "providers" / "registry.terraform.io" / "hashicorp" / "google"
    link = link / GOOGLE_PROVIDER_VERSION
    link.mkdir(parents=True)
    (link / "linux_amd64").symlink_to(provider, target_is_directory=True)
    (stack / ".terraform" / "terraform.tfstate").write_text('{"backend": {"type": "gcs"}}\n')
    (stack / ".terraform.lock.hcl").write_text(
        f'provider "registry.terraform.io/hashicorp/google" {{\n  version = "{GOOGLE_PROVIDER_VERSION}"\n}}\n'
    )
    (stack / "terraform.tfstate").write_text('{"version": 4, "serial": 7}\n')
    (stack / "terraform.tfstate.backup").write_text('{"version": 4, "serial": 6}\n')
    (stack / ".terraform.tfstate.lock.info").write_text('{"ID": "5e0c"}\n')
    (stack / "terraform.tfstate.d" / "blue").mkdir(parents=True)
    (stack / "terraform.tfstate.d" / "blue" / "terraform.tfstate").write_text('{"version": 4}\n')
    (stack / "plan.tfplan").write_bytes(b"PK\x03\x04 a saved plan")
    return _terraform_files(stack)


def test_terraform_files_in_a_stack_are_the_users_and_survive_every_regeneration(
    write: Callable[..., Path], tmp_path: Path, synthesizes: None
) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    dev, prod = out / "stacks" / "demo-case-dev", out / "stacks" / "demo-case-prod"
    dev_files = _terraform_init(dev, tmp_path / "plugin-cache")
    prod_files = _terraform_init(prod, tmp_path / "plugin-cache")

    result = run("generate", str(config))  # not hand edits
    assert result.exit_code == 0, result.output
    assert _terraform_files(dev) == dev_files and _terraform_files(prod) == prod_files
    assert not any(
        ".terraform" in f or "tfstate" in f or "tfplan" in f
        for f in json.loads((out / ".tierstack-manifest.json").read_text())["files"]
    )

    assert run("generate", str(config), "--force").exit_code == 0
    assert _terraform_files(dev) == dev_files and _terraform_files(prod) == prod_files

    config.write_text(config.read_text().replace("acme-gen-prod", "acme-gen-prod2"))
    result = run("generate", str(config), "--env", "prod")  # prod regenerated, dev carried over
    assert result.exit_code == 0, result.output
    assert "acme-gen-prod2" in (prod / "cdk.tf.json").read_text()
    assert _terraform_files(dev) == dev_files and _terraform_files(prod) == prod_files
    assert run("generate", str(config), "--env", "dev", "--force").exit_code == 0
    assert _terraform_files(dev) == dev_files and _terraform_files(prod) == prod_files

    (dev / "extra.tf").write_text("# mine\n")  # a file of the user's own is still a hand edit
    result = run("generate", str(config))
    assert result.exit_code == 2
    assert "files that tierstack did not write: stacks/demo-case-dev/extra.tf\n" in result.stderr


def test_terraform_files_are_neither_hashed_nor_followed(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None
) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    plan = resolve(load_spec(config))
    generate_mod.generate(plan, out)
    _terraform_init(out / "stacks" / "demo-case-dev", tmp_path / "plugin-cache")
    read: list[Path] = []
    digest = generate_mod._digest
    monkeypatch.setattr(generate_mod, "_digest", lambda path: read.append(path) or digest(path))
    generate_mod.generate(plan, out)
    assert read and not [
        p for p in read if "terraform" in p.name or ".terraform" in p.parts or "plugin-cache" in p.parts
    ]


def test_a_crash_just_before_the_swap_leaves_terraform_files_where_they_were(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None
) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    plan = resolve(load_spec(config))
    generate_mod.generate(plan, out)
    _terraform_init(out / "stacks" / "demo-case-dev", tmp_path / "plugin-cache")
    before = _tree(out)

    def crash(new: Path, target: Path) -> None:
        assert (new / "stacks" / "demo-case-dev" / "terraform.tfstate").is_file()  # already in the new tree
        raise RuntimeError("killed before the swap")

    monkeypatch.setattr(generate_mod, "_swap", crash)
    with pytest.raises(RuntimeError):
        generate_mod.generate(plan, out, force=True)
    assert _tree(out) == before
    assert not [p.name for p in config.parent.iterdir() if p.name.startswith(".")]  # no temporary tree left


def test_a_stack_that_leaves_the_config_keeps_its_terraform_files(
    write: Callable[..., Path], tmp_path: Path, synthesizes: None
) -> None:
    config = write(WITH_STAGING)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    staging = out / "stacks" / "demo-case-staging"
    staging_files = _terraform_init(staging, tmp_path / "plugin-cache")
    before = _tree(out)
    config.write_text(SPEC)  # staging removed

    result = run("generate", str(config))
    assert result.exit_code == 2
    assert "stack demo-case-staging left the config" in result.stderr
    assert "stacks/demo-case-staging/terraform.tfstate," in result.stderr and "--force" in result.stderr
    assert _tree(out) == before  # nothing was touched

    result = run("generate", str(config), "--force")
    assert result.exit_code == 0, result.output
    assert "kept Terraform's files of demo-case-staging" in result.stderr
    assert _tree(staging) == staging_files  # only the user's files, byte-identical
    assert sorted(json.loads((out / "manifest.json").read_text())["stacks"]) == ["demo-case-dev", "demo-case-prod"]
    result = run("generate", str(config))  # already acknowledged: kept, with a note, no --force needed
    assert result.exit_code == 0, result.output
    assert "kept Terraform's files of demo-case-staging" in result.stderr and _tree(staging) == staging_files
    assert run("generate", str(config), "--env", "prod").exit_code == 0 and _tree(staging) == staging_files

    config.write_text(WITH_STAGING)  # staging is back: its stack joins the files it left
    assert run("generate", str(config)).exit_code == 0
    assert (staging / "cdk.tf.json").is_file() and _terraform_files(staging) == staging_files


def test_a_stack_without_terraform_files_just_goes(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(WITH_STAGING)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    config.write_text(SPEC)
    assert run("generate", str(config)).exit_code == 0
    assert sorted(p.name for p in (out / "stacks").iterdir()) == ["demo-case-dev", "demo-case-prod"]


# --- layout: --out is the cdktf output directory -------------------------------------------------


def test_out_is_the_cdktf_output_directory(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(SPEC)
    out = config.parent / "build" / "stacks"
    assert run("generate", str(config), "--out", str(out)).exit_code == 0
    assert sorted(p.relative_to(config.parent).as_posix() for p in config.parent.rglob("*") if p.is_file()) == [
        "build/cdktf.json",
        "build/stacks/.gitignore",
        "build/stacks/.tierstack-manifest.json",
        "build/stacks/manifest.json",
        "build/stacks/stacks/demo-case-dev/README.md",
        "build/stacks/stacks/demo-case-dev/cdk.tf.json",
        "build/stacks/stacks/demo-case-prod/README.md",
        "build/stacks/stacks/demo-case-prod/cdk.tf.json",
        "tierstack.yaml",
    ]
    assert json.loads((config.parent / "build" / "cdktf.json").read_text())["output"] == "stacks"
    help_text = run("generate", "--help").output
    assert "DIR/stacks/<name>-<env>/cdk.tf.json" in help_text and "DIR/manifest.json" in help_text
    assert "cdktf.json beside DIR" in help_text


# --- --force never deletes what tierstack did not write; --out must be a directory of its own ------


def test_force_into_the_configs_own_folder_is_refused_and_deletes_nothing(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / ".git").mkdir(parents=True)
    (proj / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (proj / "NOTES.md").write_text("# notes\n")
    (proj / "tierstack.yaml").write_text(SPEC)
    before = _tree(tmp_path)
    result = run("generate", "--force", "--out", str(proj), str(proj / "tierstack.yaml"))
    assert result.exit_code == 2, result.output
    assert "field '--out'" in result.stderr and "contains the config file" in result.stderr
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert _tree(tmp_path) == before


def _bad_out(case: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Set up one bad --out under root (the config is root/tierstack.yaml) and return it as typed."""
    here = root / "here"
    if case in ("current-directory", "current-directory-empty", "dot-dot"):
        (here / "sub").mkdir(parents=True)
        if case != "current-directory-empty":
            (here / "notes.txt").write_text("mine\n")
        monkeypatch.chdir(here if case != "current-directory-empty" else here / "sub")
        return "sub/.." if case == "dot-dot" else "."
    if case == "home":
        (root / "home").mkdir()
        (root / "home" / ".bashrc").write_text("export EDITOR=vi\n")
        monkeypatch.setenv("HOME", str(root / "home"))
        return str(root / "home")
    if case == "git-repository":
        (root / "repo" / ".git").mkdir(parents=True)
        (root / "repo" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        return str(root / "repo")
    if case == "under-a-file":
        (root / "notes.txt").write_text("mine\n")
        return str(root / "notes.txt" / "cdktf.out")
    if case == "symlink":
        (root / "real").mkdir()
        (root / "link").symlink_to(root / "real", target_is_directory=True)
        return str(root / "link")
    assert case == "config-folder"
    return str(root)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("current-directory", "is the current directory"),
        ("current-directory-empty", "is the current directory"),
        ("dot-dot", "ends in '..'"),
        ("home", "is your home directory"),
        ("git-repository", "holds a .git"),
        ("config-folder", "contains the config file"),
        ("under-a-file", "is under a file:"),
        ("symlink", "is a symbolic link"),
    ],
)
def test_a_bad_out_is_refused_before_anything_is_written(
    case: str, message: str, write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(SPEC)
    out = _bad_out(case, tmp_path, monkeypatch)
    before = _tree(tmp_path)
    result = run("generate", str(config), "--out", out, "--force")
    assert result.exit_code == 2, result.output
    assert f"error: {out}, field '--out': " in result.stderr and message in result.stderr, result.stderr
    assert "hint: " in result.stderr and "Traceback" not in result.output and "internal error" not in result.output
    assert _tree(tmp_path) == before


def test_the_root_directory_is_refused_as_out(write: Callable[..., Path], tmp_path: Path) -> None:
    config = write(SPEC)
    before = _tree(tmp_path)
    result = run("generate", str(config), "--out", "/")
    assert result.exit_code == 2
    assert "error: /, field '--out': is the root directory" in result.stderr
    assert _tree(tmp_path) == before and not [p for p in Path("/").iterdir() if p.name.startswith(".new-")]


def _as_an_ordinary_user() -> None:
    """In a child of root: drop every capability, so permission bits bind root like any other user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in range(64):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP; the exec then grants root nothing


def test_an_unwritable_out_is_a_clear_error(write: Callable[..., Path], tmp_path: Path, spawns: None) -> None:
    """A real process: as root, without its capabilities (root may otherwise write anywhere)."""
    config = write(SPEC)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    before = _tree(tmp_path)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tierstack.generator.cli",
                "generate",
                str(config),
                "--force",
                "--out",
                str(locked / "cdktf.out"),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
            preexec_fn=_as_an_ordinary_user if os.geteuid() == 0 else None,
        )
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert f"error: {locked / 'cdktf.out'}, field '--out': cannot be written" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and _tree(tmp_path) == before


def test_a_dev_edit_carried_over_by_env_prod_force_is_not_recorded_as_tierstacks(
    write: Callable[..., Path], synthesizes: None
) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    rel = "stacks/demo-case-dev/cdk.tf.json"
    recorded = json.loads((out / ".tierstack-manifest.json").read_text())["files"][rel]
    dev = out / rel
    dev.write_text(dev.read_text().replace('"region"', '"region" ', 1))
    edited = dev.read_bytes()
    result = run("generate", str(config), "--env", "prod", "--force")  # dev is carried over, edit and all
    assert result.exit_code == 0, result.output
    assert dev.read_bytes() == edited
    assert json.loads((out / ".tierstack-manifest.json").read_text())["files"][rel] == recorded
    result = run("generate", str(config))  # the edit is still one
    assert result.exit_code == 2 and f"changed by hand since tierstack wrote them: {rel}" in result.stderr


def test_the_temporary_tree_of_a_killed_run_is_cleaned_on_the_next_run(
    write: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None
) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    plan = resolve(load_spec(config))
    generate_mod.generate(plan, out)
    _terraform_init(out / "stacks" / "demo-case-dev", tmp_path / "plugin-cache")
    before = _tree(out)
    mine = config.parent / ".cdktf.out.new-mine"  # the prefix, but not tierstack's
    mine.mkdir()
    (mine / "keep.txt").write_text("mine\n")

    def killed(new: Path, target: Path) -> None:
        raise RuntimeError("SIGKILL: no finally runs")

    with monkeypatch.context() as kill:  # a kill leaves the temporary tree: nothing cleans up after it
        kill.setattr(generate_mod, "_swap", killed)
        kill.setattr(shutil, "rmtree", lambda *args, **kwargs: None)
        with pytest.raises(RuntimeError):
            generate_mod.generate(plan, out, force=True)
    leftovers = [p.name for p in config.parent.iterdir() if p.name.startswith(".cdktf.out.new-") and p != mine]
    assert len(leftovers) == 1
    assert (config.parent / leftovers[0] / "stacks" / "demo-case-dev" / "terraform.tfstate").is_file()

    generate_mod.generate(plan, out)
    assert sorted(p.name for p in config.parent.iterdir() if p.name.startswith(".")) == [".cdktf.out.new-mine"]
    assert (mine / "keep.txt").read_text() == "mine\n" and _tree(out) == before


def _hold_lock(lock: Path) -> Any:
    """Take the output directory's lock as another generate would, with this process's id in it."""
    held = open(lock, "a+")  # noqa: SIM115  (closed by the caller)
    fcntl.flock(held, fcntl.LOCK_EX)
    held.truncate(0)
    held.write(f"{os.getpid()}\n")
    held.flush()
    return held


@pytest.mark.slow
def test_a_second_generate_into_the_same_directory_waits_for_the_first(write: Callable[..., Path]) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    held = _hold_lock(config.parent / ".cdktf.out.lock")
    second = subprocess.Popen(
        [sys.executable, "-m", "tierstack.generator.cli", "generate", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    watchdog = threading.Timer(300, second.kill)
    watchdog.start()
    try:
        seen = []
        for line in second.stderr:  # type: ignore[union-attr]
            seen.append(line)
            if "waiting" in line:
                break
        assert seen and "waiting for another tierstack generate (process " + str(os.getpid()) in seen[-1], seen
        assert not out.exists() and not (config.parent / "cdktf.json").exists()  # nothing written while it waits
        held.close()  # the first run is done
        stdout, stderr = second.communicate()
    finally:
        held.close()
        watchdog.cancel()
        second.kill()
    assert second.returncode == 0, stderr
    assert stdout.splitlines()[-1] == f"wrote {out}/ (2 stacks)"
    assert (out / "stacks" / "demo-case-prod" / "cdk.tf.json").is_file()
    assert not (config.parent / ".cdktf.out.lock").exists()


def test_a_lock_held_too_long_is_a_clear_error(write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate_mod, "LOCK_TIMEOUT", 0.3)
    config = write(SPEC)
    with _hold_lock(config.parent / ".cdktf.out.lock"):
        result = run("generate", str(config))
    assert result.exit_code == 2
    assert "cdktf.out (the default output directory): " in result.stderr and "field '--out'" not in result.stderr
    assert f"another tierstack generate (process {os.getpid()})" in result.stderr
    assert "gave up after 0.3 s" in result.stderr and "Traceback" not in result.output
    assert sorted(p.name for p in config.parent.iterdir()) == [".cdktf.out.lock", "tierstack.yaml"]


def test_a_file_that_appears_while_generate_runs_stops_the_swap(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, synthesizes: None
) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    plan = resolve(load_spec(config))
    generate_mod.generate(plan, out)
    before = _tree(out)
    state = out / "stacks" / "demo-case-dev" / "terraform.tfstate"
    keep = generate_mod._keep_terraform_files

    def meanwhile(old: Path, new: Path, kept: dict[str, list[str]]) -> None:
        keep(old, new, kept)
        state.write_text('{"version": 4}\n')  # `terraform apply` in the stack, after the files were carried over

    monkeypatch.setattr(generate_mod, "_keep_terraform_files", meanwhile)
    with pytest.raises(UserError, match=r"files appeared while generate ran: stacks/demo-case-dev/terraform\.tfstate"):
        generate_mod.generate(plan, out)
    assert state.read_text() == '{"version": 4}\n'
    assert {rel: entry for rel, entry in _tree(out).items() if not rel.endswith("terraform.tfstate")} == before


# --- --check, --diff, and what changes since the last generation (issue 8 part 4, issue 11 part 4) ---

RESEARCH = (
    "name: demo-case\nteam: ml-platform\nuse_case:\n  stage: research\n"
    + "environments:\n  dev:\n    project: acme-gen-dev\n"
)
NO_DATAFLOW = RESEARCH + "overrides:\n  capabilities:\n    data_processing:\n      dataflow: false\n"
DATAFLOW_BUCKET = "google_storage_bucket.data_processing_dataflow_bucket"


def test_check_passes_on_a_fresh_generation_and_lists_what_a_config_change_makes_stale(
    write: Callable[..., Path],
    synthesizes: None,
) -> None:
    config = write(RESEARCH)
    assert run("generate", str(config)).exit_code == 0
    folder = _tree(config.parent)
    result = run("generate", "--check", str(config))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{config.parent / 'cdktf.out'}/ is up to date with {config}\n"
    config.write_text(RESEARCH + "labels:\n  cost-center: cc-7\n", encoding="utf-8")
    folder["tierstack.yaml"] = ("file", config.read_bytes())
    result = run("generate", "--check", str(config))
    assert result.exit_code == 5, result.output
    out = config.parent / "cdktf.out"
    assert result.stdout.splitlines() == [
        f"stale: {out}/.tierstack-manifest.json",
        f"stale: {out}/stacks/demo-case-dev/README.md",
        f"stale: {out}/stacks/demo-case-dev/cdk.tf.json",
    ]
    assert "is stale: 3 files differ" in result.stderr and f"run `tierstack generate {config}`" in result.stderr
    assert _tree(config.parent) == folder  # nothing written, nothing left behind


def test_check_names_missing_and_extra_files(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(RESEARCH)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    (out / "stacks" / "demo-case-dev" / "cdk.tf.json").unlink()
    (out / "stacks" / "demo-case-dev" / "notes.txt").write_text("mine\n", encoding="utf-8")
    (out / "stacks" / "demo-case-dev" / "terraform.tfstate").write_text("{}\n", encoding="utf-8")  # Terraform's
    result = run("generate", "--check", str(config))
    assert result.exit_code == 5, result.output
    assert result.stdout.splitlines() == [
        f"missing: {out}/stacks/demo-case-dev/cdk.tf.json",
        f"extra: {out}/stacks/demo-case-dev/notes.txt",
    ]


def test_diff_shows_a_regeneration_and_writes_nothing(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(RESEARCH)
    assert run("generate", str(config)).exit_code == 0
    config.write_text(NO_DATAFLOW, encoding="utf-8")
    folder = _tree(config.parent)
    result = run("generate", "--diff", str(config))
    assert result.exit_code == 3, result.output
    assert f"- {DATAFLOW_BUCKET}" in result.stdout and "DATA AT RISK: 1 stateful resource" in result.stdout
    assert _tree(config.parent) == folder
    config.write_text(RESEARCH + "labels:\n  cost-center: cc-7\n", encoding="utf-8")
    result = run("generate", "--diff", str(config))
    assert result.exit_code == 0, result.output
    assert 'labels.cost-center: (none) → "cc-7"' in result.stdout and "DATA AT RISK" not in result.stdout


def test_diff_before_the_first_generation_shows_every_resource_added(
    write: Callable[..., Path], synthesizes: None
) -> None:
    config = write(RESEARCH)
    result = run("generate", "--diff", str(config))
    assert result.exit_code == 0, result.output
    assert "demo-case-dev: new stack: " in result.stdout and f"+ {DATAFLOW_BUCKET}" in result.stdout
    assert sorted(p.name for p in config.parent.iterdir()) == ["tierstack.yaml"]


def test_generate_says_what_changes_since_the_last_generation_and_warns_of_data_at_risk(
    write: Callable[..., Path],
    synthesizes: None,
) -> None:
    config = write(RESEARCH)
    first = run("generate", str(config))
    assert "since the last generation" not in first.output  # nothing to compare with
    again = run("generate", str(config))
    assert again.stdout.splitlines()[:2] == ["since the last generation:", "  demo-case-dev: unchanged"]
    config.write_text(RESEARCH + "labels:\n  cost-center: cc-7\n", encoding="utf-8")
    labelled = run("generate", str(config))
    assert labelled.exit_code == 0, labelled.output
    assert labelled.stdout.splitlines()[1].startswith("  demo-case-dev: 4 changed")
    assert "DATA AT RISK" not in labelled.stderr
    config.write_text(NO_DATAFLOW, encoding="utf-8")
    removed = run("generate", str(config))
    assert removed.exit_code == 0, removed.output  # the user asked: it writes, and says so loudly
    assert "removed" in removed.stdout.splitlines()[1]
    assert "warning: DATA AT RISK: 1 stateful resource" in removed.stderr
    assert f"demo-case-dev: {DATAFLOW_BUCKET}: removed" in removed.stderr
    assert DATAFLOW_BUCKET not in (config.parent / "cdktf.out" / "stacks" / "demo-case-dev" / "cdk.tf.json").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [(("--check", "--diff"), "--check and --diff"), (("--diff", "--force"), "--force replaces files")],
)
def test_check_and_diff_are_dry_runs_that_take_no_other_run(
    flags: tuple[str, ...], message: str, write: Callable[..., Path]
) -> None:
    config = write(RESEARCH)
    result = run("generate", *flags, str(config))
    assert result.exit_code == 2 and message in result.stderr
    assert sorted(p.name for p in config.parent.iterdir()) == ["tierstack.yaml"]


# --- generate --format json|yaml: the result for scripts (issue 11 part 5) -----------------------


def _on_disk(out: Path, stack: str) -> dict[str, str]:
    """The files tierstack wrote in a stack's directory, as they are on disk: path -> sha256."""
    folder = out / "stacks" / stack
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not generate_mod.is_terraform_file(p.name)
    }


def _json_run(*args: str) -> tuple[Any, dict[str, Any]]:
    """Run the CLI with --format json; stdout must be exactly one JSON document."""
    result = run(*args, "--format", "json")
    return result, json.loads(result.stdout)


def test_generate_as_json_gives_each_stack_its_files_and_changes(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(RESEARCH)
    out = config.parent / "cdktf.out"
    result, data = _json_run("generate", str(config))
    assert result.exit_code == 0, result.output
    assert "wrote " in result.stderr and "demo-case-dev: " in result.stderr  # the text for people, on stderr
    assert {k: data[k] for k in ("config", "mode", "status", "exit_code", "out")} == {
        "config": str(config),
        "mode": "generate",
        "status": "written",
        "exit_code": 0,
        "out": str(out),
    }
    [stack] = data["stacks"]
    assert (stack["name"], stack["environment"], stack["path"]) == (
        "demo-case-dev",
        "dev",
        str(out / "stacks/demo-case-dev"),
    )
    assert {f["path"]: f["sha256"] for f in stack["files"]} == _on_disk(out, "demo-case-dev")
    synthesized = json.loads((out / "stacks" / "demo-case-dev" / "cdk.tf.json").read_text(encoding="utf-8"))
    assert stack["resources"] == sum(len(r) for r in synthesized["resource"].values())
    assert sum(stack["resources_by_capability"].values()) == stack["resources"]
    assert stack["changes"]["status"] == "added" and stack["changes"]["added"] == stack["resources"]  # the first
    own = {f["path"]: f["sha256"] for f in data["files"]}
    beside = [config.parent / "cdktf.json", out / ".gitignore", out / "manifest.json", out / generate_mod.MANIFEST]
    assert own == {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in beside}
    assert data["carried_over"] == [] and data["stacks_removed"] == [] and data["data_at_risk"] == []
    # again, unchanged; then labels change four resources; then a stateful resource goes
    _, data = _json_run("generate", str(config))
    assert data["stacks"][0]["changes"]["status"] == "unchanged"
    config.write_text(RESEARCH + "labels:\n  cost-center: cc-7\n", encoding="utf-8")
    _, data = _json_run("generate", str(config))
    changes = data["stacks"][0]["changes"]
    assert (changes["status"], changes["changed"], changes["removed"], changes["data_at_risk"]) == ("changed", 4, 0, [])
    assert {f["path"]: f["sha256"] for f in data["stacks"][0]["files"]} == _on_disk(out, "demo-case-dev")
    config.write_text(NO_DATAFLOW, encoding="utf-8")
    result, data = _json_run("generate", str(config))
    assert result.exit_code == 0 and "DATA AT RISK" in result.stderr
    [risk] = data["stacks"][0]["changes"]["data_at_risk"]
    assert risk["address"] == DATAFLOW_BUCKET and risk["type"] == "google_storage_bucket"
    assert data["data_at_risk"] == [{"stack": "demo-case-dev", **risk}]
    assert DATAFLOW_BUCKET not in (out / "stacks" / "demo-case-dev" / "cdk.tf.json").read_text(encoding="utf-8")


def test_generate_env_as_json_names_the_stacks_carried_over(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(SPEC)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    result, data = _json_run("generate", str(config), "--env", "prod")
    assert result.exit_code == 0, result.output
    assert [s["name"] for s in data["stacks"]] == ["demo-case-prod"] and data["carried_over"] == ["demo-case-dev"]
    assert data["stacks"][0]["changes"]["status"] == "unchanged"
    assert {f["path"]: f["sha256"] for f in data["stacks"][0]["files"]} == _on_disk(out, "demo-case-prod")


def test_check_and_diff_as_json_list_what_the_text_lists(write: Callable[..., Path], synthesizes: None) -> None:
    config = write(RESEARCH)
    out = config.parent / "cdktf.out"
    assert run("generate", str(config)).exit_code == 0
    result, data = _json_run("generate", "--check", str(config))
    assert result.exit_code == 0 and (data["mode"], data["status"], data["exit_code"], data["stale"]) == (
        "check",
        "up to date",
        0,
        [],
    )
    config.write_text(NO_DATAFLOW, encoding="utf-8")
    folder = _tree(config.parent)
    text = run("generate", "--check", str(config))
    result, data = _json_run("generate", "--check", str(config))
    assert result.exit_code == 5 and (data["status"], data["exit_code"]) == ("stale", 5)
    assert [f"{f['status']}: {f['path']}" for f in data["stale"]] == text.stdout.splitlines()
    assert f"stale: {out}/stacks/demo-case-dev/cdk.tf.json" in result.stderr and "is stale" in result.stderr
    result, data = _json_run("generate", "--diff", str(config))
    assert result.exit_code == 3 and (data["mode"], data["status"], data["exit_code"]) == ("diff", "changes", 3)
    [stack] = data["stacks"]
    assert stack["changes"]["removed"] >= 1 and stack["changes"]["data_at_risk"][0]["address"] == DATAFLOW_BUCKET
    assert data["data_at_risk"][0]["stack"] == "demo-case-dev"
    removed = [r for s in data["diff"]["stacks"] for r in s["resources"] if r["kind"] == "removed"]
    assert DATAFLOW_BUCKET in {r["address"] for r in removed}
    assert f"- {DATAFLOW_BUCKET}" in result.stderr  # the diff for people, on stderr
    assert _tree(config.parent) == folder  # dry runs, as in text
    yaml_result = run("generate", "--diff", str(config), "--format", "yaml")
    from ruamel.yaml import YAML

    assert YAML(typ="safe").load(yaml_result.stdout) == data


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (("--env", "qa"), "--env", "no environment 'qa' in this use case"),
        (("--check", "--diff"), None, "--check and --diff are two different runs"),
    ],
)
def test_an_error_as_json_is_exit_2_with_its_message_on_stderr_and_its_problems_on_stdout(
    args: tuple[str, ...], field: str | None, message: str, write: Callable[..., Path]
) -> None:
    config = write(RESEARCH)
    result, data = _json_run("generate", str(config), *args)
    assert result.exit_code == 2 and message in result.stderr
    assert (data["status"], data["exit_code"]) == ("error", 2)
    [problem] = data["problems"]
    assert problem["field"] == field and message in problem["message"]
    assert sorted(p.name for p in config.parent.iterdir()) == ["tierstack.yaml"]


def test_a_bad_config_as_json_names_the_field_and_line(write: Callable[..., Path]) -> None:
    config = write(RESEARCH + "servng: online\n")
    result, data = _json_run("generate", str(config))
    assert result.exit_code == 2 and "unknown key 'servng'" in result.stderr
    [problem] = data["problems"]
    assert (problem["file"], problem["line"], problem["field"]) == (str(config), 8, "servng")


def test_a_fleet_as_json_gives_each_member_its_stacks_or_its_problems(tmp_path: Path, synthesizes: None) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "fleet: propensity\n"
        "defaults:\n  team: growth\n  use_case: {stage: research}\n"
        "members:\n"
        "  - name: prop-us\n    region: us-central1\n    environments: {dev: {project: acme-prop-us-dev}}\n"
        "  - name: prop-uk\n    region: Europe\n    environments: {dev: {project: acme-prop-uk-dev}}\n",
        encoding="utf-8",
    )
    root = tmp_path / "out"
    result, data = _json_run("generate", str(fleet), "--out", str(root))
    assert result.exit_code == 2
    assert "[1/2] prop-us: ok" in result.stderr and "prop-uk: error" in result.stderr  # the lines, on stderr
    assert (data["fleet"], data["mode"], data["status"], data["exit_code"]) == ("propensity", "generate", "error", 2)
    us, uk = data["members"]
    out = root / "prop-us" / "cdktf.out"
    assert (us["member"], us["status"], us["out"]) == ("prop-us", "written", str(out))
    [stack] = us["stacks"]
    assert stack["name"] == "prop-us-dev" and stack["changes"]["status"] == "added"
    assert {f["path"]: f["sha256"] for f in stack["files"]} == _on_disk(out, "prop-us-dev")
    assert (uk["member"], uk["status"]) == ("prop-uk", "error")
    [problem] = uk["problems"]
    assert problem["field"] == "members[prop-uk].region" and problem["line"] == 10
    result, data = _json_run("generate", str(fleet), "--out", str(root), "--only", "name=prop-us", "--check")
    assert result.exit_code == 0, result.output
    [us] = data["members"]
    assert (data["status"], us["status"], us["stale"], [s["name"] for s in us["stacks"]]) == (
        "up to date",
        "up to date",
        [],
        ["prop-us-dev"],
    )


def test_the_changes_are_printed_before_anything_is_written(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, synthesizes: None
) -> None:
    """Issue 11 part 4, "before it writes": the swap fails (a full disk), yet the summary of what would
    change is already out, and the previous output is as it was."""
    import errno

    config = write(RESEARCH)
    assert run("generate", str(config)).exit_code == 0
    before = _tree(config.parent / "cdktf.out")
    config.write_text(RESEARCH + "labels:\n  cost-center: cc-7\n", encoding="utf-8")

    def full_disk(new: Path, out: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(generate_mod, "_swap", full_disk)
    result = run("generate", str(config))
    assert result.exit_code == 2 and "no space left on the device" in result.stderr
    assert result.stdout.splitlines()[0] == "since the last generation:"
    assert result.stdout.splitlines()[1].startswith("  demo-case-dev: 4 changed")
    assert _tree(config.parent / "cdktf.out") == before
