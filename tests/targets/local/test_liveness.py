"""Liveness: a hung model server (SIGSTOP) is killed and restarted; requests to it fail fast."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from llm_platform.targets.local.local import LocalRuntime
from tests.helpers.runtime_fixtures import (
    Traffic,
    complete,
    pid_alive,
    revision,
    spec,
)
from tests.helpers.serving_fixtures import build_artifact

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LIVENESS_S = 3.0


def test_stopped_server_is_killed_restarted_and_in_flight_requests_fail_fast(
    home: Path, tmp_path: Path
) -> None:
    art = tmp_path / "tiny"
    digest = build_artifact(art)
    runtime = LocalRuntime(home, liveness_timeout_s=LIVENESS_S)
    runtime.apply(spec("hang", revision("r1", digest, art, weight=100)))
    status = runtime.wait_ready("staging", "hang", timeout_s=30)
    endpoint, old_pid = status.endpoint or "", status.revisions[0].pid
    assert old_pid is not None

    with Traffic(endpoint, "hang", max_requests=2000) as traffic:
        traffic.wait_for("r1", 20)
        served_before = traffic.sent
        os.kill(old_pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        # The controller's job, done here by hand: one reconcile pass a second.
        new_pid = None
        while time.monotonic() - stopped_at < 40:
            runtime.reconcile()
            st = runtime.status("staging", "hang")
            assert st is not None
            rev = st.revisions[0]
            if rev.pid not in (None, old_pid) and rev.healthy:
                new_pid = rev.pid
                break
            time.sleep(1.0)
        recovered_s = time.monotonic() - stopped_at
        assert new_pid is not None, f"the stopped server was never restarted: {rev}"
        runtime.wait_ready("staging", "hang", timeout_s=30)
        traffic.wait_for("r1", 20)
        lost = len(traffic.failures)
        sent_during = traffic.sent - served_before

    assert not pid_alive(old_pid), "the hung process must be killed, not left stopped"
    assert rev.restarts == 1
    assert rev.last_error is not None and "health checks" in rev.last_error
    assert str(old_pid) in rev.last_error
    # Bounded recovery: liveness timeout + the route drop + a restart, far below 120 s.
    assert recovered_s < LIVENESS_S + 15, recovered_s
    # In-flight requests got an answer (502 when the process was killed), none hung until the
    # client's own 10 s timeout, and no request succeeded against a stopped process.
    assert not [f for f in traffic.failures if "Timeout" in f], traffic.failures[:5]
    assert all(f.startswith(("502", "503")) for f in traffic.failures), traffic.failures[:5]
    print(
        f"\nliveness: recovered in {recovered_s:.1f}s; {lost} of {sent_during} requests "
        f"failed while the stopped server was detected, killed and restarted"
    )
    with httpx.Client(trust_env=False) as client:
        assert complete(client, endpoint, "hang").status_code == 200


def test_with_two_replicas_a_hung_one_costs_only_its_in_flight_requests(
    home: Path, tmp_path: Path
) -> None:
    art = tmp_path / "tiny"
    digest = build_artifact(art)
    runtime = LocalRuntime(home, liveness_timeout_s=LIVENESS_S)
    two = revision("r1", digest, art, weight=100).model_copy(update={"replicas": 2})
    runtime.apply(spec("hang2", two))
    status = runtime.wait_ready("staging", "hang2", timeout_s=60)
    (rev,) = status.revisions
    assert rev.ready_replicas == 2 and rev.pid is not None
    victim = rev.pid
    with Traffic(status.endpoint or "", "hang2", max_requests=3000) as traffic:
        traffic.wait_for("r1", 20)
        sent_before = traffic.sent
        os.kill(victim, signal.SIGSTOP)
        stopped_at = time.monotonic()
        while time.monotonic() - stopped_at < 40:
            runtime.reconcile()
            st = runtime.status("staging", "hang2")
            if st is not None and st.revisions[0].ready_replicas == 2 and not pid_alive(victim):
                break
            time.sleep(1.0)
        recovered_s = time.monotonic() - stopped_at
        traffic.wait_for("r1", 20)
        sent_during = traffic.sent - sent_before
    assert not pid_alive(victim)
    assert runtime.wait_ready("staging", "hang2", timeout_s=30).revisions[0].ready_replicas == 2
    assert not [f for f in traffic.failures if "Timeout" in f], traffic.failures[:5]
    # Only requests sent to the stopped replica before it leaves the routes fail (fast); the
    # other replica serves the rest (one replica alone loses nearly all of them).
    assert len(traffic.failures) <= max(10, sent_during // 10), traffic.failures
    print(
        f"\nliveness, 2 replicas: {len(traffic.failures)} of {sent_during} requests failed while "
        f"one replica was stopped, killed and restarted ({recovered_s:.1f}s)"
    )
