"""The embedded stack: Prometheus, one gateway per environment, and the controller loop.

``stack_up`` is idempotent (running components are kept), ``stack_down`` stops every process by
pid (model servers too) but keeps the desired state, so a later ``stack_up`` restores the
deployments. Everything binds 127.0.0.1. ``home/stack.json`` records what runs, for other tools:
``{"prometheus_url", "gateways": {env: url}, "pids": {component: pid}, "commands": {...}}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from pydantic import BaseModel, Field

from llm_platform.common.errors import ConfigurationError
from llm_platform.config.environments import PIPELINE_ENVIRONMENTS
from llm_platform.settings import home_from_env
from llm_platform.targets.base import DeploymentNotReady, DeploymentStatus, RuntimeErrorBase
from llm_platform.targets.local.layout import Commands, Layout
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.pidfiles import PidEntry, PidFiles, Role
from llm_platform.targets.local.processes import (
    free_port,
    http_ok,
    is_our_process,
    loopback_url,
    spawn_detached,
    stop_process,
)
from llm_platform.targets.local.prometheus import start_prometheus
from llm_platform.targets.local.state import atomic_write_json, file_lock, read_model
from llm_platform.targets.local.supervision import LIVENESS_TIMEOUT_S
from llm_platform.targets.local.sweep import sweep_home

DEFAULT_ENVS = PIPELINE_ENVIRONMENTS
DEFAULT_PROMETHEUS_PORT = 9090
DEFAULT_GATEWAY_BASE_PORT = 8780
PROMETHEUS: Final = "prometheus"
CONTROLLER: Final = "controller"

Progress = Callable[[str], None]

log = logging.getLogger(__name__)


class PortInUse(RuntimeErrorBase):
    """A port this home recorded for a component is taken by a process it does not track."""


class StackInfo(BaseModel):
    """Contents of ``home/stack.json``."""

    prometheus_url: str | None = None
    gateways: dict[str, str] = Field(default_factory=dict)
    pids: dict[str, int] = Field(default_factory=dict)
    commands: dict[str, list[str]] = Field(default_factory=dict)


class ComponentStatus(BaseModel):
    """One control-plane process."""

    name: str
    pid: int | None
    url: str | None
    alive: bool


class StackStatus(BaseModel):
    """Every component and every deployment of a home."""

    home: str
    components: list[ComponentStatus]
    deployments: list[DeploymentStatus]

    @property
    def ok(self) -> bool:
        """True when every component is alive and every deployment is ready."""
        return (
            bool(self.components)
            and all(c.alive for c in self.components)
            and all(d.ready for d in self.deployments)
        )


def default_home(environ: dict[str, str] | None = None) -> Path:
    """``LLM_PLATFORM_HOME`` or ``./.llm-platform`` (absolute)."""
    return home_from_env(environ).resolve()


def load_stack(home: Path) -> StackInfo:
    """Read ``home/stack.json`` (empty info when it does not exist)."""
    return read_model(Layout(home).stack_file, StackInfo)


def _save_stack(home: Path, info: StackInfo) -> None:
    atomic_write_json(Layout(home).stack_file, info.model_dump(mode="json"))


def _load_stack_or_rebuild(home: Path, progress: Progress) -> StackInfo:
    """``stack.json``, or (when it is damaged) what the pid files say runs."""
    try:
        return load_stack(home)
    except ConfigurationError as exc:
        progress(f"{exc}; using the pid files instead")
        log.error("%s; rebuilding it from the pid files", exc)
    return stack_from_pid_files(home)


def stack_from_pid_files(home: Path) -> StackInfo:
    """What the pid files say runs (Prometheus, controller): the record that survives a damaged
    ``stack.json``."""
    info = StackInfo()
    for entry in PidFiles(home).live(PROMETHEUS, CONTROLLER):
        info.pids[entry.role], info.commands[entry.role] = entry.pid, entry.argv
        if entry.role == PROMETHEUS and entry.port:
            info.prometheus_url = loopback_url(entry.port)
    return info


def _record(home: Path, role: Role, pid: int, argv: list[str], port: int | None = None) -> None:
    PidFiles(home).record(PidEntry(pid=pid, role=role, key=role, argv=argv, port=port))


def _alive(info: StackInfo, name: str) -> bool:
    return is_our_process(info.pids.get(name), info.commands.get(name, []))


def _port_of(url: str | None) -> int | None:
    return int(url.rsplit(":", 1)[1]) if url else None


def stack_up(
    home: Path,
    *,
    envs: Sequence[str] = DEFAULT_ENVS,
    prometheus_port: int = DEFAULT_PROMETHEUS_PORT,
    gateway_base_port: int = DEFAULT_GATEWAY_BASE_PORT,
    scrape_interval: str = "1s",
    progress: Progress = lambda message: None,
    timeout_s: float = 30.0,
    liveness_timeout_s: float = LIVENESS_TIMEOUT_S,
) -> StackInfo:
    """Start whatever part of the stack is not running; keep what is.

    Args:
        home: platform home.
        envs: environments that get a gateway.
        prometheus_port: preferred Prometheus port (a free one is used when taken; 0: any).
        gateway_base_port: preferred port of the first environment's gateway (0: any).
        scrape_interval: Prometheus scrape interval.
        progress: receives one human-readable line per step.
        timeout_s: how long to wait for the gateways to answer.
        liveness_timeout_s: the controller kills and restarts a server that has not answered
            a health check for this long.

    Raises:
        PrometheusNotInstalled: no prometheus binary.
        PrometheusStartError: Prometheus did not become ready.
        DeploymentNotReady: a gateway did not become healthy.
    """
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    with file_lock(home / "stack.lock"):
        return _stack_up(
            home,
            envs=envs,
            prometheus_port=prometheus_port,
            gateway_base_port=gateway_base_port,
            scrape_interval=scrape_interval,
            progress=progress,
            timeout_s=timeout_s,
            liveness_timeout_s=liveness_timeout_s,
        )


def _stack_up(
    home: Path,
    *,
    envs: Sequence[str],
    prometheus_port: int,
    gateway_base_port: int,
    scrape_interval: str,
    progress: Progress,
    timeout_s: float,
    liveness_timeout_s: float,
) -> StackInfo:
    info = _load_stack_or_rebuild(home, progress)
    layout = Layout(home)
    commands = Commands()

    if _alive(info, PROMETHEUS):
        progress(
            f"prometheus already running at {info.prometheus_url} (pid {info.pids[PROMETHEUS]})"
        )
    else:
        recorded = _port_of(info.prometheus_url)
        port = free_port(recorded or prometheus_port)
        if recorded and port != recorded:
            raise PortInUse(
                f"prometheus: port {recorded} (recorded in {layout.stack_file}) is in use by a "
                "process this home does not track; stop it instead of starting a second "
                "Prometheus on another port"
            )
        progress(f"starting prometheus on 127.0.0.1:{port} ...")
        pid, argv = start_prometheus(home, port, scrape_interval=scrape_interval)
        _record(home, PROMETHEUS, pid, argv, port)
        info.prometheus_url = loopback_url(port)
        info.pids[PROMETHEUS], info.commands[PROMETHEUS] = pid, argv
        progress(f"prometheus ready at {info.prometheus_url} (pid {pid})")
    _save_stack(home, info)

    runtime = LocalRuntime(home)
    before = runtime.store.load_observed().gateways
    preferred = {
        env: (gateway_base_port + i if gateway_base_port else 0) for i, env in enumerate(envs)
    }
    runtime.ensure_environments(list(envs), preferred)
    deadline = time.monotonic() + timeout_s
    for env in envs:
        old = before.get(env)
        if old is not None and is_our_process(old.pid, old.argv):
            progress(f"gateway {env} already running at {runtime.gateway_url(env)}")
            continue
        while True:
            rec = runtime.store.load_observed().gateways.get(env)
            if rec is not None and rec.pid and http_ok(f"{loopback_url(rec.port)}/-/health"):
                break
            if rec is not None and rec.pid is None and rec.port_conflict:
                raise PortInUse(rec.last_error or f"gateway {env}: port {rec.port} is taken")
            if time.monotonic() > deadline:
                log = layout.gateway_log(env)
                raise DeploymentNotReady(f"gateway {env} did not become healthy; see {log}")
            time.sleep(0.1)
            runtime.reconcile()
        progress(f"gateway {env} ready at {runtime.gateway_url(env)} (pid {rec.pid})")
    deployments = runtime.store.load_desired().deployments
    if deployments:
        progress(f"{len(deployments)} deployment(s) desired: {', '.join(sorted(deployments))}")
    observed = runtime.store.load_observed()
    for env, rec in observed.gateways.items():
        info.gateways[env] = loopback_url(rec.port)
        if rec.pid is not None:
            info.pids[f"gateway:{env}"] = rec.pid
            info.commands[f"gateway:{env}"] = rec.argv

    if _alive(info, CONTROLLER):
        progress(f"controller already running (pid {info.pids[CONTROLLER]})")
    else:
        argv = commands.controller(home, liveness_timeout_s=liveness_timeout_s)
        pid = spawn_detached(argv, layout.controller_log, cwd=home, home=home)
        _record(home, CONTROLLER, pid, argv)
        info.pids[CONTROLLER], info.commands[CONTROLLER] = pid, argv
        progress(f"controller started (pid {pid}), reconciling every second")
    _save_stack(home, info)
    return info


def stack_down(home: Path, *, progress: Progress = lambda message: None) -> list[int]:
    """Stop the controller, every model server and gateway, then Prometheus (by pid), then any
    process of this home no record knew (``runtime.sweep``).

    The desired state stays on disk. Returns the pids that were signalled.
    """
    home = home.resolve()
    if not home.exists():
        progress("nothing was running")
        return []
    with file_lock(home / "stack.lock"):
        return _stack_down(home, progress)


def _stack_down(home: Path, progress: Progress) -> list[int]:
    info = _load_stack_or_rebuild(home, progress)
    pidfiles = PidFiles(home)
    stopped: list[int] = []
    # The controller first, so that nothing restarts what is being stopped.
    if stop_process(info.pids.get(CONTROLLER), info.commands.get(CONTROLLER, [])):
        stopped.append(info.pids[CONTROLLER])
        progress(f"controller stopped (pid {info.pids[CONTROLLER]})")
    pidfiles.forget(info.pids.get(CONTROLLER))
    stopped += pidfiles.stop_all(CONTROLLER)
    runtime_pids = LocalRuntime(home).stop_all()
    stopped += runtime_pids
    if runtime_pids:
        progress(f"stopped {len(runtime_pids)} gateway/model-server processes")
    if stop_process(info.pids.get(PROMETHEUS), info.commands.get(PROMETHEUS, [])):
        stopped.append(info.pids[PROMETHEUS])
        progress(f"prometheus stopped (pid {info.pids[PROMETHEUS]})")
    pidfiles.forget(info.pids.get(PROMETHEUS))
    stopped += pidfiles.stop_all(PROMETHEUS)
    # Whatever no record knew (all of them damaged): found by the mark this home put on it.
    # Twice: a controller stopped by the first sweep may have spawned a server meanwhile.
    for _ in range(2):
        swept = sweep_home(home)
        if not swept:
            break
        stopped += swept
        progress(f"stopped {len(swept)} unrecorded process(es) of this home: {swept}")
    if not stopped:
        progress("nothing was running")
    info.pids, info.commands = {}, {}
    if Layout(home).stack_file.exists():
        _save_stack(home, info)
    return stopped


def stack_status(home: Path) -> StackStatus:
    """Live status of every component and deployment of ``home``."""
    home = home.resolve()
    info = load_stack(home)
    components = [
        ComponentStatus(
            name=PROMETHEUS,
            pid=info.pids.get(PROMETHEUS),
            url=info.prometheus_url,
            alive=_alive(info, PROMETHEUS)
            and http_ok(f"{info.prometheus_url}/-/ready", timeout_s=1.0),
        ),
        ComponentStatus(
            name=CONTROLLER, pid=info.pids.get(CONTROLLER), url=None, alive=_alive(info, CONTROLLER)
        ),
    ]
    runtime = LocalRuntime(home)
    for env, rec in sorted(runtime.store.load_observed().gateways.items()):
        url = loopback_url(rec.port) if rec.port else None
        alive = is_our_process(rec.pid, rec.argv) and http_ok(f"{url}/-/health", timeout_s=1.0)
        components.append(ComponentStatus(name=f"gateway:{env}", pid=rec.pid, url=url, alive=alive))
    for env in sorted(set(info.gateways) - set(runtime.store.load_observed().gateways)):
        components.append(
            ComponentStatus(name=f"gateway:{env}", pid=None, url=info.gateways[env], alive=False)
        )
    return StackStatus(
        home=str(home), components=components, deployments=runtime.list_deployments()
    )
