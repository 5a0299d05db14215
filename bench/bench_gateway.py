"""Latency and throughput through the gateway vs directly to the upstream, in the same run.

Two upstreams, each measured directly and through one gateway process:
  * the real model server serving the demo model (``max_tokens`` 8), the realistic case;
  * a trivial upstream (fixed JSON answer), where the gateway's own cost is most visible.
Latency: sequential requests (one in flight), p50/p95; overhead = gateway p50 - direct p50
(target < 1 ms). Throughput: the suite's load generator at concurrency 16 (target >= 80 % of
direct; median of 3 alternating rounds). Loopback only; all processes run on the same machine.

    .venv/bin/python bench/bench_gateway.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from llm_platform.targets.local.processes import free_port

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_loadgen import start_trivial  # noqa: E402

from llm_platform.endpoint_tests.checks import completion_problem, percentile  # noqa: E402
from llm_platform.endpoint_tests.load import run_load  # noqa: E402
from llm_platform.endpoint_tests.transport import Transport  # noqa: E402

ROUNDS = 3
PAYLOAD = {"model": "tiny", "prompt": "Shall I compare thee", "max_tokens": 8, "temperature": 0}


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not ready")


async def latency_samples(
    url: str, body: bytes, more: Callable[[int], bool]
) -> tuple[float, float, int]:
    """Sequential completions while ``more(requests so far)``; returns (p50 ms, p95 ms, count)."""
    transport = Transport(url, timeout_s=30)
    samples: list[float] = []
    try:
        while more(len(samples)):
            t0 = time.perf_counter()
            status, resp = await transport.request("POST", "/v1/completions", body)
            samples.append((time.perf_counter() - t0) * 1000)
            if problem := completion_problem(status, resp):
                raise RuntimeError(f"{url}: {problem}")
    finally:
        await transport.aclose()
    samples.sort()
    p50, p95 = percentile(samples, 50), percentile(samples, 95)
    assert p50 is not None and p95 is not None
    return p50, p95, len(samples)


async def latency(url: str, n: int, model: str = "tiny") -> tuple[float, float]:
    """``n`` sequential requests; returns (p50 ms, p95 ms)."""
    body = json.dumps({**PAYLOAD, "model": model}).encode()
    p50, p95, _ = await latency_samples(url, body, lambda done: done < n)
    return p50, p95


async def throughput(url: str, n: int, concurrency: int, model: str = "tiny") -> float:
    transport = Transport(url, timeout_s=30, connections=concurrency)
    try:
        res = await run_load(transport, model=model, requests=n, concurrency=concurrency)
    finally:
        await transport.aclose()
    if res.failed:
        raise RuntimeError(f"{url}: {res.failed} failed: {res.failure_reasons}")
    return res.rps


def measure(
    name: str, direct: str, via: str, n_lat: int, n_tp: int, model: str
) -> dict[str, float]:
    import uvloop

    async def go() -> dict[str, float]:
        await latency(direct, 100, model)  # warm-up (connections, caches)
        await latency(via, 100, model)
        d50, d95 = await latency(direct, n_lat, model)
        g50, g95 = await latency(via, n_lat, model)
        d_runs, g_runs = [], []
        for _ in range(ROUNDS):  # alternate, then take medians: CPU noise hits both sides
            d_runs.append(await throughput(direct, n_tp, 16, model))
            g_runs.append(await throughput(via, n_tp, 16, model))
        d_rps, g_rps = statistics.median(d_runs), statistics.median(g_runs)
        return {"d50": d50, "d95": d95, "g50": g50, "g95": g95, "d_rps": d_rps, "g_rps": g_rps}

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        r = runner.run(go())
    overhead = r["g50"] - r["d50"]
    ratio = r["g_rps"] / r["d_rps"]
    print(f"{name}:")
    print(f"  latency p50/p95 direct  {r['d50']:6.3f} / {r['d95']:6.3f} ms")
    print(f"  latency p50/p95 gateway {r['g50']:6.3f} / {r['g95']:6.3f} ms")
    print(f"  p50 overhead {overhead:6.3f} ms (target < 1 ms) -> "
          f"{'PASS' if overhead < 1 else 'MISS'}")  # fmt: skip
    verdict = "PASS" if ratio >= 0.8 else "MISS"
    print(f"  throughput direct {r['d_rps']:7.0f} req/s, gateway {r['g_rps']:7.0f} req/s, "
          f"ratio {ratio:.0%} (target >= 80 %) -> {verdict}")  # fmt: skip
    return r


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small request counts")
    args = parser.parse_args()
    n_lat, n_tp = (300, 1000) if args.quick else (2000, 5000)
    from llm_platform.common.digest import digest_directory
    from llm_platform.demo_model import build

    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "tiny"
        build(artifact)
        digest = digest_directory(artifact).digest
        try:
            trivial, trivial_url = start_trivial()
            procs.append(trivial)
            sport = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "llm_platform.serving.model_server", "--artifact",
                 str(artifact), "--expected-digest", digest, "--model", "tiny", "--version",
                 "1.0.0", "--revision", "r1", "--port", str(sport)],
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(server)
            routes = Path(tmp) / "routes.json"
            rev = {"revision": "r1", "version": "1.0.0", "color": "blue", "weight": 100}
            routes.write_text(json.dumps({"models": {
                "tiny": {"revisions": [{**rev, "url": f"http://127.0.0.1:{sport}",
                                        "engine": "builtin"}]},
                "trivial": {"revisions": [{**rev, "url": trivial_url}]},
            }}))  # fmt: skip
            gport = free_port()
            gateway = subprocess.Popen(
                [sys.executable, "-m", "llm_platform.serving.gateway", "--routes", str(routes),
                 "--namespace", "bench", "--port", str(gport)],
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            procs.append(gateway)
            wait_port(sport, server)
            wait_port(gport, gateway)
            gw = f"http://127.0.0.1:{gport}"
            print(f"{os.cpu_count()} CPUs; latency n={n_lat} sequential, throughput n={n_tp} "
                  "at concurrency 16")  # fmt: skip
            measure("model server (demo model, max_tokens 8)", f"http://127.0.0.1:{sport}",
                    f"{gw}/tiny", n_lat, n_tp, "tiny")  # fmt: skip
            measure("trivial upstream", trivial_url, f"{gw}/trivial", n_lat, n_tp, "trivial")
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=10)


if __name__ == "__main__":
    main()
