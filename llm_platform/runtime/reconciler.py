"""One reconciliation pass of the local runtime: converge processes towards the desired state.

The caller holds the state lock and saves both states afterwards. A pass never raises for a
single failing process: the failure is recorded on its :class:`ProcessRecord` (``last_error``,
restart back-off) and the other deployments are still reconciled.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from llm_platform.runtime.artifacts import ArtifactCache, ArtifactUnavailable
from llm_platform.runtime.base import RevisionSpec
from llm_platform.runtime.layout import Commands, Layout
from llm_platform.runtime.pidfiles import PidEntry, PidFiles, Role
from llm_platform.runtime.processes import (
    ProcessStartError,
    exit_code_if_child,
    free_port,
    http_get_json,
    http_ok,
    is_our_process,
    kill_process,
    spawn_detached,
    stop_process,
    tail_lines,
)
from llm_platform.runtime.prometheus import (
    PrometheusPaths,
    target_groups,
    wait_until_unscraped,
    write_targets,
)
from llm_platform.runtime.routing import rollout_complete, route_entries
from llm_platform.runtime.state import (
    DesiredState,
    ObservedState,
    ProcessRecord,
    atomic_write_json,
    replica_key,
    replica_records,
)

UrlsIn = Callable[[str, str], Callable[[RevisionSpec], list[str]]]

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


def all_replicas_healthy(
    urls: Callable[[RevisionSpec], list[str]],
) -> Callable[[RevisionSpec], bool]:
    """A revision is ready when every desired replica has a healthy URL."""
    return lambda rev: len(urls(rev)) >= rev.replicas


def retire_expired(desired: DesiredState, now: float) -> None:
    """Drop revisions whose rollback window ended (``retire_at`` passed) and carry no traffic.

    Their servers are then drained and stopped like any revision that is no longer desired.
    """
    for dep in desired.deployments.values():
        expired = [
            r for r in dep.spec.revisions if r.weight == 0 and r.retire_at and r.retire_at <= now
        ]
        if expired and len(expired) < len(dep.spec.revisions):
            names = [r.revision for r in expired]
            log.info("%s/%s: rollback window of %s ended", dep.spec.env, dep.spec.model, names)
            dep.spec = dep.spec.model_copy(
                update={"revisions": [r for r in dep.spec.revisions if r not in expired]}
            )


def needed_envs(desired: DesiredState) -> list[str]:
    """Environments that need a gateway: declared ones plus those with deployments."""
    envs = set(desired.environments) | {d.spec.env for d in desired.deployments.values()}
    return sorted(envs)


class Reconciler:
    """Starts, health-checks, routes and stops processes for one runtime home."""

    def __init__(
        self,
        layout: Layout,
        commands: Commands,
        *,
        drain_timeout_s: float = 3.0,
        scrape_drain_s: float = 10.0,
        artifacts: ArtifactCache | None = None,
        liveness_timeout_s: float = LIVENESS_TIMEOUT_S,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        self.layout = layout
        self.commands = commands
        self.liveness_timeout_s = liveness_timeout_s
        self.startup_timeout_s = startup_timeout_s
        self.artifacts = artifacts or ArtifactCache(layout.artifact_cache)
        self.drain_timeout_s = drain_timeout_s
        #: Longest wait for Prometheus to drop retired targets (file_sd takes ~1-3 s).
        self.scrape_drain_s = scrape_drain_s
        self.prom = PrometheusPaths(layout.home)
        self.pids = PidFiles(layout.home)

    def run(self, desired: DesiredState, observed: ObservedState) -> None:
        """Converge once. Mutates both states (retiring revisions are pruned from ``desired``)."""
        now = time.time()
        self._adopt(observed)
        for rec in [*observed.revisions.values(), *observed.gateways.values()]:
            self._refresh(rec, now)
        retire_expired(desired, now)
        envs = needed_envs(desired)
        for env in envs:
            self._ensure_gateway(env, desired, observed, now)
        wanted: set[str] = set()
        for dep in desired.deployments.values():
            env, model = dep.spec.env, dep.spec.model
            for rev in dep.spec.revisions:
                for i in range(rev.replicas):
                    key = replica_key(env, model, rev.revision, i)
                    wanted.add(key)
                    self._ensure_revision(key, env, model, rev, i, observed, now)
        self._check_health(observed)

        def urls_in(env: str, model: str) -> Callable[[RevisionSpec], list[str]]:
            def urls(rev: RevisionSpec) -> list[str]:
                return [
                    f"http://127.0.0.1:{rec.port}"
                    for rec in replica_records(observed, env, model, rev)
                    if rec.healthy and rec.pid is not None
                ]

            return urls

        # Retiring revisions serve until their replacement is ready; a dead one is dropped.
        keep: set[str] = set(wanted)
        for dep in desired.deployments.values():
            env, model = dep.spec.env, dep.spec.model
            urls = urls_in(env, model)
            if rollout_complete(dep, all_replicas_healthy(urls)):
                dep.retiring = []
            else:
                dep.retiring = [r for r in dep.retiring if urls(r)]
            keep |= {
                replica_key(env, model, r.revision, i)
                for r in dep.retiring
                for i in range(r.replicas)
            }

        previously_routed: set[str] = set()
        for env in envs:
            previously_routed |= self._write_routes(env, desired, urls_in)
        to_stop = [k for k in observed.revisions if k not in keep]
        if any(
            observed.revisions[k].pid
            and f"http://127.0.0.1:{observed.revisions[k].port}" in previously_routed
            for k in to_stop
        ):
            self._wait_gateways_loaded(envs, observed)
        stopping = [(key, observed.revisions.pop(key)) for key in to_stop]
        stopping += [
            (f"gateway {env}", observed.gateways.pop(env))
            for env in list(observed.gateways)
            if env not in envs
        ]
        # Take processes out of Prometheus' targets before stopping them: a scrape of a server we
        # retire on purpose would otherwise record up == 0, a false outage in availability SLOs.
        models, gateways = target_groups(desired, observed)
        write_targets(self.prom.model_targets, models)
        write_targets(self.prom.gateway_targets, gateways)
        scraped = {f"127.0.0.1:{rec.port}" for _, rec in stopping if rec.pid and rec.port}
        if scraped and not wait_until_unscraped(
            self.layout.stack_file, scraped, timeout_s=self.scrape_drain_s
        ):
            log.warning("Prometheus still scrapes %s; stopping anyway", sorted(scraped))
        for name, rec in stopping:
            if stop_process(rec.pid, rec.argv):
                log.info("stopped %s (pid %s): no longer desired", name, rec.pid)
            self.pids.forget(rec.pid)

    def _adopt(self, observed: ObservedState) -> None:
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

    def _refresh(self, rec: ProcessRecord, now: float) -> None:
        """Notice a process that died since the last pass and schedule its restart."""
        if rec.pid is None or is_our_process(rec.pid, rec.argv):
            return
        code = exit_code_if_child(rec.pid)
        last_line = tail_lines(Path(rec.log_path), 1) if rec.log_path else ""
        how = f"exited with code {code}" if code is not None else "is no longer running"
        self.pids.forget(rec.pid)
        rec.last_error = f"pid {rec.pid} {how}" + (f": {last_line}" if last_line else "")
        if not rec.ever_healthy:
            rec.failed_starts += 1
        rec.consecutive_crashes += 1
        rec.next_start_at = now + restart_backoff(rec.consecutive_crashes)
        log.warning("%s; next start in %.0fs", rec.last_error, rec.next_start_at - now)
        rec.pid = None
        rec.healthy = False
        rec.health_failures = 0
        rec.unhealthy_since = None

    def _start(
        self,
        rec: ProcessRecord,
        argv: list[str],
        log_path: Path,
        now: float,
        *,
        role: Role,
        key: str,
    ) -> None:
        try:
            pid = spawn_detached(argv, log_path, cwd=self.layout.home)
        except ProcessStartError as exc:
            rec.last_error = str(exc)
            rec.failed_starts += 1
            rec.consecutive_crashes += 1
            rec.next_start_at = now + restart_backoff(rec.consecutive_crashes)
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

    def _ensure_gateway(
        self, env: str, desired: DesiredState, observed: ObservedState, now: float
    ) -> None:
        rec = observed.gateways.setdefault(env, ProcessRecord())
        if rec.pid is not None or now < rec.next_start_at:
            return
        recorded = desired.gateway_ports.get(env)
        port = free_port(recorded or desired.gateway_port_hints.get(env))
        if recorded and port != recorded:
            # Clients know the gateway by its port: never start a second one elsewhere.
            rec.port, rec.port_conflict = recorded, True
            rec.last_error = (
                f"gateway {env}: port {recorded} is in use by a process this home does not "
                "track; not starting a gateway on another port (stop that process first)"
            )
            rec.next_start_at = now + MAX_BACKOFF_S
            log.error(rec.last_error)
            return
        desired.gateway_ports[env] = port
        rec.port, rec.last_error, rec.port_conflict = port, None, False
        if not self.layout.routes_file(env).exists():
            atomic_write_json(self.layout.routes_file(env), {"models": {}})
        argv = self.commands.gateway(self.layout, env, port)
        self._start(rec, argv, self.layout.gateway_log(env), now, role="gateway", key=env)

    def _ensure_revision(
        self,
        key: str,
        env: str,
        model: str,
        rev: RevisionSpec,
        replica: int,
        observed: ObservedState,
        now: float,
    ) -> None:
        rec = observed.revisions.setdefault(key, ProcessRecord())
        artifact = self.artifacts.path(model, rev.digest)
        if rec.pid is not None:
            assert rec.port is not None
            wanted = self.commands.model_server(self.layout, env, model, rev, rec.port, artifact)
            if rec.argv[1:] == wanted[1:]:  # the interpreter's spelling may differ
                return
            # Same revision name, different launch settings: replace the process.
            stop_process(rec.pid, rec.argv)
            self.pids.forget(rec.pid)
            rec = observed.revisions[key] = ProcessRecord()
        if now < rec.next_start_at:
            return
        if not artifact.is_dir():  # apply() fetched it; the cache was wiped since
            try:
                self.artifacts.resolve(model, rev.artifact_uri, rev.digest)
            except ArtifactUnavailable as exc:
                rec.last_error = str(exc)
                rec.failed_starts += 1
                rec.consecutive_crashes += 1
                rec.next_start_at = now + restart_backoff(rec.consecutive_crashes)
                return
        rec.port = free_port(rec.port)
        argv = self.commands.model_server(self.layout, env, model, rev, rec.port, artifact)
        log_path = self.layout.revision_log(env, model, rev.revision, replica)
        self._start(rec, argv, log_path, now, role="model-server", key=key)

    def _check_health(self, observed: ObservedState) -> None:
        checks: list[tuple[ProcessRecord, str]] = [
            (rec, f"http://127.0.0.1:{rec.port}/health")
            for rec in observed.revisions.values()
            if rec.pid is not None
        ] + [
            (rec, f"http://127.0.0.1:{rec.port}/-/health")
            for rec in observed.gateways.values()
            if rec.pid is not None
        ]
        if not checks:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(checks))) as pool:
            results = list(pool.map(lambda c: http_ok(c[1], timeout_s=1.0), checks))
        now = time.time()
        for (rec, _), ok in zip(checks, results, strict=True):
            if ok:
                rec.healthy = rec.ever_healthy = True
                rec.health_failures = rec.failed_starts = rec.consecutive_crashes = 0
                rec.unhealthy_since = None
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
                self._kill_hung(rec, now, f"did not answer health checks for {silent:.0f}s")
            elif rec.started_at and now - rec.started_at >= self.startup_timeout_s:
                self._kill_hung(rec, now, f"not healthy {self.startup_timeout_s:.0f}s after start")

    def _kill_hung(self, rec: ProcessRecord, now: float, why: str) -> None:
        """Kill a process that is alive but does not serve (e.g. stopped, deadlocked).

        SIGKILL, not SIGTERM: a stopped or wedged process never handles SIGTERM. Its open
        connections are reset, so requests in flight to it fail at once instead of waiting for
        the gateway's upstream timeout. The restart follows the usual crash back-off.
        """
        pid = rec.pid
        if kill_process(pid, rec.argv):
            log.warning("pid %s %s; killed", pid, why)
        self.pids.forget(pid)
        rec.last_error = f"pid {pid} {why}; killed (SIGKILL)"
        if not rec.ever_healthy:
            rec.failed_starts += 1
        rec.consecutive_crashes += 1
        rec.next_start_at = now + restart_backoff(rec.consecutive_crashes)
        rec.pid = None
        rec.healthy = False
        rec.health_failures = 0
        rec.unhealthy_since = None

    def _write_routes(self, env: str, desired: DesiredState, urls_in: UrlsIn) -> set[str]:
        """Write the env's routes file if it changed; return the URLs routed before the write."""
        path = self.layout.routes_file(env)
        models: dict[str, object] = {}
        for dep in desired.deployments.values():
            if dep.spec.env != env:
                continue
            entries = route_entries(dep, urls_in(env, dep.spec.model))
            models[dep.spec.model] = {"revisions": [e.model_dump() for e in entries]}
        new = {"models": models}
        old = _read_json(path)
        if old == new:
            return set()
        atomic_write_json(path, new)
        return {
            url
            for spec in (old or {}).get("models", {}).values()
            for r in spec.get("revisions", [])
            for url in r.get("urls") or [r.get("url")]
        }

    def _wait_gateways_loaded(self, envs: list[str], observed: ObservedState) -> None:
        """Wait until each live gateway serves the routes file now on disk (bounded)."""
        deadline = time.monotonic() + self.drain_timeout_s
        for env in envs:
            rec = observed.gateways.get(env)
            if rec is None or rec.pid is None or not rec.healthy:
                continue
            wait_gateway_synced(rec.port, self.layout.routes_file(env), deadline=deadline)
        time.sleep(0.2)  # requests picked just before the swap are on the wire by now


def wait_gateway_synced(port: int | None, routes_file: Path, *, deadline: float) -> bool:
    """Poll a gateway's ``/-/routes`` until it serves ``routes_file``'s content.

    Args:
        port: the gateway's port.
        routes_file: the routes file the gateway follows.
        deadline: ``time.monotonic()`` value after which to give up.

    Returns:
        True when in sync before the deadline.
    """
    expected = (_read_json(routes_file) or {}).get("models")
    while True:
        if _gateway_models(port) == expected:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``; None when missing or unreadable (the caller rewrites it)."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _gateway_models(port: int | None) -> object:
    """The ``models`` section a gateway currently serves (None when it does not answer)."""
    data = http_get_json(f"http://127.0.0.1:{port}/-/routes", timeout_s=0.5)
    return data.get("models") if isinstance(data, dict) else None
