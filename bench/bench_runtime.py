"""Local runtime overhead: apply->ready vs starting a model server by hand; reconcile pass cost.

Baseline (same run): spawn the model server directly and poll its /health until 200. The
runtime adds desired-state bookkeeping, the gateway route update and the wait until the gateway
serves the new route. Also measured: a no-op reconcile pass with N deployments (the controller's
steady-state cost per tick) and a traffic switch (``set_weights`` until the gateway serves it).

Run: ``.venv/bin/python bench/bench_runtime.py [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from llm_platform.common.digest import digest_directory
from llm_platform.targets.base import DeploymentSpec, RevisionSpec
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.processes import free_port, http_ok, stop_process
from llm_platform.targets.local.stack import stack_down


def rev(name: str, digest: str, art: Path, weight: int, color: str) -> RevisionSpec:
    return RevisionSpec(
        revision=name,
        version="1.0.0",
        digest=digest,
        artifact_uri=art.as_uri(),
        color=color,
        weight=weight,
    )  # type: ignore[arg-type]


def direct_start(art: Path, digest: str) -> float:
    """Seconds from spawning a model server by hand to its first healthy /health."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "llm_platform.serving.model_server",
        "--artifact",
        str(art),
        "--expected-digest",
        digest,
        "--model",
        "b",
        "--version",
        "1",
        "--revision",
        "r1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not http_ok(f"http://127.0.0.1:{port}/health", timeout_s=0.5):
        time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    proc.terminate()
    proc.wait(timeout=10)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    reps = 2 if args.quick else 5
    n_deployments = 2 if args.quick else 6
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        from llm_platform.demo_model import build

        art = root / "art"
        build(art)
        digest = digest_directory(art).digest
        home = root / "home"
        runtime = LocalRuntime(home)
        try:
            runtime.ensure_environments(["staging"])  # gateway start is not part of apply
            direct, applied = [], []

            def deploy(i: int) -> None:
                """Apply model ``m{i}`` at one stable revision and wait until it serves."""
                runtime.apply(
                    DeploymentSpec(
                        env="staging",
                        model=f"m{i}",
                        revisions=[rev("r1", digest, art, 100, "stable")],
                    )
                )
                runtime.wait_ready("staging", f"m{i}", timeout_s=60)

            for i in range(reps):
                direct.append(direct_start(art, digest))
                t0 = time.perf_counter()
                deploy(i)
                applied.append(time.perf_counter() - t0)
            for i in range(reps, n_deployments):
                deploy(i)
            passes = []
            for _ in range(10):
                t0 = time.perf_counter()
                runtime.reconcile()
                passes.append(time.perf_counter() - t0)

            runtime.apply(
                DeploymentSpec(
                    env="staging",
                    model="bg",
                    revisions=[
                        rev("r1", digest, art, 100, "blue"),
                        rev("r2", digest, art, 0, "green"),
                    ],
                )
            )
            status = runtime.wait_ready("staging", "bg", timeout_s=60)
            switches = []
            for i in range(reps):
                target = {"r1": 0, "r2": 100} if i % 2 == 0 else {"r1": 100, "r2": 0}
                t0 = time.perf_counter()
                runtime.set_weights("staging", "bg", target)
                switches.append(time.perf_counter() - t0)
            body = b'{"model":"bg","prompt":"a","max_tokens":1}'
            req = urllib.request.Request(
                f"{status.endpoint}/v1/completions",
                data=body,
                headers={"content-type": "application/json"},
            )
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(req, timeout=5) as resp:
                assert resp.status == 200
        finally:
            stack_down(home)
            for rec in runtime.store.load_observed().revisions.values():
                stop_process(rec.pid, rec.argv)

    d, a = statistics.median(direct), statistics.median(applied)
    print(f"model server started by hand -> healthy: median {d * 1000:.0f} ms ({reps} runs)")
    print(f"runtime apply -> wait_ready (routed):    median {a * 1000:.0f} ms ({reps} runs)")
    print(f"ratio apply/direct: {a / d:.2f}x")
    p = statistics.median(passes)
    print(
        f"no-op reconcile pass with {n_deployments} deployments: median {p * 1000:.1f} ms "
        f"({p / d * 100:.1f}% of one server start)"
    )
    s = statistics.median(switches)
    print(
        f"set_weights until the gateway serves the split: median {s * 1000:.0f} ms "
        f"(gateway routes poll interval 100 ms)"
    )


if __name__ == "__main__":
    main()
