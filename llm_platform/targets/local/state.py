"""The local runtime's on-disk state: desired and observed JSON, written atomically under a lock.

Layout under ``home/runtime/``: ``desired.json`` (what should run; survives ``stack down``),
``observed.json`` (pids, ports, restart counters) and ``lock`` (an fcntl lock file serialising
every read-modify-write between the controller, the CLI and Dagster runs).
"""

from __future__ import annotations

import json
import logging
import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError

from llm_platform.common.errors import ConfigurationError
from llm_platform.common.fsutil import atomic_write_bytes, file_lock
from llm_platform.targets.base import DeploymentSpec, RevisionSpec

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)


class DesiredDeployment(BaseModel):
    """A desired deployment plus the revisions it replaced that still carry traffic."""

    spec: DeploymentSpec
    retiring: list[RevisionSpec] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description="set by the last apply")


class DesiredState(BaseModel):
    """Everything that should run. Keys of ``deployments`` are ``"<env>/<model>"``."""

    environments: list[str] = Field(default_factory=list, description="envs that get a gateway")
    gateway_ports: dict[str, int] = Field(
        default_factory=dict,
        description="each env's gateway port once started: reused, never silently changed",
    )
    gateway_port_hints: dict[str, int] = Field(
        default_factory=dict, description="preferred first port (any free port when taken)"
    )
    deployments: dict[str, DesiredDeployment] = Field(default_factory=dict)


class ProcessRecord(BaseModel):
    """One process the runtime started (model server or gateway)."""

    pid: int | None = None
    port: int | None = None
    argv: list[str] = Field(default_factory=list, description="exact command line, for pid checks")
    log_path: str = ""
    starts: int = 0
    consecutive_crashes: int = 0
    failed_starts: int = Field(default=0, description="exits before ever becoming healthy")
    ever_healthy: bool = False
    healthy: bool = False
    health_failures: int = Field(default=0, description="consecutive failed health checks")
    last_error: str | None = None
    next_start_at: float = 0.0
    started_at: float = Field(default=0.0, description="unix time of the last start")
    port_conflict: bool = Field(
        default=False, description="not started: its recorded port is taken by another process"
    )
    unhealthy_since: float | None = Field(
        default=None, description="unix time of the first failed health check in a row"
    )
    health_path: str = Field(default="/health", description="GET path answering 200 when ready")

    @property
    def restarts(self) -> int:
        """Starts after the first one."""
        return max(0, self.starts - 1)


class ObservedState(BaseModel):
    """What runs. Keys: revisions ``"<env>/<model>/<revision>"``, gateways ``"<env>"``."""

    revisions: dict[str, ProcessRecord] = Field(default_factory=dict)
    gateways: dict[str, ProcessRecord] = Field(default_factory=dict)


def revision_key(env: str, model: str, revision: str) -> str:
    """Key of a revision (its first replica) in :attr:`ObservedState.revisions`."""
    return f"{env}/{model}/{revision}"


def replica_key(env: str, model: str, revision: str, replica: int) -> str:
    """Key of one replica: the revision's key for replica 0, ``<key>/<n>`` for the others."""
    base = revision_key(env, model, revision)
    return base if replica == 0 else f"{base}/{replica}"


def replica_records(
    observed: ObservedState, env: str, model: str, rev: RevisionSpec
) -> list[ProcessRecord]:
    """The records of a revision's desired replicas that exist (in replica order)."""
    keys = (replica_key(env, model, rev.revision, i) for i in range(rev.replicas))
    return [observed.revisions[k] for k in keys if k in observed.revisions]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (``llm_platform.common.fsutil.atomic_write_bytes``)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: object) -> None:
    """Serialise ``data`` as indented JSON and write it atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_model(path: Path, model: type[M]) -> M:
    """Load a pydantic model from a JSON file; a missing file gives the model's defaults.

    Raises:
        ConfigurationError: the file exists but is not valid JSON for ``model``.
    """
    if not path.exists():
        return model()
    try:
        return model.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise ConfigurationError(f"{path}: corrupt runtime state: {exc}") from exc


class StateStore:
    """Desired and observed state of one runtime home, guarded by an exclusive file lock."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "runtime"
        self.desired_path = self.dir / "desired.json"
        self.observed_path = self.dir / "observed.json"
        self.lock_path = self.dir / "lock"

    def locked(self) -> AbstractContextManager[None]:
        """Hold the exclusive lock (blocks until other holders release it; not re-entrant)."""
        return file_lock(self.lock_path)

    def load_desired(self) -> DesiredState:
        """Read the desired state (empty when never written)."""
        return read_model(self.desired_path, DesiredState)

    def load_observed(self) -> ObservedState:
        """Read the observed state (empty when never written).

        A corrupt file is not fatal: observed state is rebuilt from the pid files (the next
        reconcile adopts the running processes). The damaged file is kept next to it as
        ``observed.json.corrupt`` for inspection and the error is logged.
        """
        try:
            return read_model(self.observed_path, ObservedState)
        except ConfigurationError as exc:
            aside = self.observed_path.with_name(self.observed_path.name + ".corrupt")
            shutil.copyfile(self.observed_path, aside)
            log.error("%s; rebuilding it from the pid files (copy kept at %s)", exc, aside)
            return ObservedState()

    def save_desired(self, desired: DesiredState) -> None:
        """Write the desired state atomically; call while holding the lock."""
        atomic_write_json(self.desired_path, desired.model_dump(mode="json"))

    def save_observed(self, observed: ObservedState) -> None:
        """Write the observed state atomically; call while holding the lock."""
        atomic_write_json(self.observed_path, observed.model_dump(mode="json"))
