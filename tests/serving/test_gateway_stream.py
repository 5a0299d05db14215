"""The gateway relays ``stream: true`` as Server-Sent Events: chunk by chunk, paced by the
client, cancelled upstream when the client leaves, and measured (TTFT, TPOT, tokens, failures).

A real gateway process in front of real loopback SSE servers (tests/helpers/sse_fixtures.py).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.serving.metrics import (
    OUTPUT_TOKENS_TOTAL,
    REQUESTS_FAILED_TOTAL,
    REQUESTS_TOTAL,
    TIME_PER_OUTPUT_TOKEN,
    TIME_TO_FIRST_TOKEN,
)
from tests.helpers.serving_fixtures import Proc, start_gateway, write_routes
from tests.helpers.sse_fixtures import FLOOD_EVENTS, FLOOD_PIECE, Mode, SseServer

MODEL = "m"


class Stack:
    """One gateway routing ``m`` to one SSE server; the server's mode changes per test."""

    def __init__(self, tmp: Path, server: SseServer, gateway: Proc, url: str) -> None:
        self.tmp, self.server, self.gateway, self.url = tmp, server, gateway, url

    def metric(self, name: str, suffix: str = "") -> float:
        text = httpx.get(self.url + "/metrics").text
        total = 0.0
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == name + suffix and s.labels["model"] == MODEL:
                    total += s.value
        return total


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[Stack]:
    server = SseServer(first_token_delay_s=0.3, pieces=("Hel", "lo", " world"))
    rev = {"revision": "r1", "version": "1", "color": "blue", "url": server.url, "weight": 100}
    write_routes(tmp_path / "routes.json", {MODEL: [rev]})
    gateway, url = start_gateway(
        tmp_path / "routes.json", tmp_path, extra=["--upstream-timeout", "1.5"]
    )
    yield Stack(tmp_path, server, gateway, url)
    gateway.stop()
    server.close()


def _stream(
    url: str, path: str, body: dict[str, object]
) -> tuple[httpx.Response, list[tuple[float, str]]]:
    """POST a streaming request; (response, [(seconds since sent, data line)])."""
    t0 = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with httpx.stream("POST", url + path, json=body, timeout=10) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                lines.append((time.perf_counter() - t0, line[5:].strip()))
    return r, lines


def _counts(stack: Stack, expected: tuple[float, float]) -> tuple[float, float]:
    """(requests, failed), polled until ``expected`` or 5 s: a stream is recorded when the
    upstream's body ends, which may be just after the client read ``[DONE]``."""
    deadline = time.monotonic() + 5
    while True:
        counts = stack.metric(REQUESTS_TOTAL), stack.metric(REQUESTS_FAILED_TOTAL)
        if counts == expected or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
def test_stream_is_relayed_event_by_event_and_measured(stack: Stack, path: str) -> None:
    chat = path.endswith("chat/completions")
    body: dict[str, object] = (
        {"messages": [{"role": "user", "content": "hi"}], "stream": True}
        if chat
        else {"prompt": "hi", "stream": True}
    )
    stack.server.first_token_delay_s = 1.0  # far above scheduling noise on a loaded machine
    ttft_before = stack.metric(TIME_TO_FIRST_TOKEN, "_count")
    r, lines = _stream(stack.url, f"/{MODEL}{path}", body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-llm-revision"] == "r1"
    assert lines[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in lines[:-1]]
    key = (
        (lambda c: c["choices"][0]["delta"].get("content"))
        if chat
        else (lambda c: c["choices"][0]["text"])
    )
    assert "".join(key(c) or "" for c in chunks) == "Hello world"
    # Not buffered: the role/empty chunk arrives before the engine's 1 s pause, the first
    # content after it.
    assert lines[1][0] - lines[0][0] >= 0.6, lines
    # The engine was asked for usage; the model came from the path.
    sent = stack.server.streamed(path)[-1]
    assert sent["stream_options"] == {"include_usage": True} and sent["model"] == MODEL
    assert stack.metric(TIME_TO_FIRST_TOKEN, "_count") == ttft_before + 1
    assert stack.metric(TIME_TO_FIRST_TOKEN, "_sum") >= 1.0
    assert _counts(stack, (1.0, 0.0)) == (1.0, 0.0)


def test_token_metrics_and_a_client_that_asked_for_no_usage_keeps_its_options(
    stack: Stack,
) -> None:
    body = {"prompt": "hi", "stream": True, "stream_options": {"include_usage": False}}
    r, lines = _stream(stack.url, f"/{MODEL}/v1/completions", body)
    assert r.status_code == 200 and lines[-1][1] == "[DONE]"
    assert stack.server.streamed("/v1/completions")[-1]["stream_options"] == {
        "include_usage": False
    }
    # No usage chunk: the three content chunks are counted; two gaps between them.
    assert stack.metric(OUTPUT_TOKENS_TOTAL) == 3.0
    assert stack.metric(TIME_PER_OUTPUT_TOKEN, "_count") == 2.0
    assert stack.metric(TIME_TO_FIRST_TOKEN, "_count") == 1.0


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        (Mode.CUT, "stream_cut"),
        (Mode.NO_DONE, "stream_cut"),
        (Mode.STALL, "stream_cut"),
        (Mode.ERROR_EVENT, None),
        (Mode.LLAMA_ERROR, None),
    ],
)
def test_broken_streams_count_as_failed(stack: Stack, mode: Mode, code: str | None) -> None:
    stack.server.mode = mode
    t0 = time.monotonic()
    r, lines = _stream(stack.url, f"/{MODEL}/v1/completions", {"prompt": "hi", "stream": True})
    assert r.status_code == 200
    assert time.monotonic() - t0 < 5  # a stall ends at the gateway's idle timeout (1.5 s)
    if code is not None:  # the gateway tells the client why the stream ended
        assert json.loads(lines[-1][1])["error"]["code"] == code, lines
    assert _counts(stack, (1.0, 1.0)) == (1.0, 1.0)


def test_a_client_that_disconnects_cancels_the_upstream(stack: Stack) -> None:
    stack.server.mode = Mode.DRIP  # a content chunk every 0.2 s for a minute
    with httpx.stream(
        "POST", f"{stack.url}/{MODEL}/v1/completions", json={"prompt": "hi", "stream": True}
    ) as r:
        for line in r.iter_lines():
            if '"Hel"' in line:
                break
    deadline = time.monotonic() + 5
    while stack.server.aborted == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.server.aborted == 1  # the upstream's next write found the connection closed
    # Counted as a request, not as a server failure: the client chose to leave.
    assert _counts(stack, (1.0, 0.0)) == (1.0, 0.0)


def test_a_slow_client_slows_the_upstream_instead_of_filling_memory(stack: Stack) -> None:
    stack.server.mode = Mode.FLOOD
    total = FLOOD_EVENTS * (FLOOD_PIECE + 100)
    port = int(stack.url.rsplit(":", 1)[1])
    body = b'{"prompt":"hi","stream":true}'
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(
            b"POST /m/v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        time.sleep(2.0)  # the client reads nothing
        stalled_at = stack.server.sent_bytes
        assert stalled_at < total / 2, (stalled_at, total)
        received = 0
        sock.settimeout(10)
        tail = b""
        while not tail.endswith(b"0\r\n\r\n"):
            data = sock.recv(1 << 20)
            assert data, "connection closed before the end of the stream"
            received += len(data)
            tail = (tail + data)[-64:]
    assert stack.server.sent_bytes > total * 0.99
    assert received > total
    assert _counts(stack, (1.0, 0.0)) == (1.0, 0.0)


def test_a_stream_ends_at_done_whatever_the_upstream_does_next(stack: Stack) -> None:
    # llama-cpp-python interrupts a stream when another request waits: "[DONE]", then a hang-up
    # without the body's last chunk. Here the upstream never ends its body after "[DONE]".
    stack.server.mode = Mode.DONE_THEN_STALL
    r, lines = _stream(stack.url, f"/{MODEL}/v1/completions", {"prompt": "hi", "stream": True})
    # Waiting for the body's end would have hit the idle timeout (1.5 s): an error event after
    # "[DONE]" and a failure.
    assert r.status_code == 200 and lines[-1][1] == "[DONE]"
    assert _counts(stack, (1.0, 0.0)) == (1.0, 0.0)
