"""OpenAI compatibility of the data plane: chat completions, model from the path, token metrics.

The gateway runs as a real process in front of a fake upstream (to see exactly what it
forwards) and in front of a real model server (to see a client's request succeed end to end).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.serving.bodies import response_usage
from llm_platform.serving.completions import ClientError
from llm_platform.serving.metrics import (
    OUTPUT_TOKENS_TOTAL,
    PROMPT_TOKENS_TOTAL,
    REQUESTS_FAILED_TOTAL,
    REQUESTS_TOTAL,
    TIME_TO_FIRST_TOKEN,
    Usage,
)
from llm_platform.serving.request_contract import Prepared, RequestPolicy, check_request
from tests.helpers.serving_fixtures import (
    FakeUpstream,
    build_artifact,
    completion_body,
    start_gateway,
    start_model_server,
    write_routes,
)


def _rev(url: str) -> dict[str, object]:
    return {"revision": "r1", "version": "1.0.0", "color": "blue", "url": url, "weight": 100}


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeUpstream]]:
    """(gateway URL, upstream) with the gateway routing model ``m`` to a fake upstream."""
    upstream = FakeUpstream("blue", completion=lambda n: (200, completion_body("x", tokens=3)))
    tmp = tmp_path_factory.mktemp("compat-fake")
    write_routes(tmp / "routes.json", {"m": [_rev(upstream.url)]})
    proc, url = start_gateway(tmp / "routes.json", tmp)
    yield url, upstream
    proc.stop()
    upstream.close()


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Gateway URL routing model ``m`` to a real model server."""
    tmp = tmp_path_factory.mktemp("compat-real")
    digest = build_artifact(tmp / "artifact")
    server, server_url = start_model_server(tmp / "artifact", digest, tmp, model="m")
    write_routes(tmp / "routes.json", {"m": [_rev(server_url)]})
    proc, url = start_gateway(tmp / "routes.json", tmp)
    yield url
    proc.stop()
    server.stop()


def _samples(url: str, name: str) -> dict[str, float]:
    """Sample name -> value of the gateway's series for model ``m``."""
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for s in fam.samples:
            if s.name.startswith(name.removesuffix("_total")) and s.labels.get("model") == "m":
                if "le" not in s.labels:
                    out[s.name] = s.value
    return out


def test_model_is_taken_from_the_path_when_the_body_has_none(
    fake: tuple[str, FakeUpstream],
) -> None:
    url, upstream = fake
    before = len(upstream.bodies)
    r = httpx.post(url + "/m/v1/completions", json={"prompt": "hi", "max_tokens": 2})
    assert r.status_code == 200
    assert json.loads(upstream.bodies[before]) == {"prompt": "hi", "max_tokens": 2, "model": "m"}
    named = b'{"model": "m", "prompt": "hi"}'
    assert httpx.post(url + "/m/v1/completions", content=named).status_code == 200
    assert upstream.bodies[-1] == named  # a body that names the model is forwarded unchanged


def test_a_body_naming_another_model_is_400_and_not_proxied(
    fake: tuple[str, FakeUpstream],
) -> None:
    url, upstream = fake
    before = (len(upstream.bodies), _samples(url, REQUESTS_TOTAL))
    r = httpx.post(url + "/m/v1/chat/completions", json={"model": "other", "messages": []})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "model_mismatch" and err["param"] == "model" and "other" in err["message"]
    assert (len(upstream.bodies), _samples(url, REQUESTS_TOTAL)) == before


def test_stream_requests_ask_for_usage_and_a_json_answer_is_relayed_whole(
    fake: tuple[str, FakeUpstream],
) -> None:
    url, upstream = fake
    before = _samples(url, REQUESTS_TOTAL).get(REQUESTS_TOTAL, 0.0)
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    r = httpx.post(url + "/m/v1/chat/completions", json=body)
    # This upstream ignores "stream" and answers JSON: the gateway relays it as it came.
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 3
    sent = json.loads(upstream.bodies[-1])
    assert sent["stream_options"] == {"include_usage": True} and sent["model"] == "m"
    assert _samples(url, REQUESTS_TOTAL)[REQUESTS_TOTAL] == before + 1


def test_token_and_first_token_metrics_from_usage(fake: tuple[str, FakeUpstream]) -> None:
    url, _ = fake
    before = {n: _samples(url, n) for n in (TIME_TO_FIRST_TOKEN, OUTPUT_TOKENS_TOTAL,
                                             PROMPT_TOKENS_TOTAL)}  # fmt: skip
    chat = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    for path, body in (("/m/v1/completions", {"model": "m", "prompt": "x"}),
                       ("/m/v1/chat/completions", chat)):  # fmt: skip
        assert httpx.post(url + path, json=body).status_code == 200
    after = {n: _samples(url, n) for n in before}
    count = TIME_TO_FIRST_TOKEN + "_count"
    assert after[TIME_TO_FIRST_TOKEN][count] - before[TIME_TO_FIRST_TOKEN].get(count, 0) == 2
    assert after[OUTPUT_TOKENS_TOTAL][OUTPUT_TOKENS_TOTAL] - before[OUTPUT_TOKENS_TOTAL].get(
        OUTPUT_TOKENS_TOTAL, 0) == 6  # fmt: skip
    assert after[PROMPT_TOKENS_TOTAL][PROMPT_TOKENS_TOTAL] - before[PROMPT_TOKENS_TOTAL].get(
        PROMPT_TOKENS_TOTAL, 0) == 2  # fmt: skip


def test_failed_and_client_error_responses_have_no_first_token(tmp_path: Path) -> None:
    replies = iter([(500, b'{"error": {}}'), (400, b'{"error": {}}')])
    upstream = FakeUpstream("blue", completion=lambda n: next(replies))
    write_routes(tmp_path / "routes.json", {"m": [_rev(upstream.url)]})
    proc, url = start_gateway(tmp_path / "routes.json", tmp_path)
    try:
        for status in (500, 400):
            assert httpx.post(url + "/m/v1/completions", json={"prompt": "x"}).status_code == status
        assert _samples(url, TIME_TO_FIRST_TOKEN)[TIME_TO_FIRST_TOKEN + "_count"] == 0
        assert _samples(url, REQUESTS_TOTAL)[REQUESTS_TOTAL] == 2
        assert _samples(url, REQUESTS_FAILED_TOTAL)[REQUESTS_FAILED_TOTAL] == 1
    finally:
        proc.stop()
        upstream.close()


def test_chat_completion_without_model_through_gateway_and_real_server(real: str) -> None:
    body = {"messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "Shall I compare thee"}],
            "max_tokens": 6, "temperature": 0}  # fmt: skip
    r = httpx.post(real + "/m/v1/chat/completions", json=body, timeout=10)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-")
    (choice,) = data["choices"]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert choice["finish_reason"] in ("length", "stop")
    assert data["usage"]["completion_tokens"] == len(choice["message"]["content"])
    assert _samples(real, OUTPUT_TOKENS_TOTAL)[OUTPUT_TOKENS_TOTAL] == data["usage"][
        "completion_tokens"]  # fmt: skip
    # The demo model reads the messages' contents, one per line, as its prompt.
    assert data["usage"]["prompt_tokens"] == len("Be brief.\nShall I compare thee\n")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
        ({"messages": [{"role": "user", "content": "x"}], "seed": -1}, "seed"),
        ({"prompt": "x"}, "messages"),
    ],
)
def test_bad_chat_bodies_are_400(real: str, body: dict, param: str) -> None:
    r = httpx.post(real + "/m/v1/chat/completions", json={"model": "m", **body}, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert _samples(real, REQUESTS_FAILED_TOTAL)[REQUESTS_FAILED_TOTAL] == 0


def test_models_listing_is_routed_but_not_counted(real: str) -> None:
    before = _samples(real, REQUESTS_TOTAL)[REQUESTS_TOTAL]
    r = httpx.get(real + "/m/v1/models")
    assert r.status_code == 200 and r.json()["data"][0]["id"] == "m"
    assert _samples(real, REQUESTS_TOTAL)[REQUESTS_TOTAL] == before


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (b'{"prompt":"x"}', {"prompt": "x", "model": "m"}),
        (b'{"model":"m","prompt":"x"}', b'{"model":"m","prompt":"x"}'),
        (b'{"prompt":"\\"model\\":\\"m\\"","model":"o"}', "model_mismatch"),  # quotes
        (b'{"model":"o"}', "model_mismatch"),
        (b'{"model": "m"}', "invalid_value"),  # no prompt
        (b"not json", "invalid_json"),
        (b"[1]", "invalid_body"),
        (b"[" * 100_000, "invalid_json"),
    ],
)
def test_the_path_model_fills_in_a_body_naming_none(body: bytes, want: object) -> None:
    got = check_request(body, "completions", "m", RequestPolicy.for_revision(None, None))
    if isinstance(want, str):
        assert isinstance(got, ClientError) and got.code == want
    elif isinstance(want, dict):
        assert isinstance(got, Prepared) and json.loads(got.body) == want
    else:
        assert isinstance(got, Prepared) and got.body is body  # forwarded as received


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (completion_body("x", tokens=3), Usage(1, 3)),
        (
            b'{"usage":{"prompt_tokens":4,"prompt_tokens_details":{"cached_tokens":0},'
            b'"completion_tokens":5}}',
            Usage(4, 5),
        ),  # fmt: skip
        (b'{"usage":null}', None),
        (b'{"choices":[]}', None),
        (b'{"usage":{"prompt_tokens":-1,"completion_tokens":5}}', None),
        (b'{"usage":{"prompt_tokens":true,"completion_tokens":5}}', None),
        (b'{"usage":{"prompt_tokens":1}', None),
        (b"<html>", None),
    ],
)
def test_response_usage(body: bytes, want: Usage | None) -> None:
    assert response_usage(body) == want


def test_builtin_server_streams_through_the_gateway_with_usage(real: str) -> None:
    body = {"model": "m", "prompt": "Shall I", "max_tokens": 5, "stream": True, "seed": 1}
    before = _samples(real, OUTPUT_TOKENS_TOTAL).get(OUTPUT_TOKENS_TOTAL, 0.0)
    events = []
    with httpx.stream("POST", real + "/m/v1/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
    assert len(text) == 5  # one event per token (the demo LM's tokens are characters)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5
    assert _samples(real, OUTPUT_TOKENS_TOTAL)[OUTPUT_TOKENS_TOTAL] == before + 5
    assert _samples(real, REQUESTS_FAILED_TOTAL).get(REQUESTS_FAILED_TOTAL, 0.0) == 0.0
