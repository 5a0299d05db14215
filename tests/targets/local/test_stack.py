"""`llm-platform stack up|down|status` as a user runs it: Prometheus, gateways, controller."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.stack import load_stack
from tests.helpers.runtime_fixtures import (
    complete,
    pid_alive,
    pids_mentioning,
    revision,
    spec,
    stack_cli,
    wait_until,
)
from tests.helpers.serving_fixtures import build_artifact

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


def prom_up(prometheus_url: str, model: str, env: str) -> list[str]:
    query = f'up{{job="llm-model", model="{model}", namespace="{env}"}}'
    with httpx.Client(trust_env=False) as client:
        data = client.get(f"{prometheus_url}/api/v1/query", params={"query": query}).json()
    return [r["value"][1] for r in data["data"]["result"]]


def test_stack_lifecycle_with_controller_and_prometheus(home: Path, tmp_path: Path) -> None:
    art = tmp_path / "artifact"
    digest = build_artifact(art)
    up = stack_cli("stack", "up", "--prometheus-port", "0", "--gateway-port", "0", home=home)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "prometheus ready at http://127.0.0.1:" in up.stdout
    info = load_stack(home)
    assert set(info.gateways) == {"staging", "production"}
    assert info.prometheus_url and info.prometheus_url.startswith("http://127.0.0.1:")
    first_pids = dict(info.pids)
    assert set(first_pids) == {"prometheus", "controller", "gateway:staging", "gateway:production"}
    assert all(pid_alive(p) for p in first_pids.values())

    # Idempotent: a second `up` keeps every process.
    again = stack_cli("stack", "up", home=home)
    assert again.returncode == 0, again.stderr
    assert "prometheus already running" in again.stdout
    assert "controller already running" in again.stdout
    assert load_stack(home).pids == first_pids

    runtime = LocalRuntime(home)
    runtime.apply(spec("x", revision("r1", digest, art, weight=100)))
    status = runtime.wait_ready("staging", "x", timeout_s=30)
    assert status.endpoint == f"{info.gateways['staging']}/x"

    # Prometheus scrapes the model server through the file_sd targets the runtime writes.
    wait_until(
        lambda: prom_up(info.prometheus_url or "", "x", "staging") == ["1"],
        20,
        'up{job="llm-model", model="x", namespace="staging"} == 1',
        interval_s=0.5,
    )

    # The controller (not this process) restarts a killed model server.
    server_pid = status.revisions[0].pid
    assert server_pid is not None
    os.kill(server_pid, signal.SIGKILL)

    def restarted() -> bool:
        st = runtime.status("staging", "x")
        return bool(st and st.ready and st.revisions[0].restarts == 1)

    wait_until(restarted, 15, "the controller to restart the model server")
    with httpx.Client(trust_env=False) as client:
        # the gateway picks up the re-added route within its poll interval
        wait_until(
            lambda: complete(client, status.endpoint or "", "x").status_code == 200,
            5,
            "the restarted server to serve through the gateway",
        )

    shown = stack_cli("stack", "status", "--format", "json", home=home)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    payload = json.loads(shown.stdout)
    assert payload["ok"] is True
    assert {c["name"]: c["alive"] for c in payload["components"]} == {
        "prometheus": True,
        "controller": True,
        "gateway:production": True,
        "gateway:staging": True,
    }
    [deployment] = payload["deployments"]
    assert deployment["env"] == "staging" and deployment["model"] == "x"
    assert deployment["revisions"][0]["digest"] == digest
    assert deployment["revisions"][0]["restarts"] == 1
    text = stack_cli("stack", "status", home=home)
    assert text.returncode == 0 and digest[:12] in text.stdout and "r1" in text.stdout

    running = list(first_pids.values()) + [runtime.status("staging", "x").revisions[0].pid]  # type: ignore[union-attr]
    down = stack_cli("stack", "down", home=home)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [p for p in running if p and pid_alive(p)]
    assert pids_mentioning(str(home)) == []
    assert "controller stopped" in (home / "logs" / "controller.log").read_text()  # clean exit
    stopped = stack_cli("stack", "status", "--format", "json", home=home)
    assert stopped.returncode == 1
    assert json.loads(stopped.stdout)["ok"] is False

    # Desired state survived `down`: the next `up` brings the deployment back.
    up2 = stack_cli("stack", "up", "--prometheus-port", "0", "--gateway-port", "0", home=home)
    assert up2.returncode == 0, up2.stdout + up2.stderr
    assert "1 deployment(s) desired: staging/x" in up2.stdout
    assert load_stack(home).gateways["staging"] == info.gateways["staging"]
    back = runtime.wait_ready("staging", "x", timeout_s=30)
    with httpx.Client(trust_env=False) as client:
        assert complete(client, back.endpoint or "", "x").status_code == 200
    down2 = stack_cli("stack", "down", home=home)
    assert down2.returncode == 0
    assert pids_mentioning(str(home)) == []


def test_stack_status_exit_codes_for_config_errors(home: Path) -> None:
    (home / "runtime").mkdir(parents=True)
    (home / "runtime" / "desired.json").write_text("{broken")
    result = stack_cli("stack", "status", home=home)
    assert result.returncode == 2
    assert "desired.json" in result.stderr and "corrupt runtime state" in result.stderr
    never_started = stack_cli("stack", "down", home=home.parent / "empty")
    assert never_started.returncode == 0 and "nothing was running" in never_started.stdout
