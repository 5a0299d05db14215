"""Faults injected by the gateway per revision, whatever engine serves it: latency, errors, a
stream that stalls, a stream cut mid-way; from the routes file or a fault file changed live."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.serving.metrics import REQUESTS_FAILED_TOTAL, REQUESTS_TOTAL
from tests.helpers.serving_fixtures import start_gateway, write_routes
from tests.helpers.sse_fixtures import SseServer

MODEL = "m"


class Stack:
    def __init__(self, routes: Path, fault_file: Path, server: SseServer, url: str) -> None:
        self.routes, self.fault_file, self.server, self.url = routes, fault_file, server, url

    def route(self, **faults: float) -> None:
        """Route ``m`` to the server with these faults in the routes file; wait until loaded."""
        before = httpx.get(self.url + "/-/routes").json()["generation"]
        rev = {
            "revision": "r1",
            "version": "1",
            "color": "blue",
            "url": self.server.url,
            "weight": 100,
            "faults": faults,
            "fault_file": str(self.fault_file),
        }
        write_routes(self.routes, {MODEL: [rev]})
        deadline = time.monotonic() + 5
        while httpx.get(self.url + "/-/routes").json()["generation"] == before:
            assert time.monotonic() < deadline, "routes not reloaded"
            time.sleep(0.05)

    def write_faults(self, text: str) -> None:
        self.fault_file.write_text(text)
        time.sleep(0.4)  # the gateway re-reads fault files every poll (0.1 s)

    def complete(self) -> httpx.Response:
        return httpx.post(self.url + f"/{MODEL}/v1/completions", json={"prompt": "hi"}, timeout=10)

    def counts(self) -> tuple[float, float]:
        values = {REQUESTS_TOTAL: 0.0, REQUESTS_FAILED_TOTAL: 0.0}
        for fam in text_string_to_metric_families(httpx.get(self.url + "/metrics").text):
            for s in fam.samples:
                if s.name in values and s.labels["model"] == MODEL:
                    values[s.name] += s.value
        return values[REQUESTS_TOTAL], values[REQUESTS_FAILED_TOTAL]


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[Stack]:
    server = SseServer(pieces=("a", "b", "c", "d"))
    write_routes(tmp_path / "routes.json", {})
    gateway, url = start_gateway(tmp_path / "routes.json", tmp_path)
    yield Stack(tmp_path / "routes.json", tmp_path / "faults.json", server, url)
    gateway.stop()
    server.close()


def _stream(stack: Stack) -> tuple[list[tuple[float, str]], float]:
    """Events of a streamed completion with their arrival times, and the total time."""
    t0 = time.perf_counter()
    out = []
    body = {"prompt": "hi", "stream": True}
    with httpx.stream("POST", f"{stack.url}/{MODEL}/v1/completions", json=body, timeout=10) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data:"):
                out.append((time.perf_counter() - t0, line[5:].strip()))
    return out, time.perf_counter() - t0


def test_error_rate_and_latency_from_the_routes_file(stack: Stack) -> None:
    stack.route(error_rate=1.0, latency_ms=150)
    t0 = time.perf_counter()
    r = stack.complete()
    assert r.status_code == 500 and time.perf_counter() - t0 >= 0.15
    err = r.json()["error"]
    assert err["code"] == "injected_fault" and "injected fault" in err["message"]
    assert stack.server.requests == []  # never proxied: works the same for any engine
    assert httpx.get(stack.url + f"/{MODEL}/v1/models").status_code == 200  # not faulted
    assert stack.counts() == (1.0, 1.0)


def test_seeded_partial_error_rate(stack: Stack) -> None:
    stack.route(error_rate=0.5)
    statuses = [stack.complete().status_code for _ in range(60)]
    assert set(statuses) == {200, 500}
    assert 15 <= statuses.count(500) <= 45
    assert stack.counts() == (60.0, float(statuses.count(500)))


def test_fault_file_changes_a_running_gateway(stack: Stack) -> None:
    stack.route()
    assert stack.complete().status_code == 200
    stack.write_faults(json.dumps({"error_rate": 1.0}))
    assert {stack.complete().status_code for _ in range(5)} == {500}
    stack.write_faults(json.dumps({"error_rate": 0.0, "latency_ms": 250}))
    t0 = time.perf_counter()
    assert stack.complete().status_code == 200
    assert time.perf_counter() - t0 >= 0.25
    stack.write_faults(json.dumps({"error_rate": 1.0}))
    stack.write_faults("{broken")
    # An invalid file: the previous settings (every request fails) stay.
    assert {stack.complete().status_code for _ in range(5)} == {500}
    errors = httpx.get(stack.url + "/-/routes").json()["fault_file_errors"]
    assert "invalid fault settings" in errors[f"{MODEL}/r1"]
    stack.fault_file.unlink()
    # Back to the routes file's settings (none) at the next poll.
    deadline = time.monotonic() + 10
    while stack.complete().status_code != 200:
        assert time.monotonic() < deadline, "the removed fault file still applies"
        time.sleep(0.1)
    assert {stack.complete().status_code for _ in range(5)} == {200}


def test_a_stream_that_stalls(stack: Stack) -> None:
    stack.route(stall_ms=600)
    events, _ = _stream(stack)
    texts = [json.loads(d)["choices"][0]["text"] for _, d in events[:-1]]
    assert events[-1][1] == "[DONE]" and "".join(texts) == "abcd"
    first = next(i for i, t in enumerate(texts) if t)
    # The pause comes after the first content token, before the second.
    assert events[first + 1][0] - events[first][0] >= 0.55, events
    assert stack.counts() == (1.0, 0.0)


def test_a_stream_cut_mid_way_counts_as_failed(stack: Stack) -> None:
    stack.route(cut_rate=1.0)
    events, _ = _stream(stack)
    assert events[-1][1] != "[DONE]"
    assert json.loads(events[-1][1])["error"]["code"] == "injected_fault"
    texts = [json.loads(d)["choices"][0]["text"] for _, d in events[:-1]]
    assert "".join(texts) == "a"
    deadline = time.monotonic() + 5
    while stack.counts() != (1.0, 1.0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.counts() == (1.0, 1.0)


def test_a_pinned_revision_is_reached_whatever_its_weight(stack: Stack) -> None:
    rev = {"revision": "r1", "version": "1", "color": "", "url": stack.server.url, "weight": 0}
    rev["faults"] = {"error_rate": 1.0}
    write_routes(stack.routes, {MODEL: [rev]})
    time.sleep(0.4)
    body = {"prompt": "hi"}
    assert httpx.post(f"{stack.url}/{MODEL}/v1/completions", json=body).status_code == 503
    r = httpx.post(f"{stack.url}/{MODEL}@r1/v1/completions", json=body)
    assert r.status_code == 500 and r.json()["error"]["code"] == "injected_fault"
    r = httpx.post(f"{stack.url}/{MODEL}@r9/v1/completions", json=body)
    assert r.status_code == 404 and r.json()["error"]["code"] == "revision_not_found"
    assert httpx.get(f"{stack.url}/{MODEL}@r1/health").status_code == 200  # not faulted
