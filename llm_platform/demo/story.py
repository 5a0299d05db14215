"""The headless demo's story: its models, how each is staged, and how each step must end."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llm_platform.demo.gemma import GEMMA_MODEL
from llm_platform.demo.quality import BROKEN_FTYPE, BROKEN_VERSION
from llm_platform.promotion import Ledger
from llm_platform.promotion.deployment_record import DeploymentRecord
from llm_platform.serving.engines.llama_cpp import LlamaCppEngine

LLAMA, MISTRAL, GEMMA = "llama-3-1-8b", "mistral-7b", GEMMA_MODEL
#: Staging options per model: mistral gets injected latency; llama.cpp answers one request at
#: a time on a small CPU, so Gemma's load is short and sequential (its SLO floor is 10).
STAGING: dict[str, dict[str, float | int]] = {
    MISTRAL: {"inject_latency_ms": 1700.0, "load_requests": 56},
    GEMMA: {"load_requests": 12, "load_concurrency": 1, "ready_timeout_s": 180.0},
}
#: Staging options of every other model.
DEFAULT_STAGING: dict[str, float | int] = {"load_requests": 60}


@dataclass(frozen=True)
class CheckSeen:
    """A check evaluation of the demo's last run of a model: passed, and its metadata."""

    passed: bool
    meta: Mapping[str, object]


def expectations(
    ledger: Ledger,
    *,
    gemma_production: DeploymentRecord | None,
    gemma_staging: DeploymentRecord | None,
    quality: CheckSeen | None,
    quality_check: str,
) -> dict[str, bool]:
    """Did each step end the way the story says? (what was expected -> whether it happened)

    Args:
        ledger: The promotion ledger after the story.
        gemma_production: Gemma's latest production deployment (None: none readable).
        gemma_staging: Gemma's latest staging deployment (None: none readable).
        quality: The output-quality check of Gemma's last run, if it ran.
        quality_check: That check's name.
    """
    llama = ledger.aliases(LLAMA).get("production")
    kinds = [e.kind for e in ledger.history(LLAMA, env="production")]
    quality_meta = quality.meta if quality else {}
    gemma_prod = ledger.aliases(GEMMA).get("production")
    return {
        "mistral-7b held in staging (never promoted)": "production" not in ledger.aliases(MISTRAL),
        "llama-3-1-8b refused without approval, promoted twice, failed its SLO, rolled back": kinds
        == ["rolled_back", "check_failed", "promoted", "promoted", "refused"],
        "production serves llama-3-1-8b 1.0.0 again": llama is not None
        and llama.version == "1.0.0",
        "gemma-3-270m promoted to production, served by llama.cpp": gemma_prod is not None
        and gemma_production is not None
        and gemma_production.serving.engine == LlamaCppEngine.name,
        f"gemma-3-270m {BROKEN_VERSION} ({BROKEN_FTYPE}) held in staging by "
        f"{quality_check} (lost cases), production keeps 1.0.0": quality is not None
        and not quality.passed
        and quality_meta.get("status") == "fail"
        and str(quality_meta.get("lost", "0")) != "0"
        and gemma_staging is not None
        and gemma_staging.version == BROKEN_VERSION
        and gemma_prod is not None
        and gemma_prod.version == "1.0.0",
    }
