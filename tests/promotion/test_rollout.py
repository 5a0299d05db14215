"""Rollout strategies end to end on the LocalRuntime: real model servers, gateway, Prometheus.

One embedded stack (Prometheus, the production gateway, the controller) serves the module;
each test uses its own model name. Continuous bounded traffic runs through the gateway during
every switch, and every process is stopped by pid in teardown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_platform.promotion.analysis import CanaryThresholds
from llm_platform.promotion.rollout import (
    execute_rollout,
    retire_previous,
    rollback,
)
from llm_platform.targets.base import InvalidDeploymentSpec
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.stack import StackInfo
from tests.helpers.rollout_fixtures import (
    ENV,
    Artifacts,
    current,
    endpoint_of,
    first,
    plan,
    production_stack,
    served_digest,
    weights,
)
from tests.helpers.runtime_fixtures import Traffic, pid_alive, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return Artifacts(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StackInfo]]:
    home = tmp_path_factory.mktemp("rollout-home")
    with production_stack(home) as info:
        yield home, info


@pytest.fixture()
def runtime(stack: tuple[Path, StackInfo]) -> LocalRuntime:
    return LocalRuntime(stack[0])


def test_blue_green_switches_under_traffic_without_failed_requests(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    blue = first(runtime, "bg-ok", artifacts, "blue-green")
    assert blue.new_spec.color == "blue"
    endpoint = endpoint_of(runtime, "bg-ok")
    with Traffic(endpoint, "bg-ok", max_requests=5000) as traffic:
        traffic.wait_for(blue.new_revision, 5)
        result = execute_rollout(runtime, plan("bg-ok", artifacts, "2.0.0", "blue-green"))
        old_after_switch = traffic.revisions[blue.new_revision]
        traffic.wait_for(result.new_revision, 20)
    assert result.outcome == "promoted", result.reason
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.revisions[blue.new_revision] <= old_after_switch + 1
    assert result.new_spec.color == "green" and result.previous_revision == blue.new_revision
    assert [s.name for s in result.steps] == [
        "deploy",
        "wait_ready",
        "smoke",
        "switch",
        "keep_for_rollback",
    ]
    assert all(s.ok for s in result.steps)
    assert result.smoke is not None and result.smoke["passed"] is True
    assert result.retire_after is not None
    # The previous revision stays running at 0% as the rollback target.
    status = current(runtime, "bg-ok")
    assert weights(runtime, "bg-ok") == {blue.new_revision: 0, result.new_revision: 100}
    assert all(r.healthy for r in status.revisions)
    assert served_digest(status) == artifacts.d2
    old_pid = next(r.pid for r in status.revisions if r.revision == blue.new_revision)
    assert retire_previous(runtime, env=ENV, model="bg-ok") == [blue.new_revision]
    runtime.wait_ready(ENV, "bg-ok", timeout_s=10)
    assert weights(runtime, "bg-ok") == {result.new_revision: 100}
    assert old_pid is not None
    wait_until(lambda: not pid_alive(old_pid), 5, "the retired revision to stop")


def test_rolling_update_replaces_the_revision_under_traffic(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    old = first(runtime, "roll", artifacts, "rolling-update")
    endpoint = endpoint_of(runtime, "roll")
    with Traffic(endpoint, "roll", max_requests=5000) as traffic:
        traffic.wait_for(old.new_revision, 5)
        result = execute_rollout(runtime, plan("roll", artifacts, "2.0.0", "rolling-update"))
        traffic.wait_for(result.new_revision, 10)
    assert result.outcome == "promoted", result.reason
    assert traffic.failures == [], traffic.failures[:5]
    assert [s.name for s in result.steps][-2:] == ["switch", "scale_old_0"]
    assert result.retire_after is None and result.previous_spec is not None
    assert weights(runtime, "roll") == {result.new_revision: 100}
    assert served_digest(current(runtime, "roll")) == artifacts.d2


def test_blue_green_bad_revision_fails_smoke_and_rolls_back(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    blue = first(runtime, "bg-bad", artifacts, "blue-green")
    endpoint = endpoint_of(runtime, "bg-bad")
    bad = plan("bg-bad", artifacts, "2.0.0", "blue-green", error_rate=1.0)
    with Traffic(endpoint, "bg-bad", max_requests=5000) as traffic:
        traffic.wait_for(blue.new_revision, 5)
        result = execute_rollout(runtime, bad)
        traffic.wait_for(blue.new_revision, 5)
    assert result.outcome == "rolled_back"
    assert "smoke test of revision" in result.reason and "inference" in result.reason
    assert "500" in result.reason
    assert result.smoke is not None and result.smoke["passed"] is False
    assert [s.name for s in result.steps][-3:] == ["rollback", "remove_new", "wait_ready"]
    assert traffic.failures == [], traffic.failures[:5]
    assert set(traffic.revisions) == {blue.new_revision}
    assert weights(runtime, "bg-bad") == {blue.new_revision: 100}
    assert served_digest(current(runtime, "bg-bad")) == artifacts.d1

    # A revision whose artifact does not hash to its digest is never deployed; the reason
    # names the URI and both digests.
    wrong = plan("bg-bad", artifacts, "2.0.0", "blue-green").model_copy(
        update={"artifact_uri": artifacts.v1.as_uri(), "digest": "f" * 64}
    )
    with Traffic(endpoint, "bg-bad", max_requests=5000) as traffic:
        traffic.wait_for(blue.new_revision, 5)
        result = execute_rollout(runtime, wrong)
        traffic.wait_for(blue.new_revision, 5)
    assert result.outcome == "rolled_back"
    assert result.reason.startswith("deploy failed:")
    assert f"files hash to {artifacts.d1}" in result.reason and "f" * 64 in result.reason
    assert traffic.failures == [], traffic.failures[:5]
    assert weights(runtime, "bg-bad") == {blue.new_revision: 100}


def test_bad_canary_fails_analysis_and_rolls_back(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    stable = first(runtime, "can-bad", artifacts, "canary")
    endpoint = endpoint_of(runtime, "can-bad")
    bad = plan(
        "can-bad",
        artifacts,
        "2.0.0",
        "canary",
        error_rate=0.5,
        canary_percentage=30,
        smoke_requests=0,
        analysis_window_s=3,
    )
    with Traffic(endpoint, "can-bad", max_requests=5000) as traffic:
        traffic.wait_for(stable.new_revision, 5)
        result = execute_rollout(runtime, bad)
        failures_at_rollback = len(traffic.failures)
        traffic.wait_for(stable.new_revision, 30)
    assert result.outcome == "rolled_back", result.reason
    assert result.reason.startswith("canary analysis fail")
    assert result.analysis is not None and result.analysis["source"] == "gateway-metrics"
    checks = {c["name"]: c["verdict"] for c in result.analysis["checks"]}  # type: ignore[union-attr]
    assert checks["error_rate_vs_stable"] == "fail"  # the sequential judge, vs stable
    judged = result.analysis["judgements"]
    assert isinstance(judged, dict) and judged["error_rate_vs_stable"]["lower"] > 0.01
    canary_obs = result.analysis["canary"]
    assert isinstance(canary_obs, dict) and canary_obs["requests"] >= 20
    assert 0.3 < canary_obs["values"]["error_rate"] < 0.7
    # Only the canary's own errors reached clients, and none after the rollback.
    assert failures_at_rollback > 0
    assert all("injected fault" in f for f in traffic.failures), traffic.failures[:3]
    assert len(traffic.failures) <= failures_at_rollback + 1
    assert weights(runtime, "can-bad") == {stable.new_revision: 100}


def test_canary_without_traffic_is_inconclusive_and_never_promoted(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    stable = first(runtime, "can-idle", artifacts, "canary")
    idle = plan(
        "can-idle", artifacts, "2.0.0", "canary", analysis_window_s=1, analysis_deadline_s=3
    )
    result = execute_rollout(runtime, idle)
    assert result.outcome == "rolled_back"
    assert result.reason.startswith("canary analysis inconclusive")
    assert "no verdict by the 3s deadline" in result.reason
    assert "no requests on one side" in result.reason
    assert result.analysis is not None and result.analysis["looks"] >= 2
    assert weights(runtime, "can-idle") == {stable.new_revision: 100}

    # The environment may hold instead: the canary keeps its share, the outcome says why.
    held = execute_rollout(runtime, idle.model_copy(update={"on_inconclusive": "hold"}))
    assert held.outcome == "held", held.reason
    assert "held at 10%" in held.reason and "no verdict by the 3s deadline" in held.reason
    assert weights(runtime, "can-idle") == {stable.new_revision: 90, held.new_revision: 10}
    # ... until someone rolls it back; a second rollout meanwhile is refused, not stacked.
    with pytest.raises(InvalidDeploymentSpec, match="another rollout is in progress"):
        execute_rollout(runtime, plan("can-idle", artifacts, "2.0.1", "canary"))
    back = rollback(runtime, env=ENV, model="can-idle", to_revision=stable.new_revision)
    assert back.outcome == "rolled_back", back.reason
    assert weights(runtime, "can-idle") == {stable.new_revision: 100}


def test_first_deployment_failing_smoke_is_removed_and_same_digest_is_a_no_op(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    bad = execute_rollout(runtime, plan("first", artifacts, "1.0.0", "canary", error_rate=1.0))
    assert bad.outcome == "rolled_back" and bad.strategy == "first-deployment"
    assert bad.previous_revision is None and "smoke test" in bad.reason
    assert runtime.status(ENV, "first") is None
    ok = first(runtime, "first", artifacts, "canary")
    again = execute_rollout(runtime, plan("first", artifacts, "1.0.0", "canary"))
    assert again.outcome == "promoted" and again.steps == []
    assert again.reason == f"already serving as {ok.new_revision}"
    assert weights(runtime, "first") == {ok.new_revision: 100}


def test_canary_drives_its_own_traffic_and_is_promoted_on_gateway_metrics(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    stable = first(runtime, "can-drive", artifacts, "canary")
    result = execute_rollout(
        runtime,
        plan(
            "can-drive",
            artifacts,
            "2.0.0",
            "canary",
            canary_percentage=50,
            analysis_window_s=1.5,
            analysis_deadline_s=60,
            analysis_traffic_rps=80,
        ),
    )
    assert result.outcome == "promoted", result.reason
    assert result.analysis is not None and result.analysis["source"] == "gateway-metrics"
    observe = next(s for s in result.steps if s.name == "observe")
    assert "synthetic requests sent" in observe.detail
    assert weights(runtime, "can-drive") == {stable.new_revision: 0, result.new_revision: 100}


def test_healthy_canary_is_promoted_on_prometheus_analysis(
    runtime: LocalRuntime, artifacts: Artifacts, stack: tuple[Path, StackInfo]
) -> None:
    stable = first(runtime, "can-ok", artifacts, "canary")
    endpoint = endpoint_of(runtime, "can-ok")
    good = plan(
        "can-ok",
        artifacts,
        "2.0.0",
        "canary",
        canary_percentage=30,
        analysis_window_s=4,
        analysis_deadline_s=60,
        prometheus_url=stack[1].prometheus_url,
        thresholds=CanaryThresholds(min_requests=20),
    )
    with Traffic(endpoint, "can-ok", max_requests=8000) as traffic:
        traffic.wait_for(stable.new_revision, 5)
        result = execute_rollout(runtime, good)
        traffic.wait_for(result.new_revision, 20)
    assert result.outcome == "promoted", result.reason
    assert traffic.failures == [], traffic.failures[:5]
    analysis = result.analysis
    assert analysis is not None and analysis["source"] == "prometheus"
    assert analysis["verdict"] == "pass"
    queries = analysis["queries"]
    assert isinstance(queries, list)
    assert any(f'revision="{result.new_revision}"' in q for q in queries)
    canary_obs, stable_obs = analysis["canary"], analysis["stable"]
    assert isinstance(canary_obs, dict) and isinstance(stable_obs, dict)
    assert canary_obs["requests"] >= 20 and stable_obs["requests"] > canary_obs["requests"]
    assert canary_obs["values"]["availability"] == 1.0
    assert weights(runtime, "can-ok") == {stable.new_revision: 0, result.new_revision: 100}
    assert result.new_spec.color == "stable"


def test_rollback_restores_previous_digest_running_or_redeployed(
    runtime: LocalRuntime, artifacts: Artifacts
) -> None:
    first(runtime, "rb", artifacts, "blue-green")
    promoted = execute_rollout(runtime, plan("rb", artifacts, "2.0.0", "blue-green"))
    assert promoted.outcome == "promoted" and promoted.previous_spec is not None
    endpoint = endpoint_of(runtime, "rb")
    assert served_digest(current(runtime, "rb")) == artifacts.d2

    # Previous revision still running: traffic goes back to it at once.
    with Traffic(endpoint, "rb", max_requests=5000) as traffic:
        traffic.wait_for(promoted.new_revision, 5)
        back = rollback(runtime, env=ENV, model="rb", to_revision=promoted.previous_spec)
        traffic.wait_for(promoted.previous_spec.revision, 10)
    assert back.outcome == "rolled_back", back.reason
    assert traffic.failures == [], traffic.failures[:5]
    assert back.steps[0].name == "switch_back" and back.previous_revision == promoted.new_revision
    assert weights(runtime, "rb") == {promoted.previous_spec.revision: 100}
    assert served_digest(current(runtime, "rb")) == artifacts.d1

    # Previous revision already retired: it is redeployed from its spec.
    again = execute_rollout(runtime, plan("rb", artifacts, "2.0.1", "blue-green"))
    assert again.outcome == "promoted" and again.previous_spec is not None
    assert retire_previous(runtime, env=ENV, model="rb") == [again.previous_spec.revision]
    runtime.wait_ready(ENV, "rb", timeout_s=10)
    restored = rollback(runtime, env=ENV, model="rb", to_revision=again.previous_spec)
    assert restored.outcome == "rolled_back", restored.reason
    assert [s.name for s in restored.steps] == ["restore", "wait_ready"]
    assert served_digest(current(runtime, "rb")) == artifacts.d1
