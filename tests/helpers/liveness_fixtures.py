"""A real llama.cpp (Gemma) revision on a LocalRuntime, supervised as the controller does it.

The reconcile loop runs in a thread (one pass per ``interval_s``, the controller's rhythm) with a
short liveness timeout, so a test sees within seconds whether a busy replica is taken for dead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from llm_platform.targets.base import DeploymentSpec, RevisionSpec
from llm_platform.targets.local.local import LocalRuntime
from tests.helpers.engine_fixtures import GEMMA
from tests.helpers.sse_fixtures import read_completion_stream

READY_TIMEOUT_S = 150.0


def gemma_revision(artifact: Path, digest: str, *, replicas: int = 1) -> RevisionSpec:
    """Gemma on llama-cpp, context 1024 (one slot per replica)."""
    return RevisionSpec(
        revision="g1",
        version="1.0.0",
        digest=digest,
        artifact_uri=artifact.as_uri(),
        color="stable",
        weight=100,
        engine="llama-cpp",
        context_size=1024,
        replicas=replicas,
    )


def deploy_gemma(runtime: LocalRuntime, artifact: Path, digest: str) -> tuple[str, str, int]:
    """Apply Gemma to staging and wait: (gateway endpoint, replica URL, replica pid)."""
    runtime.apply(
        DeploymentSpec(env="staging", model=GEMMA, revisions=[gemma_revision(artifact, digest)])
    )
    status = runtime.wait_ready("staging", GEMMA, timeout_s=READY_TIMEOUT_S)
    rev = status.revisions[0]
    assert status.endpoint and rev.url and rev.pid, status
    return status.endpoint, rev.url, rev.pid


class Supervising:
    """Runs ``runtime.reconcile()`` every ``interval_s`` in a thread until stopped."""

    def __init__(self, runtime: LocalRuntime, interval_s: float = 1.0) -> None:
        self.runtime = runtime
        self.interval_s = interval_s
        self.passes = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.runtime.reconcile()
                self.passes += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(exc)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Supervising:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


@contextmanager
def supervised(runtime: LocalRuntime) -> Iterator[Supervising]:
    """The controller's loop around the ``with`` block."""
    with Supervising(runtime) as sup:
        yield sup
    assert not sup.errors, sup.errors
    assert sup.passes >= 2, "the reconcile loop did not run"


def stream_completion(
    client: httpx.Client, endpoint: str, *, max_tokens: int, prompt: str = "Once upon a time"
) -> tuple[int, int, bool, float | None]:
    """One streamed completion: (status, content events, ended with [DONE], seconds to the
    first content event)."""
    body = {
        "model": GEMMA,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "stream": True,
        # llama.cpp's min_tokens (an extension the gateway allows): the generation runs its
        # length. logit_bias would do it too, but the gateway refuses it for llama.cpp.
        "min_tokens": max_tokens,
    }
    start = time.perf_counter()
    with client.stream("POST", f"{endpoint}/v1/completions", json=body, timeout=300) as resp:
        if resp.status_code != 200:
            resp.read()
            return resp.status_code, 0, False, None
        tokens, done, ttft = read_completion_stream(resp, start)
    return 200, tokens, done, ttft


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total
