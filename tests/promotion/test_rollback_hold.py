"""A rolled-back version stays out of production until a new commit or approval names it again:
the pure decision, the ledger's time-bounded history and the git lookup (a real repo)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from llm_platform.artifact_store import LocalDirStore
from llm_platform.gitops import GitRepo
from llm_platform.gitops.changeset import CommitInfo
from llm_platform.promotion import AliasTarget, Ledger, LedgerEvent
from llm_platform.promotion.rollback_hold import (
    ROLLBACK_HOLD,
    last_rollback_of,
    latest_model_commit,
    rollback_hold_item,
    rolled_back_digest,
)
from tests.helpers.models_repo import ModelsRepo

D1, D2, D3 = "a1" * 32, "b2" * 32, "c3" * 32
T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)


def _rollback(
    at: datetime, *, back_from: str, to: str = D1, reason: str = "fast burn"
) -> LedgerEvent:
    return LedgerEvent(
        kind="rolled_back",
        model="llama",
        env="production",
        version="1.0.0",
        digest=to,
        time=at,
        reason=reason,
        evidence={"from": {"version": "1.1.0", "digest": back_from}},
    )


def _commit(at: datetime, sha: str = "f" * 40) -> CommitInfo:
    return CommitInfo(
        sha=sha,
        author="bob",
        author_email="b@x",
        subject="llama 1.1.0 fix",
        timestamp=int(at.timestamp()),
    )


def test_which_digest_a_rollback_took_out() -> None:
    assert rolled_back_digest(_rollback(T0, back_from=D2)) == D2
    failed_rollout = LedgerEvent(
        kind="rolled_back", model="m", env="production", digest=D3, evidence={"rollout": {}}
    )
    assert rolled_back_digest(failed_rollout) == D3
    promoted = LedgerEvent(kind="promoted", model="m", env="production", digest=D2)
    assert rolled_back_digest(promoted) is None


def test_a_rolled_back_digest_is_held_with_when_and_why() -> None:
    history = [
        _rollback(T0, back_from=D2, reason="old"),
        _rollback(T0 + timedelta(hours=1), back_from=D2, reason="error rate burns 20x"),
    ]
    item = rollback_hold_item(
        history, env="production", version="1.1.0", digest=D2, renewed_by=_commit(T0 - timedelta(1))
    )
    assert item.name == ROLLBACK_HOLD and not item.ok
    assert "1.1.0 (b2b2b2b2b2b2) was rolled back from production at 2026-11-28 11:00:00 UTC" in (
        item.reason
    )
    assert "error rate burns 20x" in item.reason and "new commit" in item.reason
    # Also without any commit found, and for a staging rollback it does not apply.
    assert not rollback_hold_item(
        history, env="production", version="1.1.0", digest=D2, renewed_by=None
    ).ok
    assert rollback_hold_item(
        history, env="staging", version="1.1.0", digest=D2, renewed_by=None
    ).ok


def test_other_digests_pass_and_a_newer_commit_renews() -> None:
    history = [_rollback(T0, back_from=D2)]
    assert rollback_hold_item(history, env="production", version="1", digest=D3, renewed_by=None).ok
    assert rollback_hold_item(history, env="production", version="1", digest=D1, renewed_by=None).ok
    renewed = rollback_hold_item(
        history,
        env="production",
        version="1.1.0",
        digest=D2,
        renewed_by=_commit(T0 + timedelta(minutes=5), sha="c" * 40),
    )
    assert renewed.ok and "named again by cccccccccccc" in renewed.reason
    # Rolled back again after the renewal: held again.
    history.append(_rollback(T0 + timedelta(minutes=10), back_from=D2))
    assert last_rollback_of(history, env="production", digest=D2) == history[-1]
    assert not rollback_hold_item(
        history,
        env="production",
        version="1.1.0",
        digest=D2,
        renewed_by=_commit(T0 + timedelta(minutes=5)),
    ).ok


def test_ledger_history_since_reads_only_newer_events(tmp_path: Path) -> None:
    ledger = Ledger(LocalDirStore(tmp_path / "store"))
    ledger.promote(
        LedgerEvent(
            kind="promoted", model="llama", env="production", version="1", digest=D1, time=T0
        ),
        AliasTarget(version="1", digest=D1),
    )
    ledger.record(_rollback(T0 + timedelta(hours=1), back_from=D2))
    ledger.record(
        LedgerEvent(kind="refused", model="llama", env="production", time=T0 + timedelta(hours=2))
    )
    kinds = [e.kind for e in ledger.history("llama", since=T0 + timedelta(hours=1))]
    assert kinds == ["refused", "rolled_back"]
    assert len(ledger.history("llama", since=T0 + timedelta(minutes=61))) == 1
    assert len(ledger.history("llama")) == 3


def test_latest_model_commit_sees_model_and_approval_changes_only(
    models_repo: ModelsRepo,
) -> None:
    repo = GitRepo(str(models_repo.path))
    first = latest_model_commit(repo, models_repo.head(), "alpha")
    assert first is not None and first.sha == models_repo.head()
    models_repo.write(
        "config/staging.yaml", (models_repo.path / "config/staging.yaml").read_text() + "\n"
    )
    models_repo.commit("staging tweak")  # not the model's
    models_repo.write("models/beta/NOTES.md", "beta\n")
    models_repo.commit("beta notes")  # another model
    assert latest_model_commit(repo, models_repo.head(), "alpha") == first
    time.sleep(1.1)  # commit times are whole seconds
    models_repo.write("approvals/alpha.yaml", "approvals: []\n")
    sha = models_repo.commit("approve alpha")
    found = latest_model_commit(repo, models_repo.head(), "alpha")
    assert found is not None and found.sha == sha and found.timestamp > first.timestamp
    assert latest_model_commit(repo, models_repo.head(), "gamma") is None
