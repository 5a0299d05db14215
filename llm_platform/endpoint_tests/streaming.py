"""One streamed request, read incrementally and checked, within a whole-stream deadline."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from pydantic import BaseModel

from llm_platform.endpoint_tests.checks import Api, StreamCheck, stream_head_problem
from llm_platform.endpoint_tests.transport import RequestFailed, Transport
from llm_platform.serving.sse import SseError, SseParser


class StreamOutcome(BaseModel):
    """What one streamed request showed.

    ``ttft_ms`` is the time from sending the request to the first event with content (None
    when none came); ``duration_ms`` covers the whole exchange up to ``[DONE]`` or the failure.
    """

    problem: str | None
    ttft_ms: float | None
    duration_ms: float
    events: int
    content_chunks: int
    text: str


def generation_body(api: Api, model: str, prompt: str, *, max_tokens: int, stream: bool) -> bytes:
    """The JSON body of a deterministic (temperature 0) request to ``api``."""
    payload: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "temperature": 0.0}
    if api is Api.CHAT:
        payload["messages"] = [{"role": "user", "content": prompt}]
    else:
        payload["prompt"] = prompt
    if stream:
        payload["stream"] = True
    return json.dumps(payload).encode()


async def stream_request(
    transport: Transport, api: Api, body: bytes, *, deadline_s: float
) -> StreamOutcome:
    """POST a streaming ``body`` to ``api`` and check the event stream as it arrives.

    Reading stops at the end of the body or at the first problem (error event, bad chunk,
    wrong status or content type). The body is read to its end after ``data: [DONE]`` too: a
    client that hung up earlier would look like a cancelled stream to a gateway counting
    failures, and the connection stays reusable. The whole exchange, headers included, must
    end within ``deadline_s``: a server that stalls mid-stream is cut off there.

    Returns:
        The outcome; ``problem`` is None only for a complete, valid stream with content.
    """
    check = StreamCheck(api)
    ttft_ms: float | None = None
    t0 = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - t0) * 1000.0

    problem: str | None
    try:
        async with asyncio.timeout(deadline_s):
            async with transport.stream(api.value, body) as response:
                error_body = await response.head() if response.status != 200 else b""
                problem = stream_head_problem(response.status, response.content_type, error_body)
                if problem is None:
                    parser = SseParser()
                    async for chunk in response.chunks():
                        for event in parser.feed(chunk):
                            if check.add(event) and ttft_ms is None:
                                ttft_ms = elapsed_ms()
                        if check.problem is not None:
                            break
                    problem = check.end_problem()
    except TimeoutError:
        problem = (
            f"stream did not finish within {deadline_s:g} s ({check.events} events, "
            f"{check.content_chunks} with content"
            + (f", first content after {ttft_ms:.0f} ms)" if ttft_ms is not None else ")")
        )
    except RequestFailed as exc:
        problem = str(exc) + (f" (after {check.events} events)" if check.events else "")
    except SseError as exc:
        problem = f"not an event stream: {exc}"
    return StreamOutcome(
        problem=problem,
        ttft_ms=ttft_ms,
        duration_ms=elapsed_ms(),
        events=check.events,
        content_chunks=check.content_chunks,
        text=check.text,
    )
