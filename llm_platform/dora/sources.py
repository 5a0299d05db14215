"""Inputs of the delivery metrics: the ledger's history, and when each promoted change was made.

The commit of a promoted digest is the one its registry record names (the commit registration
read the model from); its time is the committer time git records. The ``delivery_metrics`` asset
and ``llm-platform metrics`` both call :func:`production_delivery_report`, so they print the same
table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from llm_platform.artifact_store import ModelRegistry
from llm_platform.config.environments import PRODUCTION
from llm_platform.dora.metrics import DeliveryReport, delivery_report
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion.ledger import Ledger, LedgerError, LedgerEvent


class DeliveryInputs(BaseModel):
    """What :func:`llm_platform.dora.metrics.delivery_report` needs, plus why some is missing."""

    model_config = ConfigDict(frozen=True)

    history: dict[str, list[LedgerEvent]]
    commit_times: dict[str, dict[str, datetime]]
    notes: list[str]


def delivery_inputs(
    ledger: Ledger, registry: ModelRegistry, repo: GitRepo | None, *, env: str
) -> DeliveryInputs:
    """Read every model's ledger history and the commit time of each digest promoted to ``env``.

    A promoted digest whose record or commit cannot be found (no record, commit gone after a
    force-push, no repo given) gets no lead time; ``notes`` says which and why, and the report's
    ``lead_time_samples`` is then lower than its ``deployments``.

    A model whose ledger history cannot be read (a corrupt event object) is left out of
    ``history`` with a note naming the object; the other models are still counted.

    Raises:
        RegistryError: A registry record is corrupt.
    """
    history: dict[str, list[LedgerEvent]] = {}
    commit_times: dict[str, dict[str, datetime]] = {}
    notes: list[str] = []
    commit_cache: dict[str, datetime | None] = {}
    for model in ledger.models():
        try:
            events = ledger.history(model)
        except LedgerError as exc:
            # One damaged object must not hide every other model's figures; this model's would
            # be wrong (a lost event changes its counts), so it is left out, and said so.
            notes.append(f"{model}: left out, its ledger cannot be read: {exc}")
            continue
        history[model] = events
        times: dict[str, datetime] = {}
        for event in events:
            if event.env != env or event.kind != "promoted" or not event.digest:
                continue
            if event.digest in times or not event.version:
                continue
            record = registry.get_record(model, event.version, event.digest)
            if record is None:
                notes.append(f"{model} {event.version}: no registry record, no lead time")
                continue
            if record.commit_sha not in commit_cache:
                commit_cache[record.commit_sha] = _commit_time(repo, record.commit_sha, notes)
            committed = commit_cache[record.commit_sha]
            if committed is not None:
                times[event.digest] = committed
        commit_times[model] = times
    return DeliveryInputs(history=history, commit_times=commit_times, notes=notes)


def production_delivery_report(
    ledger: Ledger, registry: ModelRegistry, repo: GitRepo | None, *, until: datetime
) -> DeliveryReport:
    """Production's delivery metrics over the default window ending at ``until``.

    Raises:
        RegistryError: A registry record is corrupt.
    """
    inputs = delivery_inputs(ledger, registry, repo, env=PRODUCTION)
    return delivery_report(
        inputs.history, inputs.commit_times, until=until, env=PRODUCTION, notes=inputs.notes
    )


def _commit_time(repo: GitRepo | None, sha: str, notes: list[str]) -> datetime | None:
    if repo is None:
        notes.append(f"commit {sha[:12]}: no models repo, no lead time")
        return None
    try:
        info = repo.commit_info(sha)
    except GitError as exc:
        notes.append(f"commit {sha[:12]}: not in the models repo ({exc}), no lead time")
        return None
    return datetime.fromtimestamp(info.timestamp, UTC)
