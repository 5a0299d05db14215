"""The endpoint integration suite against fake endpoints that misbehave, and the real stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_platform.cli import _register, app
from llm_platform.endpoint_tests import SuiteReport, run_suite
from llm_platform.endpoint_tests.checks import completion_problem, health_problem, percentile
from tests.helpers.serving_fixtures import (
    FakeUpstream,
    Reply,
    build_artifact,
    completion_body,
    start_gateway,
    start_model_server,
    write_routes,
)

SMALL = {"requests": 40, "concurrency": 4, "timeout_s": 5}


def suite(up: FakeUpstream, **kw: object) -> SuiteReport:
    return run_suite(up.url, model="fake", **{**SMALL, **kw})  # type: ignore[arg-type]


def by_name(report: SuiteReport) -> dict[str, bool]:
    return {t.name: t.passed for t in report.tests}


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[FakeUpstream]:
    up = FakeUpstream("fake", **getattr(request, "param", {}))
    yield up
    up.close()


def test_passes_on_a_good_endpoint(endpoint: FakeUpstream) -> None:
    report = suite(endpoint)
    assert report.passed and by_name(report) == {"health": True, "inference": True, "load": True}
    assert report.load is not None
    assert report.load.succeeded == 40 and report.load.success_rate == 1.0
    assert report.load.p50_ms is not None and report.load.p95_ms >= report.load.p50_ms
    assert endpoint.posts == 41  # one inference + 40 load requests


def every_other_500(n: int) -> Reply:
    return (500, b'{"error": {"message": "overloaded"}}') if n % 2 else (200, completion_body())


@pytest.mark.parametrize(
    ("endpoint", "failing", "reason"),
    [
        ({"completion": every_other_500}, {"load"}, "HTTP 500"),
        ({"health": (503, b'{"status": "down"}')}, {"health"}, "HTTP 503"),
        ({"health": (200, b'{"status": "degraded"}')}, {"health"}, "degraded"),
        ({"health": (200, b"OK")}, {"health"}, "not JSON"),
        ({"completion": lambda n: (200, b"<html>hi</html>")}, {"inference", "load"}, "not JSON"),
        (
            {"completion": lambda n: (200, b'{"choices": [], "usage": {"completion_tokens": 1}}')},
            {"inference", "load"},
            "no choices",
        ),
        ({"completion": lambda n: (200, completion_body(""))}, {"inference", "load"}, "empty"),
        (
            {"completion": lambda n: (200, b'{"error": {"message": "model not loaded"}}')},
            {"inference", "load"},
            "error body with status 200",
        ),
        ({"completion": lambda n: (200, completion_body(tokens=0))}, {"inference", "load"},
         "completion_tokens"),
    ],
    indirect=["endpoint"],
)  # fmt: skip
def test_fails_on_misbehaving_endpoints(
    endpoint: FakeUpstream, failing: set[str], reason: str
) -> None:
    report = suite(endpoint)
    assert not report.passed
    assert {n for n, ok in by_name(report).items() if not ok} == failing
    details = " | ".join(t.detail for t in report.tests if not t.passed)
    assert reason in details


def test_success_rate_threshold(endpoint: FakeUpstream) -> None:
    endpoint.completion = lambda n: (500, b"{}") if n % 10 == 1 else (200, completion_body())
    assert suite(endpoint, min_success_rate=0.8).passed  # 90 % ok
    assert not suite(endpoint, min_success_rate=0.95).passed


def test_unreachable_endpoint_fails_everything() -> None:
    up = FakeUpstream("gone")
    url = up.url
    up.close()
    report = run_suite(url, model="x", requests=5, concurrency=2, timeout_s=2)
    assert not any(t.passed for t in report.tests)
    assert report.load is None  # no completion answered: the load test is not run
    assert report.tests[-1].detail == "not run: the inference test failed"
    assert "no response" in report.tests[0].detail


def test_health_path_option(endpoint: FakeUpstream) -> None:
    endpoint.health = (200, b'{"object": "list", "data": []}')
    assert suite(endpoint, health_path="v1/models").passed


def test_pure_checks() -> None:
    assert completion_problem(200, completion_body()) is None
    assert "object" in str(completion_problem(200, b'{"object": "chat.completion"}'))
    assert health_problem(200, b'{"status": "OK"}') is None
    assert health_problem(200, b"[1]") is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    assert percentile([], 50) is None


def test_cli_exit_codes(endpoint: FakeUpstream) -> None:
    _register()
    runner = CliRunner()
    ok = runner.invoke(app, ["test-endpoint", endpoint.url, "--model", "fake", "--requests", "10",
                             "--format", "json"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["passed"] is True
    endpoint.completion = every_other_500
    bad = runner.invoke(app, ["test-endpoint", endpoint.url, "--model", "fake", "--requests", "10"])
    assert bad.exit_code == 1
    assert "FAIL" in bad.stdout and "load" in bad.stdout
    usage = runner.invoke(app, ["test-endpoint", "ftp://x", "--model", "fake"])
    assert usage.exit_code == 2
    fmt = runner.invoke(app, ["test-endpoint", endpoint.url, "--model", "f", "--format", "xml"])
    assert fmt.exit_code == 2


def test_real_server_through_gateway(tmp_path: Path) -> None:
    artifact = tmp_path / "tiny"
    digest = build_artifact(artifact)
    server, server_url = start_model_server(artifact, digest, tmp_path, model="tiny")
    routes = tmp_path / "routes.json"
    write_routes(routes, {"tiny": [{"revision": "r1", "version": "1.0.0", "color": "blue",
                                    "url": server_url, "weight": 100}]})  # fmt: skip
    gateway, gw_url = start_gateway(routes, tmp_path)
    try:
        report = run_suite(f"{gw_url}/tiny", model="tiny", requests=60, concurrency=8)
        assert report.passed, report.model_dump_json(indent=2)
        assert report.load is not None and report.load.succeeded == 60
        wrong = run_suite(f"{gw_url}/tiny", model="other", requests=4, concurrency=2)
        # The gateway refuses a body naming another model than the path routes to.
        assert not wrong.passed and "HTTP 400" in wrong.tests[1].detail
        assert "model_mismatch" in wrong.tests[1].detail
    finally:
        gateway.stop()
        server.stop()
