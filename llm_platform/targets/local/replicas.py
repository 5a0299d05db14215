"""How many server processes of a revision fit on this machine (local capacity bound).

A local model server holds its artifact about twice (file pages + loaded arrays) plus a fixed
overhead; the replicas a deployment asks for (``autoscaling.min_replicas``) are capped to what
available memory holds, and the cap is reported instead of failing later with OOM kills.
"""

from __future__ import annotations

from pathlib import Path

from llm_platform.targets.base import DeploymentSpec
from llm_platform.targets.local.state import ObservedState, replica_records

MIB = 1024 * 1024
#: Resident memory of one local model server beyond its artifact (interpreter, numpy, HTTP).
LOCAL_SERVER_OVERHEAD_BYTES = 256 * MIB


def local_server_bytes(artifact_bytes: int) -> int:
    """Memory one local model server of an artifact needs."""
    return LOCAL_SERVER_OVERHEAD_BYTES + 2 * artifact_bytes


def cap_replicas(requested: int, *, running: int, artifact_bytes: int, available: int) -> int:
    """The replicas that fit: those already running plus what available memory can start.

    Args:
        requested: replicas asked for (>= 1).
        running: replicas of this revision already running (their memory is already in use).
        artifact_bytes: size of the artifact.
        available: memory available now (bytes).

    Returns:
        Between 1 and ``requested`` (one server always runs: the rollout needs it).
    """
    startable = available // local_server_bytes(artifact_bytes)
    return max(1, min(requested, running + startable))


def directory_bytes(directory: Path) -> int:
    """Total size of the files under ``directory``."""
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def cap_spec(
    spec: DeploymentSpec, observed: ObservedState, sizes: dict[str, int], available: int
) -> tuple[DeploymentSpec, list[str]]:
    """``spec`` with each revision's replicas bounded by ``available`` memory, and warnings.

    Args:
        spec: the deployment as requested.
        observed: what runs now (running replicas already hold their memory).
        sizes: artifact size per revision name.
        available: memory available now (bytes).
    """
    warnings, revisions = [], []
    for rev in spec.revisions:
        records = replica_records(observed, spec.env, spec.model, rev)
        running = sum(1 for rec in records if rec.pid is not None)
        size = sizes[rev.revision]
        allowed = cap_replicas(
            rev.replicas, running=running, artifact_bytes=size, available=available
        )
        available -= max(0, allowed - running) * local_server_bytes(size)
        if allowed < rev.replicas:
            warnings.append(
                f"{rev.revision}: {rev.replicas} replicas requested, {allowed} run: each needs "
                f"{local_server_bytes(size) // MIB} MiB and local memory bounds the count"
            )
        revisions.append(rev.model_copy(update={"replicas": allowed}))
    return spec.model_copy(update={"revisions": revisions}), warnings
