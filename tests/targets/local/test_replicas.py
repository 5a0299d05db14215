"""Replicas on the local runtime: min_replicas servers per revision behind the gateway, a
rolling update within max_surge / max_unavailable under load, and the rollback window."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from llm_platform.common.digest import digest_directory
from llm_platform.promotion.rollout import RolloutPlan, execute_rollout
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.processes import read_cmdline
from tests.helpers.runtime_fixtures import (
    Traffic,
    pid_alive,
    pids_mentioning,
    revision,
    spec,
    wait_until,
)
from tests.helpers.serving_fixtures import build_artifact

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ENV = "staging"


def two_versions(root: Path) -> tuple[tuple[Path, str], tuple[Path, str]]:
    v1, v2 = root / "v1", root / "v2"
    build_artifact(v1)
    shutil.copytree(v1, v2)
    (v2 / "NOTES.txt").write_text("v2: same weights, another digest\n")
    return (v1, digest_directory(v1).digest), (v2, digest_directory(v2).digest)


def model_servers(home: Path) -> list[int]:
    return [
        pid
        for pid in pids_mentioning(str(home))
        if "llm_platform.serving.model_server" in (read_cmdline(pid) or [])
    ]


def served_requests(url: str) -> float:
    """``llm_server_requests_total`` of one replica (its own /metrics)."""
    text = httpx.get(f"{url}/metrics", timeout=5, trust_env=False).text
    lines = [ln for ln in text.splitlines() if ln.startswith("llm_server_requests_total{")]
    return sum(float(ln.rsplit(" ", 1)[1]) for ln in lines)


def plan(model: str, art: tuple[Path, str], version: str) -> RolloutPlan:
    return RolloutPlan(
        env=ENV,
        model=model,
        version=version,
        digest=art[1],
        artifact_uri=art[0].as_uri(),
        strategy="rolling-update",
        replicas=3,
        max_surge=1,
        max_unavailable=0,
        smoke_requests=4,
        ready_timeout_s=60,
        metrics_settle_s=0,
    )


def test_rolling_update_across_three_replicas_under_load_loses_no_request(
    home: Path, tmp_path: Path
) -> None:
    v1, v2 = two_versions(tmp_path)
    runtime = LocalRuntime(home)
    first = execute_rollout(runtime, plan("roll", v1, "1.0.0"))
    assert first.outcome == "promoted", first.reason
    status = runtime.wait_ready(ENV, "roll", timeout_s=60)
    (rev,) = status.revisions
    assert (rev.replicas, rev.ready_replicas, len(set(rev.urls))) == (3, 3, 3)
    assert len(model_servers(home)) == 3
    endpoint = status.endpoint or ""

    # The gateway spreads the revision's traffic over its three replicas.
    before = {u: served_requests(u) for u in rev.urls}
    with Traffic(endpoint, "roll", max_requests=90) as traffic:
        wait_until(lambda: traffic.sent >= 90, 60, "90 requests")
    handled = {u: served_requests(u) - before[u] for u in rev.urls}
    assert all(n >= 10 for n in handled.values()), handled

    peak = [0]
    stop = threading.Event()

    def sample() -> None:  # how many model servers exist at once during the update
        while not stop.is_set():
            peak[0] = max(peak[0], len(model_servers(home)))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    t0 = time.monotonic()
    with Traffic(endpoint, "roll", max_requests=20000) as traffic:
        traffic.wait_for(first.new_revision, 10)
        sampler.start()
        result = execute_rollout(runtime, plan("roll", v2, "2.0.0"))
        traffic.wait_for(result.new_revision, 20)
    stop.set()
    sampler.join(5)
    took = time.monotonic() - t0
    assert result.outcome == "promoted", result.reason
    assert traffic.failures == [], traffic.failures[:5]
    assert set(traffic.revisions) == {first.new_revision, result.new_revision}
    # max_surge 1: never more than 3 + 1 servers; one replica replaced per step.
    assert peak[0] <= 4, peak
    scaled = [s.name for s in result.steps if s.name.startswith(("scale_", "deploy"))]
    assert scaled == ["deploy", "scale_old_2", "scale_new_2", "scale_old_1", "scale_new_3"] + [
        "scale_old_0"
    ]
    final = runtime.status(ENV, "roll")
    assert final is not None
    (new,) = final.revisions
    assert (new.revision, new.replicas, new.ready_replicas) == (result.new_revision, 3, 3)
    assert len(model_servers(home)) == 3, "the old replicas are stopped"
    print(
        f"\nrolling update 3 replicas (surge 1, unavailable 0): {traffic.sent} requests during "
        f"{took:.1f}s, {len(traffic.failures)} failed, peak {peak[0]} servers"
    )


def test_rollback_window_is_enforced_without_a_new_rollout(home: Path, tmp_path: Path) -> None:
    v1, v2 = two_versions(tmp_path)
    runtime = LocalRuntime(home)
    old = revision("old", v1[1], v1[0], weight=0, color="blue")
    new = revision("new", v2[1], v2[0], weight=100, color="green")
    runtime.apply(spec("win", new, old.model_copy(update={"retire_at": time.time() + 20})))
    status = runtime.wait_ready(ENV, "win", timeout_s=60)
    old_pid = {r.revision: r.pid for r in status.revisions}["old"]
    assert old_pid is not None
    runtime.reconcile()
    assert [r.revision for r in runtime.status(ENV, "win").revisions] == ["new", "old"]  # type: ignore[union-attr]

    def retired() -> bool:
        runtime.reconcile()  # the controller's loop, by hand
        st = runtime.status(ENV, "win")
        return st is not None and [r.revision for r in st.revisions] == ["new"]

    wait_until(retired, 40, "the old revision to be retired at the end of its window")

    def stopped() -> bool:  # stopped once the gateway and Prometheus let go of it
        runtime.reconcile()
        return not pid_alive(old_pid)

    wait_until(stopped, 30, "the retired revision's server to be stopped")
    assert runtime.wait_ready(ENV, "win", timeout_s=10).ready
