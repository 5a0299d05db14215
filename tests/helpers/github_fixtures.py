"""A local HTTP server that answers the commit-status endpoint like the GitHub REST API.

Bound to 127.0.0.1 on a free port; records every request; can be told to answer the next N
requests with an error status first (for retry tests). Only the status endpoint exists: any
other path is a 404, as an unknown route is on GitHub.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.helpers.loopback_http import QuietHandler

_STATUS_PATH = re.compile(
    r"^(?P<prefix>.*)/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/statuses/(?P<sha>[0-9a-f]{7,40})$"
)


@dataclass
class Recorded:
    """One request the server saw."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    answered: int


@dataclass
class FakeGitHub:
    """State of the fake API (thread-safe enough: one lock around every change)."""

    token: str
    prefix: str = ""  # "/api/v3" for a GitHub Enterprise Server
    fail_next: list[int] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def api_url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def statuses(self) -> list[dict[str, Any]]:
        """Bodies of the statuses that were created (answered 201), in order."""
        with self.lock:
            return [r.body | {"path": r.path} for r in self.requests if r.answered == 201]

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(QuietHandler):
            def _answer(self, code: int, payload: dict[str, Any]) -> None:
                json_type = {"Content-Type": "application/json; charset=utf-8"}
                self.reply(code, json.dumps(payload).encode(), json_type)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b"{}"
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                code, payload = self._decide(body)
                with fake.lock:
                    fake.requests.append(
                        Recorded(
                            "POST",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            code,
                        )
                    )
                self._answer(code, payload)

            def _decide(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                match = _STATUS_PATH.match(self.path)
                if match is None or match.group("prefix") != fake.prefix:
                    return 404, {"message": "Not Found"}
                if self.headers.get("Authorization") != f"token {fake.token}":
                    return 401, {"message": "Bad credentials"}
                with fake.lock:
                    if fake.fail_next:
                        return fake.fail_next.pop(0), {"message": "Server Error"}
                if body.get("state") not in {"pending", "success", "failure", "error"}:
                    return 422, {"message": "Validation Failed"}
                if len(str(body.get("description") or "")) > 140:
                    return 422, {"message": "description is too long (maximum is 140)"}
                return 201, {
                    "id": len(fake.requests) + 1,
                    "url": f"{fake.api_url}{self.path}",
                    "state": body["state"],
                    "description": body.get("description"),
                    "target_url": body.get("target_url"),
                    "context": body.get("context", "default"),
                    "created_at": "2026-01-01T00:00:00Z",
                    "updated_at": "2026-01-01T00:00:00Z",
                }

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)
