"""Streaming through the gateway vs straight to a real llama.cpp server (Gemma 3 270M Q4_K_M).

One run starts the engine with the registry's argv and a gateway routing to it, then sends
streamed completions alternately direct and through the gateway (same prompt, greedy; the
alternation spreads the machine's load drift over both sides). Measured in that one run:
  * TTFT phase (one-token completions, many pairs: the engine's own TTFT jitter is far larger
    than the gateway's cost, so the estimate needs samples): client-observed time to the first
    content chunk; added by the gateway = p50 through it minus p50 direct, and the p50 of the
    paired differences (target: < 2 ms added);
  * the gateway's own TTFT (its histogram's sum, read before and after each sequential
    request) vs what the client observed through it, p95 of the difference (target: < 5 ms);
  * throughput phase (longer completions): content chunks / whole stream time, through the
    gateway as a share of direct (target: >= 95%).
Loopback only, sequential requests, the engine and gateway stopped by PID at the end.

    .venv/bin/python bench/bench_streaming.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

import httpx
from _engine import PROMPT, gemma_server, wait_ready
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.demo.gemma import GEMMA_MODEL
from llm_platform.serving.engines import local_threads
from llm_platform.serving.metrics import TIME_TO_FIRST_TOKEN
from llm_platform.targets.local.processes import free_port
from tests.helpers.sse_fixtures import read_completion_stream


def streamed(client: httpx.Client, url: str, max_tokens: int) -> tuple[float, float]:
    """One streamed completion: (TTFT s, content chunks per second of the whole stream)."""
    body = {"prompt": PROMPT, "max_tokens": max_tokens, "stream": True, "temperature": 0}
    body["model"] = GEMMA_MODEL
    t0 = time.perf_counter()
    with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        chunks, done, first = read_completion_stream(response, t0)
    elapsed = time.perf_counter() - t0
    if first is None or not done:
        raise RuntimeError(f"bad stream from {url}: first={first} done={done}")
    return first, chunks / elapsed


#: The engine's context window (tokens) for both phases.
CONTEXT = 1024

#: The first content chunk of a completion stream: a non-empty ``text`` (llama-cpp-python's JSON).
CONTENT = re.compile(rb'"text": ?"[^"]')


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on a socket: the client's own overhead would
    otherwise be part of every TTFT it observes (httpx costs several ms per request)."""

    def __init__(self, url: str, path: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = json.dumps({"model": GEMMA_MODEL, "prompt": PROMPT, "max_tokens": 1,
                           "stream": True, "temperature": 0}).encode()  # fmt: skip
        self.request = (
            f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode() + body

    def ttft(self) -> float:
        """Send the one-token stream request; seconds to its first content chunk."""
        t0 = time.perf_counter()
        self.sock.sendall(self.request)
        seen, first = b"", None
        while not seen.endswith(b"0\r\n\r\n"):  # the chunked body's end
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("connection closed mid-response")
            seen += data
            if first is None and CONTENT.search(seen):
                first = time.perf_counter() - t0
        if first is None or b"[DONE]" not in seen:
            raise RuntimeError(f"bad stream: {seen[-300:]!r}")
        return first


def gateway_ttft_sum(client: httpx.Client, gateway: str) -> float:
    total = 0.0
    for fam in text_string_to_metric_families(client.get(gateway + "/metrics").text):
        for s in fam.samples:
            if s.name == TIME_TO_FIRST_TOKEN + "_sum" and s.labels.get("model") == GEMMA_MODEL:
                total += s.value
    return total


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def ttft_phase(base: str, gateway: str, pairs: int) -> dict[str, list[float]]:
    """Alternate one-token streams direct / via the gateway on raw sockets."""
    out: dict[str, list[float]] = {"d_ttft": [], "g_ttft": [], "err": []}
    direct = RawClient(base, "/v1/completions")
    via = RawClient(gateway, f"/{GEMMA_MODEL}/v1/completions")
    with httpx.Client(trust_env=False, timeout=30) as metrics:
        direct.ttft(), via.ttft()  # warm the prompt cache and both connections
        for _ in range(pairs):
            out["d_ttft"].append(direct.ttft())
            before = gateway_ttft_sum(metrics, gateway)
            ttft = via.ttft()
            out["err"].append(abs(ttft - (gateway_ttft_sum(metrics, gateway) - before)))
            out["g_ttft"].append(ttft)
    direct.sock.close()
    via.sock.close()
    return out


def throughput_phase(base: str, gateway: str, pairs: int, max_tokens: int) -> list[float]:
    """Alternate streams direct / via the gateway; tokens/s of each (direct, via) pair."""
    rates: dict[str, list[float]] = {"direct": [], "via": []}
    urls = {"direct": f"{base}/v1/completions", "via": f"{gateway}/{GEMMA_MODEL}/v1/completions"}
    with httpx.Client(trust_env=False, timeout=120) as client:
        for _ in range(pairs):
            for side, url in urls.items():
                rates[side].append(streamed(client, url, max_tokens)[1])
    return [statistics.median(rates["direct"]), statistics.median(rates["via"])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="40 TTFT pairs, 10 x 16 tokens")
    args = parser.parse_args()
    ttft_pairs, n, max_tokens = (40, 10, 16) if args.quick else (200, 20, 32)

    gw_port = free_port()
    gateway = f"http://127.0.0.1:{gw_port}"
    with gemma_server(context_size=CONTEXT) as server:
        base = server.url
        routes = server.workdir / "routes.json"
        rev = {"revision": "bench", "version": "1.0.0", "url": base, "weight": 100,
               "engine": "llama-cpp", "context_size": CONTEXT}  # fmt: skip
        routes.write_text(json.dumps({"models": {GEMMA_MODEL: {"revisions": [rev]}}}))
        gw_argv = [sys.executable, "-m", "llm_platform.serving.gateway", "--routes", str(routes),
                   "--namespace", "bench", "--port", str(gw_port)]  # fmt: skip
        with open(server.workdir / "gateway.log", "wb") as log:
            proc = subprocess.Popen(
                gw_argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                wait_ready(gateway + "/-/health", proc)
                ttfts = ttft_phase(base, gateway, ttft_pairs)
                d_rate, g_rate = throughput_phase(base, gateway, n, max_tokens)
            except Exception:
                sys.stderr.write(
                    (server.workdir / "gateway.log").read_text(errors="replace")[-2000:]
                )
                raise
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)

    d_ttft, g_ttft = statistics.median(ttfts["d_ttft"]), statistics.median(ttfts["g_ttft"])
    pairs = zip(ttfts["g_ttft"], ttfts["d_ttft"], strict=True)
    paired = statistics.median(g - d for g, d in pairs)
    err = ttfts["err"]
    print(
        f"llama.cpp serving {GEMMA_MODEL} Q4_K_M ({local_threads()} threads), alternating "
        f"direct / through the gateway; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"TTFT: {ttft_pairs} pairs of one-token streams (raw-socket client)")
    print(f"  p50 direct / via gateway:        {d_ttft * 1000:.2f} / {g_ttft * 1000:.2f} ms")
    print(f"  added by the gateway (p50s):     {(g_ttft - d_ttft) * 1000:8.2f} ms  (target < 2)")
    print(f"  added by the gateway (paired):   {paired * 1000:8.2f} ms")
    print(
        f"  gateway TTFT vs client-observed: p50 {statistics.median(err) * 1000:.2f} ms, "
        f"p95 {p95(err) * 1000:.2f} ms  (target p95 < 5)"
    )
    print(f"throughput: {n} pairs of {max_tokens}-token streams")
    print(f"  output tokens/s p50 direct:      {d_rate:8.2f}")
    print(f"  output tokens/s p50 via gateway: {g_rate:8.2f}")
    print(f"  ratio gateway / direct:          {g_rate / d_rate:8.3f}     (target >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
