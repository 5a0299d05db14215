"""A normal request's latency while abusive clients are in progress vs with no abuse, same run.

One model server (demo model) behind one gateway, both with their default limits. A normal
client sends sequential completions (``max_tokens`` 8) through the gateway: first with no
abuse, then while a separate process keeps, at all times,
  * 3 slow-header connections open (one header line every 0.5 s; reopened when the gateway
    closes them with 408 after its header timeout), and
  * one oversized prompt in progress: alternately a 50 MB body (refused with 413 as soon as
    its Content-Length is read) and a prompt just under the 1 MiB body limit that reaches the
    model server (refused with 400 once counted against the model's max sequence length),
then with no abuse again. Prints p50/p95 of each phase and the ratio under abuse / baseline
(baseline = the mean of the phases before and after, which brackets machine noise).

    .venv/bin/python bench/bench_abuse.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from llm_platform.targets.local.processes import free_port

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_gateway import PAYLOAD, latency_samples, wait_port  # noqa: E402

SLOW_CONNECTIONS = 3
HEAD = b"POST /tiny/v1/completions HTTP/1.1\r\nhost: bench\r\n"


def _slow_headers(port: int, stop: Any, closed: Any) -> None:
    """Keep one slow-header connection open; count the times the gateway closed it."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(HEAD)
                n = 0
                while not stop.wait(0.5):
                    sock.sendall(b"x-slow-%d: 1\r\n" % n)
                    n += 1
        except OSError:  # closed by the gateway (408 after its header timeout)
            with closed.get_lock():
                closed.value += 1


def _send_big(port: int, declared: int, body: bytes) -> int:
    """Send a request declaring ``declared`` bytes; returns the response status (0: none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(HEAD + b"content-type: application/json\r\ncontent-length: %d\r\n\r\n"
                     % declared)  # fmt: skip
        sock.settimeout(0.2)
        try:
            data = sock.recv(4096)  # a declared size over the limit is refused at once
        except TimeoutError:
            data = b""
        sock.settimeout(30)
        if data.startswith(b"HTTP/1.1 "):
            return int(data.split(b" ", 2)[1])
        try:
            for i in range(0, len(body), 65536):
                sock.sendall(body[i : i + 65536])
        except OSError:
            pass  # the server answered and closed before the whole body was sent
        try:
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return 0
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def _oversized(port: int, stop: Any, statuses: Any, ready: Any) -> None:
    """One oversized prompt in progress at all times (50 MB, then just under 1 MiB, ...)."""
    huge = json.dumps({"model": "tiny", "prompt": "a" * 50_000_000}).encode()
    near_limit = json.dumps({"model": "tiny", "prompt": "a" * 1_040_000}).encode()
    while not stop.is_set():
        for body in (huge, near_limit):
            status = _send_big(port, len(body), body)
            with statuses.get_lock():
                statuses[{413: 0, 400: 1}.get(status, 2)] += 1
            ready.set()


def abuse(port: int, stop: Any, closed: Any, statuses: Any, ready: Any) -> None:
    """The abusive clients (runs in its own process so it does not slow the measuring one)."""
    threads = [threading.Thread(target=_slow_headers, args=(port, stop, closed), daemon=True)
               for _ in range(SLOW_CONNECTIONS)]  # fmt: skip
    threads.append(
        threading.Thread(target=_oversized, args=(port, stop, statuses, ready), daemon=True)
    )
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(timeout=35)


async def _latency(url: str, seconds: float) -> tuple[float, float, int]:
    """Sequential completions for ``seconds``; returns (p50 ms, p95 ms, count)."""
    end = time.perf_counter() + seconds
    body = json.dumps(PAYLOAD).encode()
    return await latency_samples(url, body, lambda _: time.perf_counter() < end)


def measure(url: str, seconds: float) -> tuple[float, float, int]:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_latency(url, seconds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter phases")
    args = parser.parse_args()
    seconds = 4.0 if args.quick else 15.0
    from llm_platform.common.digest import digest_directory
    from llm_platform.demo_model import build

    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "tiny"
        build(artifact)
        digest = digest_directory(artifact).digest
        try:
            sport = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "llm_platform.serving.model_server", "--artifact",
                 str(artifact), "--expected-digest", digest, "--model", "tiny", "--version",
                 "1.0.0", "--revision", "r1", "--port", str(sport)],
                stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            routes = Path(tmp) / "routes.json"
            rev = {"revision": "r1", "version": "1.0.0", "color": "blue", "weight": 100,
                   "url": f"http://127.0.0.1:{sport}"}  # fmt: skip
            routes.write_text(json.dumps({"models": {"tiny": {"revisions": [rev]}}}))
            gport = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "llm_platform.serving.gateway", "--routes", str(routes),
                 "--namespace", "bench", "--port", str(gport)],
                stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            wait_port(sport, procs[0])
            wait_port(gport, procs[1])
            url = f"http://127.0.0.1:{gport}/tiny"
            print(f"{os.cpu_count()} CPUs; sequential completions (max_tokens 8) for "
                  f"{seconds:g} s per phase")  # fmt: skip
            measure(url, 1.0)  # warm-up
            before = measure(url, seconds)
            ctx = mp.get_context("fork")  # no event loop or thread is running here
            stop, ready, closed = ctx.Event(), ctx.Event(), ctx.Value("i", 0)
            statuses = ctx.Array("i", 3)
            abuser = ctx.Process(target=abuse, args=(gport, stop, closed, statuses, ready))
            abuser.start()
            if not ready.wait(60):  # slow connections open, first oversized prompt answered
                raise RuntimeError("the abusive clients did not start within 60 s")
            under = measure(url, seconds)
            stop.set()
            abuser.join(timeout=60)
            after = measure(url, seconds)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=10)
    base50, base95 = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    for name, (p50, p95, count) in (("no abuse (before)", before), ("under abuse", under),
                                    ("no abuse (after)", after)):  # fmt: skip
        print(f"  {name:18} p50 {p50:7.3f} ms  p95 {p95:7.3f} ms  ({count} requests)")
    print(
        f"  abuse: {statuses[0]} x 413 (50 MB), {statuses[1]} x 400 (prompt > context), "
        f"{statuses[2]} other; slow-header connections closed by the gateway: {closed.value}"
    )
    r50, r95 = under[0] / base50, under[1] / base95
    print(f"ratio under abuse / baseline: p50 {r50:.2f}x, p95 {r95:.2f}x")


if __name__ == "__main__":
    main()
