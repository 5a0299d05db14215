"""LocalRuntime against real model-server and gateway processes (no controller running)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm_platform.targets.base import DeploymentNotReady, InvalidDeploymentSpec
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.processes import read_cmdline
from tests.helpers.runtime_fixtures import (
    Traffic,
    build_broken_artifact,
    complete,
    pid_alive,
    pids_mentioning,
    revision,
    spec,
    teardown_home,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("rt-home")
    yield root
    assert teardown_home(root) == [], "stack down left processes behind"


@pytest.fixture()
def runtime(home: Path) -> LocalRuntime:
    return LocalRuntime(home)


def model_server_pids(home: Path, model: str, rev: str) -> list[int]:
    """Live model-server processes of one revision (by command line)."""
    pids = []
    for pid in pids_mentioning(str(home)):
        argv = read_cmdline(pid) or []
        if "llm_platform.serving.model_server" in argv and argv[argv.index("--model") + 1] == model:
            if argv[argv.index("--revision") + 1] == rev:
                pids.append(pid)
    return pids


def test_apply_serves_restarts_after_kill_and_is_adopted(
    runtime: LocalRuntime, home: Path, artifact: tuple[Path, str]
) -> None:
    art, digest = artifact
    runtime.apply(spec("alpha", revision("r1", digest, art, weight=100)))
    status = runtime.wait_ready("staging", "alpha", timeout_s=30)
    assert status.ready and status.endpoint is not None
    with httpx.Client(trust_env=False) as client:
        resp = complete(client, status.endpoint, "alpha")
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-llm-revision"] == "r1"
    assert resp.json()["choices"][0]["text"]

    # A crashed server is restarted by the reconciler and counted.
    old_pid = status.revisions[0].pid
    assert old_pid is not None and status.revisions[0].restarts == 0
    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(old_pid), 5, "the killed server to die")
    status = runtime.wait_ready("staging", "alpha", timeout_s=30)
    rev = status.revisions[0]
    assert rev.pid not in (None, old_pid)
    assert rev.restarts == 1
    assert rev.last_error is not None and str(old_pid) in rev.last_error
    with httpx.Client(trust_env=False) as client:
        assert complete(client, status.endpoint or "", "alpha").status_code == 200

    # A new runtime object on the same home adopts the processes instead of duplicating them.
    again = LocalRuntime(home)
    again.reconcile()
    adopted = again.status("staging", "alpha")
    assert adopted is not None
    assert adopted.model_dump() == status.model_dump()
    assert model_server_pids(home, "alpha", "r1") == [rev.pid]


def test_failed_revision_never_gets_traffic_and_previous_keeps_serving(
    runtime: LocalRuntime, artifact: tuple[Path, str], tmp_path: Path
) -> None:
    art, digest = artifact
    broken = tmp_path / "broken"
    broken_digest = build_broken_artifact(broken)
    runtime.apply(spec("beta", revision("r1", digest, art, weight=100)))
    status = runtime.wait_ready("staging", "beta", timeout_s=30)
    assert status.endpoint is not None
    with Traffic(status.endpoint, "beta") as traffic:
        traffic.wait_for("r1", 5)
        runtime.apply(spec("beta", revision("r2", broken_digest, broken, weight=100)))
        with pytest.raises(DeploymentNotReady) as excinfo:
            runtime.wait_ready("staging", "beta", timeout_s=30)
        traffic.wait_for("r1", 5)
    message = str(excinfo.value)
    assert "revision r2 failed to start" in message
    assert "tokenizer.json" in message  # the server's own reason, from the log
    assert "last 20 lines of" in message
    assert traffic.failures == [], traffic.failures[:5]
    assert set(traffic.revisions) == {"r1"} and traffic.sent >= 10

    current = runtime.status("staging", "beta")
    assert current is not None and not current.ready
    by_name = {r.revision: r for r in current.revisions}
    assert by_name["r1"].retiring and by_name["r1"].healthy
    assert not by_name["r2"].healthy
    routes = json.loads(runtime.layout.routes_file("staging").read_text())
    assert [r["revision"] for r in routes["models"]["beta"]["revisions"]] == ["r1"]

    # Rolling back to r1 adopts the running process and stops the failing revision.
    r1_pid = by_name["r1"].pid
    runtime.apply(spec("beta", revision("r1", digest, art, weight=100)))
    status = runtime.wait_ready("staging", "beta", timeout_s=30)
    assert [r.revision for r in status.revisions] == ["r1"]
    assert status.revisions[0].pid == r1_pid


def test_set_weights_under_traffic_loses_no_request(
    runtime: LocalRuntime, artifact: tuple[Path, str]
) -> None:
    art, digest = artifact
    blue = revision("r1", digest, art, weight=100, color="blue")
    green = revision("r2", digest, art, weight=0, color="green")
    runtime.apply(spec("gamma", blue, green))
    assert runtime.desired_spec("staging", "gamma") == spec("gamma", blue, green)
    assert runtime.desired_spec("staging", "nope") is None
    status = runtime.wait_ready("staging", "gamma", timeout_s=30)
    assert status.endpoint is not None
    with Traffic(status.endpoint, "gamma") as traffic:
        traffic.wait_for("r1", 5)
        runtime.set_weights("staging", "gamma", {"r1": 0, "r2": 100})
        served_r1 = traffic.revisions["r1"]
        traffic.wait_for("r2", 10)
        runtime.set_weights("staging", "gamma", {"r1": 100, "r2": 0})
        served_r2 = traffic.revisions["r2"]
        traffic.wait_for("r1", 10)
    assert traffic.failures == [], traffic.failures[:5]
    # set_weights returns once the gateway serves the new split: no stray requests after it.
    assert traffic.revisions["r2"] <= served_r2 + 1
    assert traffic.revisions["r1"] >= served_r1 + 10

    with pytest.raises(InvalidDeploymentSpec, match="sum to 100"):
        runtime.set_weights("staging", "gamma", {"r1": 50, "r2": 20})
    with pytest.raises(InvalidDeploymentSpec, match="0..100"):
        runtime.set_weights("staging", "gamma", {"r1": -10, "r2": 110})
    with pytest.raises(InvalidDeploymentSpec, match="unknown revisions"):
        runtime.set_weights("staging", "gamma", {"r9": 100})


def test_set_weights_refuses_an_unhealthy_revision(
    runtime: LocalRuntime, artifact: tuple[Path, str], tmp_path: Path
) -> None:
    art, digest = artifact
    broken = tmp_path / "broken"
    good = revision("r1", digest, art, weight=100, color="blue")
    bad = revision("r2", build_broken_artifact(broken), broken, weight=0, color="green")
    runtime.apply(spec("delta", good, bad))
    with pytest.raises(DeploymentNotReady, match="r2 failed to start"):
        runtime.wait_ready("staging", "delta", timeout_s=30)
    with pytest.raises(InvalidDeploymentSpec, match="r2 is not healthy"):
        runtime.set_weights("staging", "delta", {"r2": 100})
    runtime.delete("staging", "delta")
    assert runtime.status("staging", "delta") is None


def test_pid_reuse_is_detected_and_foreign_process_untouched(
    runtime: LocalRuntime, home: Path, artifact: tuple[Path, str]
) -> None:
    art, digest = artifact
    runtime.apply(spec("eps", revision("r1", digest, art, weight=100)))
    first = runtime.wait_ready("staging", "eps", timeout_s=30).revisions[0]
    assert first.pid is not None
    foreign = subprocess.Popen(["sleep", "30"])
    try:
        # Pretend our server died and its pid was reused by an unrelated process.
        observed = json.loads(runtime.store.observed_path.read_text())
        os.kill(first.pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(first.pid or 0), 5, "the killed server to die")
        observed["revisions"]["staging/eps/r1"]["pid"] = foreign.pid
        runtime.store.observed_path.write_text(json.dumps(observed))
        status = runtime.wait_ready("staging", "eps", timeout_s=30)
        assert status.revisions[0].pid not in (None, foreign.pid, first.pid)
        runtime.delete("staging", "eps")
        assert foreign.poll() is None, "the runtime signalled a process it did not start"
    finally:
        foreign.kill()
        foreign.wait()
    assert model_server_pids(home, "eps", "r1") == []


def test_delete_stops_the_servers_and_unroutes(
    runtime: LocalRuntime, home: Path, artifact: tuple[Path, str]
) -> None:
    art, digest = artifact
    runtime.apply(spec("zeta", revision("r1", digest, art, weight=100)))
    runtime.apply(spec("keeper", revision("r1", digest, art, weight=100)))
    status = runtime.wait_ready("staging", "zeta", timeout_s=30)
    keeper = runtime.wait_ready("staging", "keeper", timeout_s=30)
    pid = status.revisions[0].pid
    assert pid is not None
    runtime.delete("staging", "zeta")
    # Stopped once the gateway no longer routes to it: at once, or (a gateway slow to reload
    # on a loaded machine) at the controller's next pass.
    wait_until(lambda: runtime.reconcile() or not pid_alive(pid), 60, "the deleted server to stop")
    routes = json.loads(runtime.layout.routes_file("staging").read_text())
    assert "zeta" not in routes["models"] and "keeper" in routes["models"]
    with httpx.Client(trust_env=False) as client:
        assert complete(client, status.endpoint or "", "zeta").status_code == 404
        assert complete(client, keeper.endpoint or "", "keeper").status_code == 200
    targets = json.loads((home / "prometheus" / "targets" / "models.json").read_text())
    assert all(t["labels"]["model"] != "zeta" for t in targets)
    # The environment's last deployment gone: its routes are emptied and its gateway stops.
    gateway = runtime.store.load_observed().gateways["staging"]
    for model in routes["models"]:
        if model != "zeta":
            runtime.delete("staging", model)
    assert json.loads(runtime.layout.routes_file("staging").read_text()) == {"models": {}}
    assert gateway.pid is not None and not pid_alive(gateway.pid)
