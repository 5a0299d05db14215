"""``stack down`` stops everything its home started even when every record is damaged
(issue 18, finding 6): a corrupt pid file plus a corrupt ``observed.json`` (and ``stack.json``)
no longer orphan a llama.cpp replica. Processes are found from /proc by their home's mark.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.processes import HOME_MARKER, spawn_detached
from llm_platform.targets.local.sweep import marked_pids
from tests.helpers.engine_fixtures import require_llama_cpp
from tests.helpers.liveness_fixtures import deploy_gemma
from tests.helpers.runtime_fixtures import (
    pid_alive,
    pids_mentioning,
    stack_cli,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def test_down_stops_a_llama_replica_whose_every_record_is_damaged(
    home: Path, tmp_path: Path, gemma_artifact: Path, gemma_digest: str
) -> None:
    require_llama_cpp()
    up = stack_cli("stack", "up", "--prometheus-port", "0", "--gateway-port", "0", home=home)
    assert up.returncode == 0, up.stdout + up.stderr
    runtime = LocalRuntime(home)
    _, _, gemma_pid = deploy_gemma(runtime, gemma_artifact, gemma_digest)
    # A process of another home, marked as such: never touched by this home's `stack down`.
    other = tmp_path / "other-home"
    other.mkdir()
    bystander = spawn_detached([sys.executable, "-c", "import time; time.sleep(120)"],
                               other / "sleep.log", home=other)  # fmt: skip
    marked = marked_pids(home)
    assert gemma_pid in marked and bystander not in marked and len(marked) >= 5

    with runtime.store.locked():  # between two controller passes (never under one's feet)
        (home / "runtime" / "pids" / f"{gemma_pid}.json").write_text("{not a pid file")
        (home / "runtime" / "observed.json").write_text("damaged")
    (home / "stack.json").write_text("[]")
    down = stack_cli("stack", "down", home=home)
    assert down.returncode == 0, down.stdout + down.stderr
    wait_until(lambda: not pid_alive(gemma_pid), 10, "the llama.cpp replica to stop")
    assert [p for p in marked if pid_alive(p)] == []
    assert marked_pids(home) == [] and pids_mentioning(str(home)) == []
    assert "unrecorded process" in down.stdout + down.stderr
    assert pid_alive(bystander), "a process of another home was stopped"
    environ = Path(f"/proc/{bystander}/environ").read_bytes().split(b"\0")
    assert f"{HOME_MARKER}={other.resolve()}".encode() in environ
    os.kill(bystander, signal.SIGKILL)
