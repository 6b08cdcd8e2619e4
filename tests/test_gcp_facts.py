"""Google Cloud facts as data: real zones per region, the machine types each GPU needs, the notebook's network.

The tables (generator/data/zones.yaml, machine_families.yaml) cite Google's
pages and the day they were read; every value a generated stack carries is
checked against them here, so a guessed zone or a GPU on a machine that cannot
take it fails a test before it fails a `terraform apply`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.errors import UserError
from tierstack.generator.facts.catalog import ZONE_RE, load_catalog, load_gcp_facts
from tierstack.generator.plan import gcp_facts
from tierstack.generator.plan.resolve import resolve

DATA = REPO / "generator" / "data"
RESEARCH = """\
name: shelf-test
team: research
use_case:
  stage: research
  accelerator: {accelerator}
region: {region}
"""


def research(accelerator: str = "gpu:NVIDIA_TESLA_T4×1", region: str = "europe-west1", workbench: str = "") -> str:
    text = RESEARCH.format(accelerator=accelerator, region=region)
    if workbench:
        text += "overrides:\n  capabilities:\n    experimentation:\n      workbench:\n" + workbench
    return text


def stacks(synthesized: dict[str, Path]) -> Iterator[tuple[str, dict[str, Any]]]:
    for out in synthesized.values():
        for path in sorted((out / "stacks").glob("*/cdk.tf.json")):
            yield path.parent.name, json.loads(path.read_text(encoding="utf-8"))


def resources_of(stack: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return stack.get("resource", {}).get(rtype, {})


def mappings(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from mappings(value)
    elif isinstance(node, list):
        for value in node:
            yield from mappings(value)


def machine_gpu_pairs(stack: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    """(machine type, GPU, count) for every machine that carries a GPU: Workbench and Vertex machine specs."""
    gpus = {a.name for a in load_catalog().accelerators if a.kind == "gpu"}
    for node in mappings(stack.get("resource", {})):
        machine = node.get("machine_type")
        if not isinstance(machine, str):
            continue
        for config in node.get("accelerator_configs") or []:  # Workbench gce_setup
            yield machine, config["type"], int(config["core_count"])
        if node.get("accelerator_type") in gpus:  # Vertex AI machine_spec
            yield machine, node["accelerator_type"], int(node.get("accelerator_count") or 1)


# --- the tables -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["zones.yaml", "machine_families.yaml"])
def test_each_facts_table_cites_its_source_and_the_day_it_was_read(name: str) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert re.search(r"https://cloud\.google\.com/compute/docs/\S+", header), header
    assert re.search(r"read \d{4}-\d{2}-\d{2}", header), header
    facts = load_gcp_facts()
    source = facts.zones_source if name == "zones.yaml" else facts.machines_source
    assert source.url in header and str(source.read) in header


def test_every_region_that_offers_an_accelerator_and_the_common_ones_have_real_zones() -> None:
    facts = load_gcp_facts()
    wanted = {region for acc in load_catalog().accelerators for region in acc.regions}
    wanted |= {
        "us-central1",
        "us-east1",
        "us-east4",
        "us-west1",
        "europe-west1",
        "europe-west2",
        "europe-west3",
        "europe-west4",
        "europe-north1",
        "asia-northeast1",
        "asia-southeast1",
        "australia-southeast1",
    }
    assert wanted <= set(facts.regions), sorted(wanted - set(facts.regions))
    # the two guesses of the old f"{region}-a" that do not exist
    assert "europe-west1-a" not in facts.regions["europe-west1"].zones
    assert "us-east1-a" not in facts.regions["us-east1"].zones
    for region in facts.regions.values():
        assert all(ZONE_RE.match(zone) for zone in region.zones)


def test_every_gpu_training_machine_in_the_catalog_takes_its_gpu() -> None:
    for acc in load_catalog().accelerators:
        if acc.kind == "gpu":
            for count, machine in acc.machine_types.items():
                assert gcp_facts.gpu_problem(machine, acc.name, count) is None, (acc.name, count, machine)
                assert gcp_facts.default_machine_type(acc.name, count) is not None


@pytest.mark.parametrize(
    ("machine", "gpu", "count", "problem"),
    [
        ("e2-standard-4", "NVIDIA_TESLA_T4", 1, "cannot take NVIDIA_TESLA_T4"),
        ("n1-standard-4", "NVIDIA_TESLA_T4", 1, None),
        ("custom-8-30720", "NVIDIA_TESLA_T4", 1, None),
        ("n1-standard-16", "NVIDIA_TESLA_V100", 1, "at most 12 vCPUs"),
        ("n1-standard-4", "NVIDIA_L4", 1, "cannot take NVIDIA_L4"),
        ("g2-standard-4", "NVIDIA_L4", 1, None),
        ("g2-standard-4", "NVIDIA_L4", 2, "comes with 1×NVIDIA_L4 built in"),
        ("n1-standard-8", "NVIDIA_TESLA_T4", 3, "1, 2, 4 at a time"),
        ("a2-highgpu-1g", "NVIDIA_A100_80GB", 1, "comes with 1×NVIDIA_TESLA_A100"),
        ("n1-megamem-96", "NVIDIA_TESLA_T4", 1, "not an N1 machine type that takes GPUs"),
    ],
)
def test_machine_and_gpu_compatibility(machine: str, gpu: str, count: int, problem: str | None) -> None:
    found = gcp_facts.gpu_problem(machine, gpu, count)
    assert found is None if problem is None else problem in (found or ""), found


@pytest.mark.parametrize(
    ("region", "machine", "gpu", "zone"),
    [
        ("europe-west1", "n1-standard-4", "NVIDIA_TESLA_T4", "europe-west1-b"),
        ("us-east1", "e2-standard-4", None, "us-east1-b"),
        ("us-central1", "e2-standard-4", None, "us-central1-a"),
        ("europe-west2", "g2-standard-4", "NVIDIA_L4", "europe-west2-a"),
        ("europe-west3", "g2-standard-4", "NVIDIA_L4", "europe-west3-a"),
        ("us-central1", "a2-highgpu-1g", "NVIDIA_TESLA_A100", "us-central1-a"),
        ("europe-central2", "n1-standard-4", "NVIDIA_TESLA_T4", "europe-central2-b"),  # a has N1, not GPUs
    ],
)
def test_the_zone_is_the_first_of_the_region_that_offers_the_machine(
    region: str, machine: str, gpu: str | None, zone: str
) -> None:
    assert gcp_facts.pick_zone(region, machine, gpu) == zone


# --- every generated stack against the tables ---------------------------------------------------------


def test_every_zone_in_a_generated_stack_is_a_real_zone(synthesized: dict[str, Path]) -> None:
    facts = load_gcp_facts()
    real = {zone for region in facts.regions.values() for zone in region.zones}
    seen = []
    for stack, data in stacks(synthesized):
        for node in mappings(data.get("resource", {})):
            for key in ("zone", "location"):
                value = node.get(key)
                if isinstance(value, str) and ZONE_RE.match(value):
                    seen.append(value)
                    assert value in real, f"{stack}: {key} {value} is not a zone in generator/data/zones.yaml"
    assert seen, "no stack carries a zone: the research example's Workbench should"


def test_every_machine_and_gpu_pair_in_a_generated_stack_is_compatible(synthesized: dict[str, Path]) -> None:
    pairs = [(stack, pair) for stack, data in stacks(synthesized) for pair in machine_gpu_pairs(data)]
    assert any(p[1][1] == "NVIDIA_TESLA_T4" for p in pairs), "the research example's notebook GPU is not seen"
    for stack, (machine, gpu, count) in pairs:
        assert gcp_facts.gpu_problem(machine, gpu, count) is None, f"{stack}: {machine} with {count}×{gpu}"


def test_a_notebook_without_a_public_ip_sits_on_a_subnetwork_with_private_google_access(
    synthesized: dict[str, Path],
) -> None:
    checked = 0
    for stack, data in stacks(synthesized):
        for name, body in resources_of(data, "google_workbench_instance").items():
            setup = body["gce_setup"]
            if not setup.get("disable_public_ip"):
                continue
            checked += 1
            interfaces = setup.get("network_interfaces") or []
            assert len(interfaces) == 1, f"{stack}: {name} names no network"
            subnet_ref = interfaces[0]["subnet"]
            match = re.fullmatch(r"\$\{google_compute_subnetwork\.(\w+)\.id\}", subnet_ref)
            assert match, f"{stack}: {name} subnet {subnet_ref} is not the subnetwork the stack creates"
            subnet = resources_of(data, "google_compute_subnetwork")[match[1]]
            assert subnet["private_ip_google_access"] is True
            assert subnet["region"] == body["location"].rsplit("-", 1)[0]
            network_ref = interfaces[0]["network"]
            net = re.fullmatch(r"\$\{google_compute_network\.(\w+)\.id\}", network_ref)
            assert net and subnet["network"] == network_ref, f"{stack}: network and subnetwork disagree"
            assert resources_of(data, "google_compute_network")[net[1]]["auto_create_subnetworks"] is False
    assert checked, "no notebook without a public IP was generated"


def test_a_notebook_stack_enables_compute_and_its_network_waits_for_it(synthesized: dict[str, Path]) -> None:
    checked = 0
    for stack, data in stacks(synthesized):
        if not resources_of(data, "google_workbench_instance"):
            continue
        checked += 1
        services = {name: body["service"] for name, body in resources_of(data, "google_project_service").items()}
        compute = [name for name, api in services.items() if api == "compute.googleapis.com"]
        assert compute, f"{stack}: compute.googleapis.com is not enabled"
        for rtype in ("google_compute_network", "google_compute_subnetwork", "google_compute_firewall"):
            for name, body in resources_of(data, rtype).items():
                assert f"google_project_service.{compute[0]}" in body.get("depends_on", []), f"{stack}: {rtype}.{name}"
    assert checked


# --- settings, checked when the plan is resolved (explain, show, generate) ------------------------------


def test_a_gpu_on_an_e2_notebook_is_an_error_that_lists_the_valid_machine_types(write: Callable[..., Path]) -> None:
    config = write(research(workbench="        machine_type: e2-standard-4\n"))
    result = run("explain", str(config))
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert "field 'environments.dev.capabilities.experimentation.workbench.machine_type'" in err, err
    assert "tierstack.yaml:11," in err, err  # the override's line
    assert "e2-standard-4 cannot take NVIDIA_TESLA_T4" in err and "n1-standard-4" in err, err


def test_the_notebook_machine_follows_its_gpu(write: Callable[..., Path]) -> None:
    for accelerator, machine in [
        ("gpu:NVIDIA_TESLA_T4×1", "n1-standard-4"),
        ("gpu:NVIDIA_L4×1", "g2-standard-4"),
        ("gpu:NVIDIA_L4×2", "g2-standard-24"),
        ("none", "e2-standard-4"),
    ]:
        loaded = load_spec(write(research(accelerator=accelerator)))
        workbench = resolve(loaded).environments["dev"].settings["capabilities"]["experimentation"]["workbench"]
        assert workbench["machine_type"] == machine, accelerator


@pytest.mark.parametrize(
    ("workbench", "key", "message"),
    [
        ("        zone: europe-west1-a\n", "zone", "'europe-west1-a' is not a zone of europe-west1"),
        ("        zone: us-east1-b\n", "zone", "is not a zone of europe-west1"),
        ("        machine_type: g2-standard-4\n", "machine_type", "g2-standard-4 comes with 1×NVIDIA_L4"),
        (
            "        subnet: default\n        network: projects/acme-net/global/networks/shared\n",
            "subnet",
            "'default' is not a subnetwork name",
        ),
        ("        network: projects/acme-net/global/networks/shared\n", "subnet", "together"),
        ("        subnet_range: 8.8.8.0/24\n", "subnet_range", "not a private range"),
    ],
)
def test_bad_workbench_settings_name_their_field(
    workbench: str, key: str, message: str, write: Callable[..., Path]
) -> None:
    with pytest.raises(UserError) as caught:
        resolve(load_spec(write(research(workbench=workbench))))
    # a range its settings model refuses is refused there, before the facts, at the path the user wrote
    where = "overrides" if key == "subnet_range" else "environments.dev"
    assert caught.value.field == f"{where}.capabilities.experimentation.workbench.{key}"
    assert message in caught.value.message, caught.value.render()
    assert caught.value.line is not None


def test_a_region_without_known_zones_names_the_region_and_the_known_ones(write: Callable[..., Path]) -> None:
    with pytest.raises(UserError) as caught:
        resolve(load_spec(write(research(accelerator="none", region="mars-north1"))))
    assert caught.value.field == "region" and caught.value.line == 6
    assert "'mars-north1' is not a Google Cloud region" in caught.value.message
    assert "europe-west1" in (caught.value.hint or "") and "zones.yaml" in caught.value.message


def test_a_zone_and_an_existing_subnetwork_from_the_config_are_used(
    write: Callable[..., Path], synthesizes: None
) -> None:
    from tierstack.generator.output.generate import generate

    subnet = "projects/acme-net/regions/europe-west1/subnetworks/notebooks"
    config = write(
        research(
            workbench=(
                "        zone: europe-west1-c\n"
                "        network: projects/acme-net/global/networks/shared\n"
                f"        subnet: {subnet}\n"
            )
        )
    )
    out = config.parent / "cdktf.out"
    generate(resolve(load_spec(config)), out)
    data = json.loads((out / "stacks" / "shelf-test-dev" / "cdk.tf.json").read_text(encoding="utf-8"))
    (body,) = resources_of(data, "google_workbench_instance").values()
    assert body["location"] == "europe-west1-c"
    assert body["gce_setup"]["machine_type"] == "n1-standard-4"
    assert body["gce_setup"]["network_interfaces"] == [
        {"network": "projects/acme-net/global/networks/shared", "subnet": subnet}
    ]
    assert not resources_of(data, "google_compute_network") and not resources_of(data, "google_compute_subnetwork")


# --- the feature online store (generator/data/feature_online_store.yaml) -------------------------------

FEATURES_CMEK = """\
name: features-cmek
team: growth
use_case:
  stage: production
  mission_critical: yes
  reusable: yes
  retraining: scheduled
  schedule: "0 2 * * 0"
  serving: batch
region: us-central1
overrides:
  capabilities:
    feature_repository:
      online_store: {serving}
"""


def test_the_online_store_table_cites_google_and_only_bigtable_takes_cmek() -> None:
    """Google, "Create an online store instance": "Only Bigtable online serving supports encryption using a CMEK"."""
    table = (DATA / "feature_online_store.yaml").read_text(encoding="utf-8")
    assert "Create an online store instance" in table and "read 2026-12-07" in table
    assert gcp_facts.feature_store_problem("bigtable", cmek=True) is None
    assert gcp_facts.feature_store_problem("optimized", cmek=False) is None
    problem = gcp_facts.feature_store_problem("optimized", cmek=True)
    assert problem is not None and "only bigtable" in problem.message and "deprecated" in problem.message


def test_validate_refuses_an_optimized_store_under_cmek_at_the_line_that_chose_it(write: Callable[..., Path]) -> None:
    path = write(FEATURES_CMEK.format(serving="optimized"))
    with pytest.raises(UserError) as error:
        gcp_facts.check_resolved(resolve(load_spec(path)))
    rendered = error.value.render()
    assert "cannot be encrypted with the stack's customer-managed key" in rendered
    assert "tierstack.yaml:14" in rendered and "online_store: bigtable" in rendered
    gcp_facts.check_resolved(resolve(load_spec(write(FEATURES_CMEK.format(serving="bigtable")))))
