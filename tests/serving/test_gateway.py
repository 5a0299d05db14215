"""The gateway as a real process in front of tiny real upstreams on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers.serving_fixtures import (
    FakeUpstream,
    completion_body,
    free_port,
    metric_samples,
    start_gateway,
    write_routes,
)

BODY = {"model": "m", "prompt": "hi", "max_tokens": 2}
PATH_BODY = {"prompt": "hi", "max_tokens": 2}  # routed by path: the gateway adds the model


def rev(name: str, url: str, weight: int, color: str = "") -> dict[str, object]:
    return {"revision": name, "version": f"1.0.{name[-1]}", "color": color, "url": url,
            "weight": weight}  # fmt: skip


@pytest.fixture
def upstreams() -> Iterator[dict[str, FakeUpstream]]:
    ups = {"blue": FakeUpstream("blue"), "green": FakeUpstream("green")}
    yield ups
    for u in ups.values():
        u.close()


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("gw")
    routes = tmp / "routes.json"
    proc, url = start_gateway(routes, tmp)
    yield url, routes
    proc.stop()


@pytest.fixture
def gateway(
    shared_gateway: tuple[str, Path], upstreams: dict[str, FakeUpstream]
) -> tuple[str, Path]:
    """The module's gateway, routing model ``m`` 100 % to this test's blue upstream."""
    url, routes = shared_gateway
    apply(shared_gateway, {"m": [rev("r1", upstreams["blue"].url, 100, "blue")]})
    return url, routes


def apply(gateway: tuple[str, Path], models: dict[str, list[dict[str, object]]]) -> dict:
    """Write new routes and wait until the gateway has loaded them."""
    url, routes = gateway
    before = httpx.get(url + "/-/routes").json()["generation"]
    write_routes(routes, models)
    return wait_generation(url, before + 1)


def wait_generation(url: str, at_least: int) -> dict:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        state = httpx.get(url + "/-/routes").json()
        if state["generation"] >= at_least:
            return state
        time.sleep(0.05)
    raise AssertionError(f"routes not reloaded: {state}")


def send_many(url: str, n: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    with httpx.Client(timeout=10) as c:
        for _ in range(n):
            r = c.post(url + "/m/v1/completions", json=BODY)
            assert r.status_code == 200, r.text
            assert r.headers["x-llm-revision"] in ("r1", "r2")
            seen[r.json()["choices"][0]["text"]] += 1
    return seen


def test_weighted_canary_split(gateway: tuple[str, Path], upstreams: dict) -> None:
    url, _ = gateway
    apply(gateway, {"m": [rev("r1", upstreams["blue"].url, 80, "blue"),
                          rev("r2", upstreams["green"].url, 20, "green")]})  # fmt: skip
    seen = send_many(url, 400)
    assert seen["blue"] + seen["green"] == 400
    assert 0.72 <= seen["blue"] / 400 <= 0.88, seen


def test_blue_green_all_to_one(gateway: tuple[str, Path], upstreams: dict) -> None:
    url, _ = gateway
    apply(gateway, {"m": [rev("r1", upstreams["blue"].url, 0, "blue"),
                          rev("r2", upstreams["green"].url, 100, "green")]})  # fmt: skip
    assert send_many(url, 100) == Counter({"green": 100})
    assert upstreams["blue"].posts == 0


def test_unknown_model_zero_weights_and_dead_upstream(
    gateway: tuple[str, Path], upstreams: dict
) -> None:
    url, _ = gateway
    r = httpx.post(url + "/nope/v1/completions", json=BODY)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    dead = f"http://127.0.0.1:{free_port()}"
    apply(gateway, {"m": [rev("r1", upstreams["blue"].url, 0)], "d": [rev("r9", dead, 100)]})
    r = httpx.post(url + "/m/v1/completions", json=BODY)
    assert r.status_code == 503 and "weight" in r.json()["error"]["message"]
    r = httpx.post(url + "/d/v1/completions", json=PATH_BODY)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unreachable"
    failed = metric_samples(url, "llm_requests_failed_total")
    assert failed[("d", "staging", "1.0.9", "", "r9")] == 1.0


def test_contract_metrics(gateway: tuple[str, Path], upstreams: dict) -> None:
    url, _ = gateway
    upstreams["green"].completion = lambda n: (
        (500, b'{"error": {"message": "boom"}}') if n % 2 else (200, completion_body("green"))
    )
    apply(gateway, {"mm": [rev("r2", upstreams["green"].url, 100, "green")]})
    with httpx.Client() as c:
        codes = [c.post(url + "/mm/v1/completions", json=PATH_BODY).status_code for _ in range(10)]
        for _ in range(3):
            assert c.get(url + "/mm/health").status_code == 200  # proxied, not counted
            assert c.get(url + "/mm/v1/models").status_code == 200  # listing, not counted
    assert Counter(codes) == Counter({200: 5, 500: 5})
    key = ("mm", "staging", "1.0.2", "green", "r2")
    assert metric_samples(url, "llm_requests_total", "mm") == {key: 10.0}
    assert metric_samples(url, "llm_requests_failed_total", "mm") == {key: 5.0}
    assert metric_samples(url, "llm_request_duration_seconds_count", "mm") == {key: 10.0}
    text = httpx.get(url + "/metrics").text
    for le in ("0.005", "0.25", "0.5", "1.0", "2.0", "2.5", "3.0", "10.0", "+Inf"):
        assert f'llm_request_duration_seconds_bucket{{color="green",le="{le}",model="mm"' in text


async def _continuous(url: str, stop: asyncio.Event) -> list[tuple[int, str]]:
    results: list[tuple[int, str]] = []
    async with httpx.AsyncClient(timeout=10) as c:

        async def worker() -> None:
            while not stop.is_set():
                r = await c.post(url + "/m/v1/completions", json=BODY)
                text = r.json()["choices"][0]["text"] if r.status_code == 200 else r.text
                results.append((r.status_code, text))

        await asyncio.gather(*(worker() for _ in range(6)))
    return results


def test_route_changes_under_traffic_lose_nothing(
    gateway: tuple[str, Path], upstreams: dict
) -> None:
    url, routes = gateway
    upstreams["blue"].delay_s = 0.05  # requests are in flight when the routes switch
    blue, green = upstreams["blue"].url, upstreams["green"].url
    before = httpx.get(url + "/-/routes").json()["generation"]

    async def scenario() -> list[tuple[int, str]]:
        stop = asyncio.Event()
        task = asyncio.create_task(_continuous(url, stop))
        plan = [
            {"m": [rev("r1", blue, 50, "blue"), rev("r2", green, 50, "green")]},
            {"m": [rev("r2", green, 100, "green")]},  # blue removed while requests run on it
            {"m": [rev("r1", blue, 100, "blue"), rev("r2", green, 0, "green")]},
            {"m": [rev("r2", green, 100, "green")]},
        ]
        for step in plan:
            await asyncio.sleep(0.3)
            write_routes(routes, step)
        await asyncio.sleep(0.5)
        stop.set()
        return await task

    results = asyncio.run(scenario())
    assert len(results) > 50
    assert [r for r in results if r[0] != 200] == []
    texts = Counter(t for _, t in results)
    assert texts["blue"] > 0 and texts["green"] > 0
    assert results[-1] == (200, "green")
    assert wait_generation(url, before + 4)["generation"] == before + 4


def test_invalid_routes_keep_previous_table(gateway: tuple[str, Path], upstreams: dict) -> None:
    url, routes = gateway
    routes.write_text(json.dumps({"models": {"m": {"revisions": [{"revision": "x"}]}}}))
    deadline = time.monotonic() + 5
    while (state := httpx.get(url + "/-/routes").json())["error"] is None:
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    assert "models.m.revisions.0.url" in state["error"]
    assert state["models"]["m"]["revisions"][0]["revision"] == "r1"
    assert httpx.post(url + "/m/v1/completions", json=BODY).status_code == 200


def test_invalid_routes_at_start_exit_2(tmp_path: Path) -> None:
    routes = tmp_path / "routes.json"
    routes.write_text('{"models": {"m": {"revisions": [{"weight": 500}]}}}')
    out = subprocess.run(
        [sys.executable, "-m", "llm_platform.serving.gateway", "--routes", str(routes),
         "--namespace", "staging", "--port", str(free_port())],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 2
    assert str(routes) in out.stderr and "weight" in out.stderr


def test_missing_routes_file_starts_empty(tmp_path: Path, upstreams: dict) -> None:
    routes = tmp_path / "later.json"
    proc, url = start_gateway(routes, tmp_path)
    try:
        assert httpx.post(url + "/m/v1/completions", json=BODY).status_code == 404
        write_routes(routes, {"m": [rev("r1", upstreams["blue"].url, 100, "blue")]})
        wait_generation(url, 2)
        assert send_many(url, 3) == Counter({"blue": 3})
    finally:
        proc.stop()


def test_sigterm_finishes_in_flight_requests(tmp_path: Path, upstreams: dict) -> None:
    upstreams["blue"].delay_s = 1.0
    routes = tmp_path / "routes.json"
    write_routes(routes, {"m": [rev("r1", upstreams["blue"].url, 100, "blue")]})
    proc, url = start_gateway(routes, tmp_path)
    try:
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(httpx.post, url + "/m/v1/completions", json=BODY, timeout=10)
                       for _ in range(2)]  # fmt: skip
            deadline = time.monotonic() + 10
            while upstreams["blue"].posts < 2:  # both requests wait on the slow upstream
                assert time.monotonic() < deadline, "requests never reached the upstream"
                time.sleep(0.01)
            proc.popen.send_signal(signal.SIGTERM)
            assert [f.result().status_code for f in futures] == [200, 200]
        assert proc.popen.wait(timeout=10) == 0
    finally:
        proc.stop()


def test_slow_upstream_times_out_as_504(tmp_path: Path, upstreams: dict) -> None:
    # The upstream would answer after 5 s; the gateway gives up after 0.3 s. The bound sits far
    # from both, so a busy machine cannot fail it, but a gateway that waits for the upstream does.
    upstreams["blue"].delay_s = 5.0
    routes = tmp_path / "routes.json"
    write_routes(routes, {"m": [rev("r1", upstreams["blue"].url, 100, "blue")]})
    proc, url = start_gateway(routes, tmp_path, extra=["--upstream-timeout", "0.3"])
    try:
        t0 = time.perf_counter()
        r = httpx.post(url + "/m/v1/completions", json=BODY, timeout=10)
        assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
        assert time.perf_counter() - t0 < 4.0
        assert metric_samples(url, "llm_requests_failed_total") == {
            ("m", "staging", "1.0.1", "blue", "r1"): 1.0
        }
    finally:
        proc.stop()
