"""Install the stand-in where Terraform looks for providers, and run the real `terraform` against it.

The stand-in goes into a local filesystem mirror
(`<root>/mirror/registry.terraform.io/hashicorp/<name>/<version>/<os_arch>/`), and
Terraform is pointed at it by a CLI configuration file (TF_CLI_CONFIG_FILE),
never by editing a stack. The mirror is the only installation method, so
Terraform cannot reach the network for providers; checkpoint calls are off.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tierstack.generator.facts.providers import GOOGLE_PROVIDER_VERSION, PROVIDER_NAMES

HERE = Path(__file__).resolve().parent
PROVIDERS = PROVIDER_NAMES
VERSION = GOOGLE_PROVIDER_VERSION
OLDEST_TERRAFORM = (1, 7, 0)  # `removed` blocks (1.7) and `import` blocks (1.5) in the review fixtures
INSTALL_HINT = (
    "install Terraform >= 1.7 (https://developer.hashicorp.com/terraform/install) or OpenTofu "
    "(https://opentofu.org/docs/intro/install/); set TERRAFORM_BINARY_NAME=tofu to use OpenTofu"
)


class TerraformMissing(Exception):
    """No usable terraform binary: the message says what is missing and how to get it."""


def os_arch() -> str:
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    return f"{platform.system().lower()}_{machine}"


def find_terraform() -> tuple[str, tuple[int, ...]]:
    """(path, version) of `terraform` (or TERRAFORM_BINARY_NAME, e.g. tofu), or TerraformMissing."""
    name = os.environ.get("TERRAFORM_BINARY_NAME", "terraform")
    path = shutil.which(name)
    if path is None:
        raise TerraformMissing(f"'{name}' is not on PATH; {INSTALL_HINT}")
    out = subprocess.run(
        [path, "version", "-json"],
        capture_output=True,
        text=True,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"},
        check=False,
    )
    try:
        text = json.loads(out.stdout)["terraform_version"]
    except (ValueError, KeyError):
        text = (re.findall(r"v(\d+\.\d+\.\d+)", out.stdout) or ["0.0.0"])[0]
    version = tuple(int(p) for p in re.findall(r"\d+", text)[:3])
    if version < OLDEST_TERRAFORM:
        oldest = ".".join(map(str, OLDEST_TERRAFORM))
        raise TerraformMissing(f"{path} is version {text}, older than {oldest}; {INSTALL_HINT}")
    return path, version


def build(root: Path, python: str = sys.executable) -> Path:
    """Write the mirror and a CLI configuration under root; return the configuration file."""
    mirror = root / "mirror"
    for name in PROVIDERS:
        target = mirror / "registry.terraform.io" / "hashicorp" / name / VERSION / os_arch()
        target.mkdir(parents=True, exist_ok=True)
        binary = target / f"terraform-provider-{name}_v{VERSION}"
        # -B: the repository's folders stay free of bytecode written by Terraform's runs
        binary.write_text(f'#!/bin/sh\nexec "{python}" -B "{HERE / "provider.py"}" {name} "$@"\n', encoding="utf-8")
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    config = root / "terraformrc"
    includes = ", ".join(f'"registry.terraform.io/hashicorp/{n}"' for n in PROVIDERS)
    config.write_text(
        "# written by tests/standin/mirror.py: the offline stand-in is the only provider source\n"
        "disable_checkpoint = true\n"
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = [{includes}]\n  }}\n'
        "}\n",
        encoding="utf-8",
    )
    return config


@dataclass
class Terraform:
    """The real binary, with the stand-in as its only provider source."""

    binary: str
    config: Path

    def env(self) -> dict[str, str]:
        keep = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TF_", "GOOGLE_", "CLOUDSDK_")) and k != "CHECKPOINT_DISABLE"
        }
        return {
            **keep,
            "TF_CLI_CONFIG_FILE": str(self.config),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
        }

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run terraform in cwd; the caller checks the result (see check())."""
        return subprocess.run(
            [self.binary, *args], cwd=cwd, capture_output=True, text=True, env=self.env(), check=False, timeout=300
        )


LOCAL_BACKEND = {"terraform": {"backend": {"local": {"path": "terraform.tfstate"}}}}


def workdir_for(stack_dir: Path, workdir: Path) -> Path:
    """Copy a synthesized stack into workdir (Terraform writes .terraform/ there, not into the stack)."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(stack_dir / "cdk.tf.json", workdir / "cdk.tf.json")
    return workdir


class TerraformFailed(AssertionError):
    """A terraform command failed; the message carries its output."""


def check(result: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if result.returncode != 0:
        raise TerraformFailed(f"terraform {what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def validate(tf: Terraform, workdir: Path) -> dict[str, object]:
    """`terraform init -backend=false` and `terraform validate -json`; the JSON verdict."""
    check(tf.run("init", "-backend=false", "-input=false", "-no-color", cwd=workdir), "init -backend=false")
    result = tf.run("validate", "-json", "-no-color", cwd=workdir)
    verdict: dict[str, object] = json.loads(result.stdout)
    return verdict


def plan(tf: Terraform, workdir: Path, name: str = "plan.tfplan") -> dict[str, object]:
    """Plan against a local state file (a backend override, never an edit of the stack); the plan's JSON."""
    (workdir / "backend_override.tf.json").write_text(json.dumps(LOCAL_BACKEND), encoding="utf-8")
    check(tf.run("init", "-input=false", "-no-color", "-reconfigure", cwd=workdir), "init")
    check(tf.run("plan", "-input=false", "-no-color", "-lock=false", f"-out={name}", cwd=workdir), "plan")
    shown = check(tf.run("show", "-json", "-no-color", name, cwd=workdir), "show -json")
    data: dict[str, object] = json.loads(shown.stdout)
    return data


def apply(tf: Terraform, workdir: Path, name: str = "plan.tfplan") -> None:
    """Apply exactly the saved plan."""
    check(tf.run("apply", "-input=false", "-no-color", "-lock=false", name, cwd=workdir), "apply")
