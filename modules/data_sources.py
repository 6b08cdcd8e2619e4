"""data_sources: what training reads, declared in tierstack.yaml, granted exactly, watched, checked before runs.

Google's ML SREs, looking back at a decade of ML outages, found most of them were not about the model: "three
of the 26 data sources don't exist anymore". So the sources are declared (`data_sources:` in tierstack.yaml,
generator/config/spec.py DataSource) and this capability owns everything about them:

- Access, exactly: the identities that read training data (training and pipelines, where foundation makes
  them) get read on each source and nothing broader. A BigQuery table: roles/bigquery.dataViewer on the table
  (google_bigquery_table_iam_member). A Cloud Storage prefix: roles/storage.objectViewer on the bucket with an
  IAM condition scoped to the prefix (PREFIX_CONDITION below); the bucket must use uniform bucket-level access,
  which IAM Conditions on buckets require.
- Watching: a Cloud Scheduler job (hourly by default) starts a small workflow (Workflows) that reads each
  source, BigQuery tables.get `lastModifiedTime` (ms since the epoch, as a string; the default STORAGE_STATS
  view includes it, BASIC does not) and Cloud Storage objects.list under the prefix (the newest `updated`),
  and writes one structured log entry (sys.log: the workflows.googleapis.com/Workflow resource, log
  projects/PROJECT/logs/Workflows, a jsonPayload) with severity ERROR for each source that is missing,
  unreadable or older than its max_staleness. A log-based metric counts those entries by source; an alert
  policy on the entries notifies the team's channel (the email of `notification_email`, else cost_controls',
  which every tier sets from alert_email; without one, explain and generate say the alert notifies nobody).
- Before training: ml_pipelines' retraining workflow (the schedule and the degradation trigger) runs the same
  check first (gate_steps) and starts no pipeline run on a missing or stale source; the check's ERROR
  entries raise the alert instead.

The alert matches the log entries themselves (a log-match condition), not the log-based metric: an alert
policy on a log-based metric created in the same apply fails with 404 "Cannot find metric(s)" for up to 10
minutes (terraform-provider-google issue 11102, open), so a fresh project's first apply would fail, as
modules/model_monitoring.py explains. The metric is still created, for charts and SLO-style reports of how
often each source was missing or stale.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from tierstack.generator.config.settings import Cron, Email, Settings, TimeZone
from tierstack.generator.config.spec import DataSource
from tierstack.generator.core.errors import UserError
from tierstack.modules.base import CapabilityModule, ModuleInputs

READERS = ("training", "pipelines")  # the identities that read training data, where foundation makes them
EVENT = "data_source_problem"  # jsonPayload.event of the entries the check writes, what the metric and alert match
TABLE_ROLE = "roles/bigquery.dataViewer"
PREFIX_ROLE = "roles/storage.objectViewer"
BIGQUERY = "https://bigquery.googleapis.com/bigquery/v2"
STORAGE = "https://storage.googleapis.com/storage/v1"
# objects.list pages the check reads at most per prefix (1,000 objects a page): a Workflows execution has a
# step budget (100,000), and a prefix that holds more is reported as too large to check, never judged on part
MAX_PAGES = 50
RUN_CHECK = "googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run"
WINDOW = "3600s"  # the check runs hourly: at most one notification per source an hour

# Read on a prefix, and nothing else in the bucket. Google's IAM Conditions name a Cloud Storage object
# `projects/_/buckets/BUCKET/objects/OBJECT` (IAM, "Resource attributes for IAM Conditions": resource.name),
# so a condition on that prefix covers objects.get of the objects under it. Listing is checked on the bucket,
# whose name no object prefix matches, so a condition on resource.name alone would refuse every list: the
# list request's prefix is matched through the API attribute `storage.googleapis.com/objectListPrefix`
# (IAM, "Attribute reference for IAM Conditions", API attributes; the form Google's Credential Access
# Boundaries examples use), so the identity may list under the prefix and nowhere else. Read 2026-12-07.
PREFIX_CONDITION = (
    'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}") || '
    'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{prefix}")'
)


class DataSourcesSettings(Settings):
    # tierstack.yaml's data_sources, put here where it lists them (generator/plan/resolve.py)
    sources: list[DataSource] = Field(default_factory=list)
    check_schedule: Cron = "0 * * * *"  # how often the sources are checked (Cloud Scheduler), hourly
    time_zone: TimeZone = "Etc/UTC"
    notification_email: Email | None = None  # None: cost_controls' notification_email (alert_email)


@dataclass(frozen=True)
class Source:
    """One declared source, taken apart for the grants and the check."""

    name: str  # as written: acme-data.sales.orders, gs://acme-raw/clicks/
    kind: str  # table or prefix
    max_staleness: str
    max_staleness_seconds: int
    project: str = ""
    dataset: str = ""
    table: str = ""
    bucket: str = ""
    prefix: str = ""

    @classmethod
    def of(cls, source: DataSource) -> Source:
        name, staleness, seconds = source.name, source.max_staleness, source.max_staleness_seconds
        if source.table is not None:
            project, dataset, table = source.table.split(".")
            return cls(name, "table", staleness, seconds, project=project, dataset=dataset, table=table)
        bucket, _, prefix = str(source.uri).removeprefix("gs://").partition("/")
        return cls(name, "prefix", staleness, seconds, bucket=bucket, prefix=prefix)

    @property
    def slug(self) -> str:
        """A construct id part that stays the source's whatever the order of the list: readable, and unique
        by a short hash of the exact name (table ids are case-sensitive; '.' and '_' would otherwise meet)."""
        readable = re.sub(r"[^a-z0-9]+", "_", self.name.removeprefix("gs://").lower()).strip("_")[:48]
        return f"{readable}_{hashlib.sha256(self.name.encode()).hexdigest()[:6]}"

    def data(self) -> dict[str, Any]:
        """What the check workflow reads for this source."""
        keys = ("project", "dataset", "table") if self.kind == "table" else ("bucket", "prefix")
        return {
            "name": self.name,
            "kind": self.kind,
            "max_staleness": self.max_staleness,
            "max_staleness_seconds": self.max_staleness_seconds,
            **{key: getattr(self, key) for key in keys},
        }


def check_name(name: str, environment: str) -> str:
    """The check workflow's name (Workflows: letters, digits, '-' and '_', at most 64), also its scheduler job's."""
    return f"{name}-{environment}-data-sources"


def declared(inputs: ModuleInputs) -> list[Source]:
    """The sources data_sources' resolved settings list in this stack (none when it is not selected)."""
    settings = inputs.upstream.selected.get("data_sources")
    if settings is None:
        return []
    return [Source.of(DataSource.model_validate(s)) for s in settings.get("sources") or []]


def gate_steps(inputs: ModuleInputs) -> list[dict[str, Any]]:
    """Workflows steps that run this stack's source check and stop, starting nothing, when a source is missing or
    stale: for ml_pipelines' retraining workflow, before it starts a pipeline run. [] without declared sources.

    The check runs as its own execution (the Workflow Executions connector's `run`, which waits for it and
    returns its result) and writes the ERROR entries the alert matches, so a skipped run raises the alert.
    The caller's identity needs roles/workflows.invoker, which ml_pipelines grants the pipelines identity.
    """
    if not declared(inputs):
        return []
    return [
        {
            "check_data_sources": {
                "call": RUN_CHECK,
                "args": {
                    "workflow_id": check_name(inputs.name, inputs.environment),
                    "location": inputs.region,
                    "project_id": inputs.project,
                    "argument": {"trigger": "training"},
                },
                "result": "sources",
            }
        },
        {
            "only_on_fresh_sources": {
                "switch": [
                    {
                        "condition": "${not sources.ok}",
                        "steps": [
                            {
                                "no_run_on_stale_sources": {
                                    "return": '${"no training run: a data source is missing or stale (the data '
                                    'source alert says which): " + json.encode_to_string(sources.problems)}'
                                }
                            }
                        ],
                    }
                ]
            }
        },
    ]


def check_workflow(sources: list[Source], check: str, project: str, environment: str) -> dict[str, Any]:
    """The check workflow: every source read, a problem logged at ERROR each, the problems returned.

    Its result, {"ok": bool, "checked": N, "problems": [...]}, is what gate_steps reads. Each problem is one
    structured log entry: event, check (this workflow), source, kind, problem (missing, stale, unreadable,
    too_large), detail, age_seconds, max_staleness_seconds, trigger.
    """
    main_steps: list[dict[str, Any]] = [
        {
            "init": {
                "assign": [
                    {"now": "${sys.now()}"},
                    {"trigger": '${default(map.get(args, "trigger"), "manual")}'},
                    {"sources": [source.data() for source in sources]},
                    {"problems": []},
                ]
            }
        },
        {
            "check_each": {
                "for": {
                    "value": "source",
                    "in": "${sources}",
                    "steps": [
                        {
                            "read": {
                                "switch": [
                                    {
                                        "condition": '${source.kind == "table"}',
                                        "steps": [
                                            {
                                                "table": {
                                                    "call": "read_table",
                                                    "args": {"source": "${source}"},
                                                    "result": "seen",
                                                }
                                            }
                                        ],
                                    },
                                    {
                                        "condition": "${true}",
                                        "steps": [
                                            {
                                                "prefix": {
                                                    "call": "read_prefix",
                                                    "args": {"source": "${source}"},
                                                    "result": "seen",
                                                }
                                            }
                                        ],
                                    },
                                ]
                            }
                        },
                        {
                            "judge": {
                                "switch": [
                                    {
                                        "condition": '${seen.state == "found" and now - seen.modified <= '
                                        "source.max_staleness_seconds}",
                                        "next": "continue",
                                    },
                                    {
                                        "condition": '${seen.state == "found"}',
                                        "steps": [
                                            {
                                                "stale": {
                                                    "assign": [
                                                        {"problem": "stale"},
                                                        {"age": "${int(now - seen.modified)}"},
                                                        {
                                                            "detail": '${"last changed " + string(int((now - '
                                                            'seen.modified) / 3600)) + "h ago, more than " + '
                                                            "source.max_staleness}"
                                                        },
                                                    ]
                                                }
                                            }
                                        ],
                                    },
                                    {
                                        "condition": "${true}",
                                        "steps": [
                                            {
                                                "not_found": {
                                                    "assign": [
                                                        {"problem": "${seen.state}"},
                                                        {"age": None},
                                                        {"detail": "${seen.detail}"},
                                                    ]
                                                }
                                            }
                                        ],
                                    },
                                ]
                            }
                        },
                        {
                            "report": {
                                "assign": [
                                    {
                                        "entry": {
                                            "event": EVENT,
                                            "check": check,
                                            "environment": environment,
                                            "source": "${source.name}",
                                            "kind": "${source.kind}",
                                            "problem": "${problem}",
                                            "detail": "${detail}",
                                            "age_seconds": "${age}",
                                            "max_staleness_seconds": "${source.max_staleness_seconds}",
                                            "trigger": "${trigger}",
                                        }
                                    },
                                    {"problems": "${list.concat(problems, entry)}"},
                                ]
                            }
                        },
                        {"log": {"call": "sys.log", "args": {"severity": "ERROR", "json": "${entry}"}}},
                    ],
                }
            }
        },
        {"done": {"return": {"ok": "${len(problems) == 0}", "checked": "${len(sources)}", "problems": "${problems}"}}},
    ]
    return {
        "main": {"params": ["args"], "steps": main_steps},
        "read_table": {"params": ["source"], "steps": _read_table()},
        "read_prefix": {"params": ["source"], "steps": _read_prefix()},
    }


def _failed(missing: str) -> list[dict[str, Any]]:
    """The except steps of a read: 404 is the source gone, anything else unreadable (permission, quota, network)."""
    return [
        {
            "gone": {
                "switch": [
                    {
                        "condition": '${map.get(e, "code") == 404}',
                        "steps": [{"missing": {"return": {"state": "missing", "detail": missing}}}],
                    }
                ]
            }
        },
        {
            "unreadable": {
                "return": {
                    "state": "unreadable",
                    "detail": '${"could not read it: " + json.encode_to_string(map.get(e, "code")) + " " + '
                    'json.encode_to_string(map.get(e, "message"))}',
                }
            }
        },
    ]


def _read_table() -> list[dict[str, Any]]:
    """BigQuery tables.get: the table's lastModifiedTime (ms since the epoch, a string), in seconds."""
    url = f'${{"{BIGQUERY}/projects/" + source.project + "/datasets/" + source.dataset + "/tables/" + source.table}}'
    return [
        {
            "get": {
                "try": {
                    "call": "http.get",
                    "args": {"url": url, "auth": {"type": "OAuth2"}, "query": {"fields": "lastModifiedTime"}},
                    "result": "response",
                },
                "retry": "${http.default_retry}",
                "except": {"as": "e", "steps": _failed("no such table")},
            }
        },
        {"found": {"return": {"state": "found", "modified": "${double(response.body.lastModifiedTime) / 1000}"}}},
    ]


def _read_prefix() -> list[dict[str, Any]]:
    """Cloud Storage objects.list under the prefix, every page: the newest object's `updated`, in seconds."""
    return [
        {
            "start": {
                "assign": [
                    {"newest": 0},
                    {"pages": 0},
                    {
                        "query": {
                            "prefix": "${source.prefix}",
                            "fields": "items(updated),nextPageToken",
                            "maxResults": 1000,
                        }
                    },
                ]
            }
        },
        {
            "list_page": {
                "try": {
                    "call": "http.get",
                    "args": {
                        "url": f'${{"{STORAGE}/b/" + source.bucket + "/o"}}',
                        "auth": {"type": "OAuth2"},
                        "query": "${query}",
                    },
                    "result": "response",
                },
                "retry": "${http.default_retry}",
                "except": {"as": "e", "steps": _failed("no such bucket")},
            }
        },
        {
            "each_object": {
                "for": {
                    "value": "item",
                    "in": '${default(map.get(response.body, "items"), [])}',
                    "steps": [{"newer": {"assign": [{"newest": "${math.max(newest, time.parse(item.updated))}"}]}}],
                }
            }
        },
        {
            "next_page": {
                "switch": [
                    {
                        "condition": '${map.get(response.body, "nextPageToken") != null and pages + 1 >= '
                        f"{MAX_PAGES}}}",
                        "steps": [
                            {
                                "too_large": {
                                    "return": {
                                        "state": "too_large",
                                        "detail": f"more than {MAX_PAGES * 1000} objects under the prefix: declare "
                                        "a narrower one",
                                    }
                                }
                            }
                        ],
                    },
                    {
                        "condition": '${map.get(response.body, "nextPageToken") != null}',
                        "steps": [
                            {
                                "turn_page": {
                                    "assign": [
                                        {"pages": "${pages + 1}"},
                                        {"query.pageToken": "${response.body.nextPageToken}"},
                                    ],
                                    "next": "list_page",
                                }
                            }
                        ],
                    },
                ]
            }
        },
        {
            "judged": {
                "switch": [
                    {
                        "condition": "${newest == 0}",
                        "steps": [{"empty": {"return": {"state": "missing", "detail": "no object under the prefix"}}}],
                    }
                ]
            }
        },
        {"found": {"return": {"state": "found", "modified": "${newest}"}}},
    ]


def problem_filter(project: str, check: str) -> str:
    """The Cloud Logging filter of the entries the check writes for a problem (the metric's and the alert's)."""
    return (
        f'logName = "projects/{project}/logs/Workflows" AND resource.type = "workflows.googleapis.com/Workflow" '
        f'AND severity = ERROR AND jsonPayload.event = "{EVENT}" AND jsonPayload.check = "{check}"'
    )


class DataSourcesModule(CapabilityModule):
    capability = "data_sources"
    title = "Data sources"
    definition = (
        "The data training reads, declared: read access on exactly those sources, an alert when one is missing "
        "or stale, and no training run on it."
    )
    process = "data processing, continuous training, continuous monitoring"
    provisions = (
        (
            "read on exactly each declared source for the training and pipelines identities: "
            "roles/bigquery.dataViewer on a BigQuery table, roles/storage.objectViewer on a bucket with an IAM "
            "condition scoped to the prefix"
        ),
        (
            "a workflow, started hourly by Cloud Scheduler, that checks each source exists and changed within its "
            "max_staleness (BigQuery lastModifiedTime, the newest object under a prefix) and logs an ERROR entry "
            "for each that did not"
        ),
        "a log-based metric counting those entries by source, and an alert policy on them that notifies the team",
        "continuous training (with ml_pipelines): the retraining workflow runs the check first and starts no run "
        "on a missing or stale source",
    )
    settings_model = DataSourcesSettings
    settings: DataSourcesSettings
    apis = ("workflowexecutions.googleapis.com", "logging.googleapis.com")  # the scheduler's calls; the log entries
    identities = ("training",)  # the check runs as it; pipelines is granted too where foundation makes it
    after = ("cost_controls",)  # its notification_email is the team's address when this capability has none
    key_services = {"google_workflows_workflow": "workflows"}  # Workflows CMEK, as ml_pipelines' workflow
    outputs = {
        "check_workflow": "the workflow that checks the declared data sources (run it by hand: gcloud workflows run)",
        "notification_channel": "the channel the data source alert notifies",
    }

    def build(self) -> None:
        from cdktn import TerraformStack

        inputs = self.inputs
        sources = [Source.of(source) for source in self.settings.sources]
        if not sources:
            return
        readers = [who for who in READERS if inputs.identities.has(who)]
        if not readers:
            raise UserError(
                "data_sources grants and checks the declared sources as the training or pipelines identity, and "
                "foundation makes neither",
                file=inputs.source,
                field=f"environments.{inputs.environment}.capabilities.foundation.service_accounts",
                hint="keep training in foundation.service_accounts",
            )
        # recorded in the stack, for `tierstack verify` and explain to read what the stack watches
        TerraformStack.of(self.scope).add_override("//.tierstack_data_sources", [s.data() for s in sources])
        for source in sources:
            for who in readers:
                self._grant(source, who)
        workflow = self._check(sources, readers[0])
        self._schedule(workflow, readers[0])
        self._watch(sources, check_name(inputs.name, inputs.environment))

    # --- access -----------------------------------------------------------------------------------

    def _grant(self, source: Source, who: str) -> None:
        from cdktn_provider_google.bigquery_table_iam_member import BigqueryTableIamMember
        from cdktn_provider_google.storage_bucket_iam_member import (
            StorageBucketIamMember,
            StorageBucketIamMemberCondition,
        )

        member = self.inputs.identities.member(who)
        if source.kind == "table":
            self.add(
                BigqueryTableIamMember,
                f"{source.slug}_{who}_reader",
                project=source.project,
                dataset_id=source.dataset,
                table_id=source.table,
                role=TABLE_ROLE,
                member=member,
            )
            return
        self.add(
            StorageBucketIamMember,
            f"{source.slug}_{who}_reader",
            bucket=source.bucket,
            role=PREFIX_ROLE,
            member=member,
            condition=StorageBucketIamMemberCondition(
                title=f"data source {source.slug}"[:100],
                description=f"read {source.name} only: objects under the prefix, and lists of them"[:256],
                expression=PREFIX_CONDITION.format(bucket=source.bucket, prefix=source.prefix),
            ),
        )

    # --- watching ---------------------------------------------------------------------------------

    def _check(self, sources: list[Source], identity: str) -> Any:
        from cdktn_provider_google.workflows_workflow import WorkflowsWorkflow

        from tierstack.modules.ml_pipelines import hcl_json

        inputs = self.inputs
        name = check_name(inputs.name, inputs.environment)
        workflow = self.add(
            WorkflowsWorkflow,
            "check",
            project=inputs.project,
            region=inputs.region,
            name=name,
            description=f"checks that the {len(sources)} declared data source(s) of {inputs.name} exist and changed "
            "within their max_staleness; logs an ERROR entry for each that did not",
            service_account=inputs.identities.emails[identity],
            source_contents=hcl_json(check_workflow(sources, name, inputs.project, inputs.environment)),
            call_log_level="LOG_ERRORS_ONLY",
            crypto_key_name=inputs.kms_key,
            deletion_protection=False,
            labels=self.labels,
        )
        self.expose("check_workflow", workflow.id)
        return workflow

    def _schedule(self, workflow: Any, identity: str) -> None:
        """Cloud Scheduler starts the check (Workflow Executions API, executions.create) as the checking identity."""
        from cdktn_provider_google.cloud_scheduler_job import CloudSchedulerJob
        from cdktn_provider_google.project_iam_member import ProjectIamMember

        from tierstack.modules.ml_pipelines import WORKFLOW_EXECUTIONS, http_job_arguments

        inputs = self.inputs
        self.add(
            CloudSchedulerJob,
            "schedule",
            name=check_name(inputs.name, inputs.environment),
            **http_job_arguments(
                self,
                cron=str(self.settings.check_schedule),
                cron_field="check_schedule",
                time_zone=str(self.settings.time_zone),
                identity=identity,
                body={"argument": json.dumps({"trigger": "schedule"}, sort_keys=True)},
                uri=f"{WORKFLOW_EXECUTIONS}/projects/{inputs.project}/locations/{inputs.region}/workflows/"
                f"{workflow.name}/executions",
                description=f"checks the declared data sources of {inputs.name} ({self.settings.check_schedule})",
            ),
        )
        # executions.create as that identity: Workflows Invoker (provider 8.7 has no workflow-level IAM)
        self.add(
            ProjectIamMember,
            f"{identity}_workflows_invoker",
            project=inputs.project,
            role="roles/workflows.invoker",
            member=inputs.identities.member(identity),
        )

    def _watch(self, sources: list[Source], check: str) -> None:
        """The log-based metric and the alert on the check's ERROR entries, one incident per source."""
        from cdktn_provider_google.logging_metric import (
            LoggingMetric,
            LoggingMetricMetricDescriptor,
            LoggingMetricMetricDescriptorLabels,
        )
        from cdktn_provider_google.monitoring_alert_policy import (
            MonitoringAlertPolicy,
            MonitoringAlertPolicyAlertStrategy,
            MonitoringAlertPolicyAlertStrategyNotificationRateLimit,
            MonitoringAlertPolicyConditions,
            MonitoringAlertPolicyConditionsConditionMatchedLog,
            MonitoringAlertPolicyDocumentation,
        )

        inputs = self.inputs
        problems = problem_filter(inputs.project, check)
        self.add(
            LoggingMetric,
            "problems",
            project=inputs.project,
            name=f"{check}-problems",
            description=f"data sources of {inputs.name} {inputs.environment} found missing, unreadable or stale",
            filter=problems,
            metric_descriptor=LoggingMetricMetricDescriptor(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                labels=[
                    LoggingMetricMetricDescriptorLabels(key="source", value_type="STRING", description="the source"),
                    LoggingMetricMetricDescriptorLabels(
                        key="problem", value_type="STRING", description="missing, stale, unreadable or too_large"
                    ),
                ],
            ),
            label_extractors={"source": "EXTRACT(jsonPayload.source)", "problem": "EXTRACT(jsonPayload.problem)"},
        )
        channels = self._channels()
        listed = "\n".join(f"- {s.kind} `{s.name}`: at most {s.max_staleness} old" for s in sources)
        self.add(
            MonitoringAlertPolicy,
            "alert",
            project=inputs.project,
            display_name=f"{inputs.name} {inputs.environment}: a data source is missing or stale",
            combiner="OR",
            conditions=[
                MonitoringAlertPolicyConditions(
                    display_name="data source missing or stale",
                    condition_matched_log=MonitoringAlertPolicyConditionsConditionMatchedLog(
                        filter=problems, label_extractors={"source": "EXTRACT(jsonPayload.source)"}
                    ),
                )
            ],
            notification_channels=channels or None,
            alert_strategy=MonitoringAlertPolicyAlertStrategy(
                auto_close="1800s",
                notification_rate_limit=MonitoringAlertPolicyAlertStrategyNotificationRateLimit(period=WINDOW),
            ),
            documentation=MonitoringAlertPolicyDocumentation(
                content=f"{inputs.name} in {inputs.environment}: the workflow {check} found a data source training "
                "reads missing, unreadable or older than its max_staleness (the incident's source label names it; "
                "the log entry says why). Where this environment retrains automatically, no training run starts "
                f"until every source is fresh again.\n\n{listed}",
                mime_type="text/markdown",
            ),
            severity="ERROR" if inputs.serving_class == "production" else "WARNING",
            user_labels=self.labels,
        )

    def _channels(self) -> list[str]:
        """The team's email channel: this capability's notification_email, else cost_controls' (alert_email)."""
        from cdktn_provider_google.monitoring_notification_channel import MonitoringNotificationChannel

        email = self.settings.notification_email or team_email(self.inputs.upstream.selected)
        if not email:
            return []
        inputs = self.inputs
        channel = self.add(
            MonitoringNotificationChannel,
            "email",
            project=inputs.project,
            type="email",
            display_name=f"{inputs.name} {inputs.environment} data sources",
            labels={"email_address": email},
            user_labels=self.labels,
        )
        self.expose("notification_channel", channel.id)
        return [channel.id]


def team_email(selected: Any) -> str | None:
    """Who hears about the sources: data_sources' notification_email, else cost_controls' (the blueprints set
    it from alert_email). `selected`: each selected capability's resolved settings."""
    own = (selected.get("data_sources") or {}).get("notification_email")
    return own or (selected.get("cost_controls") or {}).get("notification_email") or None


def unreceived(environments: dict[str, dict[str, Any]]) -> list[str]:
    """A warning when the data source alert would notify nobody (explain, validate, generate print it)."""
    silent = [
        name
        for name, settings in environments.items()
        if ((settings.get("capabilities") or {}).get("data_sources") or {}).get("sources")
        and not team_email(settings.get("capabilities") or {})
    ]
    if not silent:
        return []
    return [
        f"data_sources: the alert on missing or stale data sources in {', '.join(silent)} notifies nobody: no "
        "notification channel; set variables.alert_email (or overrides: capabilities.data_sources.notification_email)"
    ]


# --- what explain shows, read from the stacks ---------------------------------------------------------


def explain_lines(stacks: Any, envs: list[str]) -> list[str]:
    """Per declared source, who reads it; then what watches the sources, each line with its environments."""
    groups: dict[str, list[str]] = {}
    for env in envs:
        for line in _stack_lines(stacks[env]):
            groups.setdefault(line, []).append(env)
    return [f"{line} ({', '.join(names)})" for line, names in groups.items()]


def _stack_lines(stack: Any) -> list[str]:
    recorded = (stack.get("//") or {}).get("tierstack_data_sources") or []
    resources = stack.get("resource") or {}

    def mine(terraform_type: str) -> dict[str, Any]:
        bodies = resources.get(terraform_type) or {}
        return {name: body for name, body in bodies.items() if name.startswith("data_sources_")}

    lines = []
    for source in recorded:
        slug = Source.of(DataSource.model_validate(_as_written(source))).slug
        grants = {**mine("google_bigquery_table_iam_member"), **mine("google_storage_bucket_iam_member")}
        readers = sorted(
            name.removeprefix(f"data_sources_{slug}_").removesuffix("_reader")
            for name in grants
            if name.startswith(f"data_sources_{slug}_")
        )
        how = (
            "roles/bigquery.dataViewer on the table"
            if source["kind"] == "table"
            else ("roles/storage.objectViewer on the bucket, on the prefix only (an IAM condition)")
        )
        lines.append(
            f"source {source['kind']} {source['name']}, stale after {source['max_staleness']}: read by "
            f"{', '.join(readers) or 'no identity'} ({how})"
        )
    if not recorded:
        return lines
    job = mine("google_cloud_scheduler_job").get("data_sources_schedule") or {}
    lines.append(f"watched: a workflow checks every source on '{job.get('schedule', '?')}' (Cloud Scheduler)")
    alert = mine("google_monitoring_alert_policy").get("data_sources_alert") or {}
    channels = len(alert.get("notification_channels") or [])
    lines.append(
        "alert on a missing or stale source: "
        + (f"notifies {channels} channel{'s' if channels != 1 else ''}" if channels else "notifies nobody")
    )
    retraining = (resources.get("google_workflows_workflow") or {}).get("ml_pipelines_retraining") or {}
    if "check_data_sources" in str(retraining.get("source_contents", "")):
        lines.append("before training: the retraining workflow runs the check and starts no run on a bad source")
    return lines


def _as_written(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded source back as tierstack.yaml writes it (table or uri, and max_staleness)."""
    if recorded["kind"] == "table":
        return {"table": recorded["name"], "max_staleness": recorded["max_staleness"]}
    return {"uri": recorded["name"], "max_staleness": recorded["max_staleness"]}
