"""Requests/s the integration suite's load generator drives vs the seed's thread-pool approach.

Both drive the same trivial local endpoint (a raw ASGI app on uvicorn, in its own process) with
the same request count and concurrency. The baseline is the seed's pattern: a
``ThreadPoolExecutor`` whose workers each call ``requests.post`` (a new connection per call).
Ours is ``llm_platform.endpoint_tests.load.run_load`` (asyncio + pooled keep-alive connections),
which also validates every response body. Target: >= 5x.

    .venv/bin/python bench/bench_loadgen.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llm_platform.targets.local.processes import free_port

BODY = json.dumps(
    {
        "object": "text_completion",
        "choices": [{"index": 0, "text": "ok", "finish_reason": "length", "logprobs": None}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
).encode()


async def trivial_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every request with a fixed valid completion."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def serve_trivial(port: int) -> None:
    import uvicorn

    uvicorn.run(trivial_app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")  # fmt: skip


def start_trivial() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-trivial", str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("trivial endpoint did not start")


def seed_style(url: str, requests_n: int, concurrency: int) -> tuple[float, int]:
    """The seed's pattern: thread pool + ``requests.post``; returns (req/s, successes)."""
    import requests

    payload = {"model": "m", "prompt": "Generate a short response", "max_tokens": 8}

    def one(_: int) -> bool:
        try:
            r = requests.post(url + "/v1/completions", json=payload, timeout=30)
            return r.status_code == 200
        except requests.RequestException:
            return False

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        ok = sum(pool.map(one, range(requests_n)))
    return requests_n / (time.perf_counter() - t0), ok


def ours(url: str, requests_n: int, concurrency: int) -> tuple[float, int]:
    """``run_load`` on a uvloop loop, as ``run_suite`` runs it; returns (req/s, successes)."""
    import uvloop

    from llm_platform.endpoint_tests.load import run_load
    from llm_platform.endpoint_tests.transport import Transport

    async def go() -> tuple[float, int]:
        transport = Transport(url, timeout_s=30, connections=concurrency)
        try:
            res = await run_load(transport, model="m", requests=requests_n,
                                 concurrency=concurrency)  # fmt: skip
        finally:
            await transport.aclose()
        return res.rps, res.succeeded

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(go())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small request counts")
    parser.add_argument("--serve-trivial", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_trivial:
        serve_trivial(args.serve_trivial)
        return
    n = 1000 if args.quick else 5000
    concurrency = 8
    proc, url = start_trivial()
    try:
        seed_style(url, 50, concurrency)  # warm-up
        ours(url, 50, concurrency)
        seed_rps, seed_ok = seed_style(url, n, concurrency)
        our_rps, our_ok = ours(url, n, concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"load generator, {n} requests at concurrency {concurrency} against {url}")
    print(f"  seed (ThreadPoolExecutor + requests.post): {seed_rps:8.0f} req/s ({seed_ok} ok)")
    print(f"  ours (asyncio + pooled keep-alive):        {our_rps:8.0f} req/s ({our_ok} ok)")
    ratio = our_rps / seed_rps
    print(f"  ratio: {ratio:.1f}x (target >= 5x) -> {'PASS' if ratio >= 5 else 'MISS'}")


if __name__ == "__main__":
    main()
