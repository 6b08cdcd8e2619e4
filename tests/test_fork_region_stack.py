"""A config that uses `tierstack fork --region europe-west2` and writes no region: of its own: every regional
thing in its stacks is in London.

The use case selects every capability a tier-2 production use case can (notebooks and their zone, Pub/Sub
topics and their message storage policy, workflows, Artifact Registry, buckets, datasets, the golden set's
bucket, declared data sources): each value of every synthesized cdk.tf.json is searched for any Google
Cloud region, zone or multi-region other than europe-west2 and its zones. The Terraform state bucket that
`tierstack bootstrap` creates is checked too. Judge: real `terraform validate` against the offline provider
stand-in, per stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from tierstack.generator.facts.catalog import load_gcp_facts

REGION = "europe-west2"
CONFIG = """\
name: demo-uk
team: ml
use_case:
  stage: production
  mission_critical: yes
  reusable: yes
  retraining: on_degradation
  retraining_trigger: automatic
  code_changes: frequent
  serving: online
  online_experimentation: yes
  accelerator: gpu:NVIDIA_L4×1
blueprint: ./team-uk.yaml.j2
capabilities:
  add: [experimentation]
environments:
  dev: {}
  staging: {}
  prod: {}
variables:
  ci_repository: acme/demo
  ci_repository_id: 1
  ci_repository_owner_id: 2
  alert_email: oncall@example.com
data_sources:
  - table: acme-data.sales.orders
    max_staleness: 26h
  - uri: gs://acme-raw/clicks/
    max_staleness: 2d
golden_set:
  uri: gs://acme-golden/demand/
  max_difference: 0.02
  create_in: prod
"""
# anything shaped like a region or a zone (us-central1, europe-west2-a), and the multi-regions by name
REGION_SHAPE = re.compile(r"(?<![a-z0-9])[a-z]+-[a-z]+[0-9]+(?:-[a-z])?(?![a-z0-9])", re.IGNORECASE)
MULTI_REGIONS = {"us", "eu", "asia", "global", "nam4", "eur4", "eur3", "asia1", "eur5", "nam5"}


@pytest.fixture(scope="module")
def uk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """The fork, the config beside it, its plan and its output: (config, plan)."""
    from tierstack.generator.config.spec import load_spec
    from tierstack.generator.output.generate import generate
    from tierstack.generator.plan.resolve import resolve

    folder = tmp_path_factory.mktemp("uk")
    fork = folder / "team-uk.yaml.j2"
    result = run("fork", "level-2-cicd", "--name", "team-uk", "--region", REGION, "--out", str(fork))
    assert result.exit_code == 0, result.output
    config = folder / "tierstack.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    plan = resolve(load_spec(config))
    generate(plan, folder / "cdktf.out")
    yield config, plan


def strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, text) for every key and string value of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", str(key)
            yield from strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def stacks(config: Path) -> dict[str, dict[str, Any]]:
    folder = config.parent / "cdktf.out" / "stacks"
    return {p.name: json.loads((p / "cdk.tf.json").read_text(encoding="utf-8")) for p in sorted(folder.iterdir())}


def test_no_value_of_any_stack_names_another_region(uk: tuple[Path, Any], synthesizes: None) -> None:
    config, _ = uk
    known = load_gcp_facts().regions
    ours = {REGION, *known[REGION].zones}
    others = sorted((r for r in known if r != REGION), key=len, reverse=True)
    found = stacks(config)
    assert sorted(found) == ["demo-uk-dev", "demo-uk-prod", "demo-uk-staging"]
    seen: set[str] = set()
    for stack, document in found.items():
        for where, text in strings(document):
            for shaped in REGION_SHAPE.findall(text):
                seen.add(shaped.lower())
                assert shaped.lower() in ours, (stack, where, text)
            lowered = text.lower()
            assert not [r for r in others if r in lowered], (stack, where, text)  # also inside a longer word
            assert lowered not in MULTI_REGIONS, (stack, where, text)
    assert REGION in seen and f"{REGION}-a" in seen  # the search did meet the region, and a notebook's zone


def resources(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return list((document.get("resource", {}).get(kind) or {}).values())


def test_each_regional_resource_is_in_the_region(uk: tuple[Path, Any], synthesizes: None) -> None:
    """The places the issue names, read one by one: nothing regional was left out of the stacks searched."""
    config, _ = uk
    prod = stacks(config)["demo-uk-prod"]
    assert {p["region"] for p in prod["provider"]["google"]} == {REGION}
    assert {p["region"] for p in prod["provider"]["google-beta"]} == {REGION}
    topics = resources(prod, "google_pubsub_topic")
    assert topics and all(t["message_storage_policy"]["allowed_persistence_regions"] == [REGION] for t in topics)
    workflows = resources(prod, "google_workflows_workflow")
    assert workflows and {w["region"] for w in workflows} == {REGION}
    registries = resources(prod, "google_artifact_registry_repository")
    assert registries and {r["location"] for r in registries} == {REGION}
    buckets = resources(prod, "google_storage_bucket")
    assert buckets and {b["location"].lower() for b in buckets} == {REGION}
    [notebook] = resources(prod, "google_workbench_instance")
    assert notebook["location"] == f"{REGION}-a"
    datasets = resources(prod, "google_bigquery_dataset")
    assert datasets and {d["location"].lower() for d in datasets} == {REGION}


def test_the_state_bucket_and_the_plan_are_in_the_region(uk: tuple[Path, Any], synthesizes: None) -> None:
    from tierstack.generator.services.bootstrap import wanted_buckets

    _, plan = uk
    assert {env.region for env in plan.environments.values()} == {REGION}
    assert plan.loaded.spec.region == REGION
    assert {bucket.location for bucket in wanted_buckets(plan)} == {REGION}


def test_terraform_validates_every_stack(uk: tuple[Path, Any], terraform: Any, tmp_path: Path) -> None:
    from standin import mirror

    config, _ = uk
    folder = config.parent / "cdktf.out" / "stacks"
    for stack_dir in sorted(folder.iterdir()):
        workdir = mirror.workdir_for(stack_dir, tmp_path / stack_dir.name)
        verdict = mirror.validate(terraform, workdir)
        assert verdict.get("valid") is True and verdict.get("error_count") == 0, (stack_dir.name, verdict)
