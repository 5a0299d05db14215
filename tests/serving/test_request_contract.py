"""The gateway's request contract without servers: valid bodies pass (forwarded as received when
nothing is added), every invalid one is a ClientError naming the field, random JSON never raises;
GBNF grammars; extensions per engine and environment; ``serving.extensions`` in the env config."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from llm_platform.config.environment import EnvironmentConfig
from llm_platform.serving.completions import ClientError
from llm_platform.serving.engines.gbnf import check_grammar
from llm_platform.serving.engines.registry import ENGINES, enabled_extensions
from llm_platform.serving.gateway_paths import parse_model_path
from llm_platform.serving.request_contract import Prepared, RequestPolicy, check_request
from tests.helpers.contract_bodies import MALFORMED

LLAMA = RequestPolicy.for_revision("llama-cpp", 512)
LLAMA_GRAMMAR = RequestPolicy.for_revision("llama-cpp", 512, ["grammar"])
GENERIC = RequestPolicy.for_revision(None, None)  # a routes entry naming no engine
VLLM = RequestPolicy.for_revision("vllm", None)
POLICIES = [LLAMA, LLAMA_GRAMMAR, *(RequestPolicy.for_revision(e, None) for e in ENGINES)]
USER = [{"role": "user", "content": "hi"}]


def _check(body: object, kind: str = "completions", policy: RequestPolicy = LLAMA) -> object:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return check_request(raw, kind, "m", policy)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("completions", {"model": "m", "prompt": "Hi"}),
        ("completions", {"model": "m", "prompt": ["Hi"], "max_tokens": 512, "temperature": 0,
                         "top_p": 1, "stop": ["\n", "."], "seed": 7, "n": 1, "echo": False,
                         "presence_penalty": -2, "frequency_penalty": 2, "user": "u",
                         "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}),
        ("chat", {"model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "weather", "arguments": "{}"}},
                {"id": "c2", "type": "function",
                 "function": {"name": "weather", "arguments": "{}"}}]},
            {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
            {"role": "tool", "content": "rain", "tool_call_id": "c2"},
            {"role": "user", "content": "thanks"}],
          "tools": [{"type": "function", "function": {
              "name": "weather", "parameters": {"type": "object", "properties": {}}}}],
          "tool_choice": {"type": "function", "function": {"name": "weather"}},
          "response_format": {"type": "json_object"}, "max_completion_tokens": 8}),
    ],
)  # fmt: skip
def test_valid_bodies_are_forwarded_as_received(kind: str, body: dict) -> None:
    raw = json.dumps(body).encode()
    policy = LLAMA if kind == "completions" else GENERIC  # llama.cpp: no null content, parts
    got = check_request(raw, kind, "m", policy)  # type: ignore[arg-type]
    assert isinstance(got, Prepared), got
    assert got.body is raw and not got.stream  # zero copy: nothing to add


def test_the_gateway_adds_the_model_and_the_usage_chunk_of_a_stream() -> None:
    got = _check({"prompt": "Hi", "stream": True, "stream_options": {}})
    assert isinstance(got, Prepared) and got.stream
    assert json.loads(got.body) == {"prompt": "Hi", "stream": True, "model": "m",
                                    "stream_options": {"include_usage": True}}  # fmt: skip
    kept = _check({"model": "m", "prompt": "Hi", "stream": True,
                   "stream_options": {"include_usage": False}})  # fmt: skip
    assert isinstance(kept, Prepared) and json.loads(kept.body)["stream_options"] == {
        "include_usage": False
    }


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.limits.engine}")
@pytest.mark.parametrize(
    ("name", "endpoint", "body", "param"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_every_malformed_body_is_a_client_error(
    policy: RequestPolicy, name: str, endpoint: str, body: bytes, param: str | None
) -> None:
    kind = "chat" if "chat" in endpoint else "completions"
    got = check_request(body, kind, "m", policy)  # type: ignore[arg-type]
    if name == "max-tokens-beyond-context" and policy.limits.context_size > 100_000:
        assert isinstance(got, Prepared)  # vLLM checks its model's own context
        return
    assert isinstance(got, ClientError), name
    if param is not None:
        assert got.param == param, got


@pytest.mark.parametrize(
    ("body", "kind", "param", "code"),
    [
        (
            {"prompt": "x", "max_tokens": 513},
            "completions",
            "max_tokens",
            "context_length_exceeded",
        ),
        ({"prompt": "x", "max_tokens": True}, "completions", "max_tokens", "invalid_value"),
        ({"prompt": [1, 2, 3]}, "completions", "prompt", "invalid_value"),  # llama: text only
        ({"prompt": ["a", "b"]}, "completions", "prompt", "invalid_value"),
        ({"prompt": "x", "logprobs": 1}, "completions", "logprobs", "unsupported_parameter"),
        (
            {"prompt": "x", "logit_bias": {"5": 1}},
            "completions",
            "logit_bias",
            "unsupported_parameter",
        ),
        (
            {"prompt": "x", "grammar": 'root ::= "a"'},
            "completions",
            "grammar",
            "extension_not_enabled",
        ),
        (
            {"prompt": "x", "repetition_penalty": 1},
            "completions",
            "repetition_penalty",
            "extension_not_enabled",
        ),
        ({"messages": USER, "top_logprobs": 2}, "chat", "top_logprobs", "invalid_value"),
        ({"messages": USER, "tool_choice": "auto"}, "chat", "tool_choice", "invalid_value"),
        (
            {"messages": [{"role": "assistant", "content": None}]},
            "chat",
            "messages[0].content",
            "invalid_value",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "chat",
            "messages[0].content[0]",
            "invalid_value",
        ),
        (
            {
                "messages": USER,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "a", "schema": {}},
                },
            },
            "chat",
            "response_format.type",
            "unsupported_parameter",
        ),
        (
            {"messages": USER, "tools": [{"type": "function", "function": {"name": "a b"}}]},
            "chat",
            "tools[0].function.name",
            "invalid_value",
        ),
        ({"messages": USER, "metadata": {"a": 1}}, "chat", "metadata", "invalid_value"),
        ({"messages": USER, "prompt": "x"}, "chat", "prompt", "unknown_parameter"),
    ],
)
def test_what_llama_cpp_refuses(body: dict, kind: str, param: str, code: str) -> None:
    got = _check(body, kind)
    assert isinstance(got, ClientError) and (got.param, got.code) == (param, code), got


def test_a_forced_tool_call_needs_schema_constrained_output() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    named = {"type": "function", "function": {"name": "f"}}
    for choice in ("required", named):
        body = {"messages": USER, "tools": tools, "tool_choice": choice}
        got = _check(body, "chat")
        assert isinstance(got, ClientError) and got.code == "unsupported_parameter", got
        assert isinstance(_check(body, "chat", LLAMA_GRAMMAR), Prepared)
        assert isinstance(_check(body, "chat", VLLM), Prepared)
    assert isinstance(_check({"messages": USER, "tools": tools, "tool_choice": "auto"}, "chat"),
                      Prepared)  # fmt: skip


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "developer", "content": "x"}, *USER], "messages[0].role"),
        ([{"role": "system", "content": [{"type": "text", "text": "x"}]}, *USER],
         "messages[0].content"),
        ([*USER, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
          "function": {"name": "f", "arguments": "{}"}}]}], "messages[1].content"),
    ],
)  # fmt: skip
def test_messages_llama_cpp_python_cannot_take(messages: list, param: str) -> None:
    """Valid for OpenAI, a 500 inside llama-cpp-python: refused for llama.cpp only."""
    got = _check({"messages": messages}, "chat")
    assert isinstance(got, ClientError) and got.param == param, got
    assert isinstance(_check({"messages": messages}, "chat", GENERIC), Prepared)
    assert isinstance(_check({"messages": messages}, "chat", VLLM), Prepared)


def test_engines_differ_only_where_their_table_says() -> None:
    vllm = VLLM
    assert isinstance(_check({"prompt": [[1, 2], [3]], "logprobs": 2}, policy=vllm), Prepared)
    assert isinstance(_check({"prompt": "x", "repetition_penalty": 1.2}, policy=vllm), Prepared)
    builtin = RequestPolicy.for_revision("builtin", None)
    assert builtin.extensions == {} and builtin.limits.context_size == 4096
    grammar = _check({"prompt": "x", "grammar": 'root ::= "a"'}, policy=LLAMA_GRAMMAR)
    assert isinstance(grammar, Prepared)
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    assert isinstance(_check({"messages": USER, "response_format": schema}, "chat",
                             LLAMA_GRAMMAR), Prepared)  # fmt: skip
    assert list(enabled_extensions("builtin", ["grammar"])) == []
    assert "grammar" not in enabled_extensions("llama-cpp")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = st.sampled_from(
    [
        "prompt",
        "messages",
        "max_tokens",
        "temperature",
        "top_p",
        "n",
        "stop",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "seed",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "response_format",
        "user",
        "grammar",
        "top_k",
        "model",
        "suffix",
        "echo",
        "best_of",
        "metadata",
    ]
)
_BODIES = st.dictionaries(_KEYS, _JSON, max_size=8) | _JSON


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=_BODIES, kind=st.sampled_from(["completions", "chat"]), policy=st.sampled_from(POLICIES)
)
def test_random_json_never_raises(body: object, kind: str, policy: RequestPolicy) -> None:
    got = check_request(json.dumps(body).encode(), kind, "m", policy)  # type: ignore[arg-type]
    assert isinstance(got, Prepared | ClientError)
    if isinstance(got, ClientError):
        assert got.message and got.code


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64))
def test_random_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(check_request(raw, "completions", "m", LLAMA), Prepared | ClientError)


@pytest.mark.parametrize(
    ("grammar", "problem"),
    [
        ('root ::= "yes" | "no"', None),
        ('root ::= item+\nitem ::= "- " [^\\n]+ "\\n" # list\n', None),
        ('root ::= ("a" | [b-d]){1,3} . "\\x41\\u00e9"', None),
        ("root ::= (((", "unbalanced parenthesis"),
        ('root ::= ( "a" ) )', "unbalanced parenthesis"),
        ('root ::= "abc', "unterminated string"),
        ("root ::= [a-", "unterminated character class"),
        ("root ::= []", "empty character class"),
        ('root ::= "\\q"', "unknown escape"),
        ('root ::= "\\x4"', "invalid \\x escape"),
        ("root ::= other", "undefined rule 'other'"),
        ('a ::= "x"', "no root rule"),
        ('root ::= "a"\nroot ::= "b"', "defined twice"),
        ('root ::= a\na ::= root "x"', "left-recursive"),
        ('root ::= "a"{0,9999}', "repetition"),
        ("root ::= " + "(" * 40 + '"a"' + ")" * 40, "nested deeper"),
        ('root ::= "' + "a" * 40_000 + '"', "longer than"),
        ("", "no root rule"),
    ],
)
def test_grammars(grammar: str, problem: str | None) -> None:
    got = check_grammar(grammar)
    assert (got is None) if problem is None else (got is not None and problem in got), got


def test_paths_are_normalised_or_refused() -> None:
    assert parse_model_path(b"/m/v1/%63ompletions").endpoint == b"/v1/completions"  # type: ignore[union-attr]
    assert parse_model_path(b"/m@r2/health").revision == "r2"  # type: ignore[union-attr]
    for bad in (b"/m/metrics", b"/m/../m/v1/models", b"/m//v1/models", b"/m/v1/models/",
                b"/m/v1/%2e%2e/x", b"/m/v1/%2576", b"/m/v1/mo dels", b"/", b"/m",
                b"/m/v1/completions\x00"):  # fmt: skip
        assert parse_model_path(bad) is None, bad
    assert parse_model_path(b"/v1/models", mounted="m").model == "m"  # type: ignore[union-attr]
    assert parse_model_path(b"/m/v1/models", mounted="m") is None


def _env(serving: object) -> dict[str, object]:
    return {"environment": "staging", "namespace": "staging",
            "deployment": {"strategy": "canary"}, "serving": serving}  # fmt: skip


def test_serving_extensions_in_the_environment_config() -> None:
    assert EnvironmentConfig.model_validate(
        _env({"extensions": ["grammar"]})
    ).serving.extensions == ["grammar"]
    assert EnvironmentConfig.model_validate(_env({})).serving.extensions == []
    for bad in ({"extensions": ["grammer"]}, {"extensions": "grammar"},
                {"extensions": ["grammar", "grammar"]}, {"extension": ["grammar"]}):  # fmt: skip
        with pytest.raises(ValidationError) as err:
            EnvironmentConfig.model_validate(_env(bad))
        assert "serving" in str(err.value)
