"""Promoting the digest that passed staging into production: the promotion use case.

:func:`promote` builds the gate (staging checks, a signed approval, the rollback hold,
capacity), records and announces a refusal, or rolls the digest out with the environment's
strategy under the model's promotion lock and records, reports and announces the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from llm_platform.artifact_store.records import RegistryRecord
from llm_platform.common.gate_item import GateItem
from llm_platform.common.ui_numbers import round_seconds
from llm_platform.config import EnvironmentConfig, ModelConfig, effective_slo
from llm_platform.config.environment import SLOObjectives
from llm_platform.config.environments import PRODUCTION, STAGING
from llm_platform.gitops import GitRepo
from llm_platform.promotion.approvals import Approval
from llm_platform.promotion.deployment_record import DeploymentRecord
from llm_platform.promotion.exclusive import PromotionInProgress, roll_out_and_record
from llm_platform.promotion.gate import CheckEvidence, GateDecision, checks_item
from llm_platform.promotion.gate_items import approval_item, rollback_hold
from llm_platform.promotion.ledger import LedgerEvent
from llm_platform.promotion.ports import (
    Collaborators,
    DeploymentOutcome,
    PrometheusAccess,
    RepoReaders,
    failed,
)
from llm_platform.promotion.rollout import RolloutPlan, plan_from_environment
from llm_platform.promotion.tables import gate_table, steps_table
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
    decision = GateDecision(
        items=[
            checks_item(staging_evidence(staging_slo), digest=digest),
            approval_gate,
            rollback_hold(
                model, version=version, digest=digest, repo=repo, head=head, ledger=c.ledger
            ),
            capacity.gate_item(
                c.runtime,
                env=env,
                model=readers.model(repo, head, model),
                artifact_bytes=record.total_size,
            ),
        ]
    )
    candidate = _Candidate(
        model=model,
        staged=staged,
        env=env,
        record=record,
        decision=decision,
        approval=approval,
        actor=options.approver or "automation",
    )
    if not decision.allowed:
        return _refuse(candidate, c)
    plan = _plan(candidate, options, prometheus, readers.analysis_prompts(repo, head, model))
    return _roll_out(candidate, plan, c)


@dataclass(frozen=True)
class _Candidate:
    """A digest the gate judged: where it goes, its registration, the gate's decision."""

    model: str
    staged: DeploymentRecord
    env: EnvironmentConfig
    record: RegistryRecord
    decision: GateDecision
    approval: Approval | None
    actor: str

    def event_fields(self, run_id: str) -> dict[str, Any]:
        """The fields every ledger event of this promotion carries."""
        return {
            "model": self.model,
            "env": self.env.environment,
            "version": self.staged.version,
            "digest": self.staged.digest,
            "run_id": run_id,
            "actor": self.actor,
            "approver": self.approval.approver if self.approval else None,
            "commit_sha": self.record.commit_sha,
        }

    def gate_evidence(self) -> list[dict[str, Any]]:
        """The gate's items as ledger evidence."""
        return [i.model_dump() for i in self.decision.items]


def _refuse(candidate: _Candidate, c: Collaborators) -> DeploymentOutcome:
    decision, staged = candidate.decision, candidate.staged
    refused = c.ledger.record(
        LedgerEvent(
            kind="refused",
            reason=decision.reason,
            **candidate.event_fields(c.run_id),
            evidence={"gate": candidate.gate_evidence()},
        )
    )
    c.notifier.notify(refused)
    c.statuses.report(promotion_refused(candidate.model, decision))
    return DeploymentOutcome(
        "refused",
        description=f"promotion of {candidate.model} {staged.version} ({staged.digest[:12]}) "
        f"refused: {decision.reason}",
        tables={"gate": gate_table(decision.items)},
        announced=True,
    )


def _plan(
    candidate: _Candidate,
    options: PromotionOptions,
    prometheus: PrometheusAccess,
    analysis_prompts: list[str],
) -> RolloutPlan:
    env, staged = candidate.env, candidate.staged
    try:
        prom_url: str | None = prometheus.resolved_url(
            monitoring_namespace=env.monitoring.prometheus_namespace, env=env.environment
        )
    except PrometheusError:
        prom_url = None  # canary analysis then reads the gateway's own counters
    return plan_from_environment(
        env,
        env=env.environment,
        model=candidate.model,
        version=staged.version,
        digest=staged.digest,
        artifact_uri=candidate.record.artifact_uri,
        serving=staged.serving,
        smoke_requests=options.smoke_requests,
        **(
            {}
            if options.analysis_window_s is None
            else {"analysis_window_s": options.analysis_window_s}
        ),
        analysis_prompts=analysis_prompts,
        rollback_window_s=options.rollback_window_s,
        prometheus_url=prom_url,
        metrics_namespace=env.namespace,
        metric_profile=staged.metric_profile,
    )


def _roll_out(candidate: _Candidate, plan: RolloutPlan, c: Collaborators) -> DeploymentOutcome:
    model, staged, approval = candidate.model, candidate.staged, candidate.approval
    try:
        result, event = roll_out_and_record(
            c.runtime,
            plan,
            c.ledger,
            home=c.home,
            run_id=c.run_id,
            event_fields=candidate.event_fields(c.run_id),
            evidence={
                "gate": candidate.gate_evidence(),
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
            description=f"canary of {model} {staged.version} held at its share: {result.reason}",
            tables={"steps": steps},
            announced=True,
        )
    if result.outcome != "promoted":
        return DeploymentOutcome(
            "rolled_back" if result.outcome == "rolled_back" else "failed",
            description=f"{result.strategy} rollout of {model} {staged.version} was rolled back: "
            f"{result.reason}",
            tables={"steps": steps},
            announced=True,
        )
    status = c.runtime.status(plan.env, model)
    return DeploymentOutcome(
        "promoted",
        record=DeploymentRecord(
            action="promote",
            version=staged.version,
            digest=staged.digest,
            revision=result.new_revision,
            previous_revision=result.previous_revision or "",
            strategy=result.strategy,
            metric_profile=staged.metric_profile,
            serving=staged.serving,
            endpoint=status.endpoint or "" if status else "",
            approver=approval.approver if approval else "(not required)",
            approval_source=approval.source if approval else "",
            gate=gate_table(candidate.decision.items),
            rollout_steps=steps,
            rollout_seconds=round_seconds(result.duration_s),
            commit_url=c.statuses.commit_url(candidate.record.commit_sha),
            deployed_at=time.time(),
            ledger_event=event.event_id or "",
            replicas=result.new_spec.replicas,
            capacity_warnings="; ".join(status.warnings) if status else "",
        ),
    )
