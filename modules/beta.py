"""google-beta, without loading the google-beta bindings.

Two resources tierstack makes are beta-only: the Vertex AI metadata store and
google_project_service_identity (which creates a service agent before it is granted a key).
Importing the cdktn-provider-google-beta bindings loads a second assembly into
Node: about 720 MB of memory and two seconds on every generate, for one resource.
So the provider block and that resource are declared through cdktn's core API,
producing the same Terraform JSON the typed binding would.
tests/test_beta.py builds the resource with the real typed binding and
requires byte-identical JSON, so the attribute names stay checked by jsii.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tierstack.generator.facts.providers import GOOGLE_PROVIDER_VERSION, SOURCES

if TYPE_CHECKING:
    from cdktn import TerraformResource, TerraformStack
    from constructs import Construct

PROVIDER = "google-beta"
SOURCE = SOURCES[PROVIDER]
VERSION = GOOGLE_PROVIDER_VERSION  # the pinned bindings' provider; tests/test_beta.py keeps the two in step
SERVICE_IDENTITY = "google_project_service_identity"


def declare_provider(stack: TerraformStack, project: str, region: str, labels: dict[str, str]) -> None:
    stack.add_override(f"terraform.required_providers.{PROVIDER}", {"source": SOURCE, "version": VERSION})
    stack.add_override(
        f"provider.{PROVIDER}",
        [
            {
                "add_terraform_attribution_label": True,
                "billing_project": project,
                "default_labels": labels,
                "project": project,
                "region": region,
                "user_project_override": True,
            }
        ],
    )


def resource(scope: Construct, construct_id: str, resource_type: str, attributes: dict[str, Any]) -> TerraformResource:
    """A google-beta resource with these (already validated) attributes; None values are left out."""
    # no generator metadata: cdktn would then look for a google-beta provider *construct*, which is
    # exactly what this module avoids loading; the provider block is declared by declare_provider()
    from cdktn import TerraformResource

    res = TerraformResource(scope, construct_id, terraform_resource_type=resource_type)
    for key, value in sorted(attributes.items()):
        if value is not None:
            res.add_override(key, value)
    res.add_override("provider", PROVIDER)
    return res
