"""The Dagster side of the deployment use cases: collaborators in, Dagster events out.

The use cases (``llm_platform.promotion.staging`` / ``promote`` / ``rollback``) take
Dagster-free collaborators; this module builds them from a run's context and resources, and
turns a :class:`~llm_platform.promotion.ports.DeploymentOutcome` into a materialization or a
``dagster.Failure``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

from assets.check_history import latest_materialization_metadata, record_metadata
from assets.names import FAILURE_ANNOUNCED
from assets.run_inputs import analysis_prompts, environment_config, model_config_at
from llm_platform.promotion import Ledger
from llm_platform.promotion.deployment_record import DeploymentRecord, Link, Timestamp
from llm_platform.promotion.ports import Collaborators, DeploymentOutcome, RepoReaders
from llm_platform.promotion.tables import Markdown
from llm_platform.reporting.commit_status import CommitStatus
from llm_platform.reporting.stages import Stage
from resources.artifact_store import ArtifactStoreResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.runtime import RuntimeResource

#: The models-repo readers of the run inputs (they fail the step on a missing or bad file).
REPO_READERS = RepoReaders(
    environment=environment_config, model=model_config_at, analysis_prompts=analysis_prompts
)


@dataclass(frozen=True)
class StageStatuses:
    """Commit statuses of one stage of one run (``CommitStatuses`` of the use cases)."""

    github: CommitStatusResource
    context: dg.AssetExecutionContext
    stage: Stage

    def start(self, model: str, sha: str) -> object:
        """The stage begins on commit ``sha``."""
        return self.github.start(self.context, self.stage, model, sha)

    def report(self, status: CommitStatus) -> object:
        """The stage's verdict."""
        return self.github.report(self.context, status)

    def commit_url(self, sha: str) -> str | None:
        """The commit's page on GitHub, when the models repo is there."""
        return self.github.commit_url(sha)


def collaborators(
    context: dg.AssetExecutionContext,
    stage: Stage,
    *,
    runtime: RuntimeResource,
    artifact_store: ArtifactStoreResource,
    notifier: NotifierResource,
    github: CommitStatusResource,
) -> Collaborators:
    """What a deployment use case works with in this run."""
    return Collaborators(
        run_id=context.run_id,
        target=runtime,
        registry=artifact_store.registry(),
        ledger=Ledger(artifact_store.store()),
        notifier=notifier,
        statuses=StageStatuses(github, context, stage),
        log=context.log,
    )


def deployment_record(
    instance: dg.DagsterInstance, asset: str, partition: str
) -> DeploymentRecord | None:
    """The latest materialization of a deployment asset, read back (None: never materialized).

    Raises:
        dagster.Failure: it records an unknown engine, launch setting or metric profile.
    """
    meta = latest_materialization_metadata(instance, asset, partition)
    if meta is None:
        return None
    try:
        return DeploymentRecord.from_metadata(meta)
    except ValueError as exc:
        raise dg.Failure(description=f"{asset} of {partition}: {exc}") from exc


def recorded_deployment(record: dg.EventLogRecord) -> DeploymentRecord | None:
    """The deployment a materialization record carries (None: its metadata cannot be read)."""
    try:
        return DeploymentRecord.from_metadata(record_metadata(record))
    except ValueError:
        return None


def dagster_metadata(meta: Mapping[str, object]) -> dict[str, Any]:
    """Metadata for Dagster: Markdown, links and timestamps as the UI's typed values."""
    return {key: _value(value) for key, value in meta.items()}


def _value(value: object) -> object:
    if isinstance(value, Markdown):
        return dg.MetadataValue.md(str(value))
    if isinstance(value, Link):
        return dg.MetadataValue.url(str(value))
    if isinstance(value, Timestamp):
        return dg.MetadataValue.timestamp(float(value))
    return value


def materialization(outcome: DeploymentOutcome, **extra: Any) -> dg.MaterializeResult:
    """The materialization of a deployment that serves (``extra``: e.g. check results).

    Raises:
        dagster.Failure: the outcome is not a serving deployment; its description and tables,
            and whether its ledger event was already announced.
    """
    if outcome.record is None:
        raise dg.Failure(
            description=outcome.description,
            metadata={
                **dagster_metadata(outcome.tables),
                **({FAILURE_ANNOUNCED: True} if outcome.announced else {}),
            },
        )
    return dg.MaterializeResult(
        metadata=dagster_metadata(outcome.record.to_metadata()),
        data_version=dg.DataVersion(outcome.record.data_version),
        **extra,
    )
