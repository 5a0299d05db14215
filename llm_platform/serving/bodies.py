"""What the gateway reads from OpenAI bodies: the model a request names, a response's usage.

The gateway proxies bodies unchanged except in one case: a request routed by path
(``/<model>/v1/...``) whose JSON body names no ``model`` gets the path's model, as llama.cpp and
vLLM servers do; a body naming a different model is refused (400). Bodies that are not JSON
objects go through untouched, so that the engine answers them with its own 400.

``stream: true`` is refused with 400 ``stream_unsupported`` for now: the gateway does not relay
Server-Sent Events chunk by chunk yet, and a half-relayed stream must not count as a server
failure against the SLOs.
"""

from __future__ import annotations

import json

from llm_platform.serving.completions import ClientError
from llm_platform.serving.metrics import Usage

#: Whether the gateway relays ``stream: true`` responses; while False it refuses them (400).
GATEWAY_RELAYS_STREAMS = False


def stream_refusal(body: bytes) -> ClientError | None:
    """A ClientError when ``body`` asks for a streamed response the gateway cannot relay."""
    if GATEWAY_RELAYS_STREAMS or b'"stream"' not in body:
        return None
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # not JSON: the engine answers with its own 400
        return None
    if isinstance(payload, dict) and payload.get("stream") is True:
        msg = 'this gateway does not relay streamed responses yet; send "stream": false'
        return ClientError(msg, "stream_unsupported", "stream")
    return None


def with_path_model(body: bytes, model: str) -> bytes | ClientError:
    """``body`` with ``model`` filled in when absent; a ClientError when it names another."""
    # Fast path, no parse: the body names this model (outside JSON strings a quote cannot be
    # escaped, so these bytes are a key and its value; a nested "model" key naming this model
    # next to another top-level one is left to the engine to refuse).
    quoted = json.dumps(model).encode()
    if b'"model":' + quoted in body or b'"model": ' + quoted in body:
        return body
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (or absurdly nested): the engine says 400
        return body
    if not isinstance(payload, dict):
        return body
    named = payload.get("model")
    if named is None:
        payload["model"] = model
        return json.dumps(payload, separators=(",", ":")).encode()
    if named != model:
        msg = f"the body names model {named!r} but the request was routed to {model!r}"
        return ClientError(msg, "model_mismatch", "model")
    return body


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
