"""Shadow traffic's cost to clients: client latency with the gateway copying every request to a
candidate revision vs without, on the same deployment in the same run.

One embedded stack (LocalRuntime: controller, production gateway, two builtin model servers of
the demo model). Phases alternate off / on (``shadow_percent`` 100 on the idle revision, applied
through the runtime like the shadow strategy does), each a burst of sequential client
completions through the gateway; the alternation spreads the machine's load drift over both.
Reported: client p50 / p95 with shadow off and on, their ratios, and how many pairs the gateway
recorded (every copy is paired; none reaches a client). Loopback only, bounded; every process
stopped by PID at the end.

    .venv/bin/python bench/bench_shadow.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from llm_platform.common.digest import digest_directory
from llm_platform.targets.base import DeploymentSpec, RevisionSpec
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.stack import stack_down, stack_up

EXAMPLE = Path(__file__).resolve().parents[1] / "examples/models-repo/weights/tiny-shakespeare"
ENV, MODEL = "production", "bench-shadow"


def revisions(art: Path, digest: str, shadow: int) -> list[RevisionSpec]:
    """Production at 100 % and the candidate at 0 %, copied ``shadow`` percent."""
    base = {"version": "1.0.0", "digest": digest, "artifact_uri": art.as_uri()}
    return [
        RevisionSpec(revision="blue", color="blue", weight=100, **base),  # type: ignore[arg-type]
        RevisionSpec(revision="green", color="green", weight=0, shadow_percent=shadow, **base),  # type: ignore[arg-type]
    ]


def burst(client: httpx.Client, url: str, n: int) -> list[float]:
    """``n`` sequential greedy completions; client-observed seconds each."""
    body = {"model": MODEL, "prompt": "Shall I", "max_tokens": 4, "temperature": 0}
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.post(f"{url}/v1/completions", json=body).raise_for_status()
        out.append(time.perf_counter() - t0)
    return out


def p95(values: list[float]) -> float:
    """95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[int(0.95 * (len(ordered) - 1))]


def main() -> None:
    """Run the phases and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 phases of 150 instead of 8 x 400")
    args = parser.parse_args()
    phases, per = (4, 150) if args.quick else (8, 400)
    home = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
    art = home / "artifact"
    shutil.copytree(EXAMPLE, art)
    digest = digest_directory(art).digest
    try:
        stack_up(home, envs=(ENV,), prometheus_port=0, gateway_base_port=0)
        runtime = LocalRuntime(home)
        spec = DeploymentSpec(env=ENV, model=MODEL, revisions=revisions(art, digest, 0))
        status = runtime.apply(spec)
        runtime.wait_ready(ENV, MODEL, timeout_s=60)
        endpoint = status.endpoint or runtime.status(ENV, MODEL).endpoint  # type: ignore[union-attr]
        assert endpoint is not None
        gateway = endpoint.rsplit("/", 1)[0]
        lat: dict[bool, list[float]] = {False: [], True: []}
        with httpx.Client(trust_env=False, timeout=30) as client:
            burst(client, endpoint, 50)  # warm-up
            for i in range(phases):
                on = i % 2 == 1
                runtime.apply(
                    DeploymentSpec(
                        env=ENV, model=MODEL, revisions=revisions(art, digest, 100 if on else 0)
                    )
                )
                time.sleep(1.0)  # the gateway reloads its routes file
                lat[on] += burst(client, endpoint, per)
            time.sleep(1.0)
            pairs = httpx.get(f"{gateway}/-/shadow/{MODEL}", trust_env=False).json()["pairs"]
    finally:
        stack_down(home)
        shutil.rmtree(home, ignore_errors=True)
    off50, on50 = statistics.median(lat[False]), statistics.median(lat[True])
    off95, on95 = p95(lat[False]), p95(lat[True])
    print(f"shadow off: p50 {off50 * 1000:.2f} ms, p95 {off95 * 1000:.2f} ms ({len(lat[False])})")
    print(f"shadow on : p50 {on50 * 1000:.2f} ms, p95 {on95 * 1000:.2f} ms ({len(lat[True])})")
    print(f"ratio on/off: p50 {on50 / off50:.2f}x, p95 {on95 / off95:.2f}x")
    matched = [p["outputs_match"] for p in pairs if p["outputs_match"] is not None]
    print(
        f"pairs recorded: {len(pairs)} (copies sent while on: {len(lat[True])}); "
        f"identical greedy outputs: {sum(matched)}/{len(matched)}"
    )


if __name__ == "__main__":
    main()
