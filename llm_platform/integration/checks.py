"""Pure checks of endpoint responses: is this a real, successful completion / health answer?"""

from __future__ import annotations

import json
from typing import Any

HEALTHY_STATUSES = frozenset({"ok", "healthy", "ready", "up", "pass", "serving"})


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", errors="replace")
    return text + ("…" if len(body) > limit else "")


def completion_problem(status: int, body: bytes) -> str | None:
    """Why a ``/v1/completions`` response is not a successful completion, or None if it is.

    Checks: status 200; a JSON object; no ``error`` member (some servers report errors with
    status 200); ``object`` is ``text_completion`` when present; a non-empty ``choices`` list
    whose first element has a non-empty string ``text``; ``usage.completion_tokens`` > 0.
    """
    if status != 200:
        return f"HTTP {status}: {_snippet(body)}"
    try:
        data: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"response body is not JSON: {_snippet(body)!r}"
    if not isinstance(data, dict):
        return f"response body is JSON but not an object: {_snippet(body)}"
    if data.get("error"):
        return f"error body with status 200: {_snippet(body)}"
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
