"""The gateway's request contract: its cost per request, and what malformed requests do.

1. In process: the time to check a body (:func:`check_request`, for a small completion, a chat
   with tools and an 8 KiB prompt) vs the time to parse it with ``json.loads`` (what any relay
   reading the body pays), p50 of many runs; ratio check / parse.
2. Live, one run: a real engine (llama.cpp serving Gemma 3 270M; ``--quick``: the builtin demo
   model) behind one gateway. Sequential valid completions directly and through the gateway:
   p50 overhead (target < 1 ms, as ``bench_gateway.py``). Then the 24 malformed bodies of
   ``tests/helpers/contract_bodies.py`` (issue 18's list): how many got a 4xx, how much
   ``llm_requests_failed_total`` moved (target 0) and whether the engine still answers.

    .venv/bin/python bench/bench_contract.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from llm_platform.targets.local.processes import free_port

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR), str(BENCH_DIR.parent)]

from _engine import PROMPT, wait_ready  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from llm_platform.serving.metrics import REQUESTS_FAILED_TOTAL  # noqa: E402
from llm_platform.serving.request_contract import RequestPolicy, check_request  # noqa: E402
from tests.helpers.contract_bodies import MALFORMED  # noqa: E402

MODEL = "m"
_TOOLS = [{"type": "function", "function": {"name": f"tool{i}", "description": "d" * 40,
          "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}}
          for i in range(4)]  # fmt: skip
BODIES = {
    "completion": {"model": MODEL, "prompt": PROMPT, "max_tokens": 8, "temperature": 0},
    "chat+tools": {
        "model": MODEL,
        "max_tokens": 8,
        "tools": _TOOLS,
        "tool_choice": "auto",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": PROMPT},
        ],
    },  # fmt: skip
    "8KiB prompt": {"model": MODEL, "prompt": "word " * 1638, "max_tokens": 8},
}


def _p50_us(fn: object, body: bytes, n: int) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn(body)  # type: ignore[operator]
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(samples)


def in_process(n: int) -> None:
    policy = RequestPolicy.for_revision("llama-cpp", 2048)
    print(f"1. check vs parse, in process (p50 of {n}):")
    for name, obj in BODIES.items():
        body = json.dumps(obj).encode()
        kind = "chat" if "messages" in obj else "completions"
        check = _p50_us(lambda b, k=kind: check_request(b, k, MODEL, policy), body, n)  # type: ignore[misc]
        parse = _p50_us(json.loads, body, n)
        print(f"  {name:12s} {len(body):6d} B  check {check:7.1f} us  json.loads {parse:7.1f} us"
              f"  ratio {check / parse:4.1f}")  # fmt: skip


def _failed(gateway: str) -> float:
    text = httpx.get(gateway + "/metrics", timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == REQUESTS_FAILED_TOTAL and s.labels.get("model") == MODEL)  # fmt: skip


def _p50_ms(client: httpx.Client, url: str, n: int) -> float:
    body = json.dumps({**BODIES["completion"], "max_tokens": 1}).encode()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.post(url, content=body, headers={"content-type": "application/json"})
        samples.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    return statistics.median(samples)


def live(quick: bool, n: int, tmp: Path) -> None:
    from llm_platform.common.digest import digest_directory
    from llm_platform.demo.gemma import ensure_gemma_artifact
    from llm_platform.demo_model import build
    from llm_platform.serving.engines import LaunchSettings, get_engine, launch_argv
    from llm_platform.settings import Settings

    port, gw_port = free_port(), free_port()
    if quick:
        engine_name, artifact = "builtin", tmp / "tiny"
        build(artifact)
    else:
        engine_name, artifact = "llama-cpp", ensure_gemma_artifact(Settings.from_env().home)
    engine = get_engine(engine_name)
    settings = LaunchSettings(model=MODEL, version="1", revision="r1", artifact=artifact,
                              digest=digest_directory(artifact).digest, port=port,
                              context_size=1024)  # fmt: skip
    if quick:
        engine_argv = [sys.executable, "-m", "llm_platform.serving.model_server", "--artifact",
                       str(artifact), "--expected-digest", settings.digest, "--model", MODEL,
                       "--version", "1", "--revision", "r1", "--port", str(port)]  # fmt: skip
    else:
        engine_argv = launch_argv(engine_name, settings, python=sys.executable)
    base, gateway = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{gw_port}"
    routes = tmp / "routes.json"
    rev = {"revision": "r1", "version": "1", "url": base, "weight": 100, "engine": engine_name,
           "context_size": 1024}  # fmt: skip
    routes.write_text(json.dumps({"models": {MODEL: {"revisions": [rev]}}}))
    gw_argv = [sys.executable, "-m", "llm_platform.serving.gateway", "--routes", str(routes),
               "--namespace", "bench", "--port", str(gw_port)]  # fmt: skip
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen(a, start_new_session=True, **quiet) for a in (engine_argv, gw_argv)]
    try:
        wait_ready(gateway + "/-/health", procs[1])
        wait_ready(base + engine.readiness_path, procs[0])
        with httpx.Client(trust_env=False, timeout=120) as client:
            direct_url, via_url = base + "/v1/completions", f"{gateway}/{MODEL}/v1/completions"
            _p50_ms(client, direct_url, 5), _p50_ms(client, via_url, 5)  # warm-up
            direct, via = [], []
            for _ in range(3):  # alternate: machine noise hits both sides
                direct.append(_p50_ms(client, direct_url, n))
                via.append(_p50_ms(client, via_url, n))
            d50, g50 = statistics.median(direct), statistics.median(via)
            before = _failed(gateway)
            statuses = [
                client.post(f"{gateway}/{MODEL}{endpoint}", content=body).status_code
                for _, endpoint, body, _ in MALFORMED
            ]
            moved = _failed(gateway) - before
            alive = (
                procs[0].poll() is None
                and client.post(via_url, json=BODIES["completion"]).status_code == 200
            )
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    print(f"2. live, {engine_name} behind the gateway ({os.cpu_count()} CPUs, "
          f"sequential 1-token completions, 3 x {n}):")  # fmt: skip
    print(f"  p50 direct / via gateway: {d50:7.3f} / {g50:7.3f} ms")
    print(f"  p50 overhead (contract + relay): {g50 - d50:6.3f} ms (target < 1 ms) -> "
          f"{'PASS' if g50 - d50 < 1 else 'MISS'}")  # fmt: skip
    four = sum(1 for s in statuses if 400 <= s < 500)
    print(f"  {len(MALFORMED)} malformed requests: {four} got a 4xx; "
          f"llm_requests_failed_total moved by {moved:g} (target 0) -> "
          f"{'PASS' if moved == 0 and four == len(MALFORMED) else 'MISS'}; "
          f"engine alive afterwards: {alive}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="builtin engine, fewer requests")
    args = parser.parse_args()
    in_process(2000 if args.quick else 20000)
    with tempfile.TemporaryDirectory() as tmp:
        live(args.quick, 30 if args.quick else 100, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
