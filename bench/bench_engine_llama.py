"""Time to first token and output tokens/s of the real llama.cpp engine serving Gemma 3 270M.

Direct to the server (the gateway comparison builds on this). The server is started with the
exact argv the engine registry builds (digest verification included) and measured in one run:
  * startup: spawn -> readiness path answers (includes hashing the 230 MB artifact);
  * cold: the first streamed request after start;
  * streaming: TTFT = first content chunk, decode tokens/s = chunks after the first / time;
  * non-streaming: the whole response is the first token (what a buffering proxy would see).
Ratios printed: non-streaming vs streaming TTFT p50 (what streaming buys a client) and cold vs
warm TTFT. Sequential requests, loopback only.

    .venv/bin/python bench/bench_engine_llama.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import httpx
from _engine import PROMPT, gemma_server

from llm_platform.demo.gemma import GEMMA_MODEL
from llm_platform.serving.engines import local_threads


def streamed(base: str, max_tokens: int) -> tuple[float, float, int]:
    """One streamed completion: (TTFT s, decode tokens/s after the first, content chunks)."""
    body = {
        "model": GEMMA_MODEL,
        "prompt": PROMPT,
        "max_tokens": max_tokens,
        "stream": True,
        "temperature": 0,
    }
    t0 = time.perf_counter()
    stamps = []
    with httpx.stream("POST", f"{base}/v1/completions", json=body, timeout=120) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data:") or line.endswith("[DONE]"):
                continue
            chunk = json.loads(line[5:])
            if chunk.get("choices") and chunk["choices"][0].get("text"):
                stamps.append(time.perf_counter())
    if not stamps:
        raise RuntimeError("stream carried no content")
    ttft = stamps[0] - t0
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
    return ttft, rate, len(stamps)


def buffered(base: str, max_tokens: int) -> tuple[float, float]:
    """One non-streamed completion: (seconds to the whole answer, completion tokens/s)."""
    body = {"model": GEMMA_MODEL, "prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0}
    t0 = time.perf_counter()
    reply = httpx.post(f"{base}/v1/completions", json=body, timeout=120)
    elapsed = time.perf_counter() - t0
    reply.raise_for_status()
    return elapsed, reply.json()["usage"]["completion_tokens"] / elapsed


def p50(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 requests of 8 tokens")
    args = parser.parse_args()
    n, max_tokens = (3, 8) if args.quick else (20, 32)

    with gemma_server(context_size=1024) as server:
        startup = server.startup_s
        cold_ttft, _, _ = streamed(server.url, max_tokens)
        stream_runs = [streamed(server.url, max_tokens) for _ in range(n)]
        buffer_runs = [buffered(server.url, max_tokens) for _ in range(n)]

    ttft = p50([r[0] for r in stream_runs])
    decode = p50([r[1] for r in stream_runs])
    whole = p50([r[0] for r in buffer_runs])
    buffered_rate = p50([r[1] for r in buffer_runs])
    print(
        f"llama.cpp (llama-cpp-python) serving {GEMMA_MODEL} Q4_K_M, {local_threads()} "
        f"threads, {n} sequential requests x {max_tokens} tokens"
    )
    print(f"  startup (spawn + digest check + load -> ready): {startup:.2f} s")
    print(f"  cold TTFT (first request after start):          {cold_ttft * 1000:.0f} ms")
    print(f"  streaming TTFT p50:                             {ttft * 1000:.0f} ms")
    print(f"  streaming decode p50:                           {decode:.1f} tokens/s")
    print(f"  non-streaming whole answer p50:                 {whole * 1000:.0f} ms")
    print(f"  non-streaming output p50:                       {buffered_rate:.1f} tokens/s")
    print(f"  ratio non-streaming / streaming TTFT p50:       {whole / ttft:.1f}x")
    print(f"  ratio cold / warm TTFT:                         {cold_ttft / ttft:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
