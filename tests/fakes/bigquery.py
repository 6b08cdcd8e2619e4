"""A FAKE of BigQuery's REST API v2, for tests: tables.get only, on 127.0.0.1.

It answers `GET /bigquery/v2/projects/{projectId}/datasets/{datasetId}/tables/{tableId}` (what
google-cloud-bigquery's `Client.get_table` sends, with `?prettyPrint=false`) with a Table resource, or
BigQuery's error body. It is not BigQuery: no queries, no writes, no other method, no IAM.

The shapes, read 2026-12-07:
- the Table resource: BigQuery REST reference, "REST Resource: tables" (kind "bigquery#table", etag, id
  "PROJECT:DATASET.TABLE", selfLink, tableReference {projectId, datasetId, tableId}, schema.fields, numBytes,
  numLongTermBytes, numRows, creationTime and lastModifiedTime as int64 strings of milliseconds since the epoch,
  type "TABLE", location), and a tables.get response as published (gist sakama/d3725cc0..., "BigQuery API
  Tables:get"); "Method: tables.get": the default view (STORAGE_STATS) includes numRows, numBytes and
  lastModifiedTime;
- errors: Google's JSON error body as BigQuery v2 writes it, {"error": {"code", "message", "errors":
  [{"message", "domain": "global", "reason"}], "status"}}, with "Not found: Table PROJECT:DATASET.TABLE" /
  "Not found: Dataset PROJECT:DATASET" (reason notFound, status NOT_FOUND) and 403 accessDenied
  (status PERMISSION_DENIED).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

TABLE_PATH = re.compile(r"^/bigquery/v2/projects/([^/]+)/datasets/([^/]+)/tables/([^/]+)$")


def table_resource(project: str, dataset: str, table: str, modified_ms: int) -> dict[str, Any]:
    """A Table resource as tables.get returns it (the default view), last modified at `modified_ms`."""
    return {
        "kind": "bigquery#table",
        "etag": "kH9bd0rF3yTqZg8C0Ejm2w==",
        "id": f"{project}:{dataset}.{table}",
        "selfLink": f"https://bigquery.googleapis.com/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}",
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": table},
        "schema": {
            "fields": [
                {"name": "order_id", "type": "STRING", "mode": "REQUIRED"},
                {"name": "amount", "type": "NUMERIC", "mode": "NULLABLE"},
            ]
        },
        "numBytes": "2048",
        "numLongTermBytes": "0",
        "numRows": "12",
        "creationTime": str(modified_ms - 86_400_000),
        "lastModifiedTime": str(modified_ms),
        "type": "TABLE",
        "location": "US",
    }


def error(code: int, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status,
        }
    }


class FakeBigQuery:
    """fake = FakeBigQuery().start(); fake.tables["p.d.t"] = modified_ms; ... fake.url; fake.stop()."""

    def __init__(self) -> None:
        self.tables: dict[str, int] = {}  # "project.dataset.table" -> lastModifiedTime, ms
        self.refuse: set[str] = set()  # projects whose every call answers 403
        self.requests: list[str] = []  # the paths asked for, query included
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeBigQuery:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                code, body = fake.answer(urlparse(self.path).path)
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        match = TABLE_PATH.match(path)
        if match is None:
            return 404, error(404, "NOT_FOUND", "notFound", f"Not found: URL {path}")
        project, dataset, table = match.groups()
        if project in self.refuse:
            message = (
                f"Access Denied: Table {project}:{dataset}.{table}: Permission bigquery.tables.get denied on table "
                f"{project}:{dataset}.{table} (or it may not exist)."
            )
            return 403, error(403, "PERMISSION_DENIED", "accessDenied", message)
        if not any(name.startswith(f"{project}.{dataset}.") for name in self.tables):
            return 404, error(404, "NOT_FOUND", "notFound", f"Not found: Dataset {project}:{dataset}")
        modified = self.tables.get(f"{project}.{dataset}.{table}")
        if modified is None:
            return 404, error(404, "NOT_FOUND", "notFound", f"Not found: Table {project}:{dataset}.{table}")
        return 200, table_resource(project, dataset, table, modified)
