"""Which revisions receive traffic, given desired state and health. Pure functions.

Rules:
- only healthy revisions are routed (a revision is healthy when at least one of its replicas is;
  the gateway balances its share across the healthy replicas);
- while a rollout is incomplete (a desired revision with weight > 0 does not have all its
  replicas healthy yet) and the revisions it replaces still serve, traffic stays on those
  retiring revisions;
- otherwise the healthy desired revisions with weight > 0 share traffic in proportion to their
  weights (re-normalised to 100 when a weighted revision is down).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from llm_platform.serving.engines import get_engine
from llm_platform.serving.faults import FaultSettings
from llm_platform.targets.base import RevisionSpec
from llm_platform.targets.local.state import DesiredDeployment

Ready = Callable[[RevisionSpec], bool]


class RouteEntry(BaseModel):
    """One revision in the gateway routes file: its traffic share and its replicas' URLs."""

    revision: str
    version: str
    color: str
    url: str = Field(description="the first replica (kept for readers of one URL)")
    urls: list[str] = Field(description="every healthy replica; the gateway picks among them")
    weight: int
    faults: FaultSettings = Field(
        default_factory=FaultSettings, description="injected by the gateway (drills)"
    )
    fault_file: str | None = Field(default=None, description="overrides faults while it exists")
    shadow: int = Field(
        default=0, description="percent of the model's requests copied here (weight 0 only)"
    )
    slots: int | None = Field(
        default=None, description="requests one replica takes at once (the gateway queues more)"
    )
    engine: str = Field(description="the engine serving it (the gateway's request contract)")
    context_size: int | None = Field(default=None, description="tokens; engine default if None")
    extensions: list[str] = Field(
        default_factory=list, description="engine extensions enabled beyond its defaults"
    )


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


def rollout_complete(dep: DesiredDeployment, ready: Ready) -> bool:
    """True when every desired revision with weight > 0 is ready (all replicas healthy)."""
    return all(ready(r) for r in dep.spec.revisions if r.weight > 0)


def serving_revisions(
    dep: DesiredDeployment, healthy: Callable[[str], bool], ready: Ready | None = None
) -> list[tuple[RevisionSpec, int]]:
    """The revisions that should receive traffic now, with their weights (sum 100 or empty).

    Args:
        dep: the desired deployment.
        healthy: whether a revision has a healthy replica.
        ready: whether all replicas of a revision are healthy (default: ``healthy``).
    """
    if not rollout_complete(dep, ready or (lambda r: healthy(r.revision))):
        old = [r for r in dep.retiring if r.weight > 0 and healthy(r.revision)]
        if old:
            return list(zip(old, normalize_weights([r.weight for r in old]), strict=True))
    new = [r for r in dep.spec.revisions if r.weight > 0 and healthy(r.revision)]
    return list(zip(new, normalize_weights([r.weight for r in new]), strict=True))


def route_entries(
    dep: DesiredDeployment,
    urls: Callable[[RevisionSpec], list[str]],
    fault_file: Callable[[RevisionSpec], str] | None = None,
) -> list[RouteEntry]:
    """Routes-file entries for one deployment.

    Args:
        dep: the desired deployment.
        urls: the URLs of a revision's healthy replicas (empty: not healthy).
        fault_file: where a revision's fault file is (the gateway follows it).

    Healthy desired revisions without traffic are listed too, at weight 0: the gateway never
    sends them requests, but it exports their metric series at zero, so Prometheus has seen
    them before the first request arrives (``increase()`` ignores a series' first sample).
    """
    by_name = {r.revision: r for r in [*dep.spec.revisions, *dep.retiring]}

    def healthy(revision: str) -> bool:
        return bool(urls(by_name[revision]))

    def ready(rev: RevisionSpec) -> bool:
        return len(urls(rev)) >= rev.replicas

    serving = serving_revisions(dep, healthy, ready)
    routed = {r.revision for r, _ in serving}
    idle = [(r, 0) for r in dep.spec.revisions if r.revision not in routed and healthy(r.revision)]
    entries = []
    for r, w in [*serving, *idle]:
        replicas = urls(r)
        entries.append(
            RouteEntry(
                revision=r.revision,
                version=r.version,
                color=r.color,
                url=replicas[0],
                urls=replicas,
                weight=w,
                faults=r.faults,
                fault_file=fault_file(r) if fault_file else None,
                shadow=r.shadow_percent if w == 0 else 0,
                slots=get_engine(r.engine).slots(r.max_batch_size),
                engine=r.engine,
                context_size=r.context_size,
                extensions=r.extensions,
            )
        )
    return entries
