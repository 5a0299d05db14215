"""SLO evaluation against a real Prometheus serving backfilled history (one dataset per module).

The ``slo check`` CLI over such a history: ``test_prometheus_cli.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from llm_platform.config import SLOObjectives
from llm_platform.slo import (
    DEFAULT_PROFILE,
    VLLM_PROFILE,
    PrometheusClient,
    PrometheusError,
    evaluate,
    evaluate_fleet,
)
from tests.helpers.prom_fixtures import (
    PrometheusProcess,
    Scenario,
    free_port,
    history_prometheus,
    p95_from,
)

pytestmark = pytest.mark.integration

NS = "staging"
STEPS = 480  # 2 h of 15 s samples; the 1 h window sees 241 of them
OBJ = SLOObjectives(
    window="1h", availability=0.99, latency_p95_ms=2000, error_rate=0.01, min_requests=1000
)
TERRIBLE = {"error_ratio": 0.5, "down_steps": set(range(0, 200)), "cumulative": {5.0: 0.5}}
SCENARIOS = [
    Scenario("healthy", NS),
    Scenario("latency-regression", NS, cumulative={1.0: 0.5, 2.5: 0.8, 5.0: 0.99}),
    Scenario("error-spike", NS, error_ratio=0.05),
    Scenario("availability-dip", NS, down_steps=set(range(10, 30))),
    Scenario("no-traffic", NS, rps=0),
    Scenario("too-little-traffic", NS, rps=0.2, error_ratio=0.5, cumulative={5.0: 0.5}),
    Scenario("p95-inside", NS, cumulative={1.5: 0.9, 2.0: 0.96}),
    Scenario("p95-outside", NS, cumulative={1.5: 0.9, 2.0: 0.94, 2.5: 1.0}),
    Scenario("err-inside", NS, error_ratio=0.009),
    Scenario("err-outside", NS, error_ratio=0.011),
    Scenario("avail-inside", NS, down_steps={50, 100}),
    Scenario("avail-outside", NS, down_steps={50, 100, 150}),
    Scenario("counter-reset", NS, reset_steps_ago=120, error_ratio=0.005),
    Scenario("no-latency-observations", NS, frozen_histogram=True),
    Scenario("two-instances", NS, labels={"instance": "a"}),
    Scenario("two-instances", NS, labels={"instance": "b"}, down_steps=set(range(20, 28))),
    # Misbehaving neighbours of "shared": same name in another namespace, similar name here.
    Scenario("shared", NS),
    Scenario("shared", "production", **TERRIBLE),
    Scenario("shared-2", NS, **TERRIBLE),
    Scenario("sharedx", NS, **TERRIBLE),
    Scenario("canary-model", NS, labels={"revision": "stable"}),
    Scenario("canary-model", NS, labels={"revision": "canary"}, error_ratio=0.2),
    Scenario("llama", NS, profile="vllm"),
    Scenario("llama-bad", NS, profile="vllm", error_ratio=0.05),
]


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, int]]:
    with history_prometheus(tmp_path_factory.mktemp("prom"), SCENARIOS, steps=STEPS) as served:
        yield served


@pytest.fixture()
def client(prom: tuple[PrometheusProcess, int]) -> Iterator[PrometheusClient]:
    with PrometheusClient(prom[0].url, timeout=10) as c:
        yield c


@pytest.fixture()
def at(prom: tuple[PrometheusProcess, int]) -> datetime:
    return datetime.fromtimestamp(prom[1], UTC)


def _verdicts(verdict) -> dict[str, str]:  # noqa: ANN001
    return {r.name: r.verdict for r in verdict.objectives}


P, F, I = "pass", "fail", "inconclusive"  # noqa: E741


@pytest.mark.parametrize(
    ("model", "overall", "availability", "latency", "errors"),
    [
        ("healthy", P, P, P, P),
        ("latency-regression", F, P, F, P),
        ("error-spike", F, P, P, F),
        ("availability-dip", F, F, P, P),
        ("no-traffic", I, P, I, I),
        ("too-little-traffic", I, P, I, I),
        ("p95-inside", P, P, P, P),
        ("p95-outside", F, P, F, P),
        ("err-inside", P, P, P, P),
        ("err-outside", F, P, P, F),
        ("avail-inside", P, P, P, P),
        ("avail-outside", F, F, P, P),
        ("counter-reset", P, P, P, P),
        ("no-latency-observations", I, P, I, P),
        ("two-instances", F, F, P, P),
        ("shared", P, P, P, P),
        ("never-deployed", I, I, I, I),
    ],
)
def test_verdict_per_scenario(
    client: PrometheusClient,
    at: datetime,
    model: str,
    overall: str,
    availability: str,
    latency: str,
    errors: str,
) -> None:
    verdict = evaluate(client, model=model, namespace=NS, objectives=OBJ, at=at, env="stg")
    assert _verdicts(verdict) == {
        "availability": availability,
        "latency_p95": latency,
        "error_rate": errors,
    }, verdict.reason
    assert verdict.verdict == overall
    assert verdict.env == "stg" and verdict.model == model
    assert all(r.window == "1h" and r.reason for r in verdict.objectives)


def test_observed_values_match_the_history(client: PrometheusClient, at: datetime) -> None:
    def values(model: str) -> dict[str, float | None]:
        v = evaluate(client, model=model, namespace=NS, objectives=OBJ, at=at)
        return {r.name: r.value for r in v.objectives} | {"samples": v.objectives[1].samples}

    healthy = values("healthy")
    assert healthy["latency_p95"] == pytest.approx(p95_from({0.5: 0.6, 1.0: 0.97}) * 1000)
    assert healthy["availability"] == 1.0 and healthy["error_rate"] == 0.0
    assert healthy["samples"] == pytest.approx(7200, rel=0.01)
    assert values("p95-inside")["latency_p95"] == pytest.approx(1916.67, abs=0.1)
    assert values("p95-outside")["latency_p95"] == pytest.approx(2083.33, abs=0.1)
    assert values("err-inside")["error_rate"] == pytest.approx(0.009)
    assert values("err-outside")["error_rate"] == pytest.approx(0.011)
    assert values("avail-inside")["availability"] == pytest.approx(239 / 241)
    assert values("avail-outside")["availability"] == pytest.approx(238 / 241)
    # Requests of both instances are summed, availability is averaged across them.
    two = values("two-instances")
    assert two["samples"] == pytest.approx(2 * 7200, rel=0.01)
    assert two["availability"] == pytest.approx((1 + 233 / 241) / 2)


def test_counter_reset_mid_window_is_handled(client: PrometheusClient, at: datetime) -> None:
    verdict = evaluate(client, model="counter-reset", namespace=NS, objectives=OBJ, at=at)
    latency, errors = verdict.objectives[1], verdict.objectives[2]
    # A naive last-minus-first would see a negative or tiny number of requests here.
    assert latency.samples == pytest.approx(7200, rel=0.01)
    assert errors.value == pytest.approx(0.005)


def test_too_little_traffic_never_passes_or_fails(client: PrometheusClient, at: datetime) -> None:
    verdict = evaluate(client, model="too-little-traffic", namespace=NS, objectives=OBJ, at=at)
    errors = verdict.objectives[2]
    assert errors.samples == pytest.approx(720, rel=0.02)
    assert "need >= 1000" in errors.reason
    relaxed = OBJ.model_copy(update={"min_requests": 500})
    verdict = evaluate(client, model="too-little-traffic", namespace=NS, objectives=relaxed, at=at)
    assert _verdicts(verdict) == {"availability": P, "latency_p95": F, "error_rate": F}


def test_other_models_and_namespaces_do_not_leak(client: PrometheusClient, at: datetime) -> None:
    shared = evaluate(client, model="shared", namespace=NS, objectives=OBJ, at=at)
    healthy = evaluate(client, model="healthy", namespace=NS, objectives=OBJ, at=at)
    assert [r.value for r in shared.objectives] == [r.value for r in healthy.objectives]
    assert all(
        'model="shared"' in r.query and 'namespace="staging"' in r.query for r in shared.objectives
    )
    prod = evaluate(client, model="shared", namespace="production", objectives=OBJ, at=at)
    assert _verdicts(prod) == {"availability": F, "latency_p95": F, "error_rate": F}


def test_extra_labels_compare_canary_with_stable(client: PrometheusClient, at: datetime) -> None:
    def run(revision: str):  # noqa: ANN202
        return evaluate(
            client,
            model="canary-model",
            namespace=NS,
            objectives=OBJ,
            at=at,
            extra_labels={"revision": revision},
        )

    stable, canary = run("stable"), run("canary")
    assert stable.verdict == P
    assert canary.verdict == F and canary.objectives[2].value == pytest.approx(0.2)
    assert all('revision="canary"' in r.query for r in canary.objectives)
    assert run("missing").verdict == I


def test_vllm_profile(client: PrometheusClient, at: datetime) -> None:
    good = evaluate(
        client, model="llama", namespace=NS, objectives=OBJ, at=at, profile=VLLM_PROFILE
    )
    assert good.verdict == P and good.objectives[1].samples == pytest.approx(7200, rel=0.01)
    assert "vllm:e2e_request_latency_seconds_bucket" in good.objectives[1].query
    bad = evaluate(
        client, model="llama-bad", namespace=NS, objectives=OBJ, at=at, profile=VLLM_PROFILE
    )
    assert bad.verdict == F and bad.objectives[2].value == pytest.approx(0.05)
    # The default profile does not see vLLM's series: no data, never a pass.
    assert evaluate(client, model="llama", namespace=NS, objectives=OBJ, at=at).verdict == I


def test_label_values_are_escaped(client: PrometheusClient, at: datetime) -> None:
    verdict = evaluate(client, model='he"al\\thy', namespace=NS, objectives=OBJ, at=at)
    assert verdict.verdict == I
    assert 'model="he\\"al\\\\thy"' in verdict.objectives[0].query


def test_default_instant_is_now(client: PrometheusClient) -> None:
    verdict = evaluate(client, model="healthy", namespace=NS, objectives=OBJ)
    assert verdict.verdict == P
    assert abs((datetime.now(UTC) - verdict.evaluated_at).total_seconds()) < 60


def test_prometheus_down_raises() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with PrometheusClient(url, timeout=2) as down, pytest.raises(PrometheusError, match=url):
        evaluate(down, model="healthy", namespace=NS, objectives=OBJ)


def test_rejected_query_raises(client: PrometheusClient) -> None:
    broken = DEFAULT_PROFILE.model_copy(update={"latency_histogram": "not a metric"})
    with pytest.raises(PrometheusError, match="bad_data|parse error"):
        evaluate(client, model="healthy", namespace=NS, objectives=OBJ, profile=broken)


def test_fleet_matches_per_model_with_constant_queries(
    client: PrometheusClient, at: datetime
) -> None:
    short = OBJ.model_copy(update={"window": "30m", "min_requests": 500})
    models = sorted({s.model for s in SCENARIOS if s.namespace == NS and s.profile == "default"})
    wanted = {m: (short if i % 3 == 0 else OBJ) for i, m in enumerate(models + ["never-deployed"])}
    before = client.queries_issued
    fleet = evaluate_fleet(client, namespace=NS, objectives_by_model=wanted, at=at)
    assert client.queries_issued - before == 10  # 5 queries x 2 distinct windows
    assert set(fleet) == set(wanted)
    for model, objectives in wanted.items():
        single = evaluate(client, model=model, namespace=NS, objectives=objectives, at=at)
        assert _verdicts(fleet[model]) == _verdicts(single), model
        assert fleet[model].verdict == single.verdict
        for a, b in zip(fleet[model].objectives, single.objectives, strict=True):
            assert (a.value is None) == (b.value is None), model
            if a.value is not None and b.value is not None and not math.isnan(b.value):
                assert a.value == pytest.approx(b.value), (model, a.name)
    before = client.queries_issued
    evaluate_fleet(client, namespace=NS, objectives_by_model={"healthy": OBJ}, at=at)
    assert client.queries_issued - before == 5
