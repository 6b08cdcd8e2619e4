"""The google-beta declarations in modules/beta.py equal what the typed beta bindings produce.

tierstack does not load the cdktn-provider-google-beta bindings at generate time
(720 MB and two seconds for one resource); here, where it costs only test time,
the real typed binding builds the same metadata store and provider, and jsii
checks every attribute name and type. The JSON must be identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tierstack.generator.synth import jsii_env


@pytest.mark.slow  # loads the google-beta bindings (720 MB)
def test_metadata_store_and_provider_match_the_typed_binding(tmp_path: Path) -> None:
    jsii_env.prepare()
    from cdktn import App, TerraformStack
    from cdktn_provider_google_beta.google_vertex_ai_metadata_store import (
        GoogleVertexAiMetadataStore,
        GoogleVertexAiMetadataStoreEncryptionSpec,
    )
    from cdktn_provider_google_beta.provider import GoogleBetaProvider

    from tierstack.modules import beta
    from tierstack.modules.metadata_tracking import RESOURCE_TYPE, store_attributes

    labels = {"team": "t", "cost-center": "cc-1"}
    attributes = store_attributes("acme-p", "europe-west4", "default", "lineage", "projects/k/keys/x", "PREVENT")
    app = App(outdir=str(tmp_path))
    typed = TerraformStack(app, "typed")
    provider = GoogleBetaProvider(
        typed,
        "google-beta",
        project="acme-p",
        region="europe-west4",
        add_terraform_attribution_label=True,
        billing_project="acme-p",
        user_project_override=True,
    )
    provider.add_override("default_labels", labels)
    GoogleVertexAiMetadataStore(
        typed,
        "store",
        provider=provider,
        project="acme-p",
        region="europe-west4",
        name="default",
        description="lineage",
        deletion_policy="PREVENT",
        encryption_spec=GoogleVertexAiMetadataStoreEncryptionSpec(kms_key_name="projects/k/keys/x"),
    )
    ours = TerraformStack(app, "ours")
    beta.declare_provider(ours, "acme-p", "europe-west4", labels)
    beta.resource(ours, "store", RESOURCE_TYPE, attributes)
    # the service identity (service agents) too: built with the binding and through modules/beta.py
    from cdktn_provider_google_beta.google_project_service_identity import GoogleProjectServiceIdentity

    GoogleProjectServiceIdentity(typed, "agent", provider=provider, project="acme-p", service="pubsub.googleapis.com")
    beta.resource(ours, "agent", beta.SERVICE_IDENTITY, {"project": "acme-p", "service": "pubsub.googleapis.com"})
    app.synth()

    def load(stack: str) -> dict:
        return json.loads((tmp_path / "stacks" / stack / "cdk.tf.json").read_text())

    t, o = load("typed"), load("ours")
    strip = lambda body: {k: v for k, v in body.items() if k != "//"}  # noqa: E731 - metadata names the stack
    assert strip(o["resource"][RESOURCE_TYPE]["store"]) == strip(t["resource"][RESOURCE_TYPE]["store"])
    assert strip(o["resource"][beta.SERVICE_IDENTITY]["agent"]) == strip(t["resource"][beta.SERVICE_IDENTITY]["agent"])
    assert o["provider"]["google-beta"] == t["provider"]["google-beta"]
    assert o["terraform"]["required_providers"]["google-beta"] == t["terraform"]["required_providers"]["google-beta"]
