"""Malformed request bodies a hostile client sends (issue 18's list, and more): each must get a
4xx with OpenAI's error body from the gateway and never count as a failure of the service.

Shared by the gateway contract tests and ``bench/bench_abuse.py`` (24 bodies).
"""

from __future__ import annotations

import json

_CHAT = "/v1/chat/completions"
_COMPLETIONS = "/v1/completions"
_USER = [{"role": "user", "content": "hi"}]


def _c(**fields: object) -> bytes:
    return json.dumps({"prompt": "Hi", "max_tokens": 2, **fields}).encode()


def _chat(**fields: object) -> bytes:
    return json.dumps({"messages": _USER, "max_tokens": 2, **fields}).encode()


#: (name, endpoint below the model, body, the ``param`` the error names or None).
MALFORMED: list[tuple[str, str, bytes, str | None]] = [
    ("not-json", _COMPLETIONS, b"not json", None),
    ("array", _COMPLETIONS, b"[]", None),
    ("null", _COMPLETIONS, b"null", None),
    ("invalid-utf8", _COMPLETIONS, b'{"prompt": "\xff\xfe", "max_tokens": 2}', None),
    (
        "deep-nesting",
        _COMPLETIONS,
        b'{"prompt": "Hi", "user": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        None,
    ),
    ("max-tokens-negative", _COMPLETIONS, _c(max_tokens=-1), "max_tokens"),
    ("max-tokens-string", _COMPLETIONS, _c(max_tokens="abc"), "max_tokens"),
    ("max-tokens-huge", _COMPLETIONS, _c(max_tokens=10**40), "max_tokens"),
    ("max-tokens-beyond-context", _COMPLETIONS, _c(max_tokens=100_000), "max_tokens"),
    ("temperature-hot", _COMPLETIONS, _c(temperature="hot"), "temperature"),
    ("temperature-nan", _COMPLETIONS, b'{"prompt": "Hi", "temperature": NaN}', "temperature"),
    ("top-p-7", _COMPLETIONS, _c(top_p=7), "top_p"),
    ("prompt-number", _COMPLETIONS, _c(prompt=12345), "prompt"),
    ("logit-bias-key", _COMPLETIONS, _c(logit_bias={"abc": 5}), "logit_bias"),
    ("logprobs-negative", _COMPLETIONS, _c(logprobs=-1), "logprobs"),
    ("top-k-negative", _COMPLETIONS, _c(top_k=-5), "top_k"),
    ("stop-empty", _COMPLETIONS, _c(stop=[""]), "stop"),
    ("unknown-field", _COMPLETIONS, _c(frobnicate=1), "frobnicate"),
    ("grammar-not-enabled", _COMPLETIONS, _c(max_tokens=1, grammar="root ::= ((("), "grammar"),
    ("messages-string", _CHAT, json.dumps({"messages": "hi"}).encode(), "messages"),
    (
        "tool-without-call",
        _CHAT,
        _chat(messages=[*_USER, {"role": "tool", "content": "42", "tool_call_id": "c1"}]),
        "messages[1].tool_call_id",
    ),
    ("tools-string", _CHAT, _chat(tools="x"), "tools"),
    ("role-robot", _CHAT, _chat(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
    (
        "stream-options-without-stream",
        _CHAT,
        _chat(stream_options={"include_usage": True}),
        "stream_options",
    ),
]

#: Hostile bodies for the builtin model server's /v1/completions (model ``tiny``): (case, body,
#: the ``param`` its 400 names). Each is a client error, never a server error.
ABUSIVE_BODIES: list[tuple[str, bytes, str | None]] = [
    ("negative seed", b'{"model":"tiny","prompt":"x","seed":-1}', "seed"),
    ("huge seed", b'{"model":"tiny","prompt":"x","seed":' + b"9" * 40 + b"}", "seed"),
    (
        "deep nesting",
        b'{"model":"tiny","prompt":"x","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        None,
    ),  # fmt: skip
    ("deep array", b"[" * 50_000 + b"]" * 50_000, None),
    (
        "5000-digit integer",
        b'{"model":"tiny","prompt":"x","max_tokens":' + b"1" * 5000 + b"}",
        None,
    ),  # fmt: skip
    ("empty stop", b'{"model":"tiny","prompt":"x","stop":""}', "stop"),
    ("empty stop in list", b'{"model":"tiny","prompt":"x","stop":["a",""]}', "stop"),
    ("NaN temperature", b'{"model":"tiny","prompt":"x","temperature":NaN}', "temperature"),
    (
        "infinite temperature",
        b'{"model":"tiny","prompt":"x","temperature":Infinity}',
        "temperature",
    ),  # fmt: skip
    ("non-UTF-8", b'{"model":"tiny","prompt":"\xff\xfe"}', None),
    ("JSON string", b'"hello"', None),
    ("prompt object", b'{"model":"tiny","prompt":{"a":1}}', "prompt"),
    ("max_tokens zero", b'{"model":"tiny","prompt":"x","max_tokens":0}', "max_tokens"),
    ("max_tokens float", b'{"model":"tiny","prompt":"x","max_tokens":1.5}', "max_tokens"),
]
