"""Rollback safety end to end: abusive client traffic must not move a deployment's error rate.

A real model server behind a real gateway, scraped every second by a real Prometheus; good
traffic plus malformed requests (negative seeds, JSON nested 100,000 deep, over-long prompts,
oversized bodies, ...) go through the gateway, and the SLO evaluation the promotion gate and the
rollback sensor use (``llm_platform.slo.evaluate``) must still pass the error-rate objective
with ``llm_requests_failed_total`` at zero. Before client errors were 4xx this drove the error
rate to ~10% and production rolled back on its own.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from llm_platform.config import SLOObjectives
from llm_platform.slo.evaluate import evaluate
from llm_platform.slo.prom import PrometheusClient
from tests.helpers.contract_bodies import ABUSIVE_BODIES
from tests.helpers.prom_fixtures import PrometheusProcess
from tests.helpers.serving_fixtures import (
    build_artifact,
    start_gateway,
    start_model_server,
    write_routes,
)

NAMESPACE = "production"
MODEL = "m"
GOOD = {"model": MODEL, "prompt": "Shall I compare thee", "max_tokens": 4, "temperature": 0}
# Client mistakes the model server and the gateway each must answer with 4xx.
#: Too long for the model's context, which only the engine (its tokenizer) can tell: the one
#: abusive body the gateway's contract forwards (the engine answers 400).
TOO_LONG = b'{"model":"m","prompt":"' + b"a" * 5000 + b'","max_tokens":8}'
ABUSE: list[bytes] = [
    *(body.replace(b'"tiny"', b'"m"') for _, body, _ in ABUSIVE_BODIES),
    TOO_LONG,
    b'{"model":"m","prompt":"' + b"a" * 1_500_000 + b'"}',  # > the body limit (1 MiB)
    b'{"model":"m","prompt":"x","stream":"yes"}',
]


def _prometheus_config(gateway: str, server: str) -> str:
    def target(url: str) -> str:
        return url.removeprefix("http://")

    return f"""global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: llm-gateway
    static_configs:
      - targets: ["{target(gateway)}"]
  - job_name: llm-model
    static_configs:
      - targets: ["{target(server)}"]
        labels: {{model: "{MODEL}", namespace: "{NAMESPACE}"}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, PrometheusClient]]:
    """(gateway URL, Prometheus client) of a model server + gateway + scraping Prometheus."""
    tmp = tmp_path_factory.mktemp("slo-safety")
    artifact = tmp / "artifact"
    digest = build_artifact(artifact)
    server, server_url = start_model_server(artifact, digest, tmp, model=MODEL)
    routes = tmp / "routes.json"
    rev = {"revision": "r1", "version": "1.0.0", "color": "stable", "url": server_url,
           "weight": 100}  # fmt: skip
    write_routes(routes, {MODEL: [rev]})
    gateway, gateway_url = start_gateway(routes, tmp, namespace=NAMESPACE)
    (tmp / "data").mkdir()
    prom = PrometheusProcess(tmp / "data", _prometheus_config(gateway_url, server_url))
    client = PrometheusClient(prom.url, timeout=10)
    try:
        yield gateway_url, client
    finally:
        client.close()
        prom.stop()
        gateway.stop()
        server.stop()


def _scalar(client: PrometheusClient, promql: str) -> float | None:
    samples = client.query(promql, at=datetime.now(UTC))
    return float(samples[0].value) if samples else None


def _wait_for(client: PrometheusClient, promql: str, want: float, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := _scalar(client, promql)) != want:
        if time.monotonic() > deadline:
            raise AssertionError(f"{promql} is {got}, wanted {want} within {timeout_s} s")
        time.sleep(0.25)


def test_abusive_client_traffic_does_not_move_the_error_rate(
    stack: tuple[str, PrometheusClient],
) -> None:
    gateway, prom = stack
    sel = f'{{model="{MODEL}",namespace="{NAMESPACE}"}}'
    # The gateway exports the routed revision's series at zero before traffic, so that
    # increase() over the window sees every request that follows.
    _wait_for(prom, f"sum(llm_requests_total{sel})", 0.0)
    good, abusive = 200, 40
    good_statuses: Counter[int] = Counter()
    abuse_answers: list[tuple[int, str]] = []
    abuse = itertools.cycle(ABUSE)
    forwarded = 0
    url = f"{gateway}/{MODEL}/v1/completions"
    with httpx.Client(trust_env=False, timeout=30) as http:
        for i in range(good + abusive):
            if i % 6 == 5 and len(abuse_answers) < abusive:
                body = next(abuse)
                r = http.post(url, content=body)
                abuse_answers.append((r.status_code, r.text))
                forwarded += body == TOO_LONG
            else:
                good_statuses[http.post(url, json=GOOD).status_code] += 1
    assert good_statuses == {200: good}
    # The gateway refuses the others before any proxying (its request contract, or 413): they
    # are not requests of the model, in no series.
    proxied = good + forwarded
    _wait_for(prom, f"sum(llm_requests_total{sel})", float(proxied))
    assert _scalar(prom, f"sum(llm_requests_failed_total{sel})") == 0.0, abuse_answers
    objectives = SLOObjectives(window="2m", min_requests=100, latency_p95_ms=10_000.0)
    verdict = evaluate(prom, model=MODEL, namespace=NAMESPACE, objectives=objectives)
    by_name = {r.name: r for r in verdict.objectives}
    assert by_name["error_rate"].verdict == "pass", by_name["error_rate"].reason
    assert by_name["error_rate"].value == 0.0
    assert verdict.verdict == "pass", verdict.reason
    for status, text in abuse_answers:
        assert 400 <= status < 500, (status, text[:300])
        assert set(json.loads(text)["error"]) == {"message", "type", "param", "code"}
