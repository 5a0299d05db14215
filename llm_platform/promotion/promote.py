"""Promoting the digest that passed staging into production: the promotion use case.

:func:`promote` builds the gate (staging checks, a signed approval, the rollback hold,
capacity), records and announces a refusal, or rolls the digest out with the environment's
strategy under the model's promotion lock and records, reports and announces the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from llm_platform.common.ui_numbers import round_seconds
from llm_platform.config import ConfigError, EnvironmentConfig, ModelConfig, effective_slo
from llm_platform.config.environment import SLOObjectives
from llm_platform.config.environments import PRODUCTION, STAGING
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion.approval_check import check_approval
from llm_platform.promotion.approvals import Approval
from llm_platform.promotion.deployment_record import DeploymentRecord
from llm_platform.promotion.exclusive import PromotionInProgress, roll_out_and_record
from llm_platform.promotion.gate import CheckEvidence, GateDecision, GateItem, checks_item
from llm_platform.promotion.ledger import LedgerEvent
from llm_platform.promotion.ports import (
    Collaborators,
    DeploymentOutcome,
    PrometheusAccess,
    RepoReaders,
    failed,
)
from llm_platform.promotion.rollback_hold import latest_model_commit, rollback_hold_item
from llm_platform.promotion.rollout import plan_from_environment
from llm_platform.promotion.tables import gate_table, steps_table
from llm_platform.promotion.trust_root import TrustRootError
from llm_platform.reporting.commit_status import promotion_refused, rollout_result
from llm_platform.slo import PrometheusError
from llm_platform.targets.base import Runtime


class PromotionOptions(Protocol):
    """The launch options a promotion reads. ``approver`` is recorded as who launched, but never
    satisfies a required approval (approvals are signed commits to ``approvals/<model>.yaml``)."""

    @property
    def approver(self) -> str | None: ...
    @property
    def comment(self) -> str: ...
    @property
    def smoke_requests(self) -> int: ...
    @property
    def analysis_window_s(self) -> float | None: ...
    @property
    def rollback_window_s(self) -> float: ...


class Capacity(Protocol):
    """The gate's capacity condition on the serving target."""

    def gate_item(
        self, runtime: Runtime, *, env: EnvironmentConfig, model: ModelConfig, artifact_bytes: int
    ) -> GateItem:
        """Whether ``model``'s new replicas fit into ``env`` now."""


#: The latest result of every blocking staging check for the model's effective objectives.
StagingEvidence = Callable[[SLOObjectives], list[CheckEvidence]]


def approval_item(
    *,
    repo: GitRepo,
    head: str,
    env: EnvironmentConfig,
    model: str,
    version: str,
    digest: str,
    trust_root: Path | None,
    approver: str | None,
    comment: str,
) -> tuple[GateItem, Approval | None]:
    """A verified approval from ``approvals/<model>.yaml`` at head (``check_approval``: signed
    by the approver's key in the trust root, four eyes). A UI launch's ``approver`` is judged
    too and never counts; a missing or unusable trust root is a configuration error."""
    try:
        decision = check_approval(
            repo,
            head,
            env=env,
            model=model,
            version=version,
            digest=digest,
            trust_root=trust_root,
            ui_approver=approver,
            ui_comment=comment,
        )
    except (TrustRootError, ConfigError, GitError) as exc:
        return GateItem(name="approval", ok=False, reason=f"configuration error: {exc}"), None
    return GateItem(name="approval", ok=decision.approved, reason=decision.reason), (
        decision.approval
    )


def promote(
    model: str,
    options: PromotionOptions,
    *,
    staged: DeploymentRecord | None,
    repo: GitRepo,
    trust_root: Path | None,
    readers: RepoReaders,
    staging_evidence: StagingEvidence,
    capacity: Capacity,
    prometheus: PrometheusAccess,
    c: Collaborators,
) -> DeploymentOutcome:
    """Promote the digest ``staged`` serves in staging into production, if the gate allows.

    The gate needs, for that digest: every blocking staging check passed against the latest
    staging deploy, an approval when the environment requires one, no rollback of it since the
    model's last commit or approval, and capacity. A refusal is recorded in the ledger,
    reported and announced (``refused``); otherwise the environment's strategy rolls it out and
    the outcome (``promoted``, ``held``, ``rolled_back``) is recorded, reported and announced.
    """
    if staged is None:
        return failed(f"{model} was never deployed to staging: nothing to promote")
    digest, version = staged.digest, staged.version
    repo.sync()
    head = repo.head()
    env = readers.environment(repo, head, PRODUCTION)
    staging_slo = effective_slo(
        readers.environment(repo, head, STAGING), readers.model(repo, head, model)
    )
    record = c.registry.get_record(model, version, digest)
    if record is None:
        return failed(f"no registry record for {model} {version} {digest[:12]}")
    c.statuses.start(model, record.commit_sha)
    approval_gate, approval = approval_item(
        repo=repo,
        head=head,
        env=env,
        model=model,
        version=version,
        digest=digest,
        trust_root=trust_root,
        approver=options.approver,
        comment=options.comment,
    )
    renewed = latest_model_commit(repo, head, model)
    held = rollback_hold_item(
        c.ledger.history(
            model,
            env=PRODUCTION,
            since=datetime.fromtimestamp(renewed.timestamp, UTC) if renewed else None,
        ),
        env=PRODUCTION,
        version=version,
        digest=digest,
        renewed_by=renewed,
    )
    decision = GateDecision(
        items=[
            checks_item(staging_evidence(staging_slo), digest=digest),
            approval_gate,
            held,
            capacity.gate_item(
                c.runtime,
                env=env,
                model=readers.model(repo, head, model),
                artifact_bytes=record.total_size,
            ),
        ]
    )
    gate = gate_table(decision.items)
    event_base: dict[str, Any] = {
        "model": model,
        "env": env.environment,
        "version": version,
        "digest": digest,
        "run_id": c.run_id,
        "actor": options.approver or "automation",
        "approver": approval.approver if approval else None,
        "commit_sha": record.commit_sha,
    }
    if not decision.allowed:
        refused = c.ledger.record(
            LedgerEvent(
                kind="refused",
                reason=decision.reason,
                **event_base,
                evidence={"gate": [i.model_dump() for i in decision.items]},
            )
        )
        c.notifier.notify(refused)
        c.statuses.report(promotion_refused(model, decision))
        return DeploymentOutcome(
            "refused",
            description=f"promotion of {model} {version} ({digest[:12]}) refused: "
            + decision.reason,
            tables={"gate": gate},
            announced=True,
        )
    try:
        prom_url: str | None = prometheus.resolved_url(
            monitoring_namespace=env.monitoring.prometheus_namespace, env=env.environment
        )
    except PrometheusError:
        prom_url = None  # canary analysis then reads the gateway's own counters
    plan = plan_from_environment(
        env,
        env=env.environment,
        model=model,
        version=version,
        digest=digest,
        artifact_uri=record.artifact_uri,
        serving=staged.serving,
        smoke_requests=options.smoke_requests,
        **(
            {}
            if options.analysis_window_s is None
            else {"analysis_window_s": options.analysis_window_s}
        ),
        analysis_prompts=readers.analysis_prompts(repo, head, model),
        rollback_window_s=options.rollback_window_s,
        prometheus_url=prom_url,
        metrics_namespace=env.namespace,
        metric_profile=staged.metric_profile,
    )
    try:
        result, event = roll_out_and_record(
            c.runtime,
            plan,
            c.ledger,
            home=c.home,
            run_id=c.run_id,
            event_fields=event_base,
            evidence={
                "gate": [i.model_dump() for i in decision.items],
                "approval": approval.model_dump(mode="json") if approval else None,
            },
        )
    except PromotionInProgress as exc:
        return failed(str(exc))
    c.statuses.report(rollout_result(model, result))
    c.notifier.notify(event)
    steps = steps_table(result.steps)
    if result.outcome == "held":
        return DeploymentOutcome(
            "held",
            description=f"canary of {model} {version} held at its share: {result.reason}",
            tables={"steps": steps},
            announced=True,
        )
    if result.outcome != "promoted":
        return DeploymentOutcome(
            "rolled_back" if result.outcome == "rolled_back" else "failed",
            description=f"{result.strategy} rollout of {model} {version} was rolled back: "
            f"{result.reason}",
            tables={"steps": steps},
            announced=True,
        )
    status = c.runtime.status(env.environment, model)
    return DeploymentOutcome(
        "promoted",
        record=DeploymentRecord(
            action="promote",
            version=version,
            digest=digest,
            revision=result.new_revision,
            previous_revision=result.previous_revision or "",
            strategy=result.strategy,
            metric_profile=staged.metric_profile,
            serving=staged.serving,
            endpoint=status.endpoint or "" if status else "",
            approver=approval.approver if approval else "(not required)",
            approval_source=approval.source if approval else "",
            gate=gate,
            rollout_steps=steps,
            rollout_seconds=round_seconds(result.duration_s),
            commit_url=c.statuses.commit_url(record.commit_sha),
            deployed_at=time.time(),
            ledger_event=event.event_id or "",
            replicas=result.new_spec.replicas,
            capacity_warnings="; ".join(status.warnings) if status else "",
        ),
    )
