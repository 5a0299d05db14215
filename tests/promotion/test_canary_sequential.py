"""The sequential canary analysis on a real HTTP metrics endpoint, its config and its traffic.

The gateway's exposition text is served by a real HTTP server on 127.0.0.1; between looks the
test advances the counters as a gateway under load would (the analysis' ``sleep`` is the hook).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest
from pydantic import ValidationError

from llm_platform.config import EnvironmentConfig
from llm_platform.promotion.analysis import AnalysisTarget, CanaryThresholds, SampleSnapshot
from llm_platform.promotion.analysis_traffic import (
    BUILTIN_PROMPTS,
    TRAFFIC_HEADER,
    TRAFFIC_LABEL,
    AnalysisTraffic,
    suite_prompts,
)
from llm_platform.promotion.metric_sources import GatewayMetricsSource
from llm_platform.promotion.rollout import plan_from_environment
from llm_platform.promotion.sequential import PairedSamples, expand_buckets, sequential_analysis
from llm_platform.serving.metrics import LATENCY_BUCKETS
from tests.helpers.loopback_http import LoopbackServer, QuietHandler
from tests.helpers.serving_fixtures import MetricsServer

TARGET = AnalysisTarget(
    env="production", namespace="production", model="m", canary="c1", stable="s1"
)
EDGES = [*LATENCY_BUCKETS, math.inf]


def test_expand_buckets_spreads_counts_inside_each_bucket():
    values = expand_buckets({0.1: 2, 0.5: 0, 1.0: 4, math.inf: 1})
    assert values.tolist() == pytest.approx([0.025, 0.075, 0.5625, 0.6875, 0.8125, 0.9375, 1.0])
    assert expand_buckets({}).size == 0


def test_paired_samples_take_only_what_arrived_since_the_last_look():
    pairs = PairedSamples(seed=1)

    def snap(rev: str, counts: dict[float, float]) -> SampleSnapshot:
        return SampleSnapshot(revision=rev, requests=0, failed=0, buckets={"latency_p95": counts})

    pairs.add(snap("c", {0.1: 3, math.inf: 3}), snap("s", {0.1: 10, math.inf: 12}))
    assert len(pairs.canary["latency_p95"]) == len(pairs.stable["latency_p95"]) == 3
    # Prometheus' extrapolation may shrink a count: nothing is taken back, nothing doubled.
    pairs.add(snap("c", {0.1: 2.6, math.inf: 2.6}), snap("s", {0.1: 10, math.inf: 12}))
    assert len(pairs.canary["latency_p95"]) == 3
    pairs.add(snap("c", {0.1: 3, math.inf: 8}), snap("s", {0.1: 15, math.inf: 30}))
    assert len(pairs.canary["latency_p95"]) == 8
    assert max(pairs.canary["latency_p95"]) == pytest.approx(0.1)  # the +Inf bucket's floor


class Load:
    """Gateway counters growing look by look: ``rate`` requests per revision per look, with
    lognormal latencies (median ``median_s``) and a failure probability."""

    def __init__(self, server: MetricsServer, seed: int = 3) -> None:
        self.server, self.rng = server, np.random.default_rng(seed)
        self.state = {rev: {"n": 0, "f": 0, "b": np.zeros(len(EDGES))} for rev in ("c1", "s1")}
        self.render()

    def step(self, rev: str, n: int, *, median_s: float, fail: float) -> None:
        s = self.state[rev]
        lat = self.rng.lognormal(math.log(median_s), 0.4, n)
        s["n"] += n
        s["f"] += int((self.rng.random(n) < fail).sum())
        s["b"] += np.array([(lat <= le).sum() for le in EDGES])

    def render(self) -> None:
        lines = []
        for rev, s in self.state.items():
            labels = f'model="m",namespace="production",version="1",color="x",revision="{rev}"'
            lines += [
                f"llm_requests_total{{{labels}}} {s['n']}",
                f"llm_requests_failed_total{{{labels}}} {s['f']}",
            ]
            for le, count in zip(EDGES, s["b"], strict=True):
                le_text = "+Inf" if math.isinf(le) else repr(le)
                lines.append(
                    f'llm_request_duration_seconds_bucket{{{labels},le="{le_text}"}} {count}'
                )
        self.server.text = "\n".join(lines) + "\n"


@pytest.fixture()
def server() -> Iterator[MetricsServer]:
    with MetricsServer() as srv:
        yield srv


def _run(server: MetricsServer, canary_median: float, canary_fail: float, *, deadline: float):
    load = Load(server)
    load.step("s1", 50, median_s=0.4, fail=0.0)  # before the analysis: not counted
    load.render()
    source = GatewayMetricsSource(server.url)
    source.begin(TARGET)
    now = [0.0]

    def sleep(seconds: float) -> None:  # one look's worth of traffic per look
        now[0] += seconds
        load.step("c1", 60, median_s=canary_median, fail=canary_fail)
        load.step("s1", 540, median_s=0.4, fail=0.0)
        load.render()

    return sequential_analysis(
        source,
        TARGET,
        CanaryThresholds(),
        look_every_s=5,
        deadline_s=deadline,
        clock=lambda: now[0],
        sleep=sleep,
    )


def test_a_slower_canary_fails_at_an_early_look(server):
    result = _run(server, canary_median=0.6, canary_fail=0.0, deadline=600)
    assert result.verdict == "fail", result.reason
    assert result.looks <= 5
    j = result.judgements["latency_p95_vs_stable"]
    assert j.verdict == "fail" and j.lower is not None and j.lower > 1.1
    assert result.reason.startswith("latency_p95_vs_stable:")
    assert result.stable.requests == result.looks * 540  # counted from begin only


def test_an_equal_canary_passes_once_the_evidence_suffices(server):
    result = _run(server, canary_median=0.4, canary_fail=0.0, deadline=600)
    assert result.verdict == "pass", result.reason
    assert result.looks > 1  # the error-rate judge needs hundreds of canary requests
    assert {n: j.verdict for n, j in result.judgements.items()} == {
        "error_rate_vs_stable": "pass",
        "latency_p95_vs_stable": "pass",
    }
    # the absolute objectives were checked too, on the whole analysis window
    assert {c.name for c in result.checks} >= {"latency_p95", "error_rate", "canary_requests"}


def test_failing_canary_is_caught_by_the_proportion_judge(server):
    result = _run(server, canary_median=0.4, canary_fail=0.2, deadline=600)
    assert result.verdict == "fail" and result.looks <= 3
    assert result.judgements["error_rate_vs_stable"].verdict == "fail"


def test_deadline_ends_an_undecided_analysis_inconclusive(server):
    result = _run(server, canary_median=0.4, canary_fail=0.0, deadline=5)
    assert result.verdict == "inconclusive" and result.looks == 1
    assert result.reason.startswith("no verdict by the 5s deadline (1 looks)")


def test_environment_analysis_block_reaches_the_plan():
    config = EnvironmentConfig.model_validate(
        {
            "environment": "production",
            "namespace": "production",
            "deployment": {"strategy": "canary"},
            "analysis": {
                "deadline": "2m",
                "look_every": "3s",
                "on_inconclusive": "hold",
                "confidence": 0.9,
                "max_increase": 0.2,
                "traffic_rps": 5,
            },
        }
    )
    p = plan_from_environment(
        config, env="production", model="m", version="1", digest="a" * 64, artifact_uri="/x"
    )
    assert (p.analysis_deadline_s, p.analysis_window_s, p.on_inconclusive) == (120, 3, "hold")
    assert p.analysis_traffic_rps == 5
    assert p.thresholds is not None
    assert (p.thresholds.confidence, p.thresholds.max_increase) == (0.9, 0.2)
    default = EnvironmentConfig.model_validate(
        {"environment": "p", "namespace": "p", "deployment": {"strategy": "canary"}}
    )
    assert default.analysis.on_inconclusive == "rollback" and default.analysis.deadline == "10m"


@pytest.mark.parametrize(
    ("analysis", "match"),
    [
        ({"on_inconclusive": "promote"}, "analysis.on_inconclusive"),
        ({"deadline": "ten minutes"}, "analysis.deadline"),
        ({"look_every": "5m", "deadline": "1m"}, "look_every 5m is longer than deadline 1m"),
        ({"confidence": 1.0}, "analysis.confidence"),
        ({"traffic_rps": -1}, "analysis.traffic_rps"),
        ({"dedline": "1m"}, "analysis.dedline"),
    ],
)
def test_environment_analysis_block_is_validated(analysis, match):
    with pytest.raises(ValidationError, match=match):
        EnvironmentConfig.model_validate(
            {
                "environment": "p",
                "namespace": "p",
                "deployment": {"strategy": "canary"},
                "analysis": analysis,
            }
        )


def test_suite_prompts_replay_the_prompt_cases():
    text = """
cases:
  - {id: a, prompt: "Say hi", expect: {contains_any: [hi]}}
  - {id: b, messages: [{role: user, content: x}], expect: {equals: x}}
  - {id: c, prompt: "Count to 3", expect: {regex: "3"}}
"""
    assert suite_prompts(text) == ["Say hi", "Count to 3"]
    assert suite_prompts(None) == []
    with pytest.raises(ValueError, match="'cases' list"):
        suite_prompts("gate: {}\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        suite_prompts("cases: [\n")


class Recorder(LoopbackServer):
    """A real HTTP server counting POSTs and their labels."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.labels: list[str | None] = []
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.bodies.append(body)
                outer.labels.append(self.headers.get(TRAFFIC_HEADER))
                self.reply(200, b"{}")

        super().__init__(Handler)


def test_analysis_traffic_is_labelled_rate_limited_and_stops():
    with Recorder() as rec:
        t0 = time.monotonic()
        with AnalysisTraffic(
            f"{rec.url}/m", "m", rps=20, max_duration_s=30, prompts=["p1", "p2"]
        ) as t:
            time.sleep(1.0)
        elapsed = time.monotonic() - t0
        count = len(rec.bodies)
        time.sleep(0.3)
        assert len(rec.bodies) == count  # stopped on exit
        assert 1 <= count <= 20 * elapsed + 4  # never above the rate (+1 per worker at start)
        assert t.sent == count
        assert set(rec.labels) == {TRAFFIC_LABEL}
        assert all(b'"user":"canary-analysis"' in b.replace(b" ", b"") for b in rec.bodies)
        assert {b'"prompt":"p1"' in b.replace(b" ", b"") for b in rec.bodies} == {True, False}
        # bounded by its own deadline too
        with AnalysisTraffic(f"{rec.url}/m", "m", rps=20, max_duration_s=1.0) as t2:
            time.sleep(2.5)
        assert 1 <= t2.sent <= 20 * 1.0 + 4
        builtin = [b.decode() for b in rec.bodies[count:]]
        assert builtin and all(any(p in b for p in BUILTIN_PROMPTS) for b in builtin)
    with pytest.raises(ValueError, match="rps must be > 0"):
        AnalysisTraffic(f"{rec.url}/m", "m", rps=0, max_duration_s=1)
