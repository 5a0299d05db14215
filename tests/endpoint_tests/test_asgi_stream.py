"""The streaming tests against an ASGI stack like llama-cpp-python's server: a Starlette
``StreamingResponse`` behind uvicorn, events separated by CRLF as sse-starlette writes them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from llm_platform.endpoint_tests import run_suite
from llm_platform.targets.local.processes import free_port

STALL = threading.Event()  # set: the next streams stop after their first token


def _chunk(chat: bool, piece: str) -> bytes:
    if chat:
        choice: dict[str, object] = {"index": 0, "delta": {"content": piece}}
        obj: dict[str, object] = {"object": "chat.completion.chunk", "choices": [choice]}
    else:
        obj = {"object": "text_completion", "choices": [{"index": 0, "text": piece}]}
    return b"data: " + json.dumps(obj).encode() + b"\r\n\r\n"


async def _events(chat: bool) -> AsyncIterator[bytes]:
    for i, piece in enumerate(["Hi", " there", "!"]):
        yield _chunk(chat, piece)
        if i == 0 and STALL.is_set():
            await asyncio.sleep(3600)  # cancelled by uvicorn when the client hangs up
        await asyncio.sleep(0.01)
    yield b"data: [DONE]\r\n\r\n"


async def generate(request: Request) -> Response:
    body = await request.json()
    chat = request.url.path.endswith("/chat/completions")
    if body.get("stream"):
        return StreamingResponse(_events(chat), media_type="text/event-stream")
    if chat:
        message = {"role": "assistant", "content": "Hi there!"}
        return JSONResponse({"object": "chat.completion", "choices": [{"message": message}]})
    usage = {"completion_tokens": 3}
    return JSONResponse({"choices": [{"text": "Hi there!"}], "usage": usage})


async def models(_: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "asgi"}]})


@pytest.fixture(scope="module")
def asgi_url() -> Iterator[str]:
    app = Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/completions", generate, methods=["POST"]),
            Route("/v1/chat/completions", generate, methods=["POST"]),
        ]
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 20 s"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_uvicorn_streams_pass_and_a_stall_is_cut_off(asgi_url: str) -> None:
    kw: dict[str, object] = {"health_path": "/v1/models", "requests": 6, "concurrency": 3}
    report = run_suite(asgi_url, model="asgi", stream=True, chat=True, **kw)  # type: ignore[arg-type]
    assert report.passed, report.model_dump_json(indent=2)
    stream = {t.name: t for t in report.tests}["stream"]
    assert "3 content chunks" in stream.detail and "'Hi there!'" in stream.detail
    STALL.set()
    try:
        t0 = time.monotonic()
        stalled = run_suite(asgi_url, model="asgi", stream=True, timeout_s=1.0, **kw)  # type: ignore[arg-type]
        assert time.monotonic() - t0 < 10  # the stream test and 2 rounds of 3 load streams: 3 s
    finally:
        STALL.clear()
    failed = {t.name: t.detail for t in stalled.tests if not t.passed}
    assert set(failed) == {"stream", "load"}
    assert failed["stream"].startswith("stream did not finish within 1 s (1 events, 1 with")
