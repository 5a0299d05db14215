"""LocalRuntime: deployments as model-server processes behind a per-environment gateway.

Desired state lives on disk, so deployments outlive the process that applied them (a Dagster
run); every mutating call reconciles synchronously, and the controller loop
(``python -m llm_platform.targets.local.controller``) keeps reconciling in the background.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llm_platform.serving.engines import EngineError, choose_engine
from llm_platform.targets.artifacts import ArtifactCache, StoreOpener
from llm_platform.targets.base import (
    CapacityReport,
    DeploymentNotFound,
    DeploymentNotReady,
    DeploymentSpec,
    DeploymentStatus,
    EngineRefused,
    InvalidDeploymentSpec,
    RevisionSpec,
    Runtime,
)
from llm_platform.targets.local.layout import Commands, Layout
from llm_platform.targets.local.pidfiles import PidFiles
from llm_platform.targets.local.processes import loopback_url, stop_process, tail_lines
from llm_platform.targets.local.reconciler import Reconciler, wait_gateway_synced
from llm_platform.targets.local.replicas import cap_spec, directory_bytes
from llm_platform.targets.local.state import (
    DesiredDeployment,
    DesiredState,
    ObservedState,
    StateStore,
    replica_records,
    revision_key,
)
from llm_platform.targets.local.status import deployment_status
from llm_platform.targets.local.supervision import LIVENESS_TIMEOUT_S

START_FAILURES_BEFORE_GIVING_UP = 2
LOG_TAIL_LINES = 20
GATEWAY_SYNC_TIMEOUT_S = 3.0


def read_meminfo(path: Path = Path("/proc/meminfo")) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per field (only the ``kB`` fields)."""
    values: dict[str, int] = {}
    for line in path.read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            values[name] = int(parts[0]) * 1024
    return values


class LocalRuntime(Runtime):
    """The embedded serving target.

    Args:
        home: the platform home (``LLM_PLATFORM_HOME``); state under ``home/runtime``.
        commands: argv builders of the data-plane processes (default: this interpreter).
        drain_timeout_s: how long to wait for gateways to drop a revision before stopping it.
        store_opener: opens the artifact store a revision's ``artifact_uri`` names (default:
            ``llm_platform.artifact_store.open_store``).
        liveness_timeout_s: a server (or gateway) that stops answering health checks this long
            is killed and restarted.
    """

    def __init__(
        self,
        home: Path,
        *,
        commands: Commands | None = None,
        drain_timeout_s: float = 3.0,
        store_opener: StoreOpener | None = None,
        liveness_timeout_s: float = LIVENESS_TIMEOUT_S,
    ) -> None:
        self.home = Path(home).resolve()
        self.layout = Layout(self.home)
        self.store = StateStore(self.home)
        self.commands = commands or Commands()
        self.pids = PidFiles(self.home)
        self.artifacts = ArtifactCache(self.layout.artifact_cache, store_opener)
        self.reconciler = Reconciler(
            self.layout,
            self.commands,
            drain_timeout_s=drain_timeout_s,
            artifacts=self.artifacts,
            liveness_timeout_s=liveness_timeout_s,
        )

    # -- reconciliation ---------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[tuple[DesiredState, ObservedState]]:
        """Load both states under the lock; save them when the block ends, even on error.

        Saving after a failure matters: processes a failed pass already started are recorded,
        so a later pass adopts or stops them instead of leaving them orphaned.
        """
        with self.store.locked():
            desired, observed = self.store.load_desired(), self.store.load_observed()
            try:
                yield desired, observed
            finally:
                self.store.save_desired(desired)
                self.store.save_observed(observed)

    def reconcile(self) -> None:
        """Converge once: start, restart, route, stop; persist both states."""
        with self._transaction() as (desired, observed):
            self.reconciler.run(desired, observed)

    def ensure_environments(self, envs: list[str], ports: dict[str, int] | None = None) -> None:
        """Declare environments that always get a gateway (preferred ports) and reconcile."""
        with self._transaction() as (desired, observed):
            desired.environments = sorted(set(desired.environments) | set(envs))
            desired.gateway_port_hints.update(ports or {})
            self.reconciler.run(desired, observed)

    def stop_all(self) -> list[int]:
        """Stop every model server and gateway; keep the desired state for a later start.

        Both the observed state and the pid files are consulted, so every process this home
        started is stopped even when ``observed.json`` is damaged.

        Returns:
            The pids that were signalled.
        """
        stopped: list[int] = []
        with self.store.locked():
            observed = self.store.load_observed()
            for rec in [*observed.revisions.values(), *observed.gateways.values()]:
                if rec.pid is not None and stop_process(rec.pid, rec.argv):
                    stopped.append(rec.pid)
                self.pids.forget(rec.pid)
            stopped += self.pids.stop_all("gateway", "model-server")
            self.store.save_observed(ObservedState())
        return stopped

    # -- Runtime interface ------------------------------------------------------------------

    def apply(self, spec: DeploymentSpec) -> DeploymentStatus:
        """Make ``spec`` desired and reconcile; replaced revisions serve until it is healthy.

        Every revision's artifact is fetched into the cache and hash-verified first (outside
        the state lock), so a revision whose artifact is unavailable is never desired. Each
        revision's ``replicas`` is capped to what available memory holds; the status then
        carries a warning naming the requested and the running count.

        Raises:
            ArtifactUnavailable: an artifact cannot be fetched or does not match its digest.
            EngineRefused: a revision's engine cannot run here or does not load its artifact.
        """
        paths = {
            rev.revision: self.artifacts.resolve(spec.model, rev.artifact_uri, rev.digest)
            for rev in spec.revisions
        }
        for rev in spec.revisions:
            try:
                choose_engine(paths[rev.revision], rev.engine).check_local()
            except EngineError as exc:
                raise EngineRefused(f"{spec.env}/{spec.model}", rev.revision, exc) from exc
        sizes = {name: directory_bytes(path) for name, path in paths.items()}
        key = f"{spec.env}/{spec.model}"
        names = {r.revision for r in spec.revisions}
        with self._transaction() as (desired, observed):
            available = self.capacity().memory_available_bytes
            spec, warnings = cap_spec(spec, observed, sizes, available)
            previous = desired.deployments.get(key)
            retiring: list[RevisionSpec] = []
            if previous is not None:
                for rev in [*previous.spec.revisions, *previous.retiring]:
                    if rev.revision not in names and rev.revision not in {
                        r.revision for r in retiring
                    }:
                        retiring.append(rev)
            desired.deployments[key] = DesiredDeployment(
                spec=spec, retiring=retiring, warnings=warnings
            )
            self.reconciler.run(desired, observed)
            return deployment_status(desired, observed, spec.env, spec.model)

    def status(self, env: str, model: str) -> DeploymentStatus | None:
        """Observed status (as of the last reconcile; liveness re-checked now)."""
        desired, observed = self.store.load_desired(), self.store.load_observed()
        if f"{env}/{model}" not in desired.deployments:
            return None
        return deployment_status(desired, observed, env, model)

    def desired_spec(self, env: str, model: str) -> DeploymentSpec | None:
        """The desired spec as last applied (retiring revisions are not part of it)."""
        dep = self.store.load_desired().deployments.get(f"{env}/{model}")
        return dep.spec if dep is not None else None

    def list_deployments(self, env: str | None = None) -> list[DeploymentStatus]:
        """Status of every desired deployment, sorted by environment and model."""
        desired, observed = self.store.load_desired(), self.store.load_observed()
        return [
            deployment_status(desired, observed, d.spec.env, d.spec.model)
            for _, d in sorted(desired.deployments.items())
            if env is None or d.spec.env == env
        ]

    def wait_ready(self, env: str, model: str, *, timeout_s: float) -> DeploymentStatus:
        """Reconcile until the deployment is ready.

        Raises:
            DeploymentNotFound: the deployment is not desired.
            DeploymentNotReady: timeout, or a revision failed to start repeatedly; the
                message holds the last lines of that revision's log.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            self.reconcile()
            desired, observed = self.store.load_desired(), self.store.load_observed()
            dep = desired.deployments.get(f"{env}/{model}")
            if dep is None:
                raise DeploymentNotFound(f"{env}/{model}: no such deployment")
            status = deployment_status(desired, observed, env, model)
            if status.ready and self._gateway_synced(env, deadline=time.monotonic() + 0.1):
                return status
            for rev in dep.spec.revisions:
                failing = [
                    rec
                    for rec in replica_records(observed, env, model, rev)
                    if rec.failed_starts >= START_FAILURES_BEFORE_GIVING_UP
                ]
                if failing:
                    rec = failing[0]
                    raise DeploymentNotReady(
                        self._failure_message(env, model, rev.revision, rec.failed_starts)
                    )
            if time.monotonic() >= deadline:
                waiting = [r.revision for r in status.revisions if not r.healthy]
                worst = waiting[0] if waiting else None
                msg = f"{env}/{model}: not ready after {timeout_s:.0f}s (not healthy: {waiting})"
                if worst is not None:
                    msg += "\n" + self._failure_message(env, model, worst, None)
                raise DeploymentNotReady(msg)
            time.sleep(0.1)

    def set_weights(self, env: str, model: str, weights: dict[str, int]) -> DeploymentStatus:
        """Shift traffic; refuses to give weight to a revision that is not healthy.

        The routes file is replaced atomically; the call returns once the gateway serves the new
        split (bounded by a few seconds), so traffic measured afterwards follows the new weights.

        Raises:
            DeploymentNotFound: no such deployment.
            InvalidDeploymentSpec: unknown revision, weights not summing to 100, or a weighted
                revision is not healthy (traffic would be dropped).
        """
        key = f"{env}/{model}"
        with self._transaction() as (desired, observed):
            dep = desired.deployments.get(key)
            if dep is None:
                raise DeploymentNotFound(f"{key}: no such deployment")
            known = {r.revision for r in dep.spec.revisions}
            unknown = sorted(set(weights) - known)
            if unknown:
                raise InvalidDeploymentSpec(f"{key}: unknown revisions {unknown} (have {known})")
            out_of_range = {n: w for n, w in weights.items() if not 0 <= w <= 100}
            if out_of_range:
                raise InvalidDeploymentSpec(f"{key}: weights must be 0..100, got {out_of_range}")
            if sum(weights.values()) != 100:
                raise InvalidDeploymentSpec(
                    f"{key}: weights must sum to 100, got {sum(weights.values())}"
                )
            self.reconciler.run(desired, observed)  # judge health as of now, not the last pass
            by_name = {r.revision: r for r in dep.spec.revisions}
            for name, weight in weights.items():
                records = replica_records(observed, env, model, by_name[name])
                if weight > 0 and not any(rec.healthy for rec in records):
                    raise InvalidDeploymentSpec(
                        f"{key}: revision {name} is not healthy; refusing to route traffic to it"
                    )
            # Traffic given back to a revision cancels its scheduled retirement.
            revisions = [
                r.model_copy(
                    update={"weight": weights.get(r.revision, 0)}
                    # and ends its shadow traffic (a shadow revision has weight 0)
                    | (
                        {"retire_at": None, "shadow_percent": 0}
                        if weights.get(r.revision, 0) > 0
                        else {}
                    )
                )
                for r in dep.spec.revisions
            ]
            dep.spec = DeploymentSpec(env=env, model=model, revisions=revisions)
            self.reconciler.run(desired, observed)
            status = deployment_status(desired, observed, env, model)
        self._gateway_synced(env, deadline=time.monotonic() + GATEWAY_SYNC_TIMEOUT_S)
        return status

    def delete(self, env: str, model: str) -> None:
        """Remove the deployment; its servers stop once the gateway no longer routes to them."""
        key = f"{env}/{model}"
        with self._transaction() as (desired, observed):
            if desired.deployments.pop(key, None) is None:
                raise DeploymentNotFound(f"{key}: no such deployment")
            self.reconciler.run(desired, observed)

    def capacity(self) -> CapacityReport:
        """Real memory of this machine; GPUs are not accounted for locally."""
        info = read_meminfo()
        return CapacityReport(
            memory_total_bytes=info["MemTotal"],
            memory_available_bytes=info.get("MemAvailable", info.get("MemFree", 0)),
            gpus_enforced=False,
            detail="local runtime: memory from /proc/meminfo; GPU requests are not enforced",
        )

    # -- helpers ----------------------------------------------------------------------------

    def gateway_url(self, env: str) -> str | None:
        """URL of an environment's gateway (None when it has never been started)."""
        rec = self.store.load_observed().gateways.get(env)
        return loopback_url(rec.port) if rec and rec.port else None

    def fault_file(self, env: str, model: str, revision: str) -> Path:
        """Where to write ``{"latency_ms", "error_rate"}`` to inject faults into a revision."""
        return self.layout.fault_file(env, model, revision)

    def _gateway_synced(self, env: str, *, deadline: float) -> bool:
        """True once the env's gateway serves the routes file on disk (False at the deadline)."""
        rec = self.store.load_observed().gateways.get(env)
        if rec is None or rec.port is None:
            return False
        return wait_gateway_synced(rec.port, self.layout.routes_file(env), deadline=deadline)

    def _failure_message(self, env: str, model: str, revision: str, failures: int | None) -> str:
        observed = self.store.load_observed()
        rec = observed.revisions.get(revision_key(env, model, revision))
        log_path = self.layout.revision_log(env, model, revision)
        head = f"{env}/{model}: revision {revision} "
        head += f"failed to start {failures} times" if failures else "is not healthy"
        if rec is not None and rec.last_error:
            head += f" ({rec.last_error})"
        tail = tail_lines(log_path, LOG_TAIL_LINES)
        return f"{head}\n--- last {LOG_TAIL_LINES} lines of {log_path} ---\n{tail}"
