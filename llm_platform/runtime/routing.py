"""Which revisions receive traffic, given desired state and health. Pure functions.

Rules:
- only healthy revisions are routed;
- while a rollout is incomplete (a desired revision with weight > 0 is not healthy yet) and the
  revisions it replaces still serve, traffic stays on those retiring revisions;
- otherwise the healthy desired revisions with weight > 0 share traffic in proportion to their
  weights (re-normalised to 100 when a weighted revision is down).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from llm_platform.runtime.base import RevisionSpec
from llm_platform.runtime.state import DesiredDeployment


class RouteEntry(BaseModel):
    """One revision in the gateway routes file."""

    revision: str
    version: str
    color: str
    url: str
    weight: int


def normalize_weights(weights: list[int]) -> list[int]:
    """Scale non-negative weights to sum to 100 (largest remainder); all-zero stays zero."""
    total = sum(weights)
    if total == 0:
        return [0 for _ in weights]
    exact = [w * 100 / total for w in weights]
    result = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - result[i], reverse=True)
    for i in order[: 100 - sum(result)]:
        result[i] += 1
    return result


def rollout_complete(dep: DesiredDeployment, healthy: Callable[[str], bool]) -> bool:
    """True when every desired revision with weight > 0 is healthy."""
    return all(healthy(r.revision) for r in dep.spec.revisions if r.weight > 0)


def serving_revisions(
    dep: DesiredDeployment, healthy: Callable[[str], bool]
) -> list[tuple[RevisionSpec, int]]:
    """The revisions that should receive traffic now, with their weights (sum 100 or empty)."""
    if not rollout_complete(dep, healthy):
        old = [r for r in dep.retiring if r.weight > 0 and healthy(r.revision)]
        if old:
            return list(zip(old, normalize_weights([r.weight for r in old]), strict=True))
    new = [r for r in dep.spec.revisions if r.weight > 0 and healthy(r.revision)]
    return list(zip(new, normalize_weights([r.weight for r in new]), strict=True))


def route_entries(
    dep: DesiredDeployment, healthy: Callable[[str], bool], url: Callable[[str], str]
) -> list[RouteEntry]:
    """Routes-file entries for one deployment.

    Healthy desired revisions without traffic are listed too, at weight 0: the gateway never
    sends them requests, but it exports their metric series at zero, so Prometheus has seen
    them before the first request arrives (``increase()`` ignores a series' first sample).
    """
    serving = serving_revisions(dep, healthy)
    routed = {r.revision for r, _ in serving}
    idle = [(r, 0) for r in dep.spec.revisions if r.revision not in routed and healthy(r.revision)]
    return [
        RouteEntry(
            revision=r.revision,
            version=r.version,
            color=r.color,
            url=url(r.revision),
            weight=w,
        )
        for r, w in [*serving, *idle]
    ]
