"""Find and stop every process a platform home started, from /proc alone.

``stack.json``, ``observed.json`` and the pid files are records; any of them may be damaged.
Every process a home spawns carries :data:`~llm_platform.targets.local.processes.HOME_MARKER` = that
home in its environment (``spawn_detached(..., home=...)``), so ``stack down`` ends with a sweep
of ``/proc``: processes of this user whose environment names this home are stopped (SIGTERM,
then SIGKILL after a grace period). Another home's processes and other users' are never
touched, nor the calling process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from llm_platform.targets.local.processes import HOME_MARKER

PROC = Path("/proc")


def _marked(pid_dir: Path, marker: bytes, uid: int) -> bool:
    try:
        if pid_dir.stat().st_uid != uid:
            return False
        environ = (pid_dir / "environ").read_bytes()
        state = (pid_dir / "stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
        return False
    return state not in ("Z", "X") and marker in environ.split(b"\0")


def marked_pids(home: Path) -> list[int]:
    """Live processes of this user whose environment marks them as started by ``home``."""
    marker = f"{HOME_MARKER}={home.resolve()}".encode()
    uid, me = os.getuid(), os.getpid()
    return sorted(
        int(entry.name)
        for entry in PROC.iterdir()
        if entry.name.isdigit() and int(entry.name) != me and _marked(entry, marker, uid)
    )


def sweep_home(home: Path, *, grace_s: float = 5.0) -> list[int]:
    """Stop every live process ``home`` started (found by its marker); returns their pids.

    Args:
        home: the platform home.
        grace_s: how long SIGTERM may take before SIGKILL.
    """
    pids = marked_pids(home)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    left = pids
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in marked_pids(home) if p in pids]
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:  # reap the ones that are our children (tests, a CLI that started them)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    return pids
