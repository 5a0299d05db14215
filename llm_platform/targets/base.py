"""The target-neutral serving runtime interface and the models it exchanges.

The local runtime (processes on this machine) and the Kubernetes runtime implement the same
:class:`Runtime`, so assets and the CLI never branch on the target.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from pydantic import BaseModel, Field, field_validator, model_validator

from llm_platform.common.digest import Sha256Hex
from llm_platform.common.dns_label import DnsLabel
from llm_platform.common.engine_names import BUILTIN_ENGINE
from llm_platform.common.errors import PlatformError
from llm_platform.common.strategy_names import Color
from llm_platform.serving.faults import FaultSettings


class RuntimeErrorBase(PlatformError):
    """A runtime operation failed; the message names the deployment and what went wrong."""


class DeploymentNotFound(RuntimeErrorBase):
    """The named deployment (environment + model) is not in the desired state."""


class DeploymentNotReady(RuntimeErrorBase):
    """A deployment did not become ready; the message carries the failing server's log tail."""


class InvalidDeploymentSpec(RuntimeErrorBase):
    """A deployment spec or a weights change is inconsistent (names, weights)."""


class EngineRefused(InvalidDeploymentSpec):
    """A revision's engine cannot serve it here (not runnable on this target, or its artifact
    is in a format the engine does not load); nothing was started. ``cause`` is the engine
    package's typed error."""

    def __init__(self, deployment: str, revision: str, cause: Exception) -> None:
        self.deployment = deployment
        self.revision = revision
        self.cause = cause
        super().__init__(f"{deployment}: revision {revision} refused: {cause}")


class RevisionSpec(BaseModel):
    """One revision of a model to run: an exact artifact digest plus its traffic share.

    The artifact is named by where it is stored, not by a path on one machine: the local
    runtime fetches ``artifact_uri`` into its cache and serves it only if it hashes to
    ``digest``; a cluster runtime hands the URI to its storage initializer.
    """

    revision: DnsLabel
    version: str = Field(min_length=1)
    digest: Sha256Hex
    artifact_uri: str = Field(
        min_length=1,
        description="the artifact's files in the store: file://..., s3://... or a directory",
    )
    color: Color
    weight: int = Field(ge=0, le=100)
    replicas: int = Field(default=1, ge=1, description="server processes behind the gateway")
    retire_at: float | None = Field(
        default=None,
        description="unix time after which the runtime removes this revision if it has no "
        "traffic (the end of a blue-green rollback window)",
    )
    latency_ms: float = Field(default=0, ge=0)
    error_rate: float = Field(default=0, ge=0, le=1)
    shadow_percent: int = Field(
        default=0,
        ge=0,
        le=100,
        description="share of the model's requests the gateway also copies to this revision, "
        "whose answers are discarded (the shadow strategy); only at weight 0",
    )
    engine: str = Field(default=BUILTIN_ENGINE, description="the inference engine serving it")
    context_size: int | None = Field(
        default=None, ge=1, description="serving.max_sequence_length (engine default if None)"
    )
    max_batch_size: int | None = Field(
        default=None, ge=1, description="serving.max_batch_size (engine default if None)"
    )
    extensions: list[str] = Field(
        default_factory=list,
        description="engine extensions its environment enables (serving.extensions); the "
        "gateway forwards these beyond the engine's defaults",
    )

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str) -> str:
        from llm_platform.serving.engines.registry import check_engine_name

        return check_engine_name(value)

    @property
    def faults(self) -> FaultSettings:
        """The faults the gateway in front of this revision injects (none by default)."""
        return FaultSettings(latency_ms=self.latency_ms, error_rate=self.error_rate)


class DeploymentSpec(BaseModel):
    """The desired revisions of one model in one environment; weights sum to 100."""

    env: DnsLabel
    model: DnsLabel
    revisions: list[RevisionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_revisions(self) -> DeploymentSpec:
        names = [r.revision for r in self.revisions]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"revisions: duplicate revision names {duplicates}")
        total = sum(r.weight for r in self.revisions)
        if total != 100:
            raise ValueError(f"revisions: weights must sum to 100, got {total}")
        shadows = [r.revision for r in self.revisions if r.shadow_percent > 0]
        if len(shadows) > 1:
            raise ValueError(f"revisions: at most one shadow revision, got {shadows}")
        served = [r.revision for r in self.revisions if r.shadow_percent > 0 and r.weight > 0]
        if served:
            raise ValueError(f"revisions: shadow revision {served[0]} must have weight 0")
        return self


class RevisionStatus(BaseModel):
    """What the runtime observes for one revision."""

    revision: str
    version: str
    digest: str
    color: Color
    weight: int = Field(description="desired traffic share in percent")
    url: str | None = Field(description="the revision's own server URL, None when not running")
    pid: int | None
    healthy: bool
    restarts: int
    last_error: str | None
    retiring: bool = Field(
        default=False,
        description="replaced by a newer apply; serves until the new revisions are healthy",
    )
    replicas: int = Field(default=1, description="desired server processes")
    ready_replicas: int = Field(default=0, description="replicas alive and healthy")
    urls: list[str] = Field(default_factory=list, description="URLs of the healthy replicas")
    retire_at: float | None = None
    gateway_url: str | None = Field(
        default=None, description="this revision alone through the gateway (its faults applied)"
    )


class DeploymentStatus(BaseModel):
    """What the runtime observes for one deployment."""

    env: str
    model: str
    revisions: list[RevisionStatus]
    endpoint: str | None = Field(description="gateway URL + '/' + model")
    ready: bool
    warnings: list[str] = Field(
        default_factory=list, description="e.g. replicas capped by local capacity"
    )


class CapacityReport(BaseModel):
    """Resources of the serving target."""

    memory_total_bytes: int
    memory_available_bytes: int
    gpus_enforced: bool = False
    detail: str


class Runtime(ABC):
    """Where deployments run. Implementations keep desired state and converge towards it."""

    @abstractmethod
    def apply(self, spec: DeploymentSpec) -> DeploymentStatus:
        """Make ``spec`` the desired state of its deployment and start converging.

        Revisions dropped from the spec keep their traffic until the new revisions are healthy.
        """

    @abstractmethod
    def status(self, env: str, model: str) -> DeploymentStatus | None:
        """The observed status of one deployment, or None when it is not desired."""

    @abstractmethod
    def desired_spec(self, env: str, model: str) -> DeploymentSpec | None:
        """The deployment's desired spec (full revision specs), or None when not desired."""

    @abstractmethod
    def list_deployments(self, env: str | None = None) -> list[DeploymentStatus]:
        """Every desired deployment (of one environment when ``env`` is given)."""

    @abstractmethod
    def wait_ready(self, env: str, model: str, *, timeout_s: float) -> DeploymentStatus:
        """Block until every revision of the deployment is healthy and routed.

        Raises:
            DeploymentNotReady: timeout, or a revision keeps failing to start; the message holds
                the tail of the failing server's log.
        """

    @abstractmethod
    def set_weights(self, env: str, model: str, weights: dict[str, int]) -> DeploymentStatus:
        """Change the traffic split atomically; unnamed revisions get 0; the sum must be 100."""

    @abstractmethod
    def delete(self, env: str, model: str) -> None:
        """Remove the deployment: stop routing to it, then stop its servers."""

    @abstractmethod
    def capacity(self) -> CapacityReport:
        """Memory (and GPU accounting) of the target."""
