"""A FAKE of BigQuery's REST API v2 that also answers queries (jobs.query), for tests, on 127.0.0.1.

It extends tests/fakes/bigquery.py (tables.get) with `POST /bigquery/v2/projects/{projectId}/queries`, what
google-cloud-bigquery's `Client.query_and_wait` sends when the job config uses only QueryRequest fields. It runs
one shape of query, the one a gate reads results with, over rows a test puts in:

    SELECT col, ... FROM `PROJECT.DATASET.TABLE` WHERE col = @param [AND col = @param ...]
    [ORDER BY col [ASC|DESC]]

with named parameters only. Anything else is BigQuery's 400 invalidQuery; a table it does not hold is 404
notFound. It is not BigQuery: no SQL beyond that, no jobs.insert, no paging (every answer is one page with
jobComplete true), no IAM.

The shapes, read 2026-12-07:
- the request: BigQuery REST reference "Method: jobs.query" (QueryRequest: query, useLegacySql, parameterMode
  NAMED, queryParameters [{name, parameterType {type}, parameterValue {value}}], formatOptions, requestId);
  the client's _job_helpers._to_query_request (3.30: useLegacySql false by default, formatOptions
  useInt64Timestamp true) and _supported_by_jobs_query (the QueryRequest allow-list);
- the response: QueryResponse (kind "bigquery#queryResponse", schema {fields}, jobReference {projectId, jobId,
  location}, totalRows as an int64 string, rows [{"f": [{"v": ...}]}] with every value a string, jobComplete,
  cacheHit), as the generated API models document it (e.g. GoogleApi.BigQuery.V2.Model.QueryResponse); with
  useInt64Timestamp a TIMESTAMP is microseconds since the epoch as an int64 string (googleapis/python-bigquery
  issue 395), BOOL "true"/"false", FLOAT64 its decimal text;
- errors: Google's JSON error body as in tests/fakes/bigquery.py.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from fakes.bigquery import FakeBigQuery, error

QUERIES_PATH = re.compile(r"^/bigquery/v2/projects/([^/]+)/queries$")
SELECT = re.compile(
    r"^SELECT (?P<columns>[a-z_]+(?:, [a-z_]+)*) FROM `(?P<table>[^`]+)`"
    r"(?: WHERE (?P<where>[a-z_]+ = @[a-z_]+(?: AND [a-z_]+ = @[a-z_]+)*))?"
    r"(?: ORDER BY (?P<order>[a-z_]+)(?: (?P<direction>ASC|DESC))?)?$"
)


def cell(value: Any, kind: str) -> str | None:
    """A value as jobs.query writes it in a row: always a string (or null)."""
    if value is None:
        return None
    if kind in ("BOOL", "BOOLEAN"):
        return "true" if value else "false"
    if kind == "TIMESTAMP":  # formatOptions.useInt64Timestamp: microseconds since the epoch
        assert isinstance(value, datetime), "a TIMESTAMP cell is a datetime"
        return str(int(value.timestamp() * 1_000_000))
    return str(value)


class FakeBigQueryQueries(FakeBigQuery):
    """fake = FakeBigQueryQueries().start(); fake.put("p.d.t", schema, rows); ...; fake.queries; fake.stop()."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}  # table -> (schema, rows)
        self.queries: list[dict[str, Any]] = []  # the QueryRequest bodies received

    def put(self, table: str, schema: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
        self.rows[table] = (schema, rows)

    def start(self) -> FakeBigQueryQueries:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                self._send(*fake.answer(urlparse(self.path).path))

            def do_POST(self) -> None:
                fake.requests.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self._send(*fake.query(urlparse(self.path).path, body))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def query(self, path: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        match = QUERIES_PATH.match(path)
        if match is None:
            return 404, error(404, "NOT_FOUND", "notFound", f"Not found: URL {path}")
        project = match.group(1)
        self.queries.append(request)
        if project in self.refuse:
            message = f"Access Denied: Project {project}: User does not have bigquery.jobs.create permission"
            return 403, error(403, "PERMISSION_DENIED", "accessDenied", message)
        if request.get("useLegacySql", True) is not False:
            return 400, error(400, "INVALID_ARGUMENT", "invalidQuery", "this fake runs standard SQL only")
        parsed = SELECT.match(" ".join(str(request.get("query", "")).split()))
        if parsed is None:
            return 400, error(400, "INVALID_ARGUMENT", "invalidQuery", f"Syntax error: {request.get('query')!r}")
        parameters = {
            p["name"]: p["parameterValue"]["value"]
            for p in request.get("queryParameters") or []
            if request.get("parameterMode") == "NAMED"
        }
        conditions = [c.split(" = @") for c in (parsed["where"] or "").split(" AND ") if c]
        unknown = [name for _, name in conditions if name not in parameters]
        if unknown:
            message = f"Query parameter '{unknown[0]}' not found"
            return 400, error(400, "INVALID_ARGUMENT", "invalidQuery", message)
        table = parsed["table"]
        if table not in self.rows:
            table_project, dataset, name = [*table.split("."), "", "", ""][:3]
            message = f"Not found: Table {table_project}:{dataset}.{name} was not found in location US"
            return 404, error(404, "NOT_FOUND", "notFound", message)
        schema, rows = self.rows[table]
        types = {field["name"]: field["type"] for field in schema}
        columns = parsed["columns"].split(", ")
        missing = [c for c in [*columns, *(c for c, _ in conditions)] if c not in types]
        if missing:
            return 400, error(400, "INVALID_ARGUMENT", "invalidQuery", f"Unrecognized name: {missing[0]}")
        chosen = [r for r in rows if all(cell(r.get(c), types[c]) == parameters[p] for c, p in conditions)]
        if parsed["order"]:
            chosen.sort(key=lambda r: r[parsed["order"]], reverse=parsed["direction"] == "DESC")
        return 200, {
            "kind": "bigquery#queryResponse",
            "schema": {"fields": [field for name in columns for field in schema if field["name"] == name]},
            "jobReference": {"projectId": project, "jobId": f"job_{uuid.uuid4().hex}", "location": "US"},
            "totalRows": str(len(chosen)),
            "rows": [{"f": [{"v": cell(r.get(c), types[c])} for c in columns]} for r in chosen],
            "totalBytesProcessed": "0",
            "jobComplete": True,
            "cacheHit": False,
        }
