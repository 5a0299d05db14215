"""Benchmark the capacity gate's maths on a large cluster snapshot.

Builds N GPU nodes and P running pods (Kubernetes JSON, as ``read_cluster`` returns them) and
times, over the same objects:
  (a) ours:     ``llm_platform.targets.kubernetes.capacity.check_fit`` (pods grouped by node once);
  (b) baseline: the per-node scan, ``node_free(node, all_pods)`` for every node, which reads
                every pod once per node (what a direct use of ``node_free`` does).
Prints baseline/ours.

Usage: .venv/bin/python bench/bench_capacity.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal
from typing import Any

from llm_platform.targets.kubernetes.capacity import GPU, check_fit, node_free


def snapshot(n_nodes: int, n_pods: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``n_nodes`` 8-GPU nodes and ``n_pods`` pods spread over them."""
    nodes = [
        {
            "metadata": {"name": f"gpu-{i:05d}", "labels": {"pool": "gpu"}},
            "spec": {"taints": [{"key": GPU, "effect": "NoSchedule"}]},
            "status": {
                "allocatable": {"cpu": "96", "memory": "1Ti", GPU: "8"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
        for i in range(n_nodes)
    ]
    pods = [
        {
            "metadata": {"name": f"p{j}", "namespace": "team"},
            "spec": {
                "nodeName": f"gpu-{j % n_nodes:05d}",
                "containers": [
                    {"name": "c", "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}}}
                ],
            },
            "status": {"phase": "Running"},
        }
        for j in range(n_pods)
    ]
    return nodes, pods


def baseline(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> int:
    """Free resources per node by scanning every pod for every node; count fitting nodes."""
    need = Decimal(24 * 1024**3)
    return sum(1 for n in nodes if node_free(n, pods).get("memory", Decimal(0)) >= need)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cluster")
    args = parser.parse_args()
    n_nodes, n_pods = (100, 2000) if args.quick else (400, 8000)
    nodes, pods = snapshot(n_nodes, n_pods)
    tolerations = [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]
    start = time.perf_counter()
    verdict = check_fit(
        nodes,
        pods,
        replicas=4,
        memory_bytes="24Gi",
        gpus=1,
        node_selector={"pool": "gpu"},
        tolerations=tolerations,
    )
    ours = time.perf_counter() - start
    start = time.perf_counter()
    fitting = baseline(nodes, pods)
    base = time.perf_counter() - start
    assert verdict.fits and fitting == n_nodes
    print(f"cluster: {n_nodes} nodes, {n_pods} pods")
    print(f"ours (check_fit):            {ours:8.3f} s")
    print(f"baseline (per-node scan):    {base:8.3f} s")
    print(f"baseline/ours: {base / ours:.1f}x")


if __name__ == "__main__":
    main()
