"""Pure checks of endpoint responses: is this a real, successful completion / health answer?"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from llm_platform.serving.openai_paths import CHAT_COMPLETIONS_PATH, COMPLETIONS_PATH
from llm_platform.serving.openai_stream import DONE
from llm_platform.serving.sse import SseEvent

HEALTHY_STATUSES = frozenset({"ok", "healthy", "ready", "up", "pass", "serving"})


class Api(StrEnum):
    """The two OpenAI generation APIs the suite tests; the value is the request path."""

    COMPLETIONS = COMPLETIONS_PATH
    CHAT = CHAT_COMPLETIONS_PATH

    @property
    def stream_object(self) -> str:
        """The ``object`` of this API's stream chunks."""
        return "text_completion" if self is Api.COMPLETIONS else "chat.completion.chunk"

    @property
    def content_field(self) -> str:
        """Where a stream chunk carries generated text (for messages)."""
        return "choices[0].text" if self is Api.COMPLETIONS else "choices[0].delta.content"


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", errors="replace")
    return text + ("…" if len(body) > limit else "")


def _ok_json_object(status: int, body: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The body of a successful JSON response as a dict, else None and why not.

    Checks status 200, a JSON object, and no ``error`` member (some servers report errors with
    status 200).
    """
    if status != 200:
        return None, f"HTTP {status}: {_snippet(body)}"
    try:
        data: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, f"response body is not JSON: {_snippet(body)!r}"
    if not isinstance(data, dict):
        return None, f"response body is JSON but not an object: {_snippet(body)}"
    if data.get("error"):
        return None, f"error body with status 200: {_snippet(body)}"
    return data, None


def completion_problem(status: int, body: bytes) -> str | None:
    """Why a ``/v1/completions`` response is not a successful completion, or None if it is.

    Checks: status 200; a JSON object; no ``error`` member (some servers report errors with
    status 200); ``object`` is ``text_completion`` when present; a non-empty ``choices`` list
    whose first element has a non-empty string ``text``; ``usage.completion_tokens`` > 0.
    """
    data, problem = _ok_json_object(status, body)
    if data is None:
        return problem
    if "object" in data and data["object"] != "text_completion":
        return f"object is {data['object']!r}, expected 'text_completion'"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        return "response has no choices"
    first = choices[0]
    if not isinstance(first, dict) or not isinstance(first.get("text"), str):
        return "choices[0].text is missing or not a string"
    if first["text"] == "":
        return "choices[0].text is empty"
    usage = data.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens <= 0:
        return f"usage.completion_tokens must be a positive integer, got {tokens!r}"
    return None


def chat_problem(status: int, body: bytes) -> str | None:
    """Why a ``/v1/chat/completions`` response is not a successful chat answer, or None.

    Checks: status 200; a JSON object without an ``error`` member; ``object`` is
    ``chat.completion`` when present; a non-empty string ``choices[0].message.content``.
    """
    data, problem = _ok_json_object(status, body)
    if data is None:
        return problem
    if "object" in data and data["object"] != "chat.completion":
        return f"object is {data['object']!r}, expected 'chat.completion'"
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "response has no choices"
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        return f"choices[0].message.content is missing or not a string: {content!r}"
    if content == "":
        return "choices[0].message.content is empty"
    return None


def stream_head_problem(status: int, content_type: str, body: bytes) -> str | None:
    """Why a streaming response's status and headers are wrong, or None.

    ``body`` is the start of the response body (for the message when the status is not 200).
    """
    if status != 200:
        return f"HTTP {status}: {_snippet(body)}"
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "text/event-stream":
        return f"content-type is {content_type or 'missing'!r}, expected 'text/event-stream'"
    return None


class StreamCheck:
    """Validates the events of one OpenAI stream as they arrive.

    A good stream has ``data: {json}`` events (JSON objects, no ``error`` member, the API's
    chunk ``object`` when one is named), at least one content chunk, and ends with
    ``data: [DONE]`` (an event after it is a problem). Feed events to :meth:`add` until the
    body ends or :attr:`problem` is set; then :meth:`end_problem` says what is missing.

    Args:
        api: which API's chunks to expect.
    """

    def __init__(self, api: Api) -> None:
        self.api = api
        self.events = 0
        self.content_chunks = 0
        self.text = ""
        self.done = False
        self.problem: str | None = None

    def add(self, event: SseEvent) -> bool:
        """Check one event; return True when it carried content (the first token is timed).

        Sets :attr:`problem` (and stops counting) on the first bad event.
        """
        if self.problem is not None:
            return False
        self.events += 1
        if self.done:
            self.problem = f"event {self.events} after 'data: {DONE}'"
            return False
        if event.event == "error":
            self.problem = f"error event: {_snippet(event.data.encode())}"
            return False
        if event.data.strip() == DONE:
            self.done = True
            return False
        try:
            data: Any = json.loads(event.data)
        except json.JSONDecodeError:
            self.problem = f"event {self.events} is not JSON: {_snippet(event.data.encode())!r}"
            return False
        if not isinstance(data, dict):
            self.problem = f"event {self.events} is JSON but not an object"
        elif data.get("error"):
            self.problem = f"error event: {_snippet(event.data.encode())}"
        elif "object" in data and data["object"] != self.api.stream_object:
            self.problem = (
                f"event {self.events}: object is {data['object']!r}, "
                f"expected {self.api.stream_object!r}"
            )
        else:
            content = self._content(data)
            if content:
                self.content_chunks += 1
                self.text += content
                return True
        return False

    def _content(self, data: dict[str, Any]) -> str | None:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            return None  # e.g. the usage chunk of stream_options.include_usage
        first = choices[0]
        if self.api is Api.COMPLETIONS:
            value = first.get("text") if isinstance(first, dict) else None
        else:
            delta = first.get("delta") if isinstance(first, dict) else None
            value = delta.get("content") if isinstance(delta, dict) else None
        if value is not None and not isinstance(value, str):
            self.problem = f"event {self.events}: {self.api.content_field} is not a string"
            return None
        return value

    def end_problem(self) -> str | None:
        """At the end of the body: the problem found, a missing ``[DONE]``, or no content."""
        if self.problem is not None:
            return self.problem
        if not self.done:
            return (
                f"stream ended without 'data: {DONE}' after {self.events} events "
                f"({self.content_chunks} with content)"
            )
        if self.content_chunks == 0:
            return (
                f"no content chunk: {self.api.content_field} was empty in all {self.events} events"
            )
        return None


def health_problem(status: int, body: bytes) -> str | None:
    """Why a health response is not healthy, or None if it is.

    Healthy means status 200 and a JSON body; when the body is an object with a string
    ``status`` member, it must be one of the usual healthy words (``ok``, ``healthy``, ...).
    """
    if status != 200:
        return f"HTTP {status}: {_snippet(body)}"
    try:
        data: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"health body is not JSON: {_snippet(body)!r}"
    if isinstance(data, dict) and isinstance(data.get("status"), str):
        if data["status"].lower() not in HEALTHY_STATUSES:
            return f"health status is {data['status']!r}"
    return None


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]
