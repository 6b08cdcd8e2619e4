"""A local stand-in of the GitHub REST API endpoints the workflows' github-script bodies call, on 127.0.0.1.

Shapes as docs.github.com/rest documents them: issue comments, labels and events, a commit's pull requests,
a collaborator's permission, an environment's protection rules, a workflow's runs. Every request is
recorded, so a test can say what a script asked and what it changed.
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BOT = {"login": "github-actions[bot]", "type": "Bot"}
# GitHub refuses an issue comment over 65,536 characters with a 422 of this shape, as its API answered
# Octokit in danger/danger#424 (resource IssueComment, code custom, field body) and PyGithub in
# jmikedupont2/ai-ticket#51 (the documentation_url)
COMMENT_LIMIT = 65_536
TOO_LONG = {
    "message": "Validation Failed",
    "errors": [
        {
            "resource": "IssueComment",
            "code": "custom",
            "field": "body",
            "message": f"body is too long (maximum is {COMMENT_LIMIT} characters)",
        }
    ],
    "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
}


@dataclass
class GitHubState:
    comments: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[dict[str, Any]] = field(default_factory=list)  # the pull requests of every commit
    labels: list[str] = field(default_factory=list)  # of the one pull request the tests use
    events: list[dict[str, Any]] = field(default_factory=list)  # its issue events
    permissions: dict[str, str] = field(default_factory=dict)  # login -> admin | write | read | none
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> the environment
    runs: list[dict[str, Any]] = field(default_factory=list)  # workflow runs: workflow, head_sha, event, ...
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1000  # comment ids, never reused after a delete


class GitHubStandIn:
    def __init__(self, pulls: list[int] | None = None, **state: Any) -> None:
        self.state = GitHubState(**state)
        for number in pulls or []:
            self.state.pulls.append({"number": number, "state": "closed", "merged_at": None})
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                stand_in.state.requests.append((method, url.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                status, answer = stand_in.route(
                    method, [unquote(p) for p in url.path.strip("/").split("/")], parse_qs(url.query), body
                )
                self._answer(status, answer)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_PATCH(self) -> None:
                self._route("PATCH")

            def do_DELETE(self) -> None:
                self._route("DELETE")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # the stand-in's state, by the names the tests use
    @property
    def comments(self) -> list[dict[str, Any]]:
        return self.state.comments

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.state.requests

    def route(self, method: str, parts: list[str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        s = self.state
        if method == "GET" and parts[-1] == "pulls" and parts[-3] == "commits":
            return 200, s.pulls
        if method in ("POST", "PATCH") and "comments" in parts and len(body.get("body", "")) > COMMENT_LIMIT:
            return 422, TOO_LONG
        if parts[-1] == "comments" and parts[-3] == "issues":
            if method == "GET":
                return 200, [c for c in s.comments if c["issue"] == int(parts[-2])]
            s.next_id += 1
            comment = {"id": s.next_id, "issue": int(parts[-2]), "body": body["body"], "user": BOT}
            s.comments.append(comment)
            return 201, comment
        if method in ("PATCH", "DELETE") and parts[-2] == "comments":
            for comment in s.comments:
                if comment["id"] == int(parts[-1]):
                    if method == "DELETE":
                        s.comments.remove(comment)
                        return 204, None
                    comment["body"] = body["body"]
                    return 200, comment
            return 404, {"message": "Not Found"}
        if parts[-3] == "issues" and parts[-1] == "labels" and method == "GET":
            return 200, [{"name": name} for name in s.labels]
        if parts[-4] == "issues" and parts[-2] == "labels" and method == "DELETE":
            if parts[-1] not in s.labels:
                return 404, {"message": "Label does not exist"}
            s.labels.remove(parts[-1])
            return 200, [{"name": name} for name in s.labels]
        if parts[-1] == "events" and parts[-3] == "issues" and method == "GET":
            return 200, s.events
        if parts[-1] == "permission" and parts[-3] == "collaborators":
            permission = s.permissions.get(parts[-2], "none")
            return 200, {"permission": permission, "user": {"login": parts[-2]}}
        if parts[-2] == "environments" and method == "GET":
            if parts[-1] not in s.environments:
                return 404, {"message": "Not Found"}
            return 200, {"name": parts[-1], **s.environments[parts[-1]]}
        if parts[-1] == "runs" and parts[-3] == "workflows" and method == "GET":
            runs = [
                r
                for r in s.runs
                if r["workflow"] == parts[-2]
                and all(str(r.get(key)) == values[0] for key, values in query.items() if key in ("event", "head_sha"))
            ]
            return 200, {"total_count": len(runs), "workflow_runs": runs}
        return 404, {"message": "Not Found"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
