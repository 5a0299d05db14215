"""What the gateway reads from OpenAI bodies: the model a request names, a response's usage.

The gateway proxies bodies unchanged except in one case: a request routed by path
(``/<model>/v1/...``) whose JSON body names no ``model`` gets the path's model, as llama.cpp and
vLLM servers do; a body naming a different model is refused (400). Bodies that are not JSON
objects go through untouched, so that the engine answers them with its own 400.

A streamed request (``"stream": true``) also gets ``stream_options.include_usage`` when it
does not say, so that the engine ends the stream with a usage chunk (``choices: []``) from which
the gateway counts tokens; OpenAI clients expect that chunk when they ask for it.
"""

from __future__ import annotations

import json

from llm_platform.serving.completions import ClientError
from llm_platform.serving.metrics import Usage


def prepare_body(body: bytes, model: str) -> tuple[bytes, bool] | ClientError:
    """The body to proxy and whether it asks for a stream; a ClientError for a model mismatch.

    The model comes from the path when the body names none (:func:`with_path_model`); a
    streamed request is given ``stream_options.include_usage: true`` unless it sets it.
    """
    checked = with_path_model(body, model)
    if isinstance(checked, ClientError):
        return checked
    if b'"stream"' not in checked:
        return checked, False
    try:
        payload = json.loads(checked)
    except (ValueError, RecursionError):  # not JSON: the engine answers with its own 400
        return checked, False
    if not isinstance(payload, dict) or payload.get("stream") is not True:
        return checked, False
    options = payload.get("stream_options")
    if options is None:
        payload["stream_options"] = {"include_usage": True}
    elif isinstance(options, dict) and "include_usage" not in options:
        options["include_usage"] = True
    else:
        return checked, True
    return json.dumps(payload, separators=(",", ":")).encode(), True


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
