"""Shadow analysis: judge a candidate on copies of production requests, pair by pair.

The environment gateway records one pair per copied request (:mod:`llm_platform.serving.shadow`:
production's and the shadow revision's latency, server error, and whether the outputs match at
temperature 0) at ``/-/shadow/<model>``. Every look reads the new pairs and lets the judge
decide on them: :func:`llm_platform.promotion.judge.judge` on the latencies of the pairs both
sides answered (compared as latency + ``latency_slack_ms``, as in the canary analysis) and
:func:`~llm_platform.promotion.judge.judge_proportions` on the server errors. Any ``fail``
fails at once, both ``pass`` passes; otherwise the analysis looks again until the deadline.
The share of identical greedy outputs is reported, not judged (a new version may rightly
answer differently).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from pydantic import TypeAdapter

from llm_platform.common.errors import PlatformError
from llm_platform.promotion.analysis import (
    AnalysisTarget,
    CanaryAnalysis,
    CanaryCheck,
    CanaryThresholds,
    RevisionObservation,
    Verdict,
)
from llm_platform.promotion.judge import Judgement, judge, judge_proportions
from llm_platform.promotion.sequential import judgement_check
from llm_platform.serving.shadow import ShadowPair

LATENCY_CHECK = "latency_vs_production"
ERRORS_CHECK = "error_rate_vs_production"


class ShadowUnavailable(PlatformError):
    """The gateway's shadow pairs cannot be read (the rollout rolls back)."""


#: Validates the pairs the gateway reports (each a :class:`ShadowPair` as JSON).
_PAIRS = TypeAdapter(list[ShadowPair])


class ShadowSource:
    """Reads the pairs of one model from the environment gateway, incrementally.

    Args:
        gateway_url: the gateway's root URL.
        model: the model name.
        timeout_s: per request.
    """

    name = "gateway-shadow"

    def __init__(self, gateway_url: str, model: str, *, timeout_s: float = 5.0) -> None:
        self.url = f"{gateway_url.rstrip('/')}/-/shadow/{model}"
        self.timeout_s = timeout_s
        self.last = 0

    def begin(self) -> None:
        """Skip the pairs recorded so far (an earlier shadow's)."""
        last = self._get(self.last).get("last")
        self.last = last if isinstance(last, int) else 0

    def _get(self, after: int) -> dict[str, object]:
        try:
            resp = httpx.get(
                self.url, params={"after": after}, timeout=self.timeout_s, trust_env=False
            )
            resp.raise_for_status()
            data: dict[str, object] = resp.json()
            return data
        except (httpx.HTTPError, ValueError) as exc:
            raise ShadowUnavailable(f"cannot read shadow pairs at {self.url}: {exc}") from exc

    def fetch(self) -> list[ShadowPair]:
        """The pairs recorded since the previous call."""
        data = self._get(self.last)
        raw = data.get("pairs")
        pairs = _PAIRS.validate_python(raw) if isinstance(raw, list) else []
        if pairs:
            self.last = max(p.seq for p in pairs)
        return pairs


def judge_pairs(
    pairs: list[ShadowPair], t: CanaryThresholds
) -> tuple[Verdict, str, list[CanaryCheck], dict[str, Judgement]]:
    """The judges on every pair so far: (verdict, reason, checks, judgements)."""
    n = len(pairs)
    slack = t.latency_slack_ms / 1000.0
    both = [p for p in pairs if not p.production_error and not p.shadow_error]
    judgements = {
        LATENCY_CHECK: judge(
            [p.production_latency_s + slack for p in both],
            [p.shadow_latency_s + slack for p in both],
            max_increase=t.max_increase,
            confidence=t.confidence,
        ),
        ERRORS_CHECK: judge_proportions(
            sum(p.production_error for p in pairs),
            n,
            sum(p.shadow_error for p in pairs),
            n,
            max_increase=t.error_rate_tolerance,
            confidence=t.confidence,
        ),
    }
    checks = [judgement_check(name, j, unit="pairs") for name, j in judgements.items()]
    for wanted in ("fail", "inconclusive"):
        hits = [c for c in checks if c.verdict == wanted]
        if hits:
            reason = "; ".join(f"{c.name}: {c.reason}" for c in hits)
            return ("fail" if wanted == "fail" else "inconclusive"), reason, checks, judgements
    return (
        "pass",
        "the judge shows the candidate is not worse on the same requests",
        checks,
        judgements,
    )


def _observation(revision: str, pairs: list[ShadowPair], *, shadow: bool) -> RevisionObservation:
    errors = sum(p.shadow_error if shadow else p.production_error for p in pairs)
    compared = [p.outputs_match for p in pairs if p.outputs_match is not None]
    values: dict[str, float | None] = {
        "error_rate": errors / len(pairs) if pairs else None,
        "outputs_match": sum(compared) / len(compared) if compared else None,
    }
    return RevisionObservation(revision=revision, requests=len(pairs), failed=errors, values=values)


def shadow_analysis(
    source: ShadowSource,
    target: AnalysisTarget,
    thresholds: CanaryThresholds,
    *,
    look_every_s: float,
    deadline_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CanaryAnalysis:
    """Look every ``look_every_s`` (after ``source.begin``) until a verdict or ``deadline_s``.

    Only pairs of ``target.stable`` (production) and ``target.canary`` (the shadow) count.
    """
    pairs: list[ShadowPair] = []
    start, n = clock(), 0
    while True:
        sleep(max(0.0, min(look_every_s, deadline_s - (clock() - start))))
        n += 1
        pairs += [
            p
            for p in source.fetch()
            if p.shadow_revision == target.canary and p.production_revision == target.stable
        ]
        verdict, reason, checks, judgements = judge_pairs(pairs, thresholds)
        elapsed = clock() - start
        if verdict != "inconclusive" or elapsed >= deadline_s:
            if verdict == "inconclusive":
                reason = f"no verdict by the {deadline_s:g}s deadline ({n} looks): {reason}"
            return CanaryAnalysis(
                verdict=verdict,
                reason=reason,
                source=source.name,
                window_s=round(elapsed, 3),
                canary=_observation(target.canary, pairs, shadow=True),
                stable=_observation(target.stable, pairs, shadow=False),
                checks=checks,
                queries=[f"GET {source.url}"],
                looks=n,
                judgements=judgements,
            )
