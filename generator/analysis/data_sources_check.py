"""`tierstack verify`'s check of the declared data sources: each one exists and changed within its max_staleness.

The sources are read from each synthesized stack (the data_sources capability records them in cdk.tf.json
under `//.tierstack_data_sources`), like everything verify checks, so verify judges what was generated. Each
source is read once however many stacks declare it, with the real clients, imported only here:

- a BigQuery table with google-cloud-bigquery, `Client.get_table` (REST tables.get): `Table.modified`, the
  resource's `lastModifiedTime` (ms since the epoch, as a string); NotFound: missing;
- a Cloud Storage prefix with google-cloud-storage, `Client.list_blobs(prefix=...)` (objects.list), only the
  `updated` of each object and the page token asked for: the newest `updated`; no object, or no bucket: missing.

What is found goes into verify's report as findings: `missing` (the source is gone, or the prefix is empty) and
`differs` on max_staleness (it exists and has not changed for longer). A source verify may not read (403, no
network) stops the run with one message, as verify's other access problems do (exit 2).

For tests: TIERSTACK_BIGQUERY_API_ENDPOINT=http://127.0.0.1:PORT sends the BigQuery calls there with anonymous
credentials (tests/fakes/bigquery.py), and STORAGE_EMULATOR_HOST does the same for Cloud Storage (the client's own).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tierstack.generator.core.errors import UserError

BIGQUERY_ENDPOINT_ENV = "TIERSTACK_BIGQUERY_API_ENDPOINT"
RECORD = "tierstack_data_sources"  # the key under "//" in cdk.tf.json (modules/data_sources.py)
TIMEOUT = 30  # seconds a request may take, as verify's Vertex AI reads
MAX_OBJECTS = 50_000  # as the stacks' check workflow: a prefix holding more is too large to judge
READ_HINT = (
    "the identity verify runs as needs roles/bigquery.metadataViewer on each declared table and "
    "roles/storage.objectViewer on each declared prefix (or its bucket)"
)


@dataclass(frozen=True)
class SourceState:
    """One source as read back: its problem (None: fresh), why, and how old its newest change is."""

    name: str
    kind: str  # table or prefix
    max_staleness: str
    problem: str | None  # missing, stale, too_large
    detail: str
    age_seconds: int | None


def recorded(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """The data sources a synthesized stack records (none without the data_sources capability)."""
    found = (stack.get("//") or {}).get(RECORD) or []
    return [s for s in found if isinstance(s, dict) and s.get("kind") in ("table", "prefix")]


class SourceReader:
    """Reads each source once, with one BigQuery and one Cloud Storage client (made on first use)."""

    def __init__(self, credentials: Any = None, now: Callable[[], float] = time.time) -> None:
        self._credentials = credentials
        self._now = now
        self._bigquery: Any = None
        self._storage: Any = None
        self._seen: dict[str, SourceState] = {}
        self.requests = 0

    def state(self, source: dict[str, Any]) -> SourceState:
        name = str(source["name"])
        if name not in self._seen:
            read = self._table(source) if source["kind"] == "table" else self._prefix(source)
            self._seen[name] = self._judge(source, read)
        return self._seen[name]

    def _judge(self, source: dict[str, Any], read: float | tuple[str, str]) -> SourceState:
        """A read's result: the newest change (seconds since the epoch), or (problem, detail)."""
        name, kind, staleness = str(source["name"]), str(source["kind"]), str(source["max_staleness"])
        if isinstance(read, tuple):
            return SourceState(name, kind, staleness, read[0], read[1], None)
        age = int(self._now() - read)
        stale = age > int(source["max_staleness_seconds"])
        return SourceState(name, kind, staleness, "stale" if stale else None, f"last changed {_age(age)} ago", age)

    # --- the reads --------------------------------------------------------------------------------

    def _table(self, source: dict[str, Any]) -> float | tuple[str, str]:
        from google.api_core import exceptions

        client = self._bigquery_client(str(source["project"]))
        self.requests += 1
        try:
            table = client.get_table(
                f"{source['project']}.{source['dataset']}.{source['table']}", retry=_retry(), timeout=TIMEOUT
            )
        except exceptions.NotFound as exc:  # BigQuery says which: "Not found: Dataset p:d" or "... Table p:d.t"
            gone = "dataset" if "not found: dataset" in str(exc.message).lower() else "table"
            return ("missing", f"no such {gone}")
        except exceptions.GoogleAPICallError as exc:
            raise _unreadable(source, exc) from None
        except Exception as exc:
            raise _unreached(source, exc) from None
        modified: datetime | None = table.modified
        if modified is None:  # a table always has one; a view or an external table may not say
            return ("missing", "BigQuery gives no lastModifiedTime for it")
        return modified.timestamp()

    def _prefix(self, source: dict[str, Any]) -> float | tuple[str, str]:
        from google.api_core import exceptions

        client = self._storage_client()
        newest: float | None = None
        self.requests += 1
        try:
            blobs = client.list_blobs(
                str(source["bucket"]),
                prefix=str(source["prefix"]),
                fields="items(updated),nextPageToken",
                retry=_retry(),
                timeout=TIMEOUT,
            )
            for count, blob in enumerate(blobs, start=1):
                if count > MAX_OBJECTS:
                    return ("too_large", f"more than {MAX_OBJECTS} objects under the prefix: declare a narrower one")
                if blob.updated is not None:
                    stamp = blob.updated.timestamp()
                    newest = stamp if newest is None else max(newest, stamp)
        except exceptions.NotFound:
            return ("missing", "no such bucket")
        except exceptions.GoogleAPICallError as exc:
            raise _unreadable(source, exc) from None
        except Exception as exc:
            raise _unreached(source, exc) from None
        return ("missing", "no object under the prefix") if newest is None else newest

    def _bigquery_client(self, project: str) -> Any:
        if self._bigquery is None:
            # google-cloud-bigquery comes with google-cloud-aiplatform (its dependency), which verify needs anyway
            from google.cloud import bigquery

            endpoint = os.environ.get(BIGQUERY_ENDPOINT_ENV) or None
            if endpoint:
                from google.auth.credentials import AnonymousCredentials

                self._bigquery = bigquery.Client(
                    project=project,
                    credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                    client_options={"api_endpoint": endpoint},
                )
            else:
                self._bigquery = bigquery.Client(project=project, credentials=self._credentials)
        return self._bigquery

    def _storage_client(self) -> Any:
        if self._storage is None:
            import importlib

            storage = importlib.import_module("google.cloud.storage")  # no py.typed in its wheel: Any here
            if os.environ.get("STORAGE_EMULATOR_HOST"):
                self._storage = storage.Client()  # the emulator: anonymous, the client's own switch
            else:
                self._storage = storage.Client(credentials=self._credentials, project="_")
        return self._storage


def _age(seconds: int) -> str:
    """`3d 4h`, `5h`, `12m`: how long ago, to the minute."""
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    return f"{hours}h" if hours else f"{rest // 60}m"


def _retry() -> Any:
    """Retry what Google asks to be retried (429, 500, 502, 503), for a minute at most. The clients' own
    default also retries a connection that fails, for up to ten minutes: verify without a network hung."""
    from google.api_core import exceptions
    from google.api_core.retry import Retry, if_exception_type

    transient = (
        exceptions.TooManyRequests,
        exceptions.InternalServerError,
        exceptions.BadGateway,
        exceptions.ServiceUnavailable,
    )
    return Retry(predicate=if_exception_type(*transient), deadline=60)


def _unreached(source: dict[str, Any], exc: Exception) -> Exception:
    """A source verify could not reach (no network, no name resolution, no credentials) is the user's to
    fix, with one message; anything else stays a bug."""
    from google.auth import exceptions as auth_exceptions

    from tierstack.generator.analysis.verify.live import ADC_HINT, NETWORK_HINT, _first_line, _unreachable

    if _unreachable(exc):
        return UserError(
            f"verify could not reach the data source {source['name']}: {_first_line(exc)}", hint=NETWORK_HINT
        )
    if isinstance(exc, auth_exceptions.GoogleAuthError):
        return UserError(
            f"no usable Google Cloud credentials to read {source['name']}: {_first_line(exc)}", hint=ADC_HINT
        )
    return exc


def _unreadable(source: dict[str, Any], exc: Any) -> UserError:
    return UserError(
        f"verify could not read the data source {source['name']}: {getattr(exc, 'code', '')} "
        f"{getattr(exc, 'message', exc)}".replace("  ", " "),
        hint=READ_HINT,
    )


def findings(stack: str, sources: Sequence[dict[str, Any]], reader: SourceReader) -> list[dict[str, Any]]:
    """verify's findings for one stack's sources, as Finding's fields: missing and stale ones only."""
    out = []
    for source in sources:
        state = reader.state(source)
        resource = f"data source {state.name}"
        if state.problem == "stale":
            out.append(
                {
                    "stack": stack,
                    "kind": "differs",
                    "resource": resource,
                    "message": f"stale: {state.detail}, more than its max_staleness of {state.max_staleness}",
                    "field": "max_staleness",
                    "expected": state.max_staleness,
                    "actual": _age(state.age_seconds or 0),
                }
            )
        elif state.problem is not None:
            out.append({"stack": stack, "kind": "missing", "resource": resource, "message": state.detail})
    return out


def checked(sources: Sequence[dict[str, Any]], reader: SourceReader) -> list[str]:
    """The sources read back and fresh, for verify's `read back:` line."""
    return [f"data source {s['name']}" for s in sources if reader.state(s).problem is None]
