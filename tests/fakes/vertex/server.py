"""A FAKE of the Vertex AI API v1 (REST), for tests: a local HTTP server on 127.0.0.1.

It serves the GET methods `tierstack verify` calls, with the response shapes in shapes/ (README.md
says where each came from): get and list of endpoints, deployment resource pools, metadata stores,
persistent resources and feature online stores, the google.rpc.Status errors for a missing resource,
a missing project (403 CONSUMER_INVALID, as Google APIs answer it), a permission denied, a disabled API
and a quota hit (429 RESOURCE_EXHAUSTED), and list pagination (pageSize, pageToken, nextPageToken).
Resource names carry the project *number*, as the real API's do.

It is not Vertex AI: no writes, no filters, no validation of what a test puts in it.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

SHAPES = Path(__file__).resolve().parent / "shapes"
COLLECTIONS = {  # collection -> (shape file, the resource's name in NOT_FOUND messages, IAM permission prefix)
    "endpoints": ("endpoint", "Endpoint", "aiplatform.endpoints"),
    "deploymentResourcePools": (
        "deployment_resource_pool",
        "DeploymentResourcePool",
        "aiplatform.deploymentResourcePools",
    ),
    "metadataStores": ("metadata_store", "MetadataStore", "aiplatform.metadataStores"),
    "persistentResources": ("persistent_resource", "PersistentResource", "aiplatform.persistentResources"),
    "featureOnlineStores": ("feature_online_store", "FeatureOnlineStore", "aiplatform.featureOnlineStores"),
}


def shape(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded response shape."""
    data: dict[str, Any] = json.loads((SHAPES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _error(which: str, **values: str) -> tuple[int, dict[str, Any]]:
    text = (SHAPES / f"{which}.json").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    body = json.loads(text)
    return int(body["error"]["code"]), body


class FakeVertex:
    """fake = FakeVertex(); fake.start(); ... fake.url; fake.stop(). Resources by full name."""

    def __init__(self, latency: float = 0.0, page_size: int = 2) -> None:
        self.latency = latency
        self.page_size = page_size
        self.projects: dict[str, str] = {}  # project id -> number
        self._numbers = 0
        self.refuse: dict[str, str] = {}  # project id -> "forbidden" | "disabled" | "quota"
        self.resources: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- the world -------------------------------------------------------------------------------

    def project(self, project_id: str) -> str:
        """The project's number (made up once, stable)."""
        if project_id not in self.projects:
            self._numbers += 1
            self.projects[project_id] = str(100000000000 + self._numbers * 7919)
        return self.projects[project_id]

    def name(self, project_id: str, region: str, collection: str, resource_id: str) -> str:
        return f"projects/{self.project(project_id)}/locations/{region}/{collection}/{resource_id}"

    def put(
        self, project_id: str, region: str, collection: str, resource_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        name = self.name(project_id, region, collection, resource_id)
        body = copy.deepcopy(body)
        body["name"] = name
        self.resources[name] = body
        return body

    def get(self, project_id: str, region: str, collection: str, resource_id: str) -> dict[str, Any]:
        return self.resources[self.name(project_id, region, collection, resource_id)]

    def delete(self, project_id: str, region: str, collection: str, resource_id: str) -> None:
        del self.resources[self.name(project_id, region, collection, resource_id)]

    # --- serving ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeVertex:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with fake._lock:
                    fake._in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
                    fake.requests.append(self.path)
                try:
                    if fake.latency:
                        time.sleep(fake.latency)
                    status, body = fake.answer(self.path)
                finally:
                    with fake._lock:
                        fake._in_flight -= 1
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        url = urlparse(path)
        parts = url.path.strip("/").split("/")
        # v1/projects/{p}/locations/{l}/{collection}[/{id}]
        if len(parts) not in (6, 7) or parts[0] != "v1" or parts[1] != "projects" or parts[3] != "locations":
            return 404, {
                "error": {"code": 404, "message": f"no such method in the fake: {url.path}", "status": "NOT_FOUND"}
            }
        project, region, collection = parts[2], parts[4], parts[5]
        if collection not in COLLECTIONS:
            return 404, {
                "error": {"code": 404, "message": f"collection {collection} is not faked", "status": "NOT_FOUND"}
            }
        project_id = next((pid for pid, number in self.projects.items() if project in (pid, number)), None)
        _, title, permission = COLLECTIONS[collection]
        resource = f"projects/{project}/locations/{region}" + (f"/{collection}/{parts[6]}" if len(parts) == 7 else "")
        if project_id is None:
            return _error("error_project_not_found", project=project)
        if self.refuse.get(project_id) == "disabled":
            return _error("error_service_disabled", project=self.projects[project_id])
        if self.refuse.get(project_id) == "quota":
            return _error("error_quota_exceeded", number=self.projects[project_id], region=region)
        if self.refuse.get(project_id) == "forbidden":
            verb = "get" if len(parts) == 7 else "list"
            return _error("error_permission_denied", permission=f"{permission}.{verb}", resource=resource)
        number = self.projects[project_id]
        if len(parts) == 7:
            name = f"projects/{number}/locations/{region}/{collection}/{parts[6]}"
            if name not in self.resources:
                return _error("error_not_found", kind=title, name=name)
            return 200, self.resources[name]
        prefix = f"projects/{number}/locations/{region}/{collection}/"
        items = [body for name, body in sorted(self.resources.items()) if name.startswith(prefix)]
        query = parse_qs(url.query)
        size = int(query.get("pageSize", [self.page_size])[0] or self.page_size)
        start = int(query.get("pageToken", ["0"])[0] or 0)
        page: dict[str, Any] = {}
        if items[start : start + size]:  # proto3 JSON leaves an empty list out
            page[collection] = items[start : start + size]
        if start + size < len(items):
            page["nextPageToken"] = str(start + size)
        return 200, page
