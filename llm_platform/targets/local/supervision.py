"""Process supervision for the reconciler: start, notice deaths, health and liveness, adoption.

Every failure is recorded on the process's :class:`ProcessRecord` (``last_error``) and schedules
a restart with exponential back-off; nothing here raises for a single failing process.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from llm_platform.targets.local.liveness import making_progress, one_per_revision, read_loads
from llm_platform.targets.local.pidfiles import PidEntry, PidFiles, Role
from llm_platform.targets.local.processes import (
    ProcessStartError,
    exit_code_if_child,
    http_ok,
    is_our_process,
    kill_process,
    loopback_url,
    spawn_detached,
    tail_lines,
)
from llm_platform.targets.local.state import ObservedState, ProcessRecord

log = logging.getLogger(__name__)

HEALTH_FAILURE_THRESHOLD = 3
MAX_BACKOFF_S = 30.0
#: A healthy process that stops answering health checks this long is killed and restarted.
LIVENESS_TIMEOUT_S = 10.0
#: A process that never answered a health check this long after its start is killed too.
STARTUP_TIMEOUT_S = 120.0


def restart_backoff(consecutive_crashes: int) -> float:
    """Seconds to wait before restarting: 0 after the first crash, then 1, 2, 4 ... 30."""
    if consecutive_crashes <= 1:
        return 0.0
    return min(MAX_BACKOFF_S, 2.0 ** (consecutive_crashes - 2))


def record_failure(rec: ProcessRecord, now: float, error: str) -> None:
    """Book a crash (or failed start) on ``rec``: no process, restart after the back-off."""
    rec.last_error = error
    if not rec.ever_healthy:
        rec.failed_starts += 1
    rec.consecutive_crashes += 1
    rec.next_start_at = now + restart_backoff(rec.consecutive_crashes)
    rec.pid = None
    rec.healthy = False
    rec.health_failures = 0
    rec.unhealthy_since = None


class Supervisor:
    """Starts and watches the processes of one home (pid files under ``home/runtime/pids``).

    Args:
        home: the platform home (working directory of the processes).
        liveness_timeout_s: a once-healthy process failing health checks this long is killed.
        startup_timeout_s: a process never healthy this long after its start is killed.
    """

    def __init__(
        self,
        home: Path,
        *,
        liveness_timeout_s: float = LIVENESS_TIMEOUT_S,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.home = home
        self.pids = PidFiles(home)
        self.liveness_timeout_s = liveness_timeout_s
        self.startup_timeout_s = startup_timeout_s

    def adopt(self, observed: ObservedState) -> None:
        """Take back processes the pid files know and the observed state lost.

        After ``observed.json`` was damaged or reset, the gateways and servers this home started
        are still running: they are adopted (not duplicated); a second live process for a
        slot that already has one is an orphan and is stopped.
        """
        tracked = {r.pid for r in [*observed.revisions.values(), *observed.gateways.values()]}
        for entry in self.pids.live("gateway", "model-server"):
            if entry.pid in tracked:
                continue
            table = observed.gateways if entry.role == "gateway" else observed.revisions
            rec = table.get(entry.key)
            if rec is not None and rec.pid is not None and is_our_process(rec.pid, rec.argv):
                log.warning("stopping orphaned %s %s (pid %d)", entry.role, entry.key, entry.pid)
                self.pids.stop(entry)
                continue
            log.warning("adopting running %s %s (pid %d)", entry.role, entry.key, entry.pid)
            table[entry.key] = ProcessRecord(
                pid=entry.pid,
                port=entry.port,
                argv=entry.argv,
                log_path=entry.log_path,
                starts=max(1, rec.starts if rec else 1),
                started_at=entry.started_at,
            )

    def refresh(self, rec: ProcessRecord, now: float) -> None:
        """Notice a process that died since the last pass and schedule its restart."""
        if rec.pid is None or is_our_process(rec.pid, rec.argv):
            return
        code = exit_code_if_child(rec.pid)
        last_line = tail_lines(Path(rec.log_path), 1) if rec.log_path else ""
        how = f"exited with code {code}" if code is not None else "is no longer running"
        self.pids.forget(rec.pid)
        record_failure(rec, now, f"pid {rec.pid} {how}" + (f": {last_line}" if last_line else ""))
        log.warning("%s; next start in %.0fs", rec.last_error, rec.next_start_at - now)

    def start(
        self, rec: ProcessRecord, argv: list[str], log_path: Path, now: float, *, role: Role,
        key: str,
    ) -> None:  # fmt: skip
        """Spawn ``argv`` detached for ``rec`` and write its pid file."""
        try:
            pid = spawn_detached(argv, log_path, cwd=self.home, home=self.home)
        except ProcessStartError as exc:
            record_failure(rec, now, str(exc))
            return
        rec.pid, rec.argv, rec.log_path = pid, argv, str(log_path)
        rec.started_at, rec.unhealthy_since = now, None
        self.pids.record(
            PidEntry(pid=pid, role=role, key=key, argv=argv, port=rec.port, log_path=str(log_path))
        )
        rec.starts += 1
        log.info("started pid %d (start #%d): %s", pid, rec.starts, " ".join(argv))
        rec.ever_healthy = rec.healthy = False
        rec.health_failures = 0

    def check_health(self, observed: ObservedState) -> None:
        """Probe every process once; take repeated failures out of rotation, kill hung ones.

        A model server whose requests in flight make progress (the gateways' ``/-/load``) is
        alive even when its health path is slow; of one revision's replicas at most one is
        killed per pass.
        """
        checks: list[tuple[str, ProcessRecord, str]] = [
            (key, rec, f"{loopback_url(rec.port)}{rec.health_path}")
            for key, rec in observed.revisions.items()
            if rec.pid is not None
        ] + [
            (f"gateway {env}", rec, f"{loopback_url(rec.port)}/-/health")
            for env, rec in observed.gateways.items()
            if rec.pid is not None
        ]
        if not checks:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(checks))) as pool:
            results = list(pool.map(lambda c: http_ok(c[2], timeout_s=1.0), checks))
        now = time.time()
        load = None
        due: list[tuple[str, ProcessRecord]] = []
        for (key, rec, _), ok in zip(checks, results, strict=True):
            if ok:
                rec.healthy = rec.ever_healthy = True
                rec.health_failures = rec.failed_starts = rec.consecutive_crashes = 0
                rec.unhealthy_since = None
                continue
            if rec.ever_healthy and key in observed.revisions:
                load = load or read_loads(observed.gateways.values())
                if making_progress(load, rec.port, now, self.liveness_timeout_s):
                    rec.unhealthy_since = None  # busy, not dead: it keeps its routes
                    continue
            rec.health_failures += 1
            if rec.unhealthy_since is None:
                rec.unhealthy_since = now
            # A serving process is only taken out of rotation after repeated failures, so
            # one slow probe under load does not drop its traffic.
            if not rec.ever_healthy or rec.health_failures >= HEALTH_FAILURE_THRESHOLD:
                rec.healthy = False
            silent = now - rec.unhealthy_since
            if rec.ever_healthy and silent >= self.liveness_timeout_s:
                due.append((key, rec))
            elif (
                not rec.ever_healthy
                and rec.started_at
                and now - rec.started_at >= self.startup_timeout_s
            ):
                self.kill_hung(rec, now, f"not healthy {self.startup_timeout_s:.0f}s after start")
        for _, rec in one_per_revision(due):
            silent = now - (rec.unhealthy_since or now)
            self.kill_hung(rec, now, f"did not answer health checks for {silent:.0f}s")

    def kill_hung(self, rec: ProcessRecord, now: float, why: str) -> None:
        """Kill a process that is alive but does not serve (e.g. stopped, deadlocked).

        SIGKILL, not SIGTERM: a stopped or wedged process never handles SIGTERM. Its open
        connections are reset, so requests in flight to it fail at once instead of waiting for
        the gateway's upstream timeout. The restart follows the usual crash back-off.
        """
        pid = rec.pid
        if kill_process(pid, rec.argv):
            log.warning("pid %s %s; killed", pid, why)
        self.pids.forget(pid)
        record_failure(rec, now, f"pid {pid} {why}; killed (SIGKILL)")
