"""A fourteenth capability is one file and its inventory (issue 12).

tests/plugins/data_validation.py defines a capability outside tierstack's package; nothing else in
the repository names it. Importing it must be enough for the catalog, `tierstack capabilities`,
`explain`, the typed settings checks, the assembler (APIs, CMEK grants, outputs) and `generate`,
and its stacks must match tests/plugins/data_validation.inventory.yaml, written by hand from what the
capability promises, and pass real `terraform validate` against the provider stand-in.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run
from synth_support import check_capability_inventory, inventory_configs, read_stack
from tierstack.generator.config.spec import load_spec
from tierstack.generator.core.errors import UserError
from tierstack.generator.facts.catalog import load_catalog
from tierstack.generator.plan.resolve import resolve
from tierstack.modules import base

PLUGINS = REPO / "tests" / "plugins"
EXAMPLE = PLUGINS / "data_validation.example.yaml"
INVENTORY = PLUGINS / "data_validation.inventory.yaml"


@pytest.fixture
def data_validation() -> Iterator[Any]:
    """The throwaway capability, registered for one test and forgotten after it."""
    module = importlib.import_module("plugins.data_validation")
    try:
        yield module
    finally:
        base.unregister("data_validation")
        sys.modules.pop("plugins.data_validation", None)


def test_without_its_file_the_capability_does_not_exist() -> None:
    assert "data_validation" not in load_catalog().ids
    result = run("explain", str(EXAMPLE))
    assert result.exit_code == 2 and "'data_validation' is not a capability" in result.output


def test_defining_the_class_puts_it_in_the_catalog(data_validation: Any) -> None:
    catalog = load_catalog()
    assert catalog.ids[-1] == "data_validation"
    assert catalog.capability("data_validation").min_tier == 1
    listed = json.loads(run("capabilities", "--format", "json").output)
    assert [c["id"] for c in listed][-1] == "data_validation"


def test_explain_selects_it_with_its_reason(data_validation: Any, synthesizes: None) -> None:
    result = run("explain", str(EXAMPLE), "--format", "json")
    assert result.exit_code == 0, result.output
    explained = json.loads(result.output)
    chosen = {c["id"]: c for c in explained["capabilities"]}
    assert "data_validation" in chosen
    assert "add" in json.dumps(chosen["data_validation"]).lower()


def test_its_settings_model_checks_overrides(data_validation: Any, tmp_path: Path) -> None:
    config = tmp_path / "tierstack.yaml"
    config.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        + "overrides:\n  capabilities:\n    data_validation:\n      report_retention_days: lots\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError) as raised:
        resolve(load_spec(config))
    assert "report_retention_days" in str(raised.value.field) and "integer" in raised.value.message


def test_a_capability_must_declare_what_the_assembler_reads() -> None:
    with pytest.raises(TypeError, match=r"must declare .*settings_model"):

        class Incomplete(base.CapabilityModule):
            capability = "incomplete_capability"
            title = definition = process = "x"
            provisions = ("x",)

    assert "incomplete_capability" not in base.registered()


def test_two_classes_cannot_claim_one_id() -> None:
    from tierstack.modules.model_evaluation import ModelEvaluation

    with pytest.raises(TypeError, match="defined twice"):

        class Impostor(ModelEvaluation):
            capability = "model_evaluation"

    assert base.registered()["model_evaluation"] is ModelEvaluation


def test_its_stacks_match_its_inventory(data_validation: Any, tmp_path: Path, synthesizes: None) -> None:
    from tierstack.generator.output.generate import generate

    (key, config), *others = inventory_configs(INVENTORY).items()
    assert config.resolve() == EXAMPLE.resolve() and not others
    out = tmp_path / "cdktf.out"
    generate(resolve(load_spec(EXAMPLE)), out)
    problems = check_capability_inventory(INVENTORY, {key: out})
    assert not problems, "\n".join(problems)

    # what the assembler did for it, from its declarations alone
    prod = read_stack(out, "dv-demo-prod")
    topic = prod["resource"]["google_pubsub_topic"]["data_validation_alerts"]
    assert "google_kms_crypto_key_iam_member.foundation_key_pubsub_agent" in topic["depends_on"]
    assert "google_project_service.foundation_api_pubsub" in topic["depends_on"]
    assert "foundation_key_pubsub_agent" in prod["resource"]["google_kms_crypto_key_iam_member"]
    assert {"data_validation_reports_bucket", "data_validation_alert_topic"} <= set(prod["output"])
    dev = read_stack(out, "dv-demo-dev")
    assert "kms_key_name" not in dev["resource"]["google_pubsub_topic"]["data_validation_alerts"]


def test_terraform_validates_its_stacks(data_validation: Any, terraform: Any, tmp_path: Path) -> None:
    from standin import mirror
    from tierstack.generator.output.generate import generate

    out = tmp_path / "cdktf.out"
    generate(resolve(load_spec(EXAMPLE)), out)
    for stack in ("dv-demo-dev", "dv-demo-prod"):
        workdir = mirror.workdir_for(out / "stacks" / stack, tmp_path / "tf" / stack)
        verdict = mirror.validate(terraform, workdir)
        assert verdict["valid"] is True, json.dumps(verdict, indent=1)
        plan = mirror.plan(terraform, workdir)
        planned = {c["address"] for c in plan["resource_changes"] if c["change"]["actions"] == ["create"]}
        assert "google_pubsub_topic.data_validation_alerts" in planned


# --- one capability, one place: what a class declares is enough, or it is told what is missing -----

SECRET_CONFIG = EXAMPLE.read_text(encoding="utf-8").replace("add: [data_validation]", "add: [secret_store]")


@pytest.fixture
def secret_store() -> Iterator[Any]:
    """A capability encrypted by a service none of tierstack's own use (Secret Manager)."""
    module = importlib.import_module("plugins.secret_store")
    try:
        yield module
    finally:
        base.unregister("secret_store")
        sys.modules.pop("plugins.secret_store", None)


@pytest.fixture
def forget() -> Iterator[list[str]]:
    """Capability ids a test defines inline, forgotten after it."""
    ids: list[str] = []
    try:
        yield ids
    finally:
        for capability in ids:
            base.unregister(capability)


def test_a_new_key_service_gets_its_agent_and_grant(secret_store: Any, tmp_path: Path, synthesizes: None) -> None:
    from tierstack.generator.output.generate import generate

    config = tmp_path / "tierstack.yaml"
    config.write_text(SECRET_CONFIG, encoding="utf-8")
    out = tmp_path / "cdktf.out"
    generate(resolve(load_spec(config)), out)
    prod = read_stack(out, "dv-demo-prod")
    resource = prod["resource"]
    secret = resource["google_secret_manager_secret"]["secret_store_pipeline_token"]
    replica = secret["replication"]["user_managed"]["replicas"][0]
    assert replica["customer_managed_encryption"]["kms_key_name"] == "${google_kms_crypto_key.foundation_key.id}"
    # the agent of the API the class declared, made after that API, granted on the key; the secret waits
    agent = resource["google_project_service_identity"]["foundation_secretmanager_agent"]
    assert agent["service"] == "secretmanager.googleapis.com"
    assert agent["depends_on"] == ["google_project_service.foundation_api_secretmanager"]
    grant = resource["google_kms_crypto_key_iam_member"]["foundation_key_secretmanager_agent"]
    assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant["member"] == "serviceAccount:${google_project_service_identity.foundation_secretmanager_agent.email}"
    assert secret["depends_on"] == [
        "google_project_service.foundation_api_secretmanager",
        "google_kms_crypto_key_iam_member.foundation_key_secretmanager_agent",
    ]
    assert resource["google_project_service"]["foundation_api_secretmanager"]["service"] == (
        "secretmanager.googleapis.com"
    )
    dev = read_stack(out, "dv-demo-dev")  # no key in dev: no agent, no grant
    assert "google_project_service_identity" not in dev["resource"]
    assert "customer_managed_encryption" not in json.dumps(dev["resource"]["google_secret_manager_secret"])


def declare(name: str, capability: str, bases: tuple[type, ...] = (base.CapabilityModule,), **attributes: Any) -> type:
    """Define a capability class, as a `class` statement in a plugin would."""
    from tierstack.generator.config.settings import Settings

    declared = {"title": "x", "definition": "x", "process": "x", "provisions": ("x",), "settings_model": Settings}
    return type(name, bases, {"capability": capability, **declared, **attributes})


def test_a_key_service_without_a_known_agent_is_refused_where_it_is_declared(forget: list[str]) -> None:
    forget.append("unknown_agent")
    with pytest.raises(TypeError) as raised:
        declare(
            "UnknownAgent",
            "unknown_agent",
            resource_apis={"google_secret_manager_": "secretmanager.googleapis.com"},
            key_services={"google_secret_manager_secret": "secretmanager"},
        )
    message = str(raised.value)
    assert "UnknownAgent.key_services" in message and "google_secret_manager_secret" in message
    assert "service_agents = {'secretmanager': 'secretmanager.googleapis.com'}" in message
    assert "unknown_agent" not in base.registered()


def test_a_resource_type_without_a_known_api_is_refused_when_assembled(
    forget: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthesizes: None
) -> None:
    from plugins.secret_store import SecretStore

    forget.append("secret_store")
    base.unregister("secret_store")  # this test's class takes its place
    sys.modules.pop("plugins.secret_store", None)  # the next test imports it afresh
    # the same resource, its API not declared (nor its key service, which would need the API)
    declare("NoApi", "secret_store", (SecretStore,), resource_apis={}, key_services={}, service_agents={})

    (tmp_path / "tierstack.yaml").write_text(SECRET_CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = run("generate", "--out", "cdktf.out", "tierstack.yaml")
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "NoApi (capability 'secret_store') creates a google_secret_manager_secret" in result.stderr
    assert "field 'resource_apis'" in result.stderr and "test_new_capability.py" in result.stderr
    assert "resource_apis = {'google_secret_manager_secret': 'SERVICE.googleapis.com'}" in result.stderr
    assert not (tmp_path / "cdktf.out").exists()


@pytest.mark.parametrize(
    ("attribute", "value", "expected"),
    [
        ("after", "data_processing", r"\.after must be a tuple such as \('data_processing',\)"),
        ("after", ("bad_declarations",), r"\.after names the capability itself"),
        ("identities", ("pipelines", "admin"), r"\.identities must be a tuple .*any of pipelines, training"),
        ("apis", ("secretmanager",), r"\.apis must be a tuple such as \('dataflow\.googleapis\.com',\)"),
        ("key_services", {"google_pubsub_topic": ("pubsub",)}, r"\.key_services must be a mapping such as"),
        ("key_services", {"pubsub_topic": "pubsub"}, r"'pubsub_topic' is not a Terraform resource type"),
        ("key_services", {"google_widget": "pubsub"}, r"google_widget, whose API tierstack does not know"),
        ("service_agents", {"storage": "gcs.googleapis.com"}, r"'storage' agent belongs to gcs\.googleapis\.com"),
        ("resource_apis", {"google_widget_": "widgets"}, r"is not an API name such as"),
    ],
)
def test_declarations_are_checked_when_the_class_is_defined(
    attribute: str, value: Any, expected: str, forget: list[str]
) -> None:
    forget.append("bad_declarations")
    with pytest.raises(TypeError, match=expected) as raised:
        declare("BadDeclarations", "bad_declarations", **{attribute: value})
    assert "BadDeclarations" in str(raised.value)
    assert "bad_declarations" not in base.registered()


# --- a broken plugin is blamed, not tierstack ------------------------------------------------------

BROKEN_PLUGIN = """\
from tierstack.generator.config.settings import Settings
from tierstack.modules.base import CapabilityModule


class Broken(CapabilityModule):
    capability = "broken_plugin"
    title = definition = process = "x"
    provisions = ("x",)
    settings_model = Settings
    after = "data_processing"
"""


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package that declares a broken capability through the `tierstack.capabilities` entry point,
    installed the way pip would lay it out (a module and its .dist-info) in a directory on sys.path."""
    from tierstack import modules

    site = tmp_path / "site"
    dist_info = site / "acme_broken_capability-1.2.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-broken-capability\nVersion: 1.2.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        "[tierstack.capabilities]\nbroken = acme_broken_capability\n", encoding="utf-8"
    )
    (site / "acme_broken_capability.py").write_text(BROKEN_PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    modules._load_package.cache_clear()
    try:
        yield site / "acme_broken_capability.py"
    finally:
        modules._load_package.cache_clear()
        base.unregister("broken_plugin")
        sys.modules.pop("acme_broken_capability", None)


def test_a_broken_plugin_is_named_and_blamed(installed_plugin: Path) -> None:
    result = run("capabilities")
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert "internal error" not in err and "bug in tierstack" not in err and "Traceback" not in err
    assert "the plugin 'broken = acme_broken_capability' (tierstack.capabilities) of acme-broken-capability" in err
    assert "acme-broken-capability 1.2.0 failed to load: TypeError" in err
    assert f"{installed_plugin}:5:" in err  # the class that declares it wrongly
    assert "Broken.after must be a tuple such as ('data_processing',)" in err
    assert "not in tierstack or your config" in err and "pip uninstall acme-broken-capability" in err


def test_a_broken_capability_file_in_modules_is_named_and_blamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file dropped into modules/ (here: a second directory of the package, so the repository is untouched)."""
    from tierstack import modules

    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "broken_file.py").write_text(BROKEN_PLUGIN.replace("broken_plugin", "broken_file"), encoding="utf-8")
    monkeypatch.setattr(modules, "__path__", [*modules.__path__, str(extra)])
    modules._load_package.cache_clear()
    try:
        result = run("explain", str(EXAMPLE))
    finally:
        modules._load_package.cache_clear()
        base.unregister("broken_file")
        sys.modules.pop("tierstack.modules.broken_file", None)
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert f"error: {extra / 'broken_file.py'}:5: the capability file broken_file added to tierstack's modules/" in err
    assert "Broken.after must be a tuple" in err and f"remove {extra / 'broken_file.py'}" in err
