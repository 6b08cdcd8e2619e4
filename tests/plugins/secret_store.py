"""secret_store: a throwaway capability whose resource is encrypted by a service tierstack's own never use.

Secret Manager is in neither the assembler's API table nor the services whose agents foundation knows:
the class declares both (`resource_apis`, `service_agents`), and the assembler enables the API,
materialises the Secret Manager agent and grants it the key with no change to tierstack
(tests/test_new_capability.py). Google's "Enable customer-managed encryption keys for Secret Manager"
page: the key's Encrypter/Decrypter role goes to the agent of secretmanager.googleapis.com.
"""

from __future__ import annotations

from tierstack.generator.config.settings import Settings
from tierstack.modules.base import CapabilityModule


class SecretStoreSettings(Settings):
    pass


class SecretStore(CapabilityModule):
    capability = "secret_store"
    title = "Secret store"
    definition = "Secrets the pipelines read, encrypted with the stack's key when it has one."
    process = "continuous training"
    provisions = ("a Secret Manager secret",)
    settings_model = SecretStoreSettings
    resource_apis = {"google_secret_manager_": "secretmanager.googleapis.com"}
    key_services = {"google_secret_manager_secret": "secretmanager"}
    service_agents = {"secretmanager": "secretmanager.googleapis.com"}

    def build(self) -> None:
        from cdktn_provider_google.secret_manager_secret import (
            SecretManagerSecret,
            SecretManagerSecretReplication,
            SecretManagerSecretReplicationUserManaged,
            SecretManagerSecretReplicationUserManagedReplicas,
            SecretManagerSecretReplicationUserManagedReplicasCustomerManagedEncryption,
        )

        inputs = self.inputs
        encryption = (
            SecretManagerSecretReplicationUserManagedReplicasCustomerManagedEncryption(kms_key_name=inputs.kms_key)
            if inputs.kms_key
            else None
        )
        replica = SecretManagerSecretReplicationUserManagedReplicas(
            location=inputs.region, customer_managed_encryption=encryption
        )
        self.add(
            SecretManagerSecret,
            "pipeline_token",
            secret_id=f"{inputs.name}-pipeline-token",
            project=inputs.project,
            replication=SecretManagerSecretReplication(
                user_managed=SecretManagerSecretReplicationUserManaged(replicas=[replica])
            ),
            labels=self.labels,
        )
