"""40 concurrent streams to one llama.cpp replica: through the gateway (slots + queue) vs direct.

One run deploys Gemma 3 270M (llama-cpp, one replica) on a LocalRuntime in a temporary home and
supervises it as the controller does (a reconcile pass per second, the default 10 s liveness
timeout). Then, per round, 40 concurrent streamed completions of 24 tokens go straight to the
replica (llama-cpp-python makes them wait on its model lock) and the same 40 through the gateway
(one slot per replica, the rest in the gateway's queue). Measured in that one run:
  * completions (a stream ending with ``data: [DONE]``; target: all);
  * TTFT p50 / p95 as the clients saw it, queueing included; the gateway/direct ratio;
  * wall time of the 40, and the ratio;
  * replica restarts during the run (target: 0; before issue 18's fix liveness killed the busy
    replica) and the gateway's ``llm_requests_failed_total`` (target: 0).
Loopback only; every process is stopped by pid at the end.

    .venv/bin/python bench/bench_liveness.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.common.digest import digest_directory
from llm_platform.demo.gemma import GEMMA_MODEL, ensure_gemma_artifact
from llm_platform.settings import Settings
from llm_platform.slo.profiles import REQUESTS_FAILED_TOTAL
from llm_platform.targets.base import DeploymentSpec, RevisionSpec
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.stack import stack_down

STREAMS, TOKENS = 40, 24


def stream(client: httpx.Client, url: str, i: int) -> tuple[bool, float | None]:
    """One streamed completion: (ended with [DONE], seconds to the first content chunk)."""
    # min_tokens (llama.cpp): every stream runs its 24 tokens
    body = {"model": GEMMA_MODEL, "prompt": f"Story number {i}:", "max_tokens": TOKENS,
            "stream": True, "min_tokens": TOKENS}  # fmt: skip
    t0, ttft, done = time.perf_counter(), None, False
    try:
        with client.stream("POST", f"{url}/v1/completions", json=body) as resp:
            if resp.status_code != 200:
                return False, None
            for line in resp.iter_lines():
                data = line[5:].strip() if line.startswith("data:") else ""
                if data == "[DONE]":
                    done = True
                elif data and ttft is None:
                    choices = json.loads(data).get("choices") or [{}]
                    ttft = time.perf_counter() - t0 if choices[0].get("text") else None
    except httpx.HTTPError:
        return False, ttft
    return done, ttft


def burst(url: str) -> dict[str, float]:
    """40 concurrent streams to ``url``: completions, TTFT p50/p95, wall seconds."""
    limits = httpx.Limits(max_connections=STREAMS)
    with httpx.Client(trust_env=False, timeout=300, limits=limits) as client:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(STREAMS) as pool:
            results = list(pool.map(lambda i: stream(client, url, i), range(STREAMS)))
        wall = time.perf_counter() - t0
    ttfts = sorted(t for _, t in results if t is not None)
    q = statistics.quantiles(ttfts, n=20) if len(ttfts) > 1 else [float("nan")] * 19
    return {"completed": sum(ok for ok, _ in results), "p50": q[9], "p95": q[18], "wall": wall}


def failed_total(gateway: str) -> float:
    """The gateway's ``llm_requests_failed_total`` for Gemma."""
    text = httpx.get(f"{gateway}/metrics", timeout=5, trust_env=False).text
    return sum(
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == REQUESTS_FAILED_TOTAL and s.labels.get("model") == GEMMA_MODEL
    )


def supervise(runtime: LocalRuntime, stop: threading.Event) -> None:
    """The controller's loop: one reconcile pass a second until ``stop``."""
    while not stop.wait(1.0):
        runtime.reconcile()


def main() -> int:
    """Run the benchmark; print the table and the gateway/direct ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round (else three)")
    rounds = 1 if parser.parse_args().quick else 3
    artifact = ensure_gemma_artifact(Settings.from_env().home)
    home = Path(tempfile.mkdtemp(prefix="bench-liveness-"))
    runtime = LocalRuntime(home)
    stop = threading.Event()
    try:
        rev = RevisionSpec(revision="g1", version="1.0.0", digest=digest_directory(artifact).digest,
                           artifact_uri=artifact.as_uri(), color="stable", weight=100,
                           engine="llama-cpp", context_size=512)  # fmt: skip
        runtime.apply(DeploymentSpec(env="bench", model=GEMMA_MODEL, revisions=[rev]))
        status = runtime.wait_ready("bench", GEMMA_MODEL, timeout_s=180)
        endpoint, direct = status.endpoint or "", status.revisions[0].url or ""
        supervisor = threading.Thread(target=supervise, args=(runtime, stop))
        supervisor.start()
        rows: dict[str, list[dict[str, float]]] = {"direct": [], "gateway": []}
        for _ in range(rounds):
            rows["direct"].append(burst(direct))
            rows["gateway"].append(burst(endpoint))
        stop.set()
        supervisor.join()
        after = runtime.status("bench", GEMMA_MODEL)
        restarts = after.revisions[0].restarts if after else -1
        failed = failed_total(endpoint.rsplit("/", 1)[0])
    finally:
        stop.set()
        stack_down(home)
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in rows.items()}
    print(f"{STREAMS} concurrent streams x {TOKENS} tokens, one llama.cpp replica, {rounds} rounds")
    print(f"{'':8} {'completed':>9} {'TTFT p50':>9} {'TTFT p95':>9} {'wall':>7}")
    for side, m in med.items():
        print(f"{side:8} {m['completed']:>9.0f} {m['p50']:>8.2f}s {m['p95']:>8.2f}s "
              f"{m['wall']:>6.1f}s")  # fmt: skip
    g, d = med["gateway"], med["direct"]
    print(f"ratio gateway/direct: TTFT p50 {g['p50'] / d['p50']:.2f}, p95 "
          f"{g['p95'] / d['p95']:.2f}, wall {g['wall'] / d['wall']:.2f}")  # fmt: skip
    print(f"replica restarts: {restarts} (target 0); gateway failures: {failed:.0f} (target 0)")
    ok = restarts == 0 and failed == 0 and g["completed"] == STREAMS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
