"""Rolling production back to the digest it served before the last promotion: the use case.

:func:`rollback_production` restores ``production-previous`` (from the ledger) as the only
production revision, under the model's promotion lock, and records and announces it. The
restored digest is fetched again from the artifact store with every hash verified, so a
rollback works even after the previous revision was retired; it is served as staging served
it: the engine and launch settings of the model config it was registered from.
"""

from __future__ import annotations

import time

from llm_platform.config import ConfigError, model_config_path
from llm_platform.config.at_commit import model_config_at
from llm_platform.config.environments import PRODUCTION
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion.deployment_record import DeploymentRecord
from llm_platform.promotion.exclusive import PromotionInProgress, promotion_lock
from llm_platform.promotion.ledger import LedgerEvent
from llm_platform.promotion.ports import Collaborators, DeploymentOutcome, Log, failed
from llm_platform.promotion.revisions import revision_name, revision_spec
from llm_platform.promotion.rollout import rollback
from llm_platform.serving.engines import EngineError
from llm_platform.serving.engines.base import ServingSettings
from llm_platform.serving.engines.selection import resolve_serving
from llm_platform.slo import profile_for_engine
from llm_platform.targets.artifacts import ArtifactUnavailable


def registered_serving(repo: GitRepo, sha: str, model: str, log: Log) -> ServingSettings | None:
    """The ``serving`` block of the model config at commit ``sha`` (where a digest was
    registered from); None, with a warning, when it cannot be read (the engine then follows
    from the artifact's format with default settings)."""
    rel = model_config_path(model)
    try:
        return model_config_at(repo, sha, model).serving
    except (GitError, ConfigError) as exc:
        log.warning(f"{rel} at {sha[:12]}: {exc}; restoring with the engine's default settings")
        return None


def rollback_production(
    model: str, *, reason: str, actor: str, repo: GitRepo, c: Collaborators
) -> DeploymentOutcome:
    """Restore the previous production digest of ``model`` as its only revision.

    Refused (``failed``) while a promotion of the model runs, when the ledger has nothing to
    roll back to, or when the restored revision does not serve (the current one keeps
    serving); ``restored`` otherwise, recorded in the ledger and announced.
    """
    try:  # a rollback moves production too: never while a promotion of it runs
        with promotion_lock(c.home, env=PRODUCTION, model=model, run_id=c.run_id):
            return _restore_previous(model, reason=reason, actor=actor, repo=repo, c=c)
    except PromotionInProgress as exc:
        return failed(str(exc))


def _restore_previous(
    model: str, *, reason: str, actor: str, repo: GitRepo, c: Collaborators
) -> DeploymentOutcome:
    previous = c.ledger.previous(model, PRODUCTION)
    current = c.ledger.serving(model, PRODUCTION)
    if previous is None:
        return failed(
            f"{model}: no previous production digest in the ledger; nothing to roll back to"
        )
    record = c.registry.get_record(model, previous.version, previous.digest)
    if record is None:
        return failed(f"{model}: previous digest {previous.digest[:12]} is not in the registry")
    try:  # the previous revision may be retired: its bytes are fetched and inspected again
        choice = resolve_serving(
            registered_serving(repo, record.commit_sha, model, c.log),
            c.target.local_artifact(model, record.artifact_uri, previous.digest),
        )
    except (EngineError, ArtifactUnavailable) as exc:
        return failed(f"{model}: cannot restore {previous.digest[:12]}: {exc}")
    spec = revision_spec(
        revision=previous.revision or revision_name(previous.version, record.digest),
        version=previous.version,
        digest=previous.digest,
        artifact_uri=record.artifact_uri,
        serving=choice,
        color="blue",
        weight=100,
    )
    result = rollback(c.runtime, env=PRODUCTION, model=model, to_revision=spec)
    if result.outcome != "rolled_back":
        return failed(f"rollback of {model} failed: {result.reason}")
    event = LedgerEvent(
        kind="rolled_back",
        model=model,
        env=PRODUCTION,
        version=previous.version,
        digest=previous.digest,
        revision=spec.revision,
        run_id=c.run_id,
        actor=actor,
        commit_sha=record.commit_sha,
        reason=reason,
        evidence={
            "from": current.model_dump(mode="json") if current else None,
            "steps": [s.model_dump(mode="json") for s in result.steps],
        },
    )
    c.ledger.rollback(event)
    c.notifier.notify(event)
    c.log.warning(f"rolled {model} back to {previous.version} ({previous.digest[:12]})")
    status = c.runtime.status(PRODUCTION, model)
    # What a promotion records about the serving revision too: the SLO checks, the fleet
    # re-check and the UI read the latest materialization (engine, metric profile, URL).
    return DeploymentOutcome(
        "restored",
        record=DeploymentRecord(
            action="rollback",
            reason=reason,
            version=previous.version,
            digest=previous.digest,
            revision=spec.revision,
            previous_revision="",
            rolled_back_from=current.digest if current else "",
            metric_profile=profile_for_engine(choice.engine).name,
            serving=choice,
            endpoint=status.endpoint or "" if status else "",
            deployed_at=time.time(),
        ),
    )
