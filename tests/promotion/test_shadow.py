"""The shadow strategy end to end on the LocalRuntime: real model servers, gateway, controller.

Clients send steady traffic through the production gateway while the candidate receives copies
of their requests. A candidate with an injected latency fault must be judged worse and removed
without any client ever being answered by it, waiting for it, or having its copies counted in
the production series; a healthy one is promoted by a blue-green switch.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.promotion.rollout import RolloutResult, execute_rollout
from llm_platform.slo.profiles import REQUESTS_TOTAL
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.stack import StackInfo
from tests.helpers.rollout_fixtures import ENV, Artifacts, first, plan, production_stack, weights
from tests.helpers.runtime_fixtures import complete

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FAULT_MS = 2000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StackInfo]]:
    home = tmp_path_factory.mktemp("shadow-home")
    with production_stack(home) as info:
        yield home, info


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return Artifacts(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture()
def runtime(stack: tuple[Path, StackInfo]) -> LocalRuntime:
    return LocalRuntime(stack[0])


class Clients:
    """Sequential client requests in a thread: latency, answering revision, failures."""

    def __init__(self, endpoint: str, model: str, *, max_requests: int = 6000) -> None:
        self.endpoint, self.model, self.max_requests = endpoint, model, max_requests
        self.latencies: list[float] = []
        self.revisions: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(trust_env=False) as client:
            while not self._stop.is_set() and len(self.latencies) < self.max_requests:
                t0 = time.perf_counter()
                try:
                    resp = complete(client, self.endpoint, self.model)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.latencies.append(time.perf_counter() - t0)
                if resp.status_code != 200:
                    self.failures.append(f"{resp.status_code}: {resp.text[:200]}")
                self.revisions[resp.headers.get("x-llm-revision", "?")] += 1
                self._stop.wait(0.003)

    def p95(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[int(0.95 * (len(ordered) - 1))]

    def __enter__(self) -> Clients:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


class CountWatch:
    """Polls the gateway's production request counter of one revision while a rollout runs."""

    def __init__(self, gateway: str, revision_prefix: str) -> None:
        self.gateway, self.prefix = gateway, revision_prefix
        self.max_seen = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                text = httpx.get(f"{self.gateway}/metrics", timeout=5, trust_env=False).text
            except httpx.HTTPError:
                continue
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    if s.name == REQUESTS_TOTAL and s.labels.get("revision", "").startswith(
                        self.prefix
                    ):
                        self.max_seen = max(self.max_seen, s.value)

    def __enter__(self) -> CountWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _shadow(runtime: LocalRuntime, art: Artifacts, model: str, **kw: object) -> RolloutResult:
    return execute_rollout(
        runtime,
        plan(model, art, "2.0.0", "shadow", analysis_window_s=1, analysis_deadline_s=90, **kw),
    )


def test_shadow_catches_a_slow_candidate_before_any_client_sees_it(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    stable = first(runtime, "sh-slow", artifacts, "blue-green")
    endpoint = runtime.status(ENV, "sh-slow").endpoint  # type: ignore[union-attr]
    assert endpoint is not None
    gateway = endpoint.rsplit("/", 1)[0]
    with Clients(endpoint, "sh-slow") as clients, CountWatch(gateway, "v2-0-0") as counted:
        time.sleep(1.0)
        result = _shadow(runtime, artifacts, "sh-slow", latency_ms=FAULT_MS)
    assert result.outcome == "rolled_back", result.reason
    assert result.reason.startswith("shadow analysis fail"), result.reason
    assert result.analysis is not None
    judged = result.analysis["judgements"]
    assert isinstance(judged, dict) and judged["latency_vs_production"]["verdict"] == "fail"
    assert judged["latency_vs_production"]["lower"] > 1.1
    # No client was answered by the candidate, none failed, none waited for its 2 s fault.
    assert clients.failures == [], clients.failures[:3]
    assert set(clients.revisions) == {stable.new_revision}
    assert clients.p95() < FAULT_MS / 2000, clients.p95()
    # The candidate's production series counted only its smoke test (20 completions and a
    # few single requests), never the copies: counted, they would add every pair.
    pairs = result.analysis["canary"]["requests"]  # type: ignore[index]
    assert pairs >= 30
    assert counted.max_seen <= 25, (counted.max_seen, pairs)
    assert weights(runtime, "sh-slow") == {stable.new_revision: 100}


def test_shadow_promotes_a_healthy_candidate_with_a_blue_green_switch(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    stable = first(runtime, "sh-ok", artifacts, "blue-green")
    endpoint = runtime.status(ENV, "sh-ok").endpoint  # type: ignore[union-attr]
    assert endpoint is not None
    with Clients(endpoint, "sh-ok") as clients:
        time.sleep(1.0)
        result = _shadow(runtime, artifacts, "sh-ok")
        time.sleep(0.5)
    assert result.outcome == "promoted", result.reason
    assert clients.failures == [], clients.failures[:3]
    analysis = result.analysis
    assert analysis is not None and analysis["verdict"] == "pass"
    canary = analysis["canary"]
    assert isinstance(canary, dict) and canary["requests"] >= 400  # the error judge's evidence
    # Same weights, greedy requests: every copy answered exactly as production did.
    assert canary["values"]["outputs_match"] == 1.0
    assert result.new_spec.color == "green" and result.new_spec.shadow_percent == 0
    assert weights(runtime, "sh-ok") == {stable.new_revision: 0, result.new_revision: 100}
    assert clients.revisions[result.new_revision] > 0  # after the switch
    steps = [s.name for s in result.steps]
    assert steps.index("shadow_traffic") < steps.index("stop_shadow") < steps.index("switch")
