"""One promotion per model and environment at a time, across processes.

Dagster runs (in-process executions, the daemon's runs), the CLI and tests may all promote the
same model at once; two rollouts would then both succeed and the ledger would record the one
promotion twice (and DORA counts would be wrong). :func:`promotion_lock` takes an exclusive
``fcntl`` lock on ``<home>/promotion-locks/<env>/<model>.lock`` around the rollout and its
ledger write: a second promotion of that model is refused at once with
:class:`PromotionInProgress`, which names the holder (run, pid, since when). The kernel drops
the lock when its holder exits, even by SIGKILL, so a crashed promotion never blocks the next.

:func:`roll_out_and_record` is the use case the production asset calls: lock, roll out, record
the outcome in the ledger (``promoted`` and the alias move, or ``rolled_back``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from llm_platform.common.errors import PlatformError
from llm_platform.promotion.ledger import AliasTarget, EventKind, Ledger, LedgerEvent
from llm_platform.promotion.rollout import RolloutPlan, RolloutResult, execute_rollout
from llm_platform.targets.base import Runtime

#: Directory under the platform home that holds the per-model promotion locks.
LOCKS_DIR = "promotion-locks"


class LockHolder(BaseModel):
    """Who holds a model's promotion lock (written into the lock file once it is held)."""

    env: str
    model: str
    run_id: str
    pid: int
    since: float


class PromotionInProgress(PlatformError):
    """Another promotion (or rollback) of this model in this environment is running."""

    def __init__(self, env: str, model: str, holder: LockHolder | None) -> None:
        self.env = env
        self.model = model
        self.holder = holder
        who = (
            f"run {holder.run_id} (pid {holder.pid}, for {time.time() - holder.since:.0f}s)"
            if holder
            else "another process"
        )
        super().__init__(
            f"a promotion of {model} in {env} is already in progress: {who}; "
            "this one is refused so the ledger records it once (run it again afterwards)"
        )


def lock_path(home: Path, env: str, model: str) -> Path:
    """The lock file of one model in one environment."""
    return home / LOCKS_DIR / env / f"{model}.lock"


@contextlib.contextmanager
def promotion_lock(home: Path, *, env: str, model: str, run_id: str) -> Iterator[LockHolder]:
    """Hold the promotion lock of ``model`` in ``env`` for the ``with`` block.

    Args:
        home: the platform home (``LLM_PLATFORM_HOME``) shared by every promoting process.
        env: the environment promoted into.
        model: the model.
        run_id: the promoting run (shown to a refused second promotion).

    Raises:
        PromotionInProgress: another process holds it (never waits).
    """
    path = lock_path(home, env, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PromotionInProgress(env, model, _holder(fd)) from None
        holder = LockHolder(env=env, model=model, run_id=run_id, pid=os.getpid(), since=time.time())
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.model_dump_json().encode(), 0)
        try:
            yield holder
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int) -> LockHolder | None:
    """The holder written in the lock file (None while it is being written)."""
    try:
        return LockHolder.model_validate_json(os.pread(fd, 4096, 0))
    except (ValidationError, OSError):
        return None


class Promotion(NamedTuple):
    """The rollout's result and the ledger event that recorded it."""

    result: RolloutResult
    event: LedgerEvent


def roll_out_and_record(
    runtime: Runtime,
    plan: RolloutPlan,
    ledger: Ledger,
    *,
    home: Path,
    run_id: str,
    event_fields: dict[str, Any],
    evidence: dict[str, Any],
) -> Promotion:
    """Roll ``plan`` out and record the outcome, holding the model's promotion lock.

    Args:
        runtime: the serving target.
        plan: what to deploy and how.
        ledger: the promotion ledger.
        home: the platform home holding the lock.
        run_id: the promoting run.
        event_fields: the ledger event's model, env, version, digest, run_id, actor, approver.
        evidence: the gate's evidence (the rollout's outcome and steps are added).

    Raises:
        PromotionInProgress: another promotion of this model and environment runs; nothing
            was deployed or recorded.
    """
    with promotion_lock(home, env=plan.env, model=plan.model, run_id=run_id):
        result = execute_rollout(runtime, plan)
        evidence = {
            **evidence,
            "rollout": result.model_dump(mode="json", include={"outcome", "reason", "steps"}),
        }
        if result.outcome != "promoted":
            # A canary held at its share (analysis.on_inconclusive: hold) is not rolled back.
            kind: EventKind = "held" if result.outcome == "held" else "rolled_back"
            event = ledger.record(
                LedgerEvent(kind=kind, reason=result.reason, evidence=evidence, **event_fields)
            )
            return Promotion(result, event)
        target = AliasTarget(
            version=plan.version, digest=plan.digest, revision=result.new_revision, run_id=run_id
        )
        event = ledger.promote(
            LedgerEvent(
                kind="promoted",
                reason=result.reason,
                revision=result.new_revision,
                evidence=evidence,
                **event_fields,
            ),
            target,
        )
        return Promotion(result, event)
