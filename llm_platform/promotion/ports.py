"""What the deployment use cases work with and what they return, without Dagster.

``deploy_to_staging``, ``promote`` and ``rollback_production`` take their collaborators as the
interfaces below (the Dagster layer hands in its resources or thin adapters of them; unit
tests hand in fakes) and answer with a :class:`DeploymentOutcome`, which the asset turns into a
materialization or a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from llm_platform.artifact_store.records import RegistryRecord
from llm_platform.config import EnvironmentConfig, ModelConfig
from llm_platform.gitops import GitRepo
from llm_platform.promotion.deployment_record import DeploymentRecord
from llm_platform.promotion.ledger import Ledger, LedgerEvent
from llm_platform.promotion.tables import Markdown
from llm_platform.reporting.commit_status import CommitStatus
from llm_platform.targets.base import Runtime


class Announcer(Protocol):
    """Announces a ledger event (Slack, the log)."""

    def notify(self, event: LedgerEvent) -> object:
        """Send the announcement of ``event``."""


class CommitStatuses(Protocol):
    """Reports a stage's progress to the commit it processes."""

    def start(self, model: str, sha: str) -> object:
        """The stage begins on commit ``sha``."""

    def report(self, status: CommitStatus) -> object:
        """The stage's verdict (to the commit given to :meth:`start`)."""

    def commit_url(self, sha: str) -> str | None:
        """The commit's page, when there is one."""


class Log(Protocol):
    """Where a use case says what it did (the run's log)."""

    def info(self, msg: str) -> object:
        """A progress line."""

    def warning(self, msg: str) -> object:
        """Something the operator should know."""


class ServingTarget(Protocol):
    """The serving target: its runtime, the home its promotion locks live in, and verified
    local copies of registered artifacts (to read their format)."""

    def runtime(self) -> Runtime:
        """The target's runtime."""

    def home_path(self) -> Path:
        """The platform home shared by every process promoting on this target."""

    def local_artifact(self, model: str, uri: str, digest: str) -> Path:
        """A copy of the artifact at ``uri`` that hashes to ``digest``.

        Raises:
            ArtifactUnavailable: it cannot be fetched or does not hash to ``digest``.
        """


class Records(Protocol):
    """The model registry's records."""

    def get_record(
        self, name: str, version: str, digest: str | None = None
    ) -> RegistryRecord | None:
        """The record of ``name``/``version`` at ``digest`` (None when not registered)."""


class PrometheusAccess(Protocol):
    """The Prometheus of an environment."""

    def resolved_url(self, *, monitoring_namespace: str, env: str | None = None) -> str:
        """Its base URL. Raises PrometheusError when there is none."""

    def client(
        self, *, monitoring_namespace: str, env: str | None = None
    ) -> AbstractContextManager[Any]:
        """A client for instant queries. Raises PrometheusError when there is none."""


@dataclass(frozen=True)
class RepoReaders:
    """Readers of the models repo at a commit; each raises the caller's error on a missing or
    invalid file (the Dagster layer's readers raise ``dagster.Failure``)."""

    environment: Callable[[GitRepo, str, str], EnvironmentConfig]
    model: Callable[[GitRepo, str, str], ModelConfig]
    analysis_prompts: Callable[[GitRepo, str, str], list[str]]


@dataclass(frozen=True)
class Collaborators:
    """What every deployment use case works with: the run, the target, the records, the
    announcements."""

    run_id: str
    target: ServingTarget
    registry: Records
    ledger: Ledger
    notifier: Announcer
    statuses: CommitStatuses
    log: Log

    @property
    def runtime(self) -> Runtime:
        """The target's runtime (created when first used)."""
        return self.target.runtime()

    @property
    def home(self) -> Path:
        """The platform home (the promotion locks)."""
        return self.target.home_path()


OutcomeKind = Literal[
    "deployed", "promoted", "restored", "refused", "held", "rolled_back", "failed"
]


@dataclass(frozen=True)
class DeploymentOutcome:
    """How a deployment use case ended.

    ``deployed`` (staging), ``promoted`` and ``restored`` (a rollback) carry the ``record`` the
    materialization shows; ``refused`` (the gate held), ``held`` (a canary kept at its share),
    ``rolled_back`` (the rollout was undone) and ``failed`` carry ``description`` and the
    ``tables`` the failed run shows. ``announced``: the ledger event was already notified, so
    the run's failure is not announced a second time.
    """

    kind: OutcomeKind
    description: str = ""
    record: DeploymentRecord | None = None
    tables: Mapping[str, Markdown] = field(default_factory=dict)
    announced: bool = False

    @property
    def succeeded(self) -> bool:
        """Whether the deployment serves (a materialization, not a failure)."""
        return self.record is not None


def failed(description: str, **tables: Markdown) -> DeploymentOutcome:
    """A use case that stopped before it changed anything it had to announce."""
    return DeploymentOutcome("failed", description=description, tables=tables)
