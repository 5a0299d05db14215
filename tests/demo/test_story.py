"""The demo's story told from plain data: its expectations, and what it prints about checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from llm_platform.artifact_store.local_store import LocalDirStore
from llm_platform.demo.quality import BROKEN_VERSION
from llm_platform.demo.report import failure_text, lost_cases, quality_summary
from llm_platform.demo.story import GEMMA, LLAMA, MISTRAL, CheckSeen, expectations
from llm_platform.promotion import AliasTarget, Ledger, LedgerEvent
from llm_platform.promotion.deployment_record import DeploymentRecord

T0 = datetime(2026, 12, 1, tzinfo=UTC)
LOST = "| case | candidate | production |\n|---|---|---|\n| capital | Lyon | Paris |\n"
QUALITY = CheckSeen(
    False, {"status": "fail", "kept": 9, "lost": 1, "gained": 0, "lost_cases": LOST}
)


def _ledger(tmp_path: Path) -> Ledger:
    """The ledger as the story leaves it."""
    ledger = Ledger(LocalDirStore(tmp_path))
    history = [
        (LLAMA, "refused", "1.0.0"),
        (LLAMA, "promoted", "1.0.0"),
        (LLAMA, "promoted", "1.1.0"),
        (LLAMA, "check_failed", "1.1.0"),
        (LLAMA, "rolled_back", "1.0.0"),
        (GEMMA, "promoted", "1.0.0"),
    ]
    for i, (model, kind, version) in enumerate(history):
        event = LedgerEvent.model_validate(
            {
                "kind": kind,
                "model": model,
                "env": "production",
                "version": version,
                "digest": version.replace(".", "") * 16,
                "time": T0 + timedelta(minutes=i),
            }
        )
        ledger.record(event)
        if kind in ("promoted", "rolled_back"):
            ledger.set_alias(
                model, "production", AliasTarget(version=version, digest=event.digest or "")
            )
    return ledger


def _deployment(version: str, *, engine: str = "builtin") -> DeploymentRecord:
    return DeploymentRecord.from_metadata(
        {"version": version, "digest": "d" * 64, "revision": "gemma-r1", "engine": engine}
    )


def test_the_whole_story_happened(tmp_path: Path) -> None:
    expected = expectations(
        _ledger(tmp_path),
        gemma_production=_deployment("1.0.0", engine="llama-cpp"),
        gemma_staging=_deployment(BROKEN_VERSION),
        quality=QUALITY,
        quality_check="output_quality",
    )
    assert len(expected) == 5 and all(expected.values()), expected


def test_a_quality_check_that_passed_is_not_the_story(tmp_path: Path) -> None:
    expected = expectations(
        _ledger(tmp_path),
        gemma_production=_deployment("1.0.0", engine="llama-cpp"),
        gemma_staging=_deployment(BROKEN_VERSION),
        quality=CheckSeen(True, {**QUALITY.meta, "status": "pass"}),
        quality_check="output_quality",
    )
    assert list(expected.values()) == [True, True, True, True, False]
    assert MISTRAL in next(iter(expected))


def test_the_quality_verdict_and_its_lost_cases_read_plainly() -> None:
    assert quality_summary("output_quality", QUALITY.meta) == (
        "  output_quality: fail — kept 9, lost 1, gained 0 (production answers asked)"
    )
    assert lost_cases(QUALITY.meta) == ["    lost capital: Lyon (production: Paris)"]
    assert lost_cases({}) == []


def test_failure_text_drops_the_exception_path() -> None:
    message = "dagster._core.definitions.events.Failure: promotion of m refused\n"
    assert failure_text(message, "Failure") == "promotion of m refused"
    assert failure_text("x" * 400, None) == "x" * 300
