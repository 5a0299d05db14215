"""Process tracking survives damaged state files: nothing is orphaned, nothing is duplicated."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.processes import read_cmdline
from llm_platform.targets.local.stack import load_stack
from tests.helpers.runtime_fixtures import (
    complete,
    pid_alive,
    pids_mentioning,
    revision,
    spec,
    stack_cli,
)
from tests.helpers.serving_fixtures import build_artifact

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def gateway_pids(home: Path) -> dict[str, list[int]]:
    """Live gateway processes of ``home`` by environment (from /proc, not from state)."""
    found: dict[str, list[int]] = {}
    for pid in pids_mentioning(str(home)):
        argv = read_cmdline(pid) or []
        if "llm_platform.serving.gateway" in argv:
            found.setdefault(argv[argv.index("--namespace") + 1], []).append(pid)
    return found


def test_corrupt_observed_state_orphans_nothing_and_up_reuses_the_ports(
    home: Path, tmp_path: Path
) -> None:
    art = tmp_path / "artifact"
    digest = build_artifact(art)
    up = stack_cli("stack", "up", "--prometheus-port", "0", "--gateway-port", "0", home=home)
    assert up.returncode == 0, up.stdout + up.stderr
    info = load_stack(home)
    runtime = LocalRuntime(home)
    runtime.apply(spec("d", revision("r1", digest, art, weight=100)))
    server_pid = runtime.wait_ready("staging", "d", timeout_s=30).revisions[0].pid
    running = [*info.pids.values(), server_pid]
    assert all(p and pid_alive(p) for p in running)

    # 1. observed.json damaged while everything runs: `stack up` adopts, never duplicates.
    observed = home / "runtime" / "observed.json"
    observed.write_text("{damaged")
    again = stack_cli("stack", "up", home=home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert load_stack(home).gateways == info.gateways
    assert {env: len(p) for env, p in gateway_pids(home).items()} == {
        "staging": 1,
        "production": 1,
    }
    assert gateway_pids(home)["staging"] == [info.pids["gateway:staging"]]
    assert (home / "runtime" / "observed.json.corrupt").read_text() == "{damaged"
    status = runtime.wait_ready("staging", "d", timeout_s=30)
    assert status.revisions[0].pid == server_pid, "the running server is adopted, not replaced"
    with httpx.Client(trust_env=False) as client:
        assert complete(client, status.endpoint or "", "d").status_code == 200

    # 2. observed.json damaged again, then `stack down`: every process still stops.
    observed.write_text("not json at all")
    down = stack_cli("stack", "down", home=home)
    assert down.returncode == 0, down.stdout + down.stderr
    assert [p for p in running if p and pid_alive(p)] == []
    assert pids_mentioning(str(home)) == []

    # 3. The next `stack up` serves on the same ports again (no new ports, no duplicates).
    up2 = stack_cli("stack", "up", home=home)
    assert up2.returncode == 0, up2.stdout + up2.stderr
    assert load_stack(home).gateways == info.gateways
    assert {env: len(p) for env, p in gateway_pids(home).items()} == {
        "staging": 1,
        "production": 1,
    }
    down2 = stack_cli("stack", "down", home=home)
    assert down2.returncode == 0 and pids_mentioning(str(home)) == []


def test_corrupt_stack_json_still_stops_everything(home: Path) -> None:
    up = stack_cli("stack", "up", "--prometheus-port", "0", "--gateway-port", "0", home=home)
    assert up.returncode == 0, up.stdout + up.stderr
    pids = list(load_stack(home).pids.values())
    assert len(pids) == 4 and all(pid_alive(p) for p in pids)
    (home / "stack.json").write_text("[]")
    down = stack_cli("stack", "down", home=home)
    assert down.returncode == 0, down.stdout + down.stderr
    assert [p for p in pids if pid_alive(p)] == []
    assert pids_mentioning(str(home)) == []


def test_up_refuses_when_a_recorded_gateway_port_is_taken(home: Path) -> None:
    up = stack_cli("stack", "up", "--prometheus-port", "0", "--gateway-port", "0", home=home)
    assert up.returncode == 0, up.stdout + up.stderr
    staging_url = load_stack(home).gateways["staging"]
    assert stack_cli("stack", "down", home=home).returncode == 0
    port = int(staging_url.rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # gateway's TIME_WAIT
        squatter.bind(("127.0.0.1", port))
        squatter.listen(1)
        refused = stack_cli("stack", "up", home=home)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"port {port}" in refused.stderr and "staging" in refused.stderr
    assert "staging" not in gateway_pids(home), "no second staging gateway on another port"
