"""Shadow traffic: the gateway copies a share of a model's requests to a candidate revision.

For a model whose routes name a shadow revision (weight 0, ``shadow`` percent > 0), each
non-streamed inference request that the share draws is also sent to that revision by a
background task: the client's answer never waits for it, its answer is discarded, and it is
recorded in no metric series (the production SLO series count the client's request once).
The shadow revision's injected faults apply to its copy as they would to its own traffic.

Each copy becomes one paired record -- same request, both revisions: latency, server error, and
whether the outputs are identical when the request asked for temperature 0 -- kept in a bounded
in-memory buffer per model and served at ``/-/shadow/<model>?after=<seq>`` (the shadow
strategy's analysis reads it; :mod:`llm_platform.promotion.shadow_analysis`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs

from llm_platform.serving.faults import FaultTable
from llm_platform.serving.httpclient import HttpClient, UpstreamError
from llm_platform.serving.routes import Backend

#: Pairs kept per model (the oldest are dropped; readers poll far more often than this fills).
MAX_PAIRS = 20_000


@dataclass(frozen=True, slots=True)
class ShadowPair:
    """One request answered by production and by its shadow copy."""

    seq: int
    production_revision: str
    shadow_revision: str
    production_latency_s: float
    shadow_latency_s: float
    production_error: bool
    shadow_error: bool
    #: None unless the request asked for temperature 0 and both answered
    outputs_match: bool | None


def _output(body: bytes) -> str | None:
    try:
        choices = json.loads(body).get("choices") or []
        first = choices[0]
        if "text" in first:
            return str(first["text"])
        return str((first.get("message") or {}).get("content"))
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        return None


def _greedy(body: bytes) -> bool:
    try:
        return json.loads(body).get("temperature") == 0
    except (ValueError, AttributeError):
        return False


class ShadowCall:
    """One copy in flight: the shadow side runs as a task; :meth:`production_done` pairs it."""

    def __init__(self, recorder: ShadowRecorder, model: str, backend: Backend, body: bytes):
        self.recorder, self.model, self.backend, self.body = recorder, model, backend, body
        self.task: asyncio.Task[tuple[float, bool, bytes]] | None = None

    def production_done(self, backend: Backend, latency_s: float, status: int, body: bytes) -> None:
        """Record the pair once the shadow copy has answered (never waits for it)."""
        if self.task is None:
            return
        error = status >= 500

        def pair(task: asyncio.Task[tuple[float, bool, bytes]]) -> None:
            if task.cancelled() or task.exception() is not None:
                return
            s_latency, s_error, s_body = task.result()
            match = None
            if _greedy(self.body) and not error and not s_error:
                mine, theirs = _output(body), _output(s_body)
                match = None if mine is None or theirs is None else mine == theirs
            self.recorder.add(
                self.model,
                backend.revision,
                self.backend.revision,
                latency_s,
                s_latency,
                error,
                s_error,
                match,
            )

        self.task.add_done_callback(pair)


class ShadowRecorder:
    """Sends the copies and keeps the pairs (one per gateway process).

    Args:
        client: the gateway's pooled upstream client.
        faults: the gateway's fault table (the shadow revision's faults apply to its copies).
        timeout_s: per copy.
    """

    def __init__(self, client: HttpClient, faults: FaultTable, timeout_s: float) -> None:
        self.client, self.faults, self.timeout_s = client, faults, timeout_s
        self.pairs: dict[str, deque[ShadowPair]] = {}
        self.seq = 0
        self._tasks: set[asyncio.Task[tuple[float, bool, bytes]]] = set()

    def start(
        self,
        model: str,
        backend: Backend,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> ShadowCall:
        """Send the copy to ``backend`` in the background (returns at once)."""
        call = ShadowCall(self, model, backend, body)
        task = asyncio.get_running_loop().create_task(self._send(backend, target, headers, body))
        self._tasks.add(task)  # keep a reference until done (asyncio holds only weak ones)
        task.add_done_callback(self._tasks.discard)
        call.task = task
        return call

    async def _send(
        self, backend: Backend, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[float, bool, bytes]:
        start = time.perf_counter()
        faults = self.faults.get(backend.model, backend.revision)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000.0)
        if self.faults.draw(faults.error_rate):
            return time.perf_counter() - start, True, b""
        try:
            resp = await self.client.pool(backend.origin).request(
                "POST", target, headers=headers, body=body, timeout_s=self.timeout_s
            )
        except (OSError, UpstreamError, TimeoutError):
            return time.perf_counter() - start, True, b""
        return time.perf_counter() - start, resp.status >= 500, resp.body

    def add(
        self,
        model: str,
        production: str,
        shadow: str,
        p_latency: float,
        s_latency: float,
        p_error: bool,
        s_error: bool,
        match: bool | None,
    ) -> None:
        """Append one pair to the model's buffer."""
        self.seq += 1
        buf = self.pairs.setdefault(model, deque(maxlen=MAX_PAIRS))
        buf.append(
            ShadowPair(self.seq, production, shadow, p_latency, s_latency, p_error, s_error, match)
        )

    def report(self, model: str, query: bytes) -> dict[str, object]:
        """The pairs of ``model`` newer than ``?after=<seq>`` (JSON-ready)."""
        raw = parse_qs(query.decode(errors="replace")).get("after", ["0"])[0]
        after = int(raw) if raw.isdigit() else 0
        pairs = [asdict(p) for p in self.pairs.get(model, ()) if p.seq > after]
        return {"model": model, "last": self.seq, "pairs": pairs}
