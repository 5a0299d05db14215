"""OpenAI's streamed completion format: the Server-Sent Events a model server writes.

A completion stream is ``text_completion`` chunks carrying ``choices[0].text``; a chat stream is
``chat.completion.chunk`` chunks carrying ``choices[0].delta`` (the role first, then content).
The last choice chunk has the ``finish_reason``; with ``stream_options.include_usage`` a final
chunk with ``choices: []`` carries ``usage``; ``data: [DONE]`` ends the stream.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

#: Headers of an event-stream response.
EVENT_STREAM_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
#: The data of the event that ends an OpenAI stream.
DONE = "[DONE]"
DONE_EVENT = f"data: {DONE}\n\n".encode()


class StreamOptions(BaseModel):
    """``stream_options`` of a request."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


def event(obj: dict[str, Any]) -> bytes:
    """One ``data:`` event."""
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def stream_events(
    *,
    chat: bool,
    model: str,
    pieces: Iterable[str],
    finish_reason: str,
    usage: dict[str, int] | None,
) -> Iterator[bytes]:
    """The events of one streamed completion, one content piece per event.

    Args:
        chat: chat chunks (``delta``) rather than completion chunks (``text``).
        model: the model named in every chunk.
        pieces: the generated text, in the pieces to send.
        finish_reason: why generation stopped (on the last choice chunk).
        usage: token counts for a final usage chunk (None: no usage chunk).
    """
    kind = "chat.completion.chunk" if chat else "text_completion"
    head = {
        "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
    }

    def choice(content: str | None, finish: str | None, role: bool = False) -> dict[str, Any]:
        if chat:
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            if content is not None:
                delta["content"] = content
            body: dict[str, Any] = {"delta": delta}
        else:
            body = {"text": content or "", "logprobs": None}
        return {**head, "choices": [{"index": 0, **body, "finish_reason": finish}]}

    if chat:
        yield event(choice("", None, role=True))
    for piece in pieces:
        yield event(choice(piece, None))
    yield event(choice(None, finish_reason))
    if usage is not None:
        yield event({**head, "choices": [], "usage": usage})
    yield DONE_EVENT
