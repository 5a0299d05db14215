"""Incremental Server-Sent Events parsing, as OpenAI-compatible LLM servers stream them.

Bytes are fed as they arrive (a chunk may end anywhere, even inside a line or a UTF-8
character) and complete events come out, following the WHATWG event-stream rules: lines end
with CRLF, LF or CR; ``:`` starts a comment; ``data`` lines of one event are joined with LF; an
empty line dispatches the event.
"""

from __future__ import annotations

import re
from typing import NamedTuple

#: Longest line or event accepted; a server streaming a line without end is refused, not buffered.
MAX_EVENT_BYTES = 1 << 20

_LINE_END = re.compile(rb"\r\n|\n|\r")


class SseError(ValueError):
    """The byte stream is not a usable event stream (a line or event over the size limit)."""


class SseEvent(NamedTuple):
    """One dispatched event: its ``event`` name (``""`` when unnamed) and joined ``data``."""

    event: str
    data: str


class SseParser:
    """Turns the bytes of an event stream into :class:`SseEvent` values, incrementally.

    One non-standard field is understood: llama.cpp's server reports a failure inside a stream
    as an ``error: {json}`` line rather than a ``data:`` line; it becomes an event named
    ``error`` so that the failure is seen instead of silently ignored as an unknown field.

    Args:
        max_event_bytes: size limit of one line and of one event's data.
    """

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._buf = b""
        self._event = ""
        self._data: list[str] = []
        self._data_bytes = 0

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Add received bytes; return the events they completed (possibly none).

        Raises:
            SseError: a line or an event's data exceeds ``max_event_bytes``.
        """
        self._buf += chunk
        events: list[SseEvent] = []
        start = 0
        for m in _LINE_END.finditer(self._buf):
            if m.group() == b"\r" and m.end() == len(self._buf):
                break  # a CR at the very end may be the first half of a CRLF: wait for more
            event = self._line(self._buf[start : m.start()])
            if event is not None:
                events.append(event)
            start = m.end()
        self._buf = self._buf[start:]
        if len(self._buf) > self._max:
            raise SseError(f"an event-stream line is longer than {self._max} bytes")
        return events

    @property
    def pending(self) -> bool:
        """True when bytes or data lines are buffered that no empty line has dispatched yet."""
        return bool(self._buf or self._data)

    def _line(self, raw: bytes) -> SseEvent | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data" or name == "error":
            if name == "error":
                self._event = "error"
            self._data_bytes += len(raw)
            if self._data_bytes > self._max:
                raise SseError(f"an event's data is longer than {self._max} bytes")
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None  # id, retry and unknown fields do not matter to a completion stream

    def _dispatch(self) -> SseEvent | None:
        event = SseEvent(self._event, "\n".join(self._data)) if self._data else None
        self._event, self._data, self._data_bytes = "", [], 0
        return event
