"""The gateway relays a real llama.cpp server's streams (Gemma 3 270M), and measures them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.serving.metrics import (
    OUTPUT_TOKENS_TOTAL,
    REQUESTS_FAILED_TOTAL,
    REQUESTS_TOTAL,
    TIME_PER_OUTPUT_TOKEN,
    TIME_TO_FIRST_TOKEN,
)
from tests.helpers.engine_fixtures import GEMMA, EngineProcess
from tests.helpers.serving_fixtures import start_gateway, write_routes


@pytest.fixture(scope="module")
def gateway(llama_server: EngineProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("gateway-llama")
    rev = {
        "revision": "r1",
        "version": "1",
        "color": "",
        "url": llama_server.base_url,
        "weight": 100,
    }
    write_routes(tmp / "routes.json", {GEMMA: [rev]})
    proc, url = start_gateway(tmp / "routes.json", tmp)
    yield url
    proc.stop()


def _metric(url: str, name: str) -> float:
    for fam in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for s in fam.samples:
            if s.name == name and s.labels.get("model") == GEMMA:
                return s.value
    raise AssertionError(f"{name} not exported")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", {"prompt": "The capital of France is"}),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Say hi."}]}),
    ],
)
def test_llama_streams_through_the_gateway(gateway: str, path: str, body: dict) -> None:
    before = _metric(gateway, REQUESTS_TOTAL), _metric(gateway, OUTPUT_TOKENS_TOTAL)
    ttft_before = _metric(gateway, TIME_TO_FIRST_TOKEN + "_count")
    request = {**body, "max_tokens": 4, "temperature": 0, "stream": True}  # model from the path
    with httpx.stream("POST", f"{gateway}/{GEMMA}{path}", json=request, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[5:].strip() for line in r.iter_lines() if line.startswith("data:")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("error" not in c for c in chunks)
    content = [
        (c["choices"][0].get("text") or c["choices"][0].get("delta", {}).get("content"))
        for c in chunks
        if c.get("choices")
    ]
    tokens = sum(1 for piece in content if piece)
    assert tokens >= 1
    deadline = time.monotonic() + 5
    while _metric(gateway, REQUESTS_TOTAL) == before[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _metric(gateway, REQUESTS_TOTAL) == before[0] + 1
    assert _metric(gateway, REQUESTS_FAILED_TOTAL) == 0
    assert _metric(gateway, TIME_TO_FIRST_TOKEN + "_count") == ttft_before + 1
    # llama.cpp's server sends no usage chunk: the gateway counts the content chunks.
    usage = [c["usage"] for c in chunks if c.get("usage")]
    expected = usage[-1]["completion_tokens"] if usage else tokens
    assert _metric(gateway, OUTPUT_TOKENS_TOTAL) == before[1] + expected
    assert _metric(gateway, TIME_PER_OUTPUT_TOKEN + "_count") >= tokens - 1
