"""Re-staging several models at once never leaves one without a routed revision: two
LocalRuntime writers (separate instances, as two Dagster runs) apply different models of one
environment at the same time while traffic flows to both through the real gateway."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.supervision import HEALTH_FAILURE_THRESHOLD
from tests.helpers.runtime_fixtures import (
    Traffic,
    build_broken_artifact,
    complete,
    pid_alive,
    revision,
    spec,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_concurrent_restaging_of_two_models_keeps_both_routed(
    home: Path, artifact: tuple[Path, str]
) -> None:
    art, digest = artifact
    models = ("m-one", "m-two")
    for model in models:
        LocalRuntime(home).apply(spec(model, revision("r1", digest, art, weight=100)))
    endpoints = {
        m: LocalRuntime(home).wait_ready("staging", m, timeout_s=60).endpoint for m in models
    }
    errors: list[BaseException] = []

    def restage(model: str) -> None:
        try:  # a writer of its own, like a run process
            rt = LocalRuntime(home)
            rt.apply(spec(model, revision("r2", digest, art, weight=100, color="green")))
            rt.wait_ready("staging", model, timeout_s=60)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    traffic = {m: Traffic(str(endpoints[m]), m, max_requests=4000) for m in models}
    for t in traffic.values():
        t.__enter__()
    try:
        for m in models:
            traffic[m].wait_for("r1", 5)
        writers = [threading.Thread(target=restage, args=(m,)) for m in models]
        for w in writers:
            w.start()
        for w in writers:
            w.join(timeout=120)
        assert not errors, errors
        for m in models:
            traffic[m].wait_for("r2", 10, timeout_s=30)
    finally:
        for t in traffic.values():
            t.__exit__(None, None, None)
    for m in models:
        assert traffic[m].failures == [], (m, traffic[m].failures[:5])
        assert traffic[m].revisions["r1"] > 0 and traffic[m].revisions["r2"] > 0


def test_a_retiring_revision_that_misses_health_checks_under_load_is_kept(
    home: Path, artifact: tuple[Path, str], tmp_path: Path
) -> None:
    """While its replacement is not ready, the serving (retiring) revision stops answering for
    a few seconds (a loaded machine: several models re-staging). It must come back into
    rotation, not be stopped for good, leaving the model without a routed revision."""
    art, digest = artifact
    broken = tmp_path / "broken"
    broken_digest = build_broken_artifact(broken)
    rt = LocalRuntime(home)
    rt.apply(spec("m-busy", revision("r1", digest, art, weight=100)))
    endpoint = str(rt.wait_ready("staging", "m-busy", timeout_s=60).endpoint)
    rt.apply(spec("m-busy", revision("r2", broken_digest, broken, weight=100)))  # never ready
    status = rt.status("staging", "m-busy")
    assert status is not None
    r1 = next(r for r in status.revisions if r.revision == "r1")
    assert r1.retiring and r1.pid
    os.kill(r1.pid, signal.SIGSTOP)
    try:
        for _ in range(HEALTH_FAILURE_THRESHOLD):  # the passes of other writers meanwhile
            rt.reconcile()
    finally:
        os.kill(r1.pid, signal.SIGCONT)
    # Resumed, it answers its health checks again: the next passes put it back in rotation
    # (on a loaded machine the first probe after SIGCONT may still time out).
    deadline = time.monotonic() + 60
    with httpx.Client(trust_env=False) as client:
        while True:
            rt.reconcile()
            resp = complete(client, endpoint, "m-busy")
            if resp.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert resp.status_code == 200, resp.text[:200]
    assert resp.headers["x-llm-revision"] == "r1"
    assert pid_alive(r1.pid)
