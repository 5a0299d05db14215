"""Slots and a bounded queue at the gateway, in front of a real llama.cpp replica (issue 18).

40 concurrent streams to a one-replica revision all complete, queued, and the supervisor
restarts nothing; a full queue, or a wait past its bound, is a 503 counted as a failure of the
service, and the replica is never touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from llm_platform.serving.admission import QUEUE_WAIT_SECONDS
from llm_platform.slo.profiles import REQUESTS_FAILED_TOTAL, REQUESTS_TOTAL
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.processes import free_port
from tests.helpers.engine_fixtures import GEMMA, require_llama_cpp
from tests.helpers.liveness_fixtures import (
    deploy_gemma,
    metric_value,
    stream_completion,
    supervised,
)
from tests.helpers.runtime_fixtures import teardown_home, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LIVENESS_S = 3.0
STREAMS = 40


@pytest.fixture(scope="module")
def gemma(
    tmp_path_factory: pytest.TempPathFactory, gemma_artifact: Path, gemma_digest: str
) -> Iterator[tuple[LocalRuntime, str, str, int]]:
    require_llama_cpp()
    home = tmp_path_factory.mktemp("queue-llama")
    runtime = LocalRuntime(home, liveness_timeout_s=LIVENESS_S)
    try:
        endpoint, replica, pid = deploy_gemma(runtime, gemma_artifact, gemma_digest)
        yield runtime, endpoint, replica, pid
    finally:
        assert teardown_home(home) == [], "processes were left behind"


def test_forty_concurrent_streams_to_one_replica_all_complete_queued(
    gemma: tuple[LocalRuntime, str, str, int],
) -> None:
    runtime, endpoint, _, pid = gemma
    gateway = endpoint.rsplit("/", 1)[0]
    with supervised(runtime), httpx.Client(trust_env=False, limits=httpx.Limits(
        max_connections=STREAMS)) as client, ThreadPoolExecutor(STREAMS) as pool:  # fmt: skip
        results = list(
            pool.map(
                lambda i: stream_completion(client, endpoint, max_tokens=24, prompt=f"Story {i}:"),
                range(STREAMS),
            )
        )
        metrics = client.get(f"{gateway}/metrics").text
    assert [(s, done) for s, _, done, _ in results] == [(200, True)] * STREAMS
    assert all(tokens >= 20 for _, tokens, _, _ in results), [r[1] for r in results]
    status = runtime.status("staging", GEMMA)
    assert status is not None
    assert (status.revisions[0].pid, status.revisions[0].restarts) == (pid, 0)
    assert metric_value(metrics, REQUESTS_FAILED_TOTAL, model=GEMMA) == 0
    assert metric_value(metrics, REQUESTS_TOTAL, model=GEMMA) >= STREAMS
    # They were queued (one slot), not sent at once: most waited for a slot.
    waited = metric_value(metrics, QUEUE_WAIT_SECONDS + "_count", model=GEMMA)
    quick = metric_value(metrics, QUEUE_WAIT_SECONDS + "_bucket", model=GEMMA, le="0.001")
    assert waited >= STREAMS and waited - quick >= STREAMS // 2, (waited, quick)
    ttfts = sorted(t for _, _, _, t in results if t is not None)
    print(f"\n{STREAMS} streams: TTFT p50 {ttfts[len(ttfts) // 2]:.2f}s max {ttfts[-1]:.2f}s")


@pytest.fixture()
def small_queue_gateway(gemma: tuple[LocalRuntime, str, str, int], tmp_path: Path) -> Iterator[str]:
    """A gateway of its own over the same replica: one slot, one waiting request, 3 s wait.

    Every request is held 6 s (injected latency, inside its slot) before it is proxied, so the
    slot stays busy past the wait however fast the machine generates."""
    _, _, replica, _ = gemma
    routes = tmp_path / "routes.json"
    route = {"revision": "g1", "version": "1.0.0", "color": "stable", "url": replica,
             "weight": 100, "slots": 1, "engine": "llama-cpp", "context_size": 512,
             "faults": {"latency_ms": 6000}}  # fmt: skip
    routes.write_text(json.dumps({"models": {GEMMA: {"revisions": [route]}}}))
    port = free_port()
    argv = [sys.executable, "-m", "llm_platform.serving.gateway", "--routes", str(routes),
            "--namespace", "qtest", "--port", str(port), "--queue-max", "1",
            "--queue-timeout", "3"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), 30, "the gateway to listen")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/-/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_full_queue_and_a_wait_past_its_bound_are_counted_503s(
    gemma: tuple[LocalRuntime, str, str, int], small_queue_gateway: str
) -> None:
    runtime, _, _, pid = gemma
    url = small_queue_gateway
    endpoint = f"{url}/{GEMMA}"
    with httpx.Client(trust_env=False) as client, ThreadPoolExecutor(2) as pool:
        busy = pool.submit(stream_completion, client, endpoint, max_tokens=200)  # the slot
        wait_until(lambda: _in_flight(client, url) == 1, 30, "the first stream to hold the slot")
        queued = pool.submit(stream_completion, client, endpoint, max_tokens=4)  # waits 3 s
        wait_until(lambda: _queued(client, url) == 1, 10, "the second request to queue")
        started = time.monotonic()
        full = client.post(f"{endpoint}/v1/completions", json={"prompt": "x", "max_tokens": 2})
        assert time.monotonic() - started < 2.0, "a full queue answers at once"
        assert full.status_code == 503, full.text
        assert full.json()["error"]["code"] == "queue_full"
        assert queued.result()[0] == 503, "waited past --queue-timeout"
        status, _, done, _ = busy.result()
        assert (status, done) == (200, True), "the stream holding the slot completes"
        metrics = client.get(f"{url}/metrics").text
    assert metric_value(metrics, REQUESTS_FAILED_TOTAL, model=GEMMA) == 2
    assert metric_value(metrics, REQUESTS_TOTAL, model=GEMMA) == 3
    status = runtime.status("staging", GEMMA)
    assert status is not None and status.revisions[0].pid == pid, "the replica was touched"


def _load(client: httpx.Client, url: str) -> dict[str, dict[str, int]]:
    data: dict[str, dict[str, int]] = client.get(f"{url}/-/load").json()
    return data


def _in_flight(client: httpx.Client, url: str) -> int:
    return sum(r["in_flight"] for r in _load(client, url)["replicas"].values())


def _queued(client: httpx.Client, url: str) -> int:
    return sum(_load(client, url)["queued"].values())
