"""A local HTTP server on 127.0.0.1 answering like Slack's incoming webhooks, one secret path per
webhook, recording every message it receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from tests.helpers.loopback_http import LoopbackServer, QuietHandler


@dataclass
class SlackServer:
    """Received messages as (path, body); ``url(name)`` is a webhook URL with a secret path."""

    server: ThreadingHTTPServer
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: What the server answers (a test may make it fail, or echo a secret back).
    status: int = 200
    reply: str = "ok"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.secret_path(name)}"

    @staticmethod
    def secret_path(name: str) -> str:
        return f"/services/T0{name.upper()}/B0SECRET/{name}SecretToken42"

    def texts(self, name: str) -> list[str]:
        """The ``text`` of every message posted to webhook ``name``."""
        return [body["text"] for path, body in self.received if path == self.secret_path(name)]


@pytest.fixture()
def slack_server() -> Iterator[SlackServer]:
    state: SlackServer

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            length = int(self.headers.get("Content-Length", "0"))
            state.received.append((self.path, json.loads(self.rfile.read(length))))
            self.reply(state.status, state.reply.encode(), {"Content-Type": "text/plain"})

    with LoopbackServer(Handler) as loopback:
        state = SlackServer(server=loopback.server)
        yield state
