"""Build a :class:`DeploymentStatus` from desired and observed state (liveness checked now)."""

from __future__ import annotations

from llm_platform.runtime.base import DeploymentStatus, RevisionStatus
from llm_platform.runtime.processes import is_our_process
from llm_platform.runtime.state import DesiredState, ObservedState, revision_key


def deployment_status(
    desired: DesiredState, observed: ObservedState, env: str, model: str
) -> DeploymentStatus:
    """Status of one desired deployment.

    A revision counts as healthy only when its recorded process is still ours and alive and
    its last health check passed; the deployment is ready when the gateway is healthy, every
    desired revision is healthy and no replaced revision still carries traffic.

    Raises:
        KeyError: the deployment is not desired.
    """
    dep = desired.deployments[f"{env}/{model}"]
    gateway = observed.gateways.get(env)
    gateway_ok = (
        gateway is not None and gateway.healthy and is_our_process(gateway.pid, gateway.argv)
    )
    revisions: list[RevisionStatus] = []
    tagged = [(r, False) for r in dep.spec.revisions] + [(r, True) for r in dep.retiring]
    for rev, retiring in tagged:
        rec = observed.revisions.get(revision_key(env, model, rev.revision))
        alive = rec is not None and is_our_process(rec.pid, rec.argv)
        revisions.append(
            RevisionStatus(
                revision=rev.revision,
                version=rev.version,
                digest=rev.digest,
                color=rev.color,
                weight=rev.weight,
                url=f"http://127.0.0.1:{rec.port}" if rec and alive else None,
                pid=rec.pid if rec and alive else None,
                healthy=bool(rec and alive and rec.healthy),
                restarts=rec.restarts if rec else 0,
                last_error=rec.last_error if rec else None,
                retiring=retiring,
            )
        )
    endpoint = f"http://127.0.0.1:{gateway.port}/{model}" if gateway and gateway.port else None
    ready = gateway_ok and not dep.retiring and all(r.healthy for r in revisions if not r.retiring)
    return DeploymentStatus(
        env=env, model=model, revisions=revisions, endpoint=endpoint, ready=ready
    )
