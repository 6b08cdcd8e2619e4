"""docs/walkthrough.md's own commands, run as written, and the facts the page states about their result.

The page is read, not copied: its `sh` blocks from "Describe the use case" to "Generate" are run in
order in an empty directory (init's flags, validate, explain, generate, cost), then the stacks and the
outputs are checked against the sentences of the page that describe them. Terraform is not run here.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run

PAGE = REPO / "docs" / "walkthrough.md"


def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def commands() -> list[list[str]]:
    """The tierstack commands of sections 3 and 4, continuation lines joined, comments and prompts dropped."""
    text = page()
    section = text[text.index("## 3. Describe the use case") : text.index("## 5. ")]
    found = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["tierstack"] and words[1:] != ["init"]:  # bare `init` asks at a terminal
                found.append(words[1:])
    return found


def stack(name: str) -> dict[str, Any]:
    data = json.loads(Path("cdktf.out", "stacks", name, "cdk.tf.json").read_text(encoding="utf-8"))
    resources: dict[str, Any] = data["resource"]
    return resources


def test_the_page_runs_init_validate_explain_generate_and_cost() -> None:
    assert [words[0] for words in commands()] == ["init", "validate", "explain", "generate", "cost"]
    assert "--no-input" in commands()[0]


@pytest.mark.slow
def test_the_walkthrough_s_commands_give_what_the_page_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    outputs = {}
    for words in commands():
        result = run(*words)
        assert result.exit_code == 0, f"tierstack {shlex.join(words)}:\n{result.output}"
        outputs[words[0]] = result.stdout
    text = " ".join(page().split())
    dev, prod = "claims-triage-dev", "claims-triage-prod"

    # "in promotion order (here `claims-triage-dev`, then `claims-triage-prod`)"
    assert f"here `{dev}`, then `{prod}`" in text
    environments = outputs["explain"].split("Environments (one stack each)")[1]
    assert environments.index(dev) < environments.index(prod)
    assert f"2 stacks ({dev}, {prod})" in outputs["validate"]

    # "the prod stack keeps a GPU training pool and two serving nodes running around the clock, and dev one"
    assert "prod stack keeps a GPU training pool and two serving nodes" in text and "dev one serving node" in text
    [pool] = stack(prod)["google_vertex_ai_persistent_resource"].values()
    assert pool["resource_pools"][0]["machine_spec"]["accelerator_type"] == "NVIDIA_L4"
    assert "google_vertex_ai_persistent_resource" not in stack(dev)
    for name, nodes in ((dev, 1), (prod, 2)):
        [serving] = stack(name)["google_vertex_ai_deployment_resource_pool"].values()
        assert serving["dedicated_resources"]["min_replica_count"] == nodes
    cost_prod = outputs["cost"].split(f"{prod} (")[1]
    assert "deployment pool: 2 ×" in cost_prod and "training pool: 1 × (g2-standard-8 + 1 × NVIDIA_L4)" in cost_prod
    assert "deployment pool: 1 ×" in outputs["cost"].split(f"{dev} (")[1].split(f"{prod} (")[0]

    # "Each stack also holds its own budget of 500 a month on its project"
    assert "Each stack also holds its own budget of 500 a month on its project" in text
    for name in (dev, prod):
        [budget] = stack(name)["google_billing_budget"].values()
        assert budget["amount"]["specified_amount"]["units"] == "500"
        assert budget["budget_filter"]["projects"] == ["projects/${data.google_project.foundation_project.number}"]
        assert budget["billing_account"] == "012345-6789AB-CDEF01"
    assert outputs["cost"].count("budget 500.00") == 2
