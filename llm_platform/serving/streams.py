"""Bodies that flow through the gateway as they arrive, with back-pressure both ways.

:class:`BodyStream` is the upstream side: the client's connection pushes body bytes in as the
socket delivers them and the consumer pulls them out; past ``high_water`` buffered bytes the
upstream socket stops being read (TCP then slows the engine) until the consumer catches up.
:class:`StreamingResponse` is what a handler returns to have the server write a body piece by
piece with chunked transfer encoding; the server waits whenever the client's socket buffer is
full (``pause_writing``) before asking the body for more, so a slow client slows the upstream
instead of filling the gateway's memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple, Protocol

#: Buffered upstream bytes above which the upstream socket is no longer read.
HIGH_WATER = 64 * 1024


class _Reader(Protocol):
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class BodyStream:
    """Body bytes of one upstream response, handed over as they arrive.

    Args:
        transport: the upstream connection's transport (paused while the buffer is full).
        high_water: buffered bytes above which reading pauses (resumes below a quarter of it).
    """

    def __init__(self, transport: _Reader, *, high_water: int = HIGH_WATER) -> None:
        self._transport = transport
        self._high = high_water
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._paused = False
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # producer side (the connection's protocol callbacks)
    def push(self, data: bytes) -> None:
        """Append received body bytes."""
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self._high and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def finish(self) -> None:
        """The body ended as framed (Content-Length reached, last chunk, or EOF framing)."""
        self._done = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        """The body cannot complete (connection lost, malformed framing)."""
        if not self._done and self._error is None:
            self._error = exc
            self._wake()

    @property
    def complete(self) -> bool:
        """True once the whole body was received."""
        return self._done

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # consumer side
    async def read(self, timeout_s: float) -> bytes:
        """All bytes buffered so far, waiting up to ``timeout_s`` for some; b"" at the end.

        Raises:
            UpstreamError: the body broke off before its end.
            TimeoutError: nothing arrived within ``timeout_s``.
        """
        while not self._chunks:
            if self._done:
                return b""
            if self._error is not None:
                raise self._error
            loop = asyncio.get_running_loop()
            self._waiter = waiter = loop.create_future()
            timer = loop.call_later(timeout_s, _expire, waiter, timeout_s)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        return data


def _expire(waiter: asyncio.Future[None], timeout_s: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"upstream sent nothing for {timeout_s:g} s"))


class StreamBody(Protocol):
    """An async iterator of body pieces that can be closed before its end."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


class StreamingResponse(NamedTuple):
    """A response whose body is written as the iterator yields it (chunked encoding).

    The server closes ``body`` (``aclose``) when it stops early, e.g. because the client went
    away, so that the iterator's cleanup releases what it holds (the upstream connection).
    """

    status: int
    headers: list[tuple[bytes, bytes]]
    body: StreamBody


class StreamedResponse:
    """A response whose body is still arriving: status, header pairs, the body as a stream."""

    __slots__ = ("status", "headers", "body", "_release")

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: BodyStream,
        release: Callable[[], None],
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        """Give the connection back (reused only after a complete body); idempotent."""
        release, self._release = self._release, None
        if release is not None:
            release()
