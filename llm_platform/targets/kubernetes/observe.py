"""Pure readings of cluster objects: readiness, URLs and the runtime's status models.

KServe reports readiness in ``status.conditions`` (``Ready``) and, with tag routing, one URL
per revision in ``status.components.predictor.traffic`` (tags ``latest`` / ``prev``). A
Deployment is ready when its observed generation is current and every wanted replica is
updated and ready. Both ignore generations the server does not report.
"""

from __future__ import annotations

from typing import Any

from llm_platform.targets.base import DeploymentSpec, RevisionSpec, RevisionStatus
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.workloads import SERVICE_PORT

LATEST_TAG, PREVIOUS_TAG = "latest", "prev"


def _generation_current(obj: dict[str, Any]) -> bool:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or observed is None or observed >= generation


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The status condition of type ``kind`` (None when absent)."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def isvc_ready(isvc: dict[str, Any]) -> bool:
    """``Ready`` is True for the current generation and the latest revision is the ready one."""
    ready = condition(isvc, "Ready")
    predictor = ((isvc.get("status") or {}).get("components") or {}).get("predictor") or {}
    created, latest = predictor.get("latestCreatedRevision"), predictor.get("latestReadyRevision")
    return (
        ready is not None
        and ready.get("status") == "True"
        and _generation_current(isvc)
        and (created is None or created == latest)
    )


def isvc_problem(isvc: dict[str, Any] | None) -> str:
    """Why an InferenceService is not ready: its conditions and KServe's model failure."""
    if isvc is None:
        return "the InferenceService does not exist"
    status = isvc.get("status") or {}
    bad = [
        f"{c.get('type')}={c.get('status')}"
        + (f" ({c.get('reason')}: {c.get('message')})" if c.get("message") else "")
        for c in status.get("conditions") or []
        if c.get("status") != "True"
    ]
    # KServe puts a failed storage initializer's message (e.g. a digest mismatch) here only.
    failure = (status.get("modelStatus") or {}).get("lastFailureInfo") or {}
    if failure.get("message"):
        bad.append(f"model {failure.get('reason')}: {failure['message']}")
    return "; ".join(bad) or "no Ready condition reported yet"


def isvc_urls(isvc: dict[str, Any]) -> dict[str, str]:
    """URL per traffic tag (``latest``, ``prev``), plus ``""`` for the service URL."""
    status = isvc.get("status") or {}
    predictor = (status.get("components") or {}).get("predictor") or {}
    urls = {
        t["tag"]: t["url"] for t in predictor.get("traffic") or [] if t.get("tag") and t.get("url")
    }
    if predictor.get("url"):
        urls.setdefault(LATEST_TAG, predictor["url"])
    if status.get("url"):
        urls[""] = status["url"]
    return urls


def deployment_ready_replicas(dep: dict[str, Any] | None) -> int:
    """Replicas that are updated and ready (0 while a rollout of a new generation is pending)."""
    if dep is None or not _generation_current(dep):
        return 0
    status = dep.get("status") or {}
    return min(int(status.get("readyReplicas") or 0), int(status.get("updatedReplicas") or 0))


def wanted_replicas(dep: dict[str, Any] | None) -> int:
    """The Deployment's replica count (1 when the HPA has not set one)."""
    spec = (dep or {}).get("spec") or {}
    return int(spec.get("replicas") or 1)


def service_url(name: str, namespace: str) -> str:
    """The in-cluster URL of a Service."""
    return f"http://{name}.{namespace}.svc:{SERVICE_PORT}"


def revision_status(
    rev: RevisionSpec, *, url: str | None, ready: int, wanted: int, error: str | None
) -> RevisionStatus:
    """The runtime's status model of one revision."""
    return RevisionStatus(
        revision=rev.revision,
        version=rev.version,
        digest=rev.digest,
        color=rev.color,
        weight=rev.weight,
        url=url if ready else None,
        pid=None,
        healthy=ready >= wanted,
        restarts=0,
        last_error=None if ready >= wanted else error,
        replicas=wanted,
        ready_replicas=ready,
        urls=[url] if url and ready else [],
        retire_at=rev.retire_at,
    )


def spec_from(obj: dict[str, Any] | None) -> DeploymentSpec | None:
    """The desired spec stored on the object (None when absent)."""
    raw = ((obj or {}).get("metadata") or {}).get("annotations", {}).get(names.DESIRED_SPEC)
    return DeploymentSpec.model_validate_json(raw) if raw else None
