"""What the gateway reads from OpenAI response bodies: a completion's usage.

Request bodies are checked (and completed with the path's model and a stream's usage chunk) by
:mod:`llm_platform.serving.request_contract`.
"""

from __future__ import annotations

import json

from llm_platform.serving.metrics import Usage


def response_usage(body: bytes) -> Usage | None:
    """Token counts of a JSON completion response (``usage``), None when it has none."""
    # ``usage`` is a small flat object near the end: parse just it, the whole body only when
    # that fails (nested details, unusual layout).
    start = body.rfind(b'"usage"')
    if start < 0:
        return None
    brace = body.find(b"{", start)
    try:
        usage = json.loads(body[brace : body.find(b"}", brace) + 1])
    except ValueError:
        usage = None
    try:
        if not isinstance(usage, dict):
            usage = json.loads(body).get("usage")
        prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    except (ValueError, RecursionError, AttributeError, TypeError, KeyError):
        return None
    if type(prompt) is not int or type(completion) is not int or min(prompt, completion) < 0:
        return None
    return Usage(prompt, completion)
