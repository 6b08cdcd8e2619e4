"""`terraform validate` on a synthesized stack, where Terraform and the Google providers are available.

Provider binaries cannot be downloaded in CI here, so this runs only with a
local plugin mirror (TIERSTACK_TF_PLUGIN_DIR, laid out as terraform's
-plugin-dir expects) and is skipped, with the reason, otherwise. The jsii-typed
bindings and the inventories already reject unknown attributes at synthesis.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

PLUGIN_DIR = os.environ.get("TIERSTACK_TF_PLUGIN_DIR", "")
TERRAFORM = shutil.which("terraform") or shutil.which("tofu")


def _has_providers(root: str) -> bool:
    base = Path(root) / "registry.terraform.io" / "hashicorp"
    return all((base / name / "8.7.0").is_dir() for name in ("google", "google-beta"))


@pytest.mark.skipif(TERRAFORM is None, reason="terraform (or tofu) is not installed on this machine")
@pytest.mark.skipif(not PLUGIN_DIR or not _has_providers(PLUGIN_DIR),
                    reason="needs hashicorp/google and google-beta 8.7.0 in a local plugin mirror "
                    "(TIERSTACK_TF_PLUGIN_DIR); provider binaries cannot be downloaded here")
def test_terraform_validate_accepts_the_fraud_detection_prod_stack(synthesized: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    source = synthesized["examples/fraud-detection/tierstack.yaml"] / "stacks" / "fraud-detection-prod"
    shutil.copy(source / "cdk.tf.json", tmp_path / "cdk.tf.json")
    init = subprocess.run([TERRAFORM, "init", "-backend=false", f"-plugin-dir={PLUGIN_DIR}", "-input=false"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    validate = subprocess.run([TERRAFORM, "validate", "-json"], cwd=tmp_path, capture_output=True, text=True)
    assert '"valid": true' in validate.stdout, validate.stdout
