"""Liveness rules of the supervisor: busy is not dead, and never a whole revision at once.

A replica that stops answering its health path may only be busy (an engine whose routes wait
for the generation to end). The gateways know better: ``/-/load``
(:meth:`llm_platform.serving.admission.Admission.load`) lists, per replica URL, the requests in
flight and the last time one of them made progress. A replica with requests in flight that made
progress within the liveness timeout is alive. Of the replicas of one revision that are due to
be killed, one per pass is: the others keep serving while it restarts.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel, ValidationError

from llm_platform.targets.local.processes import http_get_json, loopback_url
from llm_platform.targets.local.state import ProcessRecord


class ReplicaLoad(BaseModel):
    """One replica as a gateway sees it."""

    in_flight: int = 0
    last_progress: float | None = None


class GatewayLoad(BaseModel):
    """A gateway's ``/-/load`` answer."""

    replicas: dict[str, ReplicaLoad] = {}
    queued: dict[str, int] = {}


def read_loads(gateways: Iterable[ProcessRecord], *, timeout_s: float = 1.0) -> GatewayLoad:
    """Every live gateway's load, merged (a gateway that does not answer adds nothing).

    Args:
        gateways: the gateways' process records (port, pid).
        timeout_s: per gateway.
    """
    urls = [f"{loopback_url(g.port)}/-/load" for g in gateways if g.pid and g.port]
    merged = GatewayLoad()
    if not urls:
        return merged
    with ThreadPoolExecutor(max_workers=min(4, len(urls))) as pool:
        answers = list(pool.map(lambda u: http_get_json(u, timeout_s=timeout_s), urls))
    for answer in answers:
        try:
            load = GatewayLoad.model_validate(answer)
        except ValidationError:
            continue
        for url, rep in load.replicas.items():
            seen = merged.replicas.get(url)
            if seen is None:
                merged.replicas[url] = rep
                continue
            stamps = [t for t in (seen.last_progress, rep.last_progress) if t is not None]
            merged.replicas[url] = ReplicaLoad(
                in_flight=seen.in_flight + rep.in_flight,
                last_progress=max(stamps) if stamps else None,
            )
        merged.queued.update(load.queued)
    return merged


def making_progress(load: GatewayLoad, port: int | None, now: float, window_s: float) -> bool:
    """True when the replica on ``port`` has requests in flight that progressed recently.

    Args:
        load: the gateways' merged load.
        port: the replica's port.
        now: unix time.
        window_s: how recent the last progress must be (the liveness timeout).
    """
    rep = load.replicas.get(loopback_url(port))
    if rep is None or rep.in_flight <= 0 or rep.last_progress is None:
        return False
    return now - rep.last_progress < window_s


def revision_of(key: str) -> str:
    """The revision a replica key belongs to (``env/model/rev`` of ``env/model/rev[/n]``)."""
    return "/".join(key.split("/")[:3])


def one_per_revision(due: Iterable[tuple[str, ProcessRecord]]) -> list[tuple[str, ProcessRecord]]:
    """Of the replicas due to be killed, the one per revision silent the longest."""
    chosen: dict[str, tuple[str, ProcessRecord]] = {}
    for key, rec in due:
        group = revision_of(key)
        current = chosen.get(group)
        if current is None or (rec.unhealthy_since or 0.0) < (current[1].unhealthy_since or 0.0):
            chosen[group] = (key, rec)
    return list(chosen.values())
