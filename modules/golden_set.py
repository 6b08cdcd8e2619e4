"""golden_set: a candidate model is promoted only after an evaluation on the current golden set.

Google's ML SREs run golden sets, questions with defined answers, through a candidate model before it ships: a
little different may be an improvement, a lot different does not ship until understood. The comparison itself is
the model team's; tierstack makes it impossible to skip. tierstack.yaml declares the golden set (`golden_set:`,
generator/config/spec.py GoldenSet: a Cloud Storage prefix or a BigQuery table, and max_difference) and this capability
provisions what the gate needs:

- Access: the pipelines and CI identities (training where foundation makes neither) read the golden set, and
  only its owners (variables.golden_set_owners_group) are granted write. A prefix: roles/storage.objectViewer,
  and roles/storage.objectAdmin for the owners, on the bucket with an IAM condition scoped to the prefix (the
  condition data_sources uses, modules/data_sources.py PREFIX_CONDITION); a table: roles/bigquery.dataViewer and
  roles/bigquery.dataEditor on the table. tierstack grants; write access someone else granted on an existing
  bucket or table is theirs to remove.
- Immutability where tierstack creates it (`create_in: ENV`, a prefix only): that environment's stack creates the
  bucket with a retention policy (Bucket Lock: an object can be deleted or replaced only once older than
  retention_days), uniform access, public access prevented, CMEK on request, never force-destroyed. Not versioned:
  Object Versioning cannot be enabled on a bucket with a retention policy, and the policy keeps every object.
  The policy is not locked (locking is permanent, and the model team's decision: docs/golden-sets.md).
- Results: a BigQuery dataset (the base helper: region, CMEK, labels, delete protection) with one table,
  `evaluations` (model, model_version, golden_set_version, metric, difference, passed, evaluated_at), which the
  pipelines identity writes and CI reads. `tierstack golden-set check` (generator/analysis/golden_set_check.py) reads it
  and refuses a candidate without an evaluation on the current golden set or with a difference above
  max_difference; at tier 2 the generated deploy workflow runs it before the production apply.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field

from tierstack.generator.config.settings import Email, Settings
from tierstack.generator.core import naming
from tierstack.modules.base import CapabilityModule

READERS = ("pipelines", "ci")  # who reads the golden set: the evaluation pipeline and the promotion check
RESULTS = "golden_results"  # the results dataset's purpose: <name>_golden_results
RESULTS_TABLE = "evaluations"
RECORD = "tierstack_golden_set"  # the key under "//" in cdk.tf.json: what the stack gates on
# The results table's columns, in the order the model team's evaluation step writes them (one row per metric).
RESULTS_SCHEMA = [
    {"name": "model", "type": "STRING", "mode": "REQUIRED", "description": "the model, as registered"},
    {"name": "model_version", "type": "STRING", "mode": "REQUIRED", "description": "the candidate's version"},
    {
        "name": "golden_set_version",
        "type": "STRING",
        "mode": "REQUIRED",
        "description": "the golden set's version it was evaluated on: the newest object generation under the "
        "prefix, or the table's lastModifiedTime in ms (tierstack golden-set version prints it)",
    },
    {"name": "metric", "type": "STRING", "mode": "REQUIRED", "description": "what was compared, e.g. accuracy"},
    {
        "name": "difference",
        "type": "FLOAT64",
        "mode": "REQUIRED",
        "description": "how far the candidate's answers are from the golden answers on this metric",
    },
    {"name": "passed", "type": "BOOL", "mode": "REQUIRED", "description": "the model team's own verdict"},
    {"name": "evaluated_at", "type": "TIMESTAMP", "mode": "REQUIRED", "description": "when it was evaluated"},
]


class GoldenSetSettings(Settings):
    # tierstack.yaml's golden_set, put here where it declares it (generator/plan/resolve.py)
    uri: str | None = None
    table: str | None = None
    max_difference: float = Field(default=0.02, gt=0, le=1)
    create_in: str | None = None
    owners_group: Email | None = None  # variables.golden_set_owners_group: the only writers tierstack grants
    retention_days: int = Field(default=365, ge=1, le=3650)  # a bucket tierstack creates keeps each object this long


def results_table(name: str, project: str) -> str:
    """PROJECT.DATASET.TABLE of a stack's results table (what the check queries)."""
    return f"{project}.{naming.dataset_id(name, RESULTS)}.{RESULTS_TABLE}"


def record(settings: GoldenSetSettings, name: str, project: str) -> dict[str, Any]:
    """What the stack records under //.tierstack_golden_set, and what the check reads from the resolved config."""
    if settings.table is not None:
        table_project, dataset, table = settings.table.split(".")
        where: dict[str, Any] = {"kind": "table", "project": table_project, "dataset": dataset, "table": table}
        golden = settings.table
    else:
        bucket, _, prefix = str(settings.uri).removeprefix("gs://").partition("/")
        where = {"kind": "prefix", "bucket": bucket, "prefix": prefix}
        golden = str(settings.uri)
    return {
        "name": golden,
        **where,
        "max_difference": settings.max_difference,
        "results_table": results_table(name, project),
    }


class GoldenSetModule(CapabilityModule):
    capability = "golden_set"
    title = "Golden set"
    definition = (
        "Questions with defined answers a candidate model must be evaluated on before it is promoted: read by the "
        "pipelines and CI, written by its owners, every evaluation recorded, promotion refused without one."
    )
    process = "model evaluation, continuous delivery"
    provisions = (
        (
            "read on the golden set for the pipelines and CI identities, write for its owners group only: "
            "roles/storage.objectViewer and objectAdmin on the bucket, scoped to the prefix by an IAM condition, "
            "or roles/bigquery.dataViewer and dataEditor on the table"
        ),
        "where tierstack creates the golden set bucket (create_in): a retention policy, so no object is deleted or "
        "replaced before retention_days",
        "a BigQuery dataset and results table (model, model_version, golden_set_version, metric, difference, "
        "passed, evaluated_at) the pipelines write and CI reads",
        "the promotion gate: `tierstack golden-set check` and, at tier 2, a step before the production apply",
    )
    settings_model = GoldenSetSettings
    settings: GoldenSetSettings
    apis = ("bigquery.googleapis.com", "storage.googleapis.com")
    identities = ()  # grants to pipelines and ci where foundation makes them, else training (tier 0)
    key_services = {"google_bigquery_table": "bigquery"}  # the results table's CMEK, as feature_repository's
    outputs = {
        "results_table": "the table evaluations on the golden set are recorded in (PROJECT.DATASET.TABLE)",
        "bucket": "the golden set bucket tierstack created, with its retention policy",
    }

    def build(self) -> None:
        from cdktn import TerraformStack

        inputs, settings = self.inputs, self.settings
        if settings.uri is None and settings.table is None:
            return
        data = record(settings, inputs.name, inputs.project)
        TerraformStack.of(self.scope).add_override(f"//.{RECORD}", data)
        readers = [who for who in READERS if inputs.identities.has(who)]
        if not readers and inputs.identities.has("training"):
            readers = ["training"]  # tier 0: evaluations run as the training identity
        if data["kind"] == "table":
            self._table_grants(data, readers)
        else:
            bucket = self._bucket(data) if settings.create_in == inputs.environment else None
            self._prefix_grants(data, readers, bucket)
        self._results(readers)

    # --- access -----------------------------------------------------------------------------------

    def _members(self, readers: list[str]) -> list[tuple[str, str, bool]]:
        """(construct id part, member, writes) of everyone granted on the golden set."""
        members = [(who, self.inputs.identities.member(who), False) for who in readers]
        if self.settings.owners_group:
            members.append(("owners", f"group:{self.settings.owners_group}", True))
        return members

    def _table_grants(self, data: dict[str, Any], readers: list[str]) -> None:
        from cdktn_provider_google.bigquery_table_iam_member import BigqueryTableIamMember

        for who, member, writes in self._members(readers):
            self.add(
                BigqueryTableIamMember,
                f"{who}_{'writer' if writes else 'reader'}",
                project=data["project"],
                dataset_id=data["dataset"],
                table_id=data["table"],
                role="roles/bigquery.dataEditor" if writes else "roles/bigquery.dataViewer",
                member=member,
            )

    def _prefix_grants(self, data: dict[str, Any], readers: list[str], bucket: Any) -> None:
        from cdktn_provider_google.storage_bucket_iam_member import (
            StorageBucketIamMember,
            StorageBucketIamMemberCondition,
        )

        from tierstack.modules.data_sources import PREFIX_CONDITION  # here: modules load in catalog order

        name = bucket.name if bucket is not None else data["bucket"]  # a reference: the grant waits for the bucket
        condition = StorageBucketIamMemberCondition(
            title="golden set",
            description=f"the golden set {data['name']} only: objects under the prefix, and lists of them"[:256],
            expression=PREFIX_CONDITION.format(bucket=data["bucket"], prefix=data["prefix"]),
        )
        for who, member, writes in self._members(readers):
            self.add(
                StorageBucketIamMember,
                f"{who}_{'writer' if writes else 'reader'}",
                bucket=name,
                role="roles/storage.objectAdmin" if writes else "roles/storage.objectViewer",
                member=member,
                condition=condition,
            )

    def _bucket(self, data: dict[str, Any]) -> Any:
        """The golden set bucket, immutable for retention_days: Bucket Lock's retention policy, not versioning."""
        from cdktn_provider_google.storage_bucket import (
            StorageBucket,
            StorageBucketEncryption,
            StorageBucketRetentionPolicy,
        )

        inputs = self.inputs
        bucket = self.add(
            StorageBucket,
            "bucket",
            name=data["bucket"],
            project=inputs.project,
            location=inputs.region.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            retention_policy=StorageBucketRetentionPolicy(retention_period=str(self.settings.retention_days * 86400)),
            encryption=StorageBucketEncryption(default_kms_key_name=inputs.kms_key) if inputs.kms_key else None,
            force_destroy=False,  # the model team's answers: never deleted with the stack's objects
            deletion_policy="PREVENT",
            labels={**self.labels, "purpose": "golden-set"},
        )
        self.expose("bucket", bucket.name)
        return bucket

    # --- results ----------------------------------------------------------------------------------

    def _results(self, readers: list[str]) -> None:
        from cdktn_provider_google.bigquery_table import (
            BigqueryTable,
            BigqueryTableEncryptionConfiguration,
            BigqueryTableTimePartitioning,
        )

        inputs = self.inputs
        writers = tuple(who for who in readers if who != "ci")  # the evaluation step; CI only reads
        dataset = self.dataset(
            RESULTS,
            f"evaluations of candidate models of {inputs.name} on the golden set: the promotion gate reads them",
            writers=writers,
            readers=("ci",),
        )
        self.add(
            BigqueryTable,
            "evaluations_table",
            project=inputs.project,
            dataset_id=dataset.dataset_id,
            table_id=RESULTS_TABLE,
            description="one row per metric of each evaluation of a candidate on the golden set",
            schema=json.dumps(RESULTS_SCHEMA, sort_keys=True),
            time_partitioning=BigqueryTableTimePartitioning(type="DAY", field="evaluated_at"),
            labels=self.labels,
            encryption_configuration=BigqueryTableEncryptionConfiguration(kms_key_name=inputs.kms_key)
            if inputs.kms_key
            else None,
            deletion_protection=inputs.delete_protection,
            deletion_policy=self.deletion_policy,
        )
        self.expose("results_table", results_table(inputs.name, inputs.project))


# --- what explain shows, read from the stacks ---------------------------------------------------------


def explain_lines(stacks: Any, envs: list[str]) -> list[str]:
    """The golden set, who reads and writes it, where a bucket is created, where evaluations go; each line
    with its environments."""
    groups: dict[str, list[str]] = {}
    for env in envs:
        for line in _stack_lines(stacks[env]):
            groups.setdefault(line, []).append(env)
    return [f"{line} ({', '.join(names)})" for line, names in groups.items()]


def _stack_lines(stack: Any) -> list[str]:
    recorded = (stack.get("//") or {}).get(RECORD)
    if not recorded:
        return []
    resources = stack.get("resource") or {}
    grants = {
        **(resources.get("google_storage_bucket_iam_member") or {}),
        **(resources.get("google_bigquery_table_iam_member") or {}),
    }
    mine = [body for name, body in grants.items() if name.startswith("golden_set_")]
    readers = sorted(_who(b["member"]) for b in mine if str(b["role"]).endswith(("objectViewer", "dataViewer")))
    writers = sorted(_who(b["member"]) for b in mine if str(b["role"]).endswith(("objectAdmin", "dataEditor")))
    lines = [
        f"golden set {recorded['kind']} {recorded['name']}, max difference {recorded['max_difference']:g}: read by "
        f"{', '.join(readers) or 'no identity'}; written by {', '.join(writers) or 'nobody tierstack grants'}"
    ]
    bucket = (resources.get("google_storage_bucket") or {}).get("golden_set_bucket")
    if bucket:
        days = int(bucket["retention_policy"]["retention_period"]) // 86400
        lines.append(f"golden set bucket {bucket['name']} created here: no object deleted or replaced for {days}d")
    lines.append(f"evaluations recorded in {recorded['results_table']}; promotion: tierstack golden-set check")
    return lines


def _who(member: str) -> str:
    """`pipelines` for the stack's service account, the group's address for a group."""
    match = re.fullmatch(r"serviceAccount:\$\{google_service_account\.foundation_([a-z]+)_sa\.email\}", member)
    return match.group(1) if match else member.removeprefix("group:")
