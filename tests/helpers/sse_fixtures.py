"""A real loopback HTTP/1.1 server speaking OpenAI completions and chat, streamed as
Server-Sent Events (chunked transfer encoding, one flush per event) — and misbehaving on demand.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.helpers.serving_fixtures import completion_body

#: How long a stalled handler waits before giving up on its own (close() releases it earlier).
STALL_LIMIT_S = 60.0


class Mode(StrEnum):
    """How the server's streams behave (non-streaming answers are valid except ``EMPTY_CHAT``)."""

    GOOD = "good"
    STALL = "stall"  # one content chunk, then nothing (connection kept open)
    STALL_HEAD = "stall-head"  # the request is read, no status line ever comes
    DRIP = "drip"  # a content chunk every 0.2 s, far longer than any test deadline
    ERROR_EVENT = "error-event"  # a content chunk, then data: {"error": ...}, then [DONE]
    LLAMA_ERROR = "llama-error"  # llama.cpp's style: an "error: {json}" line
    NO_DONE = "no-done"  # content, then the body ends properly but without [DONE]
    DONE_THEN_STALL = "done-then-stall"  # a good stream whose body never ends after [DONE]
    CUT = "cut"  # content, then the connection closes inside a chunk
    WRONG_CONTENT_TYPE = "wrong-content-type"  # a good event stream labelled application/json
    NO_CONTENT = "no-content"  # only empty text / delta chunks, then [DONE]
    EMPTY_CHAT = "empty-chat"  # chat answers (streamed or not) have empty content
    FLOOD = "flood"  # FLOOD_EVENTS content chunks of FLOOD_PIECE bytes as fast as possible


#: A flood's size: 48 MiB, far beyond what socket buffers on the way can hold.
FLOOD_EVENTS = 768
FLOOD_PIECE = 64 * 1024


def chat_body(content: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "length",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    ).encode()


def _chunk(chat: bool, piece: str | None, *, role: bool = False) -> dict[str, Any]:
    if chat:
        delta: dict[str, Any] = {"role": "assistant"} if role else {}
        if piece is not None:
            delta["content"] = piece
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
        return {"id": "c1", "object": "chat.completion.chunk", "created": 0, "choices": [choice]}
    choice = {"index": 0, "text": piece or "", "finish_reason": None, "logprobs": None}
    return {"id": "c1", "object": "text_completion", "created": 0, "choices": [choice]}


class SseServer:
    """Serves ``/health``, ``/v1/completions`` and ``/v1/chat/completions`` on 127.0.0.1.

    A stream starts at once with a chunk without content (the role for chat, empty text for
    completions), waits ``first_token_delay_s``, then sends ``pieces`` — so a client that timed
    the first byte instead of the first content would measure about zero.

    Args:
        mode: how streams misbehave.
        first_token_delay_s: pause before the first content chunk.
        pieces: the generated text, one chunk each.
    """

    def __init__(
        self,
        mode: Mode = Mode.GOOD,
        *,
        first_token_delay_s: float = 0.0,
        pieces: tuple[str, ...] = ("Hel", "lo", " world"),
    ) -> None:
        self.mode = mode
        self.first_token_delay_s = first_token_delay_s
        self.pieces = pieces
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.connections = 0
        self.sent_bytes = 0  # of stream events written (FLOOD counts them)
        self.aborted = 0  # streams whose client hung up before the end
        self._release = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # each event leaves at once: TTFT is measurable

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with outer._lock:
                    outer.connections += 1

            def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self._reply(200, b'{"status": "ok"}')

            def do_POST(self) -> None:  # noqa: N802
                payload = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with outer._lock:
                    outer.requests.append((self.path, payload))
                if self.path not in ("/v1/completions", "/v1/chat/completions"):
                    self._reply(404, b'{"error": {"message": "no such route"}}')
                    return
                chat = self.path == "/v1/chat/completions"
                if payload.get("stream"):
                    try:
                        outer._stream(self, chat)
                    except (BrokenPipeError, ConnectionResetError):
                        with outer._lock:
                            outer.aborted += 1
                        raise
                elif chat:
                    empty = outer.mode is Mode.EMPTY_CHAT
                    self._reply(200, chat_body("" if empty else "".join(outer.pieces)))
                else:
                    self._reply(200, completion_body("".join(outer.pieces)))

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _stream(self, h: BaseHTTPRequestHandler, chat: bool) -> None:
        mode = self.mode
        if mode is Mode.STALL_HEAD:
            self._release.wait(STALL_LIMIT_S)
            return
        events = [_chunk(chat, None if chat else "", role=True)]
        empty = mode is Mode.NO_CONTENT or (chat and mode is Mode.EMPTY_CHAT)
        pieces = [_chunk(chat, "" if empty else p) for p in self.pieces]
        if mode is Mode.WRONG_CONTENT_TYPE:
            body = b"".join(_event(e) for e in [*events, *pieces]) + b"data: [DONE]\n\n"
            h.send_response(200)
            h.send_header("content-type", "application/json")
            h.send_header("content-length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        h.send_response(200)
        h.send_header("content-type", "text/event-stream; charset=utf-8")
        h.send_header("cache-control", "no-cache")
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()

        def send(data: bytes) -> None:
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()

        send(b": keep-alive comment\n\n" + _event(events[0]))
        time.sleep(self.first_token_delay_s)
        send(_event(pieces[0]))
        if mode is Mode.FLOOD:
            flood = _event(_chunk(chat, "x" * FLOOD_PIECE))
            for _ in range(FLOOD_EVENTS):
                send(flood)
                with self._lock:
                    self.sent_bytes += len(flood)
        if mode is Mode.STALL:
            self._release.wait(STALL_LIMIT_S)
            return
        if mode is Mode.DRIP:
            for _ in range(int(STALL_LIMIT_S / 0.2)):
                if self._release.wait(0.2):
                    return
                send(_event(pieces[0]))
            return
        if mode is Mode.CUT:
            h.close_connection = True
            h.wfile.write(b'400\r\ndata: {"cho')  # declares 1024 bytes, sends 11, closes
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode is Mode.ERROR_EVENT:
            send(_event({"error": {"message": "CUDA out of memory", "type": "server_error"}}))
        if mode is Mode.LLAMA_ERROR:
            send(b'error: {"code": 500, "message": "llama_decode failed"}\n\n')
        for event in pieces[1:]:
            send(_event(event))
        if mode is not Mode.NO_DONE:
            send(b"data: [DONE]\n\n")
        if mode is Mode.DONE_THEN_STALL:
            self._release.wait(STALL_LIMIT_S)
            return
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    def streamed(self, path: str) -> list[dict[str, Any]]:
        """The bodies of the streaming requests received on ``path``."""
        with self._lock:
            return [b for p, b in self.requests if p == path and b.get("stream") is True]

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up after ``[DONE]`` (or at their deadline) are normal here."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def read_completion_stream(
    response: httpx.Response, start: float
) -> tuple[int, bool, float | None]:
    """Read a streamed completion to its end: (content events, ended with ``[DONE]``, seconds
    from ``start`` (a ``time.perf_counter()`` reading) to the first content event)."""
    first, events, done = None, 0, False
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            continue
        choices = json.loads(data).get("choices") or [{}]
        if choices[0].get("text"):
            events += 1
            first = first if first is not None else time.perf_counter() - start
    return events, done, first
