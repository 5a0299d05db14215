"""Rolling production back to the digest it served before the last promotion."""

import time

import dagster as dg

from assets.names import PRODUCTION_ENV, TAG_TRIGGER
from llm_platform.promotion import Ledger, LedgerEvent
from llm_platform.promotion.revisions import revision_name
from llm_platform.promotion.rollout import rollback
from llm_platform.serving.engines import EngineError
from llm_platform.serving.engines.selection import resolve_serving
from llm_platform.slo import profile_for_engine
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY
from llm_platform.targets.artifacts import ArtifactUnavailable
from llm_platform.targets.base import RevisionSpec
from resources.artifact_store import ArtifactStoreResource
from resources.notifier import NotifierResource
from resources.runtime import RuntimeResource


def perform_rollback(
    context: dg.AssetExecutionContext,
    *,
    name: str,
    reason: str,
    ledger: Ledger,
    artifact_store: ArtifactStoreResource,
    runtime: RuntimeResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    """Restore ``production-previous`` (from the ledger) as the only production revision.

    The restored digest is fetched again from the artifact store with every hash verified, so
    a rollback works even after the previous revision was retired.

    Raises:
        dagster.Failure: nothing to roll back to, or the restored revision did not serve.
    """
    previous = ledger.previous(name, PRODUCTION_ENV)
    current = ledger.serving(name, PRODUCTION_ENV)
    if previous is None:
        raise dg.Failure(
            description=f"{name}: no previous production digest in the ledger; nothing to roll "
            "back to"
        )
    registry = artifact_store.registry()
    record = registry.get_record(name, previous.version, previous.digest)
    if record is None:
        raise dg.Failure(
            description=f"{name}: previous digest {previous.digest[:12]} is not in the registry"
        )
    try:  # the previous revision may be retired: its engine follows from its bytes
        choice = resolve_serving(
            None, runtime.local_artifact(name, record.artifact_uri, previous.digest)
        )
    except (EngineError, ArtifactUnavailable) as exc:
        raise dg.Failure(
            description=f"{name}: cannot restore {previous.digest[:12]}: {exc}"
        ) from exc
    spec = RevisionSpec(
        revision=previous.revision or revision_name(previous.version, record.digest),
        version=previous.version,
        digest=previous.digest,
        artifact_uri=record.artifact_uri,
        color="blue",
        weight=100,
        engine=choice.engine,
    )
    result = rollback(runtime.runtime(), env=PRODUCTION_ENV, model=name, to_revision=spec)
    if result.outcome != "rolled_back":
        raise dg.Failure(description=f"rollback of {name} failed: {result.reason}")
    event = LedgerEvent(
        kind="rolled_back",
        model=name,
        env=PRODUCTION_ENV,
        version=previous.version,
        digest=previous.digest,
        revision=spec.revision,
        run_id=context.run_id,
        actor=context.run.tags.get(TAG_TRIGGER, "manual"),
        commit_sha=record.commit_sha,
        reason=reason,
        evidence={
            "from": current.model_dump(mode="json") if current else None,
            "steps": [s.model_dump(mode="json") for s in result.steps],
        },
    )
    ledger.rollback(event)
    notifier.notify(event)
    context.log.warning(f"rolled {name} back to {previous.version} ({previous.digest[:12]})")
    status = runtime.runtime().status(PRODUCTION_ENV, name)
    return dg.MaterializeResult(
        # What a promotion records about the serving revision too: the SLO checks, the fleet
        # re-check and the UI read the latest materialization (engine, metric profile, URL).
        metadata={
            "action": "rollback",
            "reason": reason,
            "version": previous.version,
            "digest": previous.digest,
            "revision": spec.revision,
            "previous_revision": "",
            "rolled_back_from": current.digest if current else "",
            METRIC_PROFILE_KEY: profile_for_engine(choice.engine).name,
            **choice.metadata(),
            "endpoint": dg.MetadataValue.url(status.endpoint) if status and status.endpoint else "",
            "deployed_at_unix": dg.MetadataValue.timestamp(time.time()),
        },
        data_version=dg.DataVersion(f"{previous.digest}:{spec.revision}"),
    )
