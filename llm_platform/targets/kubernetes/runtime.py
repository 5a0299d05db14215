"""KubernetesRuntime: the :class:`Runtime` interface on a cluster, through the official client.

State lives in the cluster: the desired spec is an annotation of the model's InferenceService
(KServe) or Service (Deployment workload), so any process, any run, reads the same state.
Readiness is awaited by watching the model's objects; on the Deployment workload, revisions
dropped from the spec are deleted once the desired ones are ready (until then they serve).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from kubernetes.utils import parse_quantity

from llm_platform.targets.base import (
    CapacityReport,
    DeploymentNotFound,
    DeploymentNotReady,
    DeploymentSpec,
    DeploymentStatus,
    InvalidDeploymentSpec,
    RevisionStatus,
    Runtime,
)
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.api import KubernetesApiError
from llm_platform.targets.kubernetes.apply import Cluster
from llm_platform.targets.kubernetes.context import PlacementSource, artifact_lineage
from llm_platform.targets.kubernetes.kserve import ISVC_API_VERSION, kserve_runtime
from llm_platform.targets.kubernetes.observe import (
    LATEST_TAG,
    PREVIOUS_TAG,
    deployment_ready_replicas,
    isvc_problem,
    isvc_ready,
    isvc_urls,
    revision_status,
    service_url,
    spec_from,
    wanted_replicas,
)
from llm_platform.targets.kubernetes.render import choose_latest, render
from llm_platform.targets.kubernetes.slo_rules import (
    PROMETHEUS_RULE_API_VERSION,
    PROMETHEUS_RULE_KIND,
)
from llm_platform.targets.kubernetes.workloads import revision_object_name

#: The objects of each workload, in deletion order (HPA before its Deployment).
_RULES = (PROMETHEUS_RULE_API_VERSION, PROMETHEUS_RULE_KIND)
WORKLOAD_KINDS = {
    "kserve": [(ISVC_API_VERSION, "InferenceService"), _RULES],
    "deployment": [
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        _RULES,
    ],
}


class KubernetesRuntime(Runtime):
    """Deployments as KServe InferenceServices or Deployments + Services + HPAs.

    Args:
        cluster: API access (server-side apply, retries, RBAC errors).
        placements: The environment's and model's cluster settings.
    """

    def __init__(
        self,
        cluster: Cluster,
        placements: PlacementSource,
        *,
        env_clusters: Mapping[str, Cluster] | None = None,
    ) -> None:
        self.cluster = cluster
        self.placements = placements
        self.env_clusters = dict(env_clusters or {})

    def cluster_for(self, env: str) -> Cluster:
        """The API server of ``env``: its own (``LLM_PLATFORM_KUBECONFIG_<ENV>``) or the
        default one."""
        return self.env_clusters.get(env, self.cluster)

    def _clusters(self, env: str | None) -> list[Cluster]:
        """The clusters holding ``env``'s deployments, or every distinct one."""
        if env is not None:
            return [self.cluster_for(env)]
        distinct = {id(c): c for c in [self.cluster, *self.env_clusters.values()]}
        return list(distinct.values())

    # -- reading ----------------------------------------------------------------------------

    def _model_object(self, env: str, model: str) -> tuple[str, str, dict[str, Any] | None]:
        """(namespace, workload, the object holding the desired spec) of a deployment."""
        ns = self.placements.namespace(env)
        name = names.object_name(model)
        for workload, api_version, kind in (
            ("kserve", ISVC_API_VERSION, "InferenceService"),
            ("deployment", "v1", "Service"),
        ):
            obj = self.cluster_for(env).get(api_version, kind, ns, name)
            if obj is not None and spec_from(obj) is not None:
                return ns, workload, obj
        return ns, "", None

    def desired_spec(self, env: str, model: str) -> DeploymentSpec | None:
        """The spec last applied (from the cluster), or None."""
        return spec_from(self._model_object(env, model)[2])

    def status(self, env: str, model: str) -> DeploymentStatus | None:
        """Readiness and URLs as the cluster reports them now."""
        ns, workload, obj = self._model_object(env, model)
        spec = spec_from(obj)
        if obj is None or spec is None:
            return None
        return self._observe(ns, workload, obj, spec)

    def _observe(
        self, ns: str, workload: str, obj: dict[str, Any], spec: DeploymentSpec
    ) -> DeploymentStatus:
        revisions: list[RevisionStatus] = []
        if workload == "kserve":
            latest = obj["metadata"].get("labels", {}).get(names.REVISION)
            urls, ready = isvc_urls(obj), int(isvc_ready(obj))
            problem = None if ready else isvc_problem(obj)
            for rev in spec.revisions:
                url = urls.get(LATEST_TAG if rev.revision == latest else PREVIOUS_TAG)
                revisions.append(
                    revision_status(rev, url=url, ready=ready, wanted=1, error=problem)
                )
            base = urls.get("")
            prefix = kserve_runtime(next(r.engine for r in spec.revisions)).openai_prefix
            endpoint = f"{base}{prefix}" if base else None
        else:
            for rev in spec.revisions:
                name = revision_object_name(spec.model, rev)
                dep = self.cluster_for(spec.env).get("apps/v1", "Deployment", ns, name)
                ready, wanted = deployment_ready_replicas(dep), wanted_replicas(dep)
                error = "the Deployment does not exist" if dep is None else "pods not ready"
                url = service_url(name, ns)
                revisions.append(
                    revision_status(rev, url=url, ready=ready, wanted=wanted, error=error)
                )
            endpoint = service_url(names.object_name(spec.model), ns)
        return DeploymentStatus(
            env=spec.env,
            model=spec.model,
            revisions=revisions,
            endpoint=endpoint,
            ready=all(r.healthy for r in revisions),
        )

    def list_deployments(self, env: str | None = None) -> list[DeploymentStatus]:
        """Every deployment the platform manages (of ``env``'s namespace when given)."""
        ns = self.placements.namespace(env) if env else None
        labels = {names.MANAGED_BY: names.MANAGER} | ({names.ENVIRONMENT: env} if env else {})
        out: dict[tuple[str, str], DeploymentStatus] = {}
        for cluster in self._clusters(env):
            for workload, api_version, kind in (
                ("kserve", ISVC_API_VERSION, "InferenceService"),
                ("deployment", "v1", "Service"),
            ):
                for obj in cluster.list(api_version, kind, ns, labels):
                    spec = spec_from(obj)
                    # Each environment's deployments count on its own cluster only.
                    if spec is not None and self.cluster_for(spec.env) is cluster:
                        ns_of = obj["metadata"]["namespace"]
                        out[(spec.env, spec.model)] = self._observe(ns_of, workload, obj, spec)
        return [out[key] for key in sorted(out)]

    # -- changing ---------------------------------------------------------------------------

    def apply(self, spec: DeploymentSpec) -> DeploymentStatus:
        """Render the spec for the environment's workload and server-side apply every object.

        Raises:
            InvalidDeploymentSpec: the artifact's record cannot be read, the configs are
                invalid, or the workload cannot express the spec (nothing was applied).
            KubernetesApiError: the API server refused (403 as :class:`RbacDenied`).
        """
        shadow = [r.revision for r in spec.revisions if r.shadow_percent > 0]
        if shadow:
            raise InvalidDeploymentSpec(
                f"{spec.env}/{spec.model}: shadow traffic to {shadow[0]} needs the platform "
                "gateway in front of every revision (the local target); KServe cannot mirror"
            )
        lineage = {r.revision: artifact_lineage(r) for r in spec.revisions}
        ns, workload, current = self._model_object(spec.env, spec.model)
        previous = spec_from(current)
        prev_latest = ((current or {}).get("metadata") or {}).get("labels", {}).get(names.REVISION)
        newest = choose_latest(spec, previous, prev_latest) if len(spec.revisions) <= 2 else None
        commit = lineage[(newest or spec.revisions[0]).revision].commit
        placement = self.placements.placement(spec.env, spec.model, commit)
        if current is not None and workload != placement.workload:
            raise InvalidDeploymentSpec(
                f"{spec.env}/{spec.model} runs as {workload}; kubernetes.workload is now "
                f"{placement.workload}: delete the deployment first to switch"
            )
        files = {name: item.files for name, item in lineage.items()}
        manifests = render(spec, placement, files, latest=newest)
        cluster = self.cluster_for(spec.env)
        applied = [self._apply(cluster, m) for m in manifests]
        holder = next(
            m for m in reversed(applied) if m.get("kind") in ("InferenceService", "Service")
        )
        return self._observe(placement.namespace, placement.workload, holder, spec)

    def _apply(self, cluster: Cluster, manifest: dict[str, Any]) -> dict[str, Any]:
        try:
            return cluster.apply(manifest)
        except KubernetesApiError as exc:
            # No prometheus-operator CRD in this cluster: the workload still deploys and the
            # scheduled SLO re-check still judges it (RBAC refusals and other errors raise).
            if manifest["kind"] == PROMETHEUS_RULE_KIND and exc.status == 404:
                return manifest
            raise

    def set_weights(self, env: str, model: str, weights: dict[str, int]) -> DeploymentStatus:
        """Shift traffic (canaryTrafficPercent, or the Service's color); refuses to route to a
        revision that is not ready.

        Raises:
            DeploymentNotFound: no such deployment.
            InvalidDeploymentSpec: unknown revisions, bad weights, an unready target, or a
                split the workload cannot express.
        """
        status, spec = self.status(env, model), self.desired_spec(env, model)
        if status is None or spec is None:
            raise DeploymentNotFound(f"{env}/{model}: no such deployment")
        known = {r.revision for r in spec.revisions}
        unknown = sorted(set(weights) - known)
        if unknown:
            raise InvalidDeploymentSpec(
                f"{env}/{model}: unknown revisions {unknown} (have {known})"
            )
        if any(not 0 <= w <= 100 for w in weights.values()) or sum(weights.values()) != 100:
            raise InvalidDeploymentSpec(f"{env}/{model}: weights must be 0..100 summing to 100")
        healthy = {r.revision for r in status.revisions if r.healthy}
        for name, weight in weights.items():
            if weight > 0 and name not in healthy:
                raise InvalidDeploymentSpec(
                    f"{env}/{model}: revision {name} is not ready; refusing to route traffic to it"
                )
        revisions = [
            r.model_copy(
                update={"weight": weights.get(r.revision, 0)}
                | ({"retire_at": None} if weights.get(r.revision, 0) > 0 else {})
            )
            for r in spec.revisions
        ]
        return self.apply(DeploymentSpec(env=env, model=model, revisions=revisions))

    def wait_ready(self, env: str, model: str, *, timeout_s: float) -> DeploymentStatus:
        """Watch the model's objects until every revision is ready (then prune dropped ones).

        Raises:
            DeploymentNotFound: the deployment does not exist.
            DeploymentNotReady: not ready within ``timeout_s``; names what is not ready.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            ns, workload, obj = self._model_object(env, model)
            spec = spec_from(obj)
            if obj is None or spec is None:
                raise DeploymentNotFound(f"{env}/{model}: no such deployment")
            status = self._observe(ns, workload, obj, spec)
            if status.ready:
                if workload == "deployment":
                    self._prune(ns, spec)
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waiting = [
                    f"{r.revision} ({r.ready_replicas}/{r.replicas} ready: {r.last_error})"
                    for r in status.revisions
                    if not r.healthy
                ]
                raise DeploymentNotReady(
                    f"{env}/{model}: not ready after {timeout_s:g}s in namespace {ns}: "
                    + "; ".join(waiting)
                )
            api_version, kind = (
                (ISVC_API_VERSION, "InferenceService")
                if workload == "kserve"
                else ("apps/v1", "Deployment")
            )
            labels = names.model_labels(env, model)
            watch = self.cluster_for(env).watch
            for seen in watch(api_version, kind, ns, labels, timeout_s=remaining):
                if _progressed(workload, seen):
                    break

    def _prune(self, ns: str, spec: DeploymentSpec) -> None:
        keep = {r.revision for r in spec.revisions}
        labels = names.model_labels(spec.env, spec.model)
        cluster = self.cluster_for(spec.env)
        for api_version, kind in WORKLOAD_KINDS["deployment"]:
            for obj in cluster.list(api_version, kind, ns, labels):
                revision = obj["metadata"].get("labels", {}).get(names.REVISION)
                if revision is not None and revision not in keep:
                    cluster.delete(api_version, kind, ns, obj["metadata"]["name"])

    def delete(self, env: str, model: str) -> None:
        """Delete every object of the deployment.

        Raises:
            DeploymentNotFound: nothing of it exists.
        """
        ns, workload, obj = self._model_object(env, model)
        if obj is None:
            raise DeploymentNotFound(f"{env}/{model}: no such deployment")
        labels = names.model_labels(env, model)
        cluster = self.cluster_for(env)
        for api_version, kind in WORKLOAD_KINDS[workload]:
            for item in cluster.list(api_version, kind, ns, labels):
                cluster.delete(api_version, kind, ns, item["metadata"]["name"])

    def capacity(self) -> CapacityReport:
        """Allocatable memory of the cluster's nodes (per-node GPU fit is the gate's check)."""
        nodes = self.cluster.list("v1", "Node", None, {})
        total = sum(
            int(parse_quantity((n.get("status") or {}).get("allocatable", {}).get("memory", "0")))
            for n in nodes
        )
        return CapacityReport(
            memory_total_bytes=total,
            memory_available_bytes=total,
            gpus_enforced=True,
            detail=f"kubernetes: {len(nodes)} nodes; the scheduler enforces GPU and memory "
            "requests",
        )


def _progressed(workload: str, obj: dict[str, Any]) -> bool:
    """Whether a watched object might have made the deployment ready (re-check then)."""
    if workload == "kserve":
        return isvc_ready(obj)
    return deployment_ready_replicas(obj) >= wanted_replicas(obj)
