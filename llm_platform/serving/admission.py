"""Admission at the gateway: a replica gets no more requests than it has slots; the rest queue.

Each replica serves at most its engine's slots at once (``RevisionRoute.slots``: one for
llama-cpp-python, ``max_num_seqs`` for vLLM). A request for a revision whose replicas are all
busy waits in that revision's FIFO queue, bounded in length (``--queue-max``) and in wait
(``--queue-timeout``), like llama-server and vLLM, which queue rather than refuse. A full queue
or a wait past its bound is an :class:`Overloaded` outcome: the gateway answers 503 and counts
it as a failure of the service (overload is never the client's fault), and the replica is never
touched. The queue gives the freed slot of any replica of the revision to its oldest waiter.

The gateway also knows, per replica, how many requests are in flight and when the last one made
progress (a piece of a stream, or a response). ``/-/load`` publishes :meth:`Admission.load`; the
supervisor reads it so that it never kills a replica whose in-flight requests make progress.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Gauge, Histogram

from llm_platform.serving.httpserver import Response, error_response
from llm_platform.serving.metrics import GatewayMetrics
from llm_platform.serving.routes import Backend
from llm_platform.serving.streams import StreamBody, StreamingResponse

#: Requests one revision may have waiting for a slot (llama-server and vLLM do not bound it).
QUEUE_MAX = 512
#: Longest wait for a slot before the request is refused (seconds).
QUEUE_TIMEOUT_S = 120.0
QUEUE_DEPTH = "llm_gateway_queue_depth"
QUEUE_WAIT_SECONDS = "llm_gateway_queue_wait_seconds"
# Time spent waiting for a slot: nothing (a free slot) to the default bound.
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True, slots=True)
class Overloaded:
    """Why a request got no slot: ``queue_full`` or ``queue_timeout`` (waited ``waited_s``)."""

    reason: Literal["queue_full", "queue_timeout"]
    queued: int
    waited_s: float

    def message(self, backend: Backend, bounds: tuple[int, float]) -> str:
        """The 503's message, naming the revision and the bound that was hit."""
        if self.reason == "queue_full":
            return (
                f"revision {backend.revision} of {backend.model!r} is overloaded: "
                f"{self.queued} requests already wait for a slot (--queue-max {bounds[0]})"
            )
        return (
            f"revision {backend.revision} of {backend.model!r} is overloaded: no slot freed "
            f"within {self.waited_s:.1f}s (--queue-timeout {bounds[1]:g})"
        )


@dataclass(slots=True)
class _Replica:
    in_flight: int = 0
    last_progress: float | None = None


@dataclass(slots=True)
class _Queue:
    waiters: deque[asyncio.Future[Backend]] = field(default_factory=deque)
    replicas: list[Backend] = field(default_factory=list)


class Ticket:
    """A granted slot on ``backend``; :meth:`release` gives it back (idempotent)."""

    __slots__ = ("backend", "_admission")

    def __init__(self, backend: Backend, admission: Admission) -> None:
        self.backend = backend
        self._admission: Admission | None = admission

    def progress(self) -> None:
        """The request made progress (bytes arrived from the replica)."""
        if self._admission is not None:
            self._admission.touch(self.backend.origin)

    def release(self) -> None:
        """The request is over: its slot goes to the revision's oldest waiter."""
        admission, self._admission = self._admission, None
        if admission is not None:
            admission.release(self.backend)


class Admission:
    """Slots per replica and one bounded FIFO queue per revision, for one gateway.

    Args:
        namespace: the environment (metric label).
        registry: where the queue depth gauge and wait histogram are registered.
        queue_max: requests that may wait per revision; one more is refused.
        queue_timeout_s: longest wait for a slot.
    """

    def __init__(
        self,
        namespace: str,
        registry: CollectorRegistry,
        *,
        queue_max: int = QUEUE_MAX,
        queue_timeout_s: float = QUEUE_TIMEOUT_S,
    ) -> None:
        self.namespace = namespace
        self.queue_max = queue_max
        self.queue_timeout_s = queue_timeout_s
        self._replicas: dict[str, _Replica] = {}
        self._queues: dict[tuple[str, str], _Queue] = {}
        labels = ("model", "namespace", "revision")
        self._depth = Gauge(
            QUEUE_DEPTH, "Requests waiting for a replica slot.", labels, registry=registry
        )
        self._wait = Histogram(
            QUEUE_WAIT_SECONDS,
            "Time an inference request waited for a replica slot (0 when one was free).",
            labels,
            buckets=WAIT_BUCKETS,
            registry=registry,
        )

    def _replica(self, origin: str) -> _Replica:
        rep = self._replicas.get(origin)
        if rep is None:
            rep = self._replicas[origin] = _Replica()
        return rep

    def _free(self, replicas: list[Backend]) -> Backend | None:
        """The least loaded replica with a free slot, or None."""
        best: Backend | None = None
        best_load = 0
        for b in replicas:
            load = self._replica(b.origin).in_flight
            if (b.slots is None or load < b.slots) and (best is None or load < best_load):
                best, best_load = b, load
        return best

    async def admit(self, backend: Backend, replicas: list[Backend]) -> Ticket | Overloaded:
        """A slot on a replica of ``backend``'s revision, waiting in its queue when all are busy.

        Args:
            backend: the replica the router picked (kept when it has a free slot).
            replicas: every replica of that revision (one of them gets the slot).
        """
        replicas = replicas or [backend]
        key = (backend.model, backend.revision)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
        queue.replicas = replicas
        labels = (backend.model, self.namespace, backend.revision)
        if not queue.waiters:
            mine = self._replica(backend.origin).in_flight
            chosen = backend if backend.slots is None or mine < backend.slots else None
            chosen = chosen or self._free(replicas)
            if chosen is not None:
                self._replica(chosen.origin).in_flight += 1
                self._wait.labels(*labels).observe(0.0)
                return Ticket(chosen, self)
        if len(queue.waiters) >= self.queue_max:
            return Overloaded("queue_full", len(queue.waiters), 0.0)
        waiter: asyncio.Future[Backend] = asyncio.get_running_loop().create_future()
        queue.waiters.append(waiter)
        depth = self._depth.labels(*labels)
        depth.set(len(queue.waiters))
        start = time.monotonic()
        try:
            granted = await asyncio.wait_for(asyncio.shield(waiter), self.queue_timeout_s)
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():  # granted as the timer fired
                granted = waiter.result()
            else:
                waiter.cancel()
                return Overloaded("queue_timeout", len(queue.waiters), time.monotonic() - start)
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())
            waiter.cancel()
            raise
        finally:
            if waiter in queue.waiters:
                queue.waiters.remove(waiter)
            depth.set(len(queue.waiters))
        self._wait.labels(*labels).observe(time.monotonic() - start)
        return Ticket(granted, self)

    def release(self, backend: Backend) -> None:
        """Free ``backend``'s slot; hand it (or another free one) to the oldest waiter."""
        rep = self._replica(backend.origin)
        rep.in_flight = max(0, rep.in_flight - 1)
        rep.last_progress = time.time()
        queue = self._queues.get((backend.model, backend.revision))
        while queue is not None and queue.waiters:
            chosen = self._free(queue.replicas)
            if chosen is None:
                break
            waiter = queue.waiters.popleft()
            if waiter.done():
                continue
            self._replica(chosen.origin).in_flight += 1
            waiter.set_result(chosen)
        if rep.in_flight == 0:  # idle: nothing to report, and replaced replicas do not pile up
            self._replicas.pop(backend.origin, None)

    def touch(self, origin: str) -> None:
        """Record progress of a request in flight on ``origin``."""
        self._replica(origin).last_progress = time.time()

    def hold(
        self, resp: Response | StreamingResponse, ticket: Ticket | None
    ) -> Response | StreamingResponse:
        """Keep ``ticket``'s slot while ``resp`` is written: to a stream's end, else now."""
        if ticket is None:
            return resp
        if isinstance(resp, StreamingResponse):
            return resp._replace(body=_HeldBody(resp.body, ticket))
        ticket.progress()
        ticket.release()
        return resp

    def refuse(
        self, metrics: GatewayMetrics, backend: Backend, why: Overloaded, start: float
    ) -> Response:
        """503 for a request that got no slot: the service's failure, so it is counted."""
        elapsed = time.perf_counter() - start
        metrics.observe(
            backend.model, backend.version, backend.color, backend.revision, elapsed, True
        )
        message = why.message(backend, (self.queue_max, self.queue_timeout_s))
        return error_response(503, message, "overloaded", why.reason)

    def load(self) -> dict[str, object]:
        """What ``/-/load`` shows: per busy replica URL its requests in flight and last progress
        (unix time), per ``model/revision`` the requests waiting."""
        return {
            "replicas": {
                origin: {"in_flight": r.in_flight, "last_progress": r.last_progress}
                for origin, r in self._replicas.items()
            },
            "queued": {f"{m}/{rev}": len(q.waiters) for (m, rev), q in self._queues.items()},
        }


def add_queue_arguments(parser: argparse.ArgumentParser) -> None:
    """The gateway's ``--queue-max`` and ``--queue-timeout`` flags (defaults above)."""
    parser.add_argument(
        "--queue-max",
        type=int,
        default=QUEUE_MAX,
        help=f"requests that may wait for a replica slot, per revision [{QUEUE_MAX}]",
    )
    parser.add_argument(
        "--queue-timeout",
        type=float,
        default=QUEUE_TIMEOUT_S,
        help=f"longest wait for a replica slot in seconds [{QUEUE_TIMEOUT_S:g}]",
    )


class _HeldBody:
    """A stream body that records progress per piece and frees its slot when it ends."""

    def __init__(self, body: StreamBody, ticket: Ticket) -> None:
        self._body = body
        self._ticket = ticket

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._body:
                self._ticket.progress()
                yield piece
        finally:
            self._ticket.release()

    async def aclose(self) -> None:
        """Close the relayed body; the slot is freed."""
        try:
            await self._body.aclose()
        finally:
            self._ticket.release()
