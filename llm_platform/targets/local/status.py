"""Build a :class:`DeploymentStatus` from desired and observed state (liveness checked now)."""

from __future__ import annotations

from llm_platform.targets.base import DeploymentStatus, RevisionStatus
from llm_platform.targets.local.processes import is_our_process, loopback_url
from llm_platform.targets.local.state import DesiredState, ObservedState, replica_records


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
    endpoint = f"{loopback_url(gateway.port)}/{model}" if gateway and gateway.port else None
    revisions: list[RevisionStatus] = []
    tagged = [(r, False) for r in dep.spec.revisions] + [(r, True) for r in dep.retiring]
    for rev, retiring in tagged:
        records = replica_records(observed, env, model, rev)
        alive = [r for r in records if is_our_process(r.pid, r.argv)]
        up = [r for r in alive if r.healthy]
        first = (up or alive)[0] if alive else None
        errors = [r.last_error for r in records if r.last_error]
        revisions.append(
            RevisionStatus(
                revision=rev.revision,
                version=rev.version,
                digest=rev.digest,
                color=rev.color,
                weight=rev.weight,
                url=loopback_url(first.port) if first else None,
                pid=first.pid if first else None,
                healthy=len(up) >= rev.replicas,
                restarts=sum(r.restarts for r in records),
                last_error=errors[0] if errors else None,
                retiring=retiring,
                replicas=rev.replicas,
                ready_replicas=len(up),
                urls=[loopback_url(r.port) for r in up],
                retire_at=rev.retire_at,
                gateway_url=f"{endpoint}@{rev.revision}" if endpoint else None,
            )
        )
    ready = gateway_ok and not dep.retiring and all(r.healthy for r in revisions if not r.retiring)
    return DeploymentStatus(
        env=env,
        model=model,
        revisions=revisions,
        endpoint=endpoint,
        ready=ready,
        warnings=dep.warnings,
    )
