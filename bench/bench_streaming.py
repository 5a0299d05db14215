"""Streaming through the gateway vs straight to a real llama.cpp server (Gemma 3 270M Q4_K_M).

One run starts the engine with the registry's argv and a gateway routing to it, then sends
streamed completions alternately direct and through the gateway (same prompt, greedy; the
alternation spreads the machine's load drift over both sides). Measured in that one run:
  * TTFT: client-observed time to the first content chunk; added by the gateway = p50 of the
    differences of consecutive (direct, gateway) pairs (target: < 2 ms added);
  * output tokens/s: content chunks / whole stream time, through the gateway as a share of
    direct (target: >= 95%);
  * the gateway's own TTFT (its histogram's sum, read before and after each sequential
    request) vs what the client observed through it, p95 of the difference (target: < 5 ms).
Loopback only, sequential requests, the engine and gateway stopped by PID at the end.

    .venv/bin/python bench/bench_streaming.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.demo_gemma import GEMMA_MODEL, ensure_gemma_artifact
from llm_platform.digest import digest_directory
from llm_platform.serving.engines import LaunchSettings, get_engine, launch_argv
from llm_platform.serving.metrics import TIME_TO_FIRST_TOKEN
from llm_platform.settings import Settings

PROMPT = "The history of the city of Paris begins"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout_s} s")


def streamed(client: httpx.Client, url: str, max_tokens: int) -> tuple[float, float]:
    """One streamed completion: (TTFT s, content chunks per second of the whole stream)."""
    body = {"prompt": PROMPT, "max_tokens": max_tokens, "stream": True, "temperature": 0}
    body["model"] = GEMMA_MODEL
    t0 = time.perf_counter()
    first, chunks, done = None, 0, False
    with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                continue
            choices = json.loads(data).get("choices") or [{}]
            if choices[0].get("text"):
                chunks += 1
                first = first if first is not None else time.perf_counter() - t0
    elapsed = time.perf_counter() - t0
    if first is None or not done:
        raise RuntimeError(f"bad stream from {url}: first={first} done={done}")
    return first, chunks / elapsed


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


def run(base: str, gateway: str, n: int, max_tokens: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("d_ttft", "d_rate", "g_ttft", "g_rate", "err")}
    direct_url = f"{base}/v1/completions"
    via_url = f"{gateway}/{GEMMA_MODEL}/v1/completions"
    with httpx.Client(trust_env=False, timeout=120) as client:
        streamed(client, direct_url, max_tokens)  # warm the prompt cache and both connections
        streamed(client, via_url, max_tokens)
        for i in range(2 * n):
            if i % 2 == 0:
                ttft, rate = streamed(client, direct_url, max_tokens)
                out["d_ttft"].append(ttft)
                out["d_rate"].append(rate)
                continue
            before = gateway_ttft_sum(client, gateway)
            ttft, rate = streamed(client, via_url, max_tokens)
            measured = gateway_ttft_sum(client, gateway) - before
            out["g_ttft"].append(ttft)
            out["g_rate"].append(rate)
            out["err"].append(abs(ttft - measured))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 requests per side of 6 tokens")
    args = parser.parse_args()
    n, max_tokens = (5, 6) if args.quick else (30, 32)

    artifact = ensure_gemma_artifact(Settings.from_env().home)
    port, gw_port = free_port(), free_port()
    settings = LaunchSettings(
        model=GEMMA_MODEL,
        version="1.0.0",
        revision="bench",
        artifact=artifact,
        digest=digest_directory(artifact).digest,
        port=port,
        context_size=1024,
    )
    engine = get_engine("llama-cpp")
    base, gateway = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{gw_port}"
    with tempfile.TemporaryDirectory() as tmp:
        routes = Path(tmp) / "routes.json"
        rev = {"revision": "bench", "version": "1.0.0", "url": base, "weight": 100}
        routes.write_text(json.dumps({"models": {GEMMA_MODEL: {"revisions": [rev]}}}))
        gw_argv = [sys.executable, "-m", "llm_platform.serving.gateway", "--routes", str(routes),
                   "--namespace", "bench", "--port", str(gw_port)]  # fmt: skip
        logs = {name: open(Path(tmp) / f"{name}.log", "wb") for name in ("engine", "gateway")}  # noqa: SIM115
        procs = [
            subprocess.Popen(
                argv, stdout=logs[name], stderr=subprocess.STDOUT, start_new_session=True
            )
            for name, argv in (
                ("engine", launch_argv(engine.name, settings, python=sys.executable)),
                ("gateway", gw_argv),
            )
        ]
        try:
            wait_ready(gateway + "/-/health", procs[1])
            wait_ready(base + engine.readiness_path, procs[0])
            out = run(base, gateway, n, max_tokens)
        except Exception:
            for name in logs:
                sys.stderr.write((Path(tmp) / f"{name}.log").read_text(errors="replace")[-2000:])
            raise
        finally:
            for proc in procs:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            for fh in logs.values():
                fh.close()

    d_ttft, g_ttft = statistics.median(out["d_ttft"]), statistics.median(out["g_ttft"])
    added = statistics.median(g - d for g, d in zip(out["g_ttft"], out["d_ttft"], strict=True))
    d_rate, g_rate = statistics.median(out["d_rate"]), statistics.median(out["g_rate"])
    print(
        f"llama.cpp serving {GEMMA_MODEL} Q4_K_M ({settings.threads} threads), {n} streamed "
        f"requests x {max_tokens} tokens per side, alternating direct / through the gateway"
    )
    print(f"  TTFT p50 direct:                 {d_ttft * 1000:8.2f} ms")
    print(f"  TTFT p50 through the gateway:    {g_ttft * 1000:8.2f} ms")
    print(f"  TTFT added (paired p50):         {added * 1000:8.2f} ms  (target < 2)")
    print(f"  output tokens/s p50 direct:      {d_rate:8.2f}")
    print(f"  output tokens/s p50 via gateway: {g_rate:8.2f}")
    print(f"  ratio gateway / direct tokens/s: {g_rate / d_rate:8.3f}     (target >= 0.95)")
    print(
        f"  gateway TTFT vs client-observed: p50 {statistics.median(out['err']) * 1000:.2f} ms, "
        f"p95 {p95(out['err']) * 1000:.2f} ms  (target p95 < 5)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
