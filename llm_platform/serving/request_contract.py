"""The gateway's request contract: every completions and chat body is checked before any engine
sees it, the same way for every engine.

A body must be a JSON object (UTF-8, not nested absurdly) whose fields have OpenAI's types and
ranges (:mod:`~llm_platform.serving.request_fields`, :mod:`~llm_platform.serving.request_chat`),
with ``max_tokens`` within the revision's context. Fields beyond OpenAI's are the revision
engine's extensions (:mod:`~llm_platform.serving.engines.extensions`): forwarded only when
enabled for it, and checked; any other field is refused, as OpenAI does. A refused body is a
:class:`~llm_platform.serving.completions.ClientError` (a 400 with OpenAI's error body, in no
metric series): a client's mistake never counts against the service's objectives.

The body is forwarded as received unless the gateway must add to it: the path's ``model`` when
the body names none, and ``stream_options.include_usage`` on a stream (the engine's final usage
chunk gives the token counts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

from llm_platform.serving import request_chat as chat
from llm_platform.serving import request_fields as f
from llm_platform.serving.completions import ClientError
from llm_platform.serving.engines.extensions import Extension
from llm_platform.serving.engines.registry import ENGINES, EXTENSION_ENGINES, enabled_extensions
from llm_platform.serving.openai_paths import CHAT_COMPLETIONS_PATH, COMPLETIONS_PATH
from llm_platform.serving.request_fields import FieldError, Limits

Kind = Literal["completions", "chat"]
#: The context bound of a revision whose engine is not named (the engine checks its own).
GENERIC_CONTEXT = 131_072
#: The inference paths below ``/v1`` and the request kind each one takes.
KINDS: dict[bytes, Kind] = {
    COMPLETIONS_PATH.encode(): "completions",
    CHAT_COMPLETIONS_PATH.encode(): "chat",
}


@dataclass(frozen=True)
class RequestPolicy:
    """What one revision accepts: its engine's limits and the extensions enabled for it."""

    limits: Limits
    extensions: dict[str, Extension]
    #: The engine can constrain its output to a JSON schema: ``response_format``
    #: ``json_schema`` and forced tool calls (``tool_choice`` ``required`` or a named tool).
    json_schema: bool

    @classmethod
    def for_revision(
        cls, engine: str | None, context_size: int | None, environment: Collection[str] = ()
    ) -> RequestPolicy:
        """The policy of a revision served by ``engine``.

        ``None`` (a routes entry naming no engine) is OpenAI's contract alone: no extensions,
        within :data:`GENERIC_CONTEXT`. An engine the registry does not know gets the
        strictest policy (text prompts, no logprobs or logit_bias).
        """
        if engine is None:
            limits = Limits("unknown", context_size or GENERIC_CONTEXT, 128, True, True, True)
            return cls(limits, {}, json_schema=True)
        found = ENGINES.get(engine)
        if found is None:
            limits = Limits(engine, context_size or GENERIC_CONTEXT, 1, False, False, False)
            return cls(limits, {}, json_schema=False)
        extensions = enabled_extensions(engine, environment)
        limits = Limits(
            engine=engine,
            context_size=context_size or found.default_context_size,
            max_prompts=found.max_prompts,
            token_prompts=found.token_prompts,
            logprobs=found.logprobs,
            logit_bias=found.logit_bias,
            messages=found.messages,
        )
        # llama.cpp turns a JSON schema into a grammar: allowed where grammars are.
        json_schema = found.structured_output or "grammar" in extensions
        return cls(limits, extensions, json_schema=json_schema)


@dataclass(frozen=True)
class Prepared:
    """A valid body to forward (the received bytes unless the gateway added to it)."""

    body: bytes
    stream: bool


#: A field's check: (key, value, whole body, policy); raises FieldError (its result is unused).
#: The content type of every body the gateway forwards: what it checked is JSON, whatever the
#: client declared (``curl -d`` declares a form; llama-cpp-python answers that with a 500).
JSON_TYPE = (b"content-type", b"application/json")


def json_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with the content type of a checked body: ``application/json``."""
    return [h for h in headers if h[0] != b"content-type"] + [JSON_TYPE]


Check = Callable[[str, Any, dict[str, Any], RequestPolicy], object]


def _logprobs(key: str, value: Any, body: dict[str, Any], policy: RequestPolicy) -> None:
    chat_kind = "messages" in body
    if value is None or value is False:
        return
    if chat_kind:
        f.boolean(key, value)
    else:
        f.integer(key, value, 0, 5)
    if not policy.limits.logprobs:
        raise FieldError(
            key, f"not supported by engine {policy.limits.engine}", "unsupported_parameter"
        )


def _top_logprobs(key: str, value: Any, body: dict[str, Any], policy: RequestPolicy) -> None:
    if value is None:
        return
    f.integer(key, value, 0, 20)
    if body.get("logprobs") is not True:
        raise FieldError(key, "only allowed when logprobs is true")


def _best_of(key: str, value: Any, body: dict[str, Any], policy: RequestPolicy) -> None:
    n = body.get("n")
    if value is not None:
        f.integer(key, value, n if isinstance(n, int) and 1 <= n <= 20 else 1, 20)


def _optional(check: Callable[[str, Any], object]) -> Check:
    return lambda key, value, body, policy: None if value is None else check(key, value)


_COMMON: dict[str, Check] = {
    "model": lambda k, v, b, p: None if v is None else f.string(k, v, empty=False),
    "max_tokens": lambda k, v, b, p: f.max_tokens(k, v, p.limits),
    "temperature": _optional(lambda k, v: f.number(k, v, 0, 2)),
    "top_p": _optional(lambda k, v: f.number(k, v, 0, 1)),
    "n": _optional(lambda k, v: f.integer(k, v, 1, 128)),
    "stop": lambda k, v, b, p: f.stop(k, v),
    "presence_penalty": _optional(lambda k, v: f.number(k, v, -2, 2)),
    "frequency_penalty": _optional(lambda k, v: f.number(k, v, -2, 2)),
    "seed": lambda k, v, b, p: f.seed(k, v),
    "stream": _optional(f.boolean),
    "stream_options": lambda k, v, b, p: f.stream_options(k, v, b.get("stream") is True),
    "logit_bias": lambda k, v, b, p: f.logit_bias(k, v, p.limits),
    "logprobs": _logprobs,
    "user": _optional(f.string),
}
_COMPLETIONS: dict[str, Check] = {
    **_COMMON,
    "prompt": lambda k, v, b, p: f.prompt(k, v, p.limits),
    "suffix": _optional(f.string),
    "echo": _optional(f.boolean),
    "best_of": _best_of,
}
_CHAT: dict[str, Check] = {
    **_COMMON,
    "messages": lambda k, v, b, p: chat.messages(k, v, p.limits.messages),
    "max_completion_tokens": lambda k, v, b, p: f.max_tokens(k, v, p.limits),
    "top_logprobs": _top_logprobs,
    "tools": lambda k, v, b, p: chat.tools(k, v),
    "tool_choice": lambda k, v, b, p: chat.tool_choice(
        k, v, chat.tool_names(b.get("tools")), p.json_schema
    ),
    "parallel_tool_calls": _optional(f.boolean),
    "response_format": lambda k, v, b, p: chat.response_format(k, v, p.json_schema),
    "metadata": lambda k, v, b, p: f.metadata(k, v),
    "store": _optional(f.boolean),
}
_FIELDS: dict[Kind, dict[str, Check]] = {"completions": _COMPLETIONS, "chat": _CHAT}
_REQUIRED: dict[Kind, str] = {"completions": "prompt", "chat": "messages"}


def check_request(
    body: bytes, kind: Kind, model: str, policy: RequestPolicy
) -> Prepared | ClientError:
    """Validate a completions or chat body for a revision; the body to forward, or why not.

    Args:
        body: the request body as received.
        kind: ``completions`` or ``chat`` (from the path).
        model: the model the path routes to (the body's ``model`` must name it or be absent).
        policy: what the chosen revision accepts.
    """
    try:
        payload = json.loads(body)
    except RecursionError:
        return ClientError("request body is nested too deeply", "invalid_json")
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        return ClientError(f"request body is not valid JSON: {exc}", "invalid_json")
    if not isinstance(payload, dict):
        return ClientError("request body must be a JSON object", "invalid_body")
    named = payload.get("model")
    if named is not None and named != model:
        msg = f"the body names model {named!r:.80} but the request was routed to {model!r}"
        return ClientError(msg, "model_mismatch", "model")
    try:
        _check_fields(payload, kind, policy)
    except FieldError as exc:
        return ClientError(str(exc), exc.code, exc.param)
    except RecursionError:
        return ClientError("request body is nested too deeply", "invalid_body")
    stream = payload.get("stream") is True
    changed = named is None
    if named is None:
        payload["model"] = model
    if stream and payload.get("stream_options") is None:
        payload["stream_options"] = {"include_usage": True}
        changed = True
    elif stream and "include_usage" not in payload["stream_options"]:
        payload["stream_options"]["include_usage"] = True
        changed = True
    if not changed:
        return Prepared(body, stream)  # forwarded as received: no copy
    return Prepared(json.dumps(payload, separators=(",", ":")).encode(), stream)


def _check_fields(payload: dict[str, Any], kind: Kind, policy: RequestPolicy) -> None:
    fields = _FIELDS[kind]
    required = _REQUIRED[kind]
    if required not in payload:
        raise FieldError(required, "is required")
    for key, value in payload.items():
        check = fields.get(key)
        if check is not None:
            check(key, value, payload, policy)
            continue
        extension = policy.extensions.get(key)
        if extension is not None:
            problem = extension.check(value)
            if problem is not None:
                raise FieldError(key, problem)
            continue
        engines = EXTENSION_ENGINES.get(key)
        if engines is not None:
            raise FieldError(
                key,
                f"extension {key!r} is not enabled for engine {policy.limits.engine} in this "
                f"environment (accepted by: {', '.join(engines)}; enable it with "
                "serving.extensions in config/<env>.yaml)",
                "extension_not_enabled",
            )
        raise FieldError(
            key, f"unrecognized request argument supplied: {key!r:.80}", "unknown_parameter"
        )
