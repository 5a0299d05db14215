"""Pure SLO rules: PromQL building and verdict logic, with an in-memory query answerer."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_platform.config import SLOObjectives
from llm_platform.slo import (
    DEFAULT_PROFILE,
    VLLM_PROFILE,
    ObjectiveResult,
    PrometheusClient,
    PrometheusError,
    PromSample,
    build_queries,
    evaluate,
    evaluate_fleet,
    overall,
)
from llm_platform.slo.profiles import check_window, quote_label_value, selector
from tests.helpers.loopback_http import LoopbackServer, QuietHandler

OBJ = SLOObjectives(
    window="24h", availability=0.999, latency_p95_ms=2000, error_rate=0.01, min_requests=1000
)
AT = datetime(2026, 1, 1, tzinfo=UTC)


class Answers:
    """Answers each query by the first key that occurs in it (a table, not a fake server)."""

    def __init__(self, table: dict[str, list[PromSample]]) -> None:
        self.table = table
        self.seen: list[str] = []

    def query(self, promql: str, *, at: datetime) -> list[PromSample]:
        self.seen.append(promql)
        for needle, samples in self.table.items():
            if needle in promql:
                return samples
        return []


def one(value: float) -> list[PromSample]:
    return [PromSample(labels={}, value=value)]


def answers(requests: float, p95_s: float, errors: float, up: float) -> Answers:
    # Order matters: the error-rate query also contains llm_requests_total.
    return Answers(
        {
            "llm_requests_failed_total": one(errors),
            "histogram_quantile": one(p95_s),
            "llm_requests_total": one(requests),
            "avg_over_time(up": one(up),
            "count_over_time(up": one(5760),
        }
    )


def verdicts(client: Answers, objectives: SLOObjectives = OBJ) -> list[str]:
    result = evaluate(client, model="m", namespace="ns", objectives=objectives, at=AT)
    return [r.verdict for r in result.objectives] + [result.verdict]


def test_values_exactly_at_thresholds_pass() -> None:
    assert verdicts(answers(1000, 2.0, 0.01, 0.999)) == ["pass"] * 4


def test_values_just_past_thresholds_fail() -> None:
    assert verdicts(answers(1000, 2.0001, 0.0100001, 0.99899)) == ["fail"] * 4


def test_traffic_below_minimum_is_inconclusive_even_when_failing() -> None:
    assert verdicts(answers(999, 9.0, 0.5, 1.0)) == [
        "pass",
        "inconclusive",
        "inconclusive",
        "inconclusive",
    ]
    assert verdicts(answers(999, 9.0, 0.5, 0.5)) == ["fail", "inconclusive", "inconclusive", "fail"]


def test_nan_and_missing_values_are_inconclusive() -> None:
    assert verdicts(answers(5000, math.nan, math.nan, math.nan))[:3] == ["inconclusive"] * 3
    assert verdicts(Answers({})) == ["inconclusive"] * 4
    zero = OBJ.model_copy(update={"min_requests": 0})
    assert verdicts(answers(0, math.nan, math.nan, 1.0), zero) == [
        "pass",
        "inconclusive",
        "inconclusive",
        "inconclusive",
    ]


def test_more_than_one_series_is_an_error_not_a_verdict() -> None:
    two = [PromSample(labels={"a": "1"}, value=1.0), PromSample(labels={"a": "2"}, value=1.0)]
    with pytest.raises(PrometheusError, match="expected one series"):
        evaluate(Answers({"avg_over_time": two}), model="m", namespace="ns", objectives=OBJ, at=AT)


def test_fleet_rejects_duplicate_model_series() -> None:
    dup = [PromSample(labels={"model": "m"}, value=1.0)] * 2
    with pytest.raises(PrometheusError, match="two series for model=m"):
        evaluate_fleet(
            Answers({"llm_requests_total": dup}),
            namespace="ns",
            objectives_by_model={"m": OBJ},
            at=AT,
        )


@given(st.lists(st.sampled_from(["pass", "fail", "inconclusive"]), min_size=1, max_size=3))
def test_overall_is_fail_then_inconclusive_then_pass(kinds: list[str]) -> None:
    results = [
        ObjectiveResult(
            name="error_rate",
            query="q",
            window="1h",
            value=None,
            threshold=0.1,
            samples=None,
            verdict=k,
            reason="r",
        )  # type: ignore[arg-type]
        for k in kinds
    ]
    verdict, reason = overall(results)
    expected = "fail" if "fail" in kinds else "inconclusive" if "inconclusive" in kinds else "pass"
    assert verdict == expected and reason


def test_queries_scope_model_and_namespace_and_use_windowed_functions() -> None:
    q = build_queries(
        DEFAULT_PROFILE,
        namespace="prod",
        window="24h",
        model="m",
        extra_labels={"revision": "canary"},
    )
    sel = '{namespace="prod",model="m",revision="canary"}'
    assert q.requests == f"sum (increase(llm_requests_total{sel}[24h]))"
    assert q.objectives["latency_p95"] == (
        "histogram_quantile(0.95, sum by (le) "
        f"(rate(llm_request_duration_seconds_bucket{sel}[24h])))"
    )
    assert q.objectives["error_rate"] == (
        f"sum (increase(llm_requests_failed_total{sel}[24h])) / "
        f"sum (increase(llm_requests_total{sel}[24h]))"
    )
    up = '{job="llm-model",namespace="prod",model="m",revision="canary"}'
    assert q.objectives["availability"] == f"avg (avg_over_time(up{up}[24h]))"
    fleet = build_queries(VLLM_PROFILE, namespace="prod", window="1h")
    assert "sum by (model_name, le)" in fleet.objectives["latency_p95"]
    assert 'finished_reason=~"abort|error"' in fleet.objectives["error_rate"]
    assert "avg by (model)" in fleet.objectives["availability"] and "model=" not in fleet.requests
    assert "vllm:time_to_first_token_seconds_bucket" in fleet.objectives["ttft_p95"]
    assert "vllm:time_per_output_token_seconds_bucket" in fleet.objectives["tpot_p95"]


def test_label_escaping_and_validation() -> None:
    assert quote_label_value('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert selector({"x": "~not-a-regex"}) == '{x="~not-a-regex"}'
    with pytest.raises(ValueError, match="label name"):
        selector({"bad-name": "x"})
    assert check_window("1h30m") == "1h30m"
    for bad in ("24 hours", "", "1.5h", "h"):
        with pytest.raises(ValueError, match="Prometheus duration"):
            check_window(bad)


def test_window_rule_is_the_config_schemas() -> None:
    """The query builder and the config schema accept and refuse the same windows."""
    from pydantic import ValidationError

    for window in ("0s", "0m0s", "1.5h", "24 hours", "-1h"):
        with pytest.raises(ValueError, match="SLO window"):
            check_window(window)
        with pytest.raises(ValidationError):
            SLOObjectives(window=window)
    for window in ("1ms", "90s", "1h30m", "7d", "1y"):
        assert check_window(window) == window == SLOObjectives(window=window).window


class _Reply(QuietHandler):
    """Answers every GET with the status and body configured on the server."""

    def do_GET(self) -> None:  # noqa: N802
        self.reply(*self.server.reply)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "body", "needle"),
    [
        (503, b"upstream down", "503"),
        (200, b"not json", "HTTP 200"),
        (200, b'{"status":"success"}', "HTTP 200"),
        (
            200,
            b'{"status":"success","data":{"resultType":"matrix","result":'
            b'[{"metric":{},"values":[[1,"1"]]}]}}',
            "instant vector",
        ),
        (422, b'{"status":"error","errorType":"execution","error":"too many samples"}', "samples"),
    ],
)
def test_http_errors_and_odd_answers_raise(status: int, body: bytes, needle: str) -> None:
    with LoopbackServer(_Reply) as loopback:
        loopback.server.reply = (status, body)  # type: ignore[attr-defined]
        url = loopback.url
        with PrometheusClient(url, timeout=5) as client, pytest.raises(PrometheusError) as err:
            evaluate(client, model="m", namespace="ns", objectives=OBJ, at=AT)
        assert needle in str(err.value) and url in str(err.value)
        assert client.queries_issued == 1
