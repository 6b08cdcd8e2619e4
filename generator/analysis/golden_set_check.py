"""`tierstack golden-set check`: refuse to promote a candidate model the golden set has not passed.

The golden_set capability (modules/golden_set.py) records evaluations in each stack's results table; this is the
gate that reads it. A candidate MODEL at VERSION may be promoted in an environment only when that environment's
results table holds an evaluation of it on the golden set's *current* version, and no metric of that evaluation
differs by more than max_difference (nor was recorded as not passed). Anything else exits EXIT_NOT_PROMOTABLE
with the numbers. The comparison is the model team's; this only makes it impossible to skip.

The golden set's current version, read with the real clients (imported here only):

- a Cloud Storage prefix: the newest object generation under it (google-cloud-storage `list_blobs`, objects.list;
  a generation is a new number each time an object is written, so any added or replaced object makes a new
  version), shown `gs://BUCKET/PREFIX/@GENERATION`;
- a BigQuery table: its lastModifiedTime in ms (google-cloud-bigquery `get_table`, tables.get), `TABLE@MS`.

The evaluations: one query (google-cloud-bigquery `query_and_wait`, REST jobs.query) with named parameters, never
values pasted into SQL. Tests point both clients at local servers: STORAGE_EMULATOR_HOST (the storage client's own)
and TIERSTACK_BIGQUERY_API_ENDPOINT (generator/analysis/data_sources_check.py), with anonymous credentials.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tierstack.generator.analysis.data_sources_check import BIGQUERY_ENDPOINT_ENV
from tierstack.generator.core.errors import UserError

QUERY = (
    "SELECT golden_set_version, metric, difference, passed, evaluated_at FROM `{table}` "
    "WHERE model = @model AND model_version = @model_version ORDER BY evaluated_at DESC"
)
READ_HINT = (
    "the identity the check runs as (the environment's CI service account in the deploy workflow) needs "
    "roles/bigquery.jobUser on the project, read on the results table (the stack grants ci roles/bigquery.dataViewer "
    "on its dataset) and read on the golden set (the stack grants it to ci)"
)


@dataclass(frozen=True)
class Gate:
    """What one environment's promotion is checked against (modules/golden_set.py record())."""

    environment: str
    project: str
    golden: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.golden["name"])

    @property
    def max_difference(self) -> float:
        return float(self.golden["max_difference"])

    @property
    def results_table(self) -> str:
        return str(self.golden["results_table"])


@dataclass(frozen=True)
class Evaluation:
    golden_set_version: str
    metric: str
    difference: float
    passed: bool
    evaluated_at: datetime | None


@dataclass(frozen=True)
class Verdict:
    promotable: bool
    lines: tuple[str, ...]


def gate_for(resolved: Any, environment: str | None) -> Gate:
    """The gate of `environment` (default: the last in promotion order, where promotion ships); a UserError
    when the config declares no golden set or names no such environment."""
    from tierstack.modules.golden_set import GoldenSetSettings, record

    spec = resolved.loaded.spec
    if spec.golden_set is None:
        raise UserError(
            "this config declares no golden set: there is nothing to check a candidate against",
            file=resolved.loaded.path,
            field="golden_set",
            hint="declare one (golden_set: {uri: gs://BUCKET/PREFIX/, max_difference: 0.02}; docs/golden-sets.md)",
        )
    names = list(resolved.environments)
    name = environment or names[-1]
    if name not in names:
        raise UserError(
            f"'{name}' is not an environment of this config",
            field="--env",
            hint="one of " + ", ".join(names),
        )
    env = resolved.environments[name]
    settings = GoldenSetSettings.model_validate((env.settings.get("capabilities") or {}).get("golden_set") or {})
    return Gate(name, env.project, record(settings, spec.name, env.project))


def current_version(gate: Gate, credentials: Any = None) -> str:
    """The golden set's version now: the newest object generation under the prefix, or the table's
    lastModifiedTime (ms). A golden set that is missing or empty is a UserError: nothing can pass it."""
    from google.api_core import exceptions

    golden = gate.golden
    try:
        if golden["kind"] == "table":
            table = _bigquery(str(golden["project"]), credentials).get_table(gate.name)
            modified: datetime | None = table.modified
            if modified is None:
                raise _missing(gate, "BigQuery gives no lastModifiedTime for it")
            return str(int(modified.timestamp() * 1000))
        blobs = _storage(credentials).list_blobs(
            str(golden["bucket"]), prefix=str(golden["prefix"]), fields="items(generation),nextPageToken"
        )
        generations = [int(blob.generation) for blob in blobs if blob.generation is not None]
    except exceptions.NotFound:
        raise _missing(gate, "it does not exist") from None
    except exceptions.GoogleAPICallError as exc:
        raise _unreadable(f"the golden set {gate.name}", exc) from None
    if not generations:
        raise _missing(gate, "no object under the prefix")
    return str(max(generations))


def evaluations(gate: Gate, model: str, version: str, credentials: Any = None) -> list[Evaluation]:
    """Every evaluation of MODEL at VERSION the results table holds, newest first."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    client = _bigquery(gate.project, credentials)
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("model", "STRING", model),
            bigquery.ScalarQueryParameter("model_version", "STRING", version),
        ]
    )
    try:
        rows = client.query_and_wait(QUERY.format(table=gate.results_table), job_config=config, project=gate.project)
        return [
            Evaluation(
                str(row["golden_set_version"]),
                str(row["metric"]),
                float(row["difference"]),
                bool(row["passed"]),
                row["evaluated_at"],
            )
            for row in rows
        ]
    except exceptions.NotFound:
        raise UserError(
            f"the results table {gate.results_table} does not exist",
            hint=f"apply the {gate.environment} stack first (tierstack apply --env {gate.environment}): the "
            "golden_set capability creates it",
        ) from None
    except exceptions.GoogleAPICallError as exc:
        raise _unreadable(f"the results table {gate.results_table}", exc) from None


def judge(gate: Gate, model: str, version: str, golden_version: str, found: list[Evaluation]) -> Verdict:
    """Promotable only with an evaluation on `golden_version` whose every metric (its newest row) is within
    max_difference and passed."""
    where = f"golden set {gate.name}@{golden_version}"
    candidate = f"{model} {version}"
    current: dict[str, Evaluation] = {}
    for evaluation in found:  # newest first: the first row of a metric is its latest evaluation
        if evaluation.golden_set_version == golden_version:
            current.setdefault(evaluation.metric, evaluation)
    if not current:
        older = sorted({e.golden_set_version for e in found})
        seen = f"; it was evaluated on other versions only: {', '.join(older)}" if older else ""
        return Verdict(
            False,
            (
                f"{candidate}: no evaluation on the current {where} in {gate.results_table}{seen}",
                "evaluate it on the golden set as it is now and record the result (one row per metric, "
                f"golden_set_version {golden_version}), then check again",
            ),
        )
    lines, promotable = [], True
    for metric, evaluation in sorted(current.items()):
        shown = f"difference {evaluation.difference:g}"
        if evaluation.difference > gate.max_difference:
            promotable = False
            lines.append(f"{metric}: {shown} > max_difference {gate.max_difference:g} on {where}")
        elif not evaluation.passed:
            promotable = False
            lines.append(f"{metric}: {shown} <= max_difference {gate.max_difference:g}, but recorded as not passed")
        else:
            lines.append(f"{metric}: {shown} <= max_difference {gate.max_difference:g}")
    verdict = "may be promoted" if promotable else "does not ship until the difference is understood"
    return Verdict(promotable, (f"{candidate} on {where}: {verdict}", *lines))


def check(gate: Gate, model: str, version: str, credentials: Any = None) -> Verdict:
    """The verdict on MODEL at VERSION: the golden set's version now, then the evaluations recorded on it."""
    with _signed_in():
        golden_version = current_version(gate, credentials)
        return judge(gate, model, version, golden_version, evaluations(gate, model, version, credentials))


def version(gate: Gate, credentials: Any = None) -> str:
    """The golden set's current version, for `tierstack golden-set version`."""
    with _signed_in():
        return current_version(gate, credentials)


@contextmanager
def _signed_in() -> Iterator[None]:
    """No Application Default Credentials is the user's to fix: say how, exit 2."""
    from google.auth import exceptions as auth

    try:
        yield
    except auth.DefaultCredentialsError:
        raise UserError(
            "no Google credentials to read the golden set and its results table with",
            hint="run `gcloud auth application-default login` (in CI: sign in as the environment's deployer "
            "first, google-github-actions/auth)",
        ) from None


# --- the clients ------------------------------------------------------------------------------------


def _bigquery(project: str, credentials: Any) -> Any:
    from google.cloud import bigquery

    endpoint = os.environ.get(BIGQUERY_ENDPOINT_ENV) or None
    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        return bigquery.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": endpoint},
        )
    return bigquery.Client(project=project, credentials=credentials)


def _storage(credentials: Any) -> Any:
    import importlib

    storage = importlib.import_module("google.cloud.storage")  # no py.typed in its wheel: Any here
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return storage.Client()  # the emulator: anonymous, the client's own switch
    return storage.Client(credentials=credentials, project="_")


def _missing(gate: Gate, why: str) -> UserError:
    return UserError(
        f"the golden set {gate.name} cannot be read: {why}; nothing can be evaluated on it",
        hint="its owners put the golden set in place first (docs/golden-sets.md)",
    )


def _unreadable(what: str, exc: Any) -> UserError:
    return UserError(
        f"could not read {what}: {getattr(exc, 'code', '')} {getattr(exc, 'message', exc)}".replace("  ", " "),
        hint=READ_HINT,
    )
