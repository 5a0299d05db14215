"""Relaying a streamed completion from an engine to a client, measuring it on the way.

The gateway forwards the engine's Server-Sent Events bytes unchanged, as they arrive, and
reads a copy of them with :class:`StreamMeter`: the first content token's arrival is the time
to first token, the gaps between content tokens are the time per output token, the final
``usage`` chunk (asked for with ``stream_options.include_usage``) gives the token counts
(else the content chunks are counted), and the stream succeeded only if it ended with
``data: [DONE]`` and carried no error event. A stream that breaks off, stalls past the idle
timeout or is cut by an injected fault gets an OpenAI error event so that the client sees why
it ended, and counts as failed.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from llm_platform.serving.httpclient import UpstreamError
from llm_platform.serving.metrics import Usage
from llm_platform.serving.openai_stream import DONE
from llm_platform.serving.sse import SseError, SseParser
from llm_platform.serving.streams import StreamedResponse


def error_event(message: str, code: str) -> bytes:
    """An OpenAI-shaped error as one SSE event."""
    obj = {"error": {"message": message, "type": "upstream_error", "code": code}}
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _content(obj: dict[str, Any]) -> bool:
    """Whether a completion or chat chunk carries generated text."""
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    first = choices[0]
    text = first.get("text")
    if text is None:
        delta = first.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else None
    return isinstance(text, str) and text != ""


class StreamMeter:
    """What one stream carried, read incrementally from its bytes.

    Args:
        start: ``time.perf_counter()`` when the request arrived.
        on_first_token: called with the seconds to the first content token.
        on_token_gap: called with each gap between content tokens (seconds); when one read
            brings several tokens, the time since the previous one is spread evenly over them.
    """

    def __init__(
        self,
        start: float,
        on_first_token: Callable[[float], None],
        on_token_gap: Callable[[float], None],
    ) -> None:
        self.start = start
        self._on_first_token = on_first_token
        self._on_token_gap = on_token_gap
        self._parser = SseParser()
        self.content_chunks = 0
        self.usage: Usage | None = None
        self.done = False
        self.problem: str | None = None
        self._last: float | None = None

    def feed(self, data: bytes, now: float) -> int:
        """Read received bytes; return how many content tokens they completed."""
        try:
            events = self._parser.feed(data)
        except SseError as exc:
            self.fail(f"unreadable event stream: {exc}")
            return 0
        tokens = 0
        for event in events:
            if event.event == "error":
                self.fail(f"error event: {event.data[:200]}")
                continue
            if event.data.strip() == DONE:
                self.done = True
                continue
            try:
                obj = json.loads(event.data)
            except ValueError:
                continue  # not ours to judge: the client sees the same bytes
            if not isinstance(obj, dict):
                continue
            if obj.get("error"):
                self.fail(f"error event: {event.data[:200]}")
            if _content(obj):
                tokens += 1
            usage = obj.get("usage")
            if isinstance(usage, dict):
                self.usage = _usage(usage) or self.usage
        if tokens:
            self._tokens(tokens, now)
        return tokens

    def _tokens(self, n: int, now: float) -> None:
        self.content_chunks += n
        if self._last is None:
            self._on_first_token(now - self.start)
            n, gap = n - 1, 0.0  # tokens that came with the first one: no gap
        else:
            gap = (now - self._last) / n
        for _ in range(n):
            self._on_token_gap(gap)
        self._last = now

    def fail(self, problem: str) -> None:
        """Record why the stream failed (the first reason wins)."""
        if self.problem is None:
            self.problem = problem

    def error_event(self, message: str, code: str) -> bytes:
        """An error event to send after the bytes seen so far (which may end mid-event: that
        event is ended first, so the error stays an event of its own)."""
        return (b"\n\n" if self._parser.pending else b"") + error_event(message, code)

    @property
    def finished(self) -> bool:
        """The stream reached an end of its own: ``[DONE]`` or a failure."""
        return self.done or self.problem is not None

    def tokens(self) -> Usage:
        """Token counts: the engine's usage, else the content chunks (prompt unknown: 0)."""
        return self.usage or Usage(0, self.content_chunks)


def _usage(usage: dict[str, Any]) -> Usage | None:
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if type(prompt) is not int or type(completion) is not int or min(prompt, completion) < 0:
        return None
    return Usage(prompt, completion)


_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def _events(data: bytes) -> list[bytes]:
    """``data`` split after each event's blank line (the last piece may be a partial event)."""
    pieces, start = [], 0
    for m in _EVENT_END.finditer(data):
        pieces.append(data[start : m.end()])
        start = m.end()
    if start < len(data):
        pieces.append(data[start:])
    return pieces


class RelayBody:
    """The body the server writes: the upstream's bytes as they arrive.

    However the stream ends — to its end, by an upstream failure, or closed early because the
    client went away, even before its first byte — the upstream connection is released (closed
    unless the body was complete) and ``on_end`` is called exactly once.
    """

    def __init__(self, upstream: StreamedResponse, meter: StreamMeter, **options: Any) -> None:
        self._upstream = upstream
        self._meter = meter
        self._on_end: Callable[[StreamMeter, float], None] | None = options.pop("on_end")
        self._gen = _relay(upstream, meter, finish=self._finish, **options)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._gen

    async def aclose(self) -> None:
        """Stop relaying: the upstream request is abandoned (its connection closed)."""
        try:
            await self._gen.aclose()
        finally:
            self._finish()

    def _finish(self) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            self._upstream.release()
            on_end(self._meter, time.perf_counter() - self._meter.start)


def _broke_off(meter: StreamMeter, exc: Exception) -> bytes:
    """Fail a stream whose upstream broke off or fell silent; the error event to send."""
    meter.fail(f"stream cut: {exc}")
    return meter.error_event(f"the model server's stream broke off: {exc}", "stream_cut")


async def _relay(
    upstream: StreamedResponse,
    meter: StreamMeter,
    *,
    idle_timeout_s: float,
    stall_s: float,
    cut: bool,
    finish: Callable[[], None],
) -> AsyncGenerator[bytes, None]:
    """Yield the upstream body as it arrives, metering it; ``finish`` when it ends.

    Args:
        upstream: the engine's streamed response (status 200, an event stream).
        meter: reads the stream's events.
        idle_timeout_s: longest silence of the upstream before the stream counts as cut.
        stall_s: pause after the first content token (an injected fault; 0: none); a pause
            of ``idle_timeout_s`` or more fails the stream exactly as a silent engine does.
        cut: cut this stream after its first content token (an injected fault, drawn by the
            caller).
        finish: releases the upstream and records the stream (a client that went away leaves
            ``meter.finished`` False).
    """
    faulted = cut or stall_s > 0  # until the first content token has been relayed
    try:
        while True:
            try:
                data = await upstream.body.read(idle_timeout_s)
            except (UpstreamError, TimeoutError) as exc:
                yield _broke_off(meter, exc)
                return
            if not data:
                break
            if not faulted:
                meter.feed(data, time.perf_counter())
                yield data
                if meter.done:
                    return  # the stream is complete: what the upstream does next is not ours
                continue
            # Event by event, so that the fault strikes right after the first content token.
            for piece in _events(data):
                if not (meter.feed(piece, time.perf_counter()) and faulted):
                    yield piece
                    continue
                faulted = False
                if cut:
                    meter.fail("stream cut by an injected fault")
                    yield piece + meter.error_event("injected fault: stream cut", "injected_fault")
                    return
                yield piece
                if stall_s >= idle_timeout_s:  # ended by the idle timeout, as a stalled engine
                    await asyncio.sleep(idle_timeout_s)
                    stalled = TimeoutError(f"no data for {idle_timeout_s:g} s (injected stall)")
                    yield _broke_off(meter, stalled)
                    return
                await asyncio.sleep(stall_s)
            if meter.done:
                return
        if not meter.done:
            meter.fail("stream ended without data: [DONE]")
            yield meter.error_event("the model server's stream ended early", "stream_cut")
    finally:
        finish()
