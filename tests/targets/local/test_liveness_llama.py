"""Busy is not dead (issue 18, finding 3): a real llama.cpp replica generating for longer than
the liveness timeout is never killed, and of one revision at most one replica dies per pass.

Before: liveness polled ``/v1/models``, which llama-cpp-python answers only after the current
generation; one long request got the replica SIGKILLed after ``liveness_timeout_s``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm_platform.serving.engines.llama_cpp import LlamaCppEngine
from llm_platform.targets.local.local import LocalRuntime
from tests.helpers.engine_fixtures import GEMMA, require_llama_cpp
from tests.helpers.liveness_fixtures import deploy_gemma, stream_completion, supervised
from tests.helpers.runtime_fixtures import (
    pid_alive,
    revision,
    spec,
    teardown_home,
)
from tests.helpers.serving_fixtures import build_artifact

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

#: Far below the generations below (~25 tokens/s: 300 tokens take ~12 s).
LIVENESS_S = 3.0


@pytest.fixture(scope="module")
def gemma_runtime(
    tmp_path_factory: pytest.TempPathFactory, gemma_artifact: Path, gemma_digest: str
) -> Iterator[tuple[LocalRuntime, str, int]]:
    require_llama_cpp()
    home = tmp_path_factory.mktemp("liveness-llama")
    runtime = LocalRuntime(home, liveness_timeout_s=LIVENESS_S)
    try:
        endpoint, _, pid = deploy_gemma(runtime, gemma_artifact, gemma_digest)
        yield runtime, endpoint, pid
    finally:
        assert teardown_home(home) == [], "processes were left behind"


def _replica(runtime: LocalRuntime) -> tuple[int | None, int]:
    status = runtime.status("staging", GEMMA)
    assert status is not None
    rev = status.revisions[0]
    return rev.pid, rev.restarts


def test_a_generation_longer_than_the_liveness_timeout_keeps_its_replica(
    gemma_runtime: tuple[LocalRuntime, str, int],
) -> None:
    runtime, endpoint, pid = gemma_runtime
    # 900 tokens: several seconds past the liveness timeout even on an idle machine.
    body = {"model": GEMMA, "prompt": "Once upon a time", "max_tokens": 900, "min_tokens": 900}
    with supervised(runtime) as sup, httpx.Client(trust_env=False) as client:
        resp = client.post(f"{endpoint}/v1/completions", json=body, timeout=240)
        passes = sup.passes
    assert resp.status_code == 200, resp.text
    assert resp.json()["usage"]["completion_tokens"] == 900
    assert passes > LIVENESS_S + 2, f"only {passes} supervisor passes during the generation"
    assert _replica(runtime) == (pid, 0), "the busy replica was killed"
    assert pid_alive(pid)


def test_a_replica_whose_health_path_waits_for_the_generation_lives_while_it_streams(
    gemma_runtime: tuple[LocalRuntime, str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress-based liveness: even probed on a path that waits for the model's lock (the old
    ``/v1/models``), a replica whose stream makes progress through the gateway is alive."""
    runtime, endpoint, pid = gemma_runtime
    monkeypatch.setattr(LlamaCppEngine, "readiness_path", "/v1/models")
    with supervised(runtime), httpx.Client(trust_env=False) as client:
        status, tokens, done, _ = stream_completion(client, endpoint, max_tokens=250)
    assert (status, done) == (200, True)
    assert tokens >= 200, tokens
    assert _replica(runtime) == (pid, 0), "a replica making progress was killed"


def test_of_one_revision_at_most_one_replica_is_killed_per_pass(tmp_path: Path) -> None:
    """Two replicas hang at once (SIGSTOP): one pass kills one of them, the next pass the other."""
    home = tmp_path / "home"
    art = tmp_path / "tiny"
    digest = build_artifact(art)
    runtime = LocalRuntime(home, liveness_timeout_s=1.0)
    try:
        two = revision("r1", digest, art, weight=100).model_copy(update={"replicas": 2})
        runtime.apply(spec("pair", two))
        runtime.wait_ready("staging", "pair", timeout_s=60)
        observed = runtime.store.load_observed().revisions
        pids = [rec.pid for key, rec in observed.items() if key.startswith("staging/pair/")]
        assert len(pids) == 2 and all(pids), observed
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)  # type: ignore[arg-type]
        dead_after_pass: list[int] = []
        for _ in range(30):
            runtime.reconcile()
            dead_after_pass.append(sum(not pid_alive(p) for p in pids if p))
            if dead_after_pass[-1] == 2:
                break
            time.sleep(0.5)
        assert dead_after_pass[-1] == 2, dead_after_pass
        # Each pass kills at most one: the count of dead replicas never jumps by two.
        steps = [b - a for a, b in zip([0, *dead_after_pass], dead_after_pass, strict=False)]
        assert max(steps) == 1, dead_after_pass
        runtime.wait_ready("staging", "pair", timeout_s=60)
    finally:
        assert teardown_home(home) == [], "processes were left behind"
