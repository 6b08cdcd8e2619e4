"""The output tierstack asks users to commit carries its own .gitignore: after a real `terraform init`,
`plan -out` and `apply` in a stack's directory (against the offline provider stand-in), `git add -A` stages
tierstack's files and the provider lock file, and none of Terraform's working files, state or plans.

Judges: real terraform writes the files, real git decides what is ignored.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import git
from standin import mirror
from tierstack.generator.config.spec import load_spec
from tierstack.generator.output.generate import GITIGNORE, generate, recorded_files
from tierstack.generator.plan.resolve import resolve

EXAMPLE = "examples/research-prototype/tierstack.yaml"


def _commit_candidates(repo: Path) -> set[str]:
    git(repo, "add", "-A")
    return set(git(repo, "diff", "--cached", "--name-only", "-z").split("\0")) - {""}


def test_git_add_stages_the_stacks_and_the_lock_file_but_not_terraforms_working_files(
    synthesized: dict[str, Path], terraform: Any, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(synthesized[EXAMPLE], repo / "cdktf.out")
    git(repo, "init", "-q")
    stack = next((repo / "cdktf.out" / "stacks").iterdir())
    mirror.plan(terraform, stack, name=f"{stack.name}.tfplan")  # init, plan -out, as `tierstack plan` saves it
    (stack / f"{stack.name}.tfplan.json").write_text("{}", encoding="utf-8")  # `tierstack plan` writes it beside
    mirror.apply(terraform, stack, name=f"{stack.name}.tfplan")  # a local terraform.tfstate (and its backup)
    (stack / "backend_override.tf.json").unlink()  # the test's own override, not Terraform's or tierstack's
    left_by_terraform = {p.name for p in stack.iterdir()} - {"cdk.tf.json", "README.md"}
    assert {".terraform", ".terraform.lock.hcl", "terraform.tfstate", f"{stack.name}.tfplan"} <= left_by_terraform

    staged = _commit_candidates(repo)

    rel = f"cdktf.out/stacks/{stack.name}"
    assert f"{rel}/.terraform.lock.hcl" in staged, "the provider lock file is for committing (HashiCorp's advice)"
    assert {f"{rel}/cdk.tf.json", f"{rel}/README.md", "cdktf.out/.gitignore", "cdktf.out/manifest.json"} <= staged
    leaked = sorted(p for p in staged if p.startswith(f"{rel}/") and Path(p).name not in ("cdk.tf.json", "README.md"))
    assert leaked == [f"{rel}/.terraform.lock.hcl"], f"Terraform's own files would be committed: {leaked}"


@pytest.mark.slow  # synthesizes in-process
def test_the_gitignore_is_tierstacks_own_file_and_survives_regeneration(tmp_path: Path) -> None:
    """Hashed in the manifest like every file tierstack writes (a hand edit is then protected like one),
    and rewritten by each run: the next generate leaves exactly the same file."""
    from conftest import REPO

    out = tmp_path / "cdktf.out"
    resolved = resolve(load_spec(REPO / EXAMPLE))
    generate(resolved, out)
    assert (out / ".gitignore").read_text(encoding="utf-8") == GITIGNORE
    assert ".gitignore" in recorded_files(out)
    stack = next((out / "stacks").iterdir())
    (stack / "terraform.tfstate").write_text("{}", encoding="utf-8")
    generate(resolved, out)
    assert (stack / "terraform.tfstate").exists(), "Terraform's files are carried into the new tree"
    assert (out / ".gitignore").read_text(encoding="utf-8") == GITIGNORE
