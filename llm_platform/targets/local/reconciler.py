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
from functools import partial
from pathlib import Path
from typing import Any

from llm_platform.serving.engines import EngineError, get_engine
from llm_platform.targets.artifacts import ArtifactCache, ArtifactUnavailable
from llm_platform.targets.base import RevisionSpec
from llm_platform.targets.local.layout import Commands, Layout
from llm_platform.targets.local.processes import (
    free_port,
    http_get_json,
    loopback_url,
    stop_process,
)
from llm_platform.targets.local.prometheus import (
    PrometheusPaths,
    target_groups,
    wait_until_unscraped,
    write_targets,
)
from llm_platform.targets.local.routing import rollout_complete, route_entries
from llm_platform.targets.local.state import (
    DesiredState,
    ObservedState,
    ProcessRecord,
    atomic_write_json,
    replica_key,
    replica_records,
)
from llm_platform.targets.local.supervision import (
    LIVENESS_TIMEOUT_S,
    MAX_BACKOFF_S,
    STARTUP_TIMEOUT_S,
    Supervisor,
    record_failure,
)

UrlsIn = Callable[[str, str], Callable[[RevisionSpec], list[str]]]

log = logging.getLogger(__name__)


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
        self.supervisor = Supervisor(
            layout.home,
            liveness_timeout_s=liveness_timeout_s,
            startup_timeout_s=startup_timeout_s,
        )
        self.pids = self.supervisor.pids
        self.artifacts = artifacts or ArtifactCache(layout.artifact_cache)
        self.drain_timeout_s = drain_timeout_s
        #: Longest wait for Prometheus to drop retired targets (file_sd takes ~1-3 s).
        self.scrape_drain_s = scrape_drain_s
        self.prom = PrometheusPaths(layout.home)

    def run(self, desired: DesiredState, observed: ObservedState) -> None:
        """Converge once. Mutates both states (retiring revisions are pruned from ``desired``)."""
        now = time.time()
        self.supervisor.adopt(observed)
        for rec in [*observed.revisions.values(), *observed.gateways.values()]:
            self.supervisor.refresh(rec, now)
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
        self.supervisor.check_health(observed)

        def urls_in(env: str, model: str) -> Callable[[RevisionSpec], list[str]]:
            def urls(rev: RevisionSpec) -> list[str]:
                return [
                    loopback_url(rec.port)
                    for rec in replica_records(observed, env, model, rev)
                    if rec.healthy and rec.pid is not None
                ]

            return urls

        # Retiring revisions serve until their replacement is ready; a dead one (no process) is
        # dropped. One that misses health checks (a loaded machine) is only taken out of
        # rotation: stopping it would leave the model without a revision until the replacement
        # is ready; the liveness check kills it if it never answers again.
        keep: set[str] = set(wanted)
        for dep in desired.deployments.values():
            env, model = dep.spec.env, dep.spec.model
            urls = urls_in(env, model)
            if rollout_complete(dep, all_replicas_healthy(urls)):
                dep.retiring = []
            else:
                dep.retiring = [
                    r
                    for r in dep.retiring
                    if urls(r)
                    or any(rec.pid is not None for rec in replica_records(observed, env, model, r))
                ]
            keep |= {
                replica_key(env, model, r.revision, i)
                for r in dep.retiring
                for i in range(r.replicas)
            }

        previously_routed: set[str] = set()
        # An environment that lost its last deployment is unrouted too (its gateway then stops).
        for env in sorted({*envs, *observed.gateways}):
            previously_routed |= self._write_routes(env, desired, urls_in)
        to_stop = [k for k in observed.revisions if k not in keep]
        if any(
            observed.revisions[k].pid
            and loopback_url(observed.revisions[k].port) in previously_routed
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
        self.supervisor.start(rec, argv, self.layout.gateway_log(env), now, role="gateway", key=env)

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
        rec.health_path = get_engine(rev.engine).readiness_path
        artifact = self.artifacts.path(model, rev.digest)
        if rec.pid is not None:
            assert rec.port is not None
            try:
                wanted = self.commands.model_server(
                    self.layout, env, model, rev, rec.port, artifact
                )
            except EngineError:
                wanted = []  # e.g. the cache was wiped: restart below, which reports it
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
                record_failure(rec, now, str(exc))
                return
        rec.port = free_port(rec.port)
        try:
            argv = self.commands.model_server(self.layout, env, model, rev, rec.port, artifact)
        except EngineError as exc:
            record_failure(rec, now, f"{key}: {exc}")
            return
        rec.health_path = get_engine(rev.engine).readiness_path
        log_path = self.layout.revision_log(env, model, rev.revision, replica)
        self.supervisor.start(rec, argv, log_path, now, role="model-server", key=key)

    def _write_routes(self, env: str, desired: DesiredState, urls_in: UrlsIn) -> set[str]:
        """Write the env's routes file if it changed; return the URLs routed before the write."""
        path = self.layout.routes_file(env)
        models: dict[str, object] = {}
        for dep in desired.deployments.values():
            if dep.spec.env != env:
                continue
            entries = route_entries(
                dep, urls_in(env, dep.spec.model), partial(self._fault_file, env, dep.spec.model)
            )
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

    def _fault_file(self, env: str, model: str, rev: RevisionSpec) -> str:
        return str(self.layout.fault_file(env, model, rev.revision))

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
    data = http_get_json(f"{loopback_url(port)}/-/routes", timeout_s=0.5)
    return data.get("models") if isinstance(data, dict) else None
