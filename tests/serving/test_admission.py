"""Admission rules (slots, FIFO queue, bounds) and the supervisor's liveness rules, unit-level.

The end-to-end behaviour against a real llama.cpp replica is in
``tests/serving/test_gateway_queue_llama.py`` and ``tests/targets/local/test_liveness_llama.py``.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from llm_platform.serving.admission import Admission, Overloaded, Ticket
from llm_platform.serving.request_contract import RequestPolicy
from llm_platform.serving.routes import Backend
from llm_platform.targets.local.liveness import (
    GatewayLoad,
    ReplicaLoad,
    making_progress,
    one_per_revision,
    revision_of,
)
from llm_platform.targets.local.state import ProcessRecord


def replica(port: int, slots: int | None = 1) -> Backend:
    policy = RequestPolicy.for_revision(None, None)
    return Backend("m", "r1", "1.0.0", "stable", f"http://127.0.0.1:{port}", policy, slots)


def admission(**kw: float) -> Admission:
    return Admission("staging", CollectorRegistry(), **kw)  # type: ignore[arg-type]


def test_slots_then_fifo_queue_then_full() -> None:
    async def scenario() -> None:
        adm = admission(queue_max=2, queue_timeout_s=5)
        a, b = replica(1), replica(2)
        first = await adm.admit(a, [a, b])
        second = await adm.admit(a, [a, b])  # a is busy: the free replica b gets it
        assert isinstance(first, Ticket) and isinstance(second, Ticket)
        assert (first.backend.origin, second.backend.origin) == (a.origin, b.origin)
        waiting = [asyncio.create_task(adm.admit(a, [a, b])) for _ in range(2)]
        await asyncio.sleep(0)
        full = await adm.admit(a, [a, b])
        assert isinstance(full, Overloaded) and full.reason == "queue_full"
        assert adm.load()["queued"] == {"m/r1": 2}
        second.release()  # b frees: the oldest waiter gets b
        granted = await waiting[0]
        assert isinstance(granted, Ticket) and granted.backend.origin == b.origin
        assert not waiting[1].done()
        first.release()
        later = await waiting[1]
        assert isinstance(later, Ticket) and later.backend.origin == a.origin
        second.release()  # idempotent: b's count stays right
        loads = adm.load()["replicas"]
        assert isinstance(loads, dict)
        assert {o: r["in_flight"] for o, r in loads.items()} == {a.origin: 1, b.origin: 1}
        granted.release()
        later.release()
        assert adm.load()["replicas"] == {}  # idle replicas are not kept

    asyncio.run(scenario())


def test_a_wait_past_the_bound_is_overloaded_and_frees_its_place() -> None:
    async def scenario() -> None:
        adm = admission(queue_max=1, queue_timeout_s=0.2)
        a = replica(1)
        held = await adm.admit(a, [a])
        started = time.monotonic()
        late = await adm.admit(a, [a])
        assert isinstance(late, Overloaded) and late.reason == "queue_timeout"
        assert time.monotonic() - started >= 0.2 and late.waited_s >= 0.2
        assert "--queue-timeout" in late.message(a, (1, 0.2))
        assert adm.load()["queued"] == {"m/r1": 0}
        assert isinstance(held, Ticket)
        held.release()
        assert isinstance(await adm.admit(a, [a]), Ticket)

    asyncio.run(scenario())


def test_a_cancelled_waiter_never_leaks_a_slot() -> None:
    async def scenario() -> None:
        adm = admission(queue_timeout_s=5)
        a = replica(1)
        held = await adm.admit(a, [a])
        assert isinstance(held, Ticket)
        gone = asyncio.create_task(adm.admit(a, [a]))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        held.release()
        assert isinstance(await adm.admit(a, [a]), Ticket)  # the slot went to nobody else

    asyncio.run(scenario())


def test_no_slots_means_no_limit() -> None:
    async def scenario() -> None:
        adm = admission(queue_max=0)
        a = replica(1, slots=None)
        tickets = [await adm.admit(a, [a]) for _ in range(50)]
        assert all(isinstance(t, Ticket) for t in tickets)

    asyncio.run(scenario())


def test_progress_counts_only_with_requests_in_flight_and_recent() -> None:
    now = time.time()
    load = GatewayLoad(
        replicas={
            "http://127.0.0.1:1": ReplicaLoad(in_flight=1, last_progress=now - 1),
            "http://127.0.0.1:2": ReplicaLoad(in_flight=0, last_progress=now),
            "http://127.0.0.1:3": ReplicaLoad(in_flight=2, last_progress=now - 30),
        }
    )
    assert making_progress(load, 1, now, 10)
    assert not making_progress(load, 2, now, 10)  # idle: nothing to show
    assert not making_progress(load, 3, now, 10)  # in flight but stuck
    assert not making_progress(load, 4, now, 10)  # unknown to the gateways


def test_one_kill_per_revision_the_longest_silent() -> None:
    def rec(since: float) -> ProcessRecord:
        return ProcessRecord(pid=1, unhealthy_since=since)

    due = [
        ("s/m/r1", rec(5)),
        ("s/m/r1/1", rec(3)),
        ("s/m/r1/2", rec(4)),
        ("s/m/r2", rec(9)),
        ("s/other/r1", rec(1)),
    ]
    chosen = {key for key, _ in one_per_revision(due)}
    assert chosen == {"s/m/r1/1", "s/m/r2", "s/other/r1"}
    assert revision_of("s/m/r1/2") == revision_of("s/m/r1") == "s/m/r1"
