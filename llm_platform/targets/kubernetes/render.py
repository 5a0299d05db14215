"""Render one deployment's manifests: the exact objects the Kubernetes runtime applies.

Pure: a :class:`DeploymentSpec`, the :class:`Placement` of the model in its environment and the
artifact file names in, manifest dicts out (``llm-platform manifests`` prints them).
"""

from __future__ import annotations

from typing import Any

import yaml

from llm_platform.targets.base import DeploymentSpec, InvalidDeploymentSpec, RevisionSpec
from llm_platform.targets.kubernetes import kserve, workloads
from llm_platform.targets.kubernetes.placement import Placement
from llm_platform.targets.kubernetes.pods import container_spec
from llm_platform.targets.kubernetes.sidecar import check_faults, serving_port
from llm_platform.targets.kubernetes.slo_rules import prometheus_rule

#: KServe keeps the latest and the previously rolled-out revision, no more.
KSERVE_MAX_REVISIONS = 2


def choose_latest(
    spec: DeploymentSpec, previous: DeploymentSpec | None, previous_latest: str | None
) -> RevisionSpec:
    """The revision KServe's predictor runs: the one added by this apply, else the current one.

    Args:
        spec: The new desired spec.
        previous: The spec applied before (None on the first apply).
        previous_latest: The predictor revision of the previous apply.

    Raises:
        InvalidDeploymentSpec: more than two revisions (KServe holds latest + previous).
    """
    if len(spec.revisions) > KSERVE_MAX_REVISIONS:
        raise InvalidDeploymentSpec(
            f"{spec.env}/{spec.model}: {len(spec.revisions)} revisions; an InferenceService "
            f"holds at most {KSERVE_MAX_REVISIONS} (latest and previous)"
        )
    if len(spec.revisions) == 1:
        return spec.revisions[0]
    known = {r.revision for r in previous.revisions} if previous else set()
    added = [r for r in spec.revisions if r.revision not in known]
    if len(added) == 1:
        return added[0]
    current = [r for r in spec.revisions if r.revision == previous_latest]
    return current[0] if current else spec.revisions[-1]


def render(
    spec: DeploymentSpec,
    placement: Placement,
    files: dict[str, tuple[str, ...]],
    *,
    latest: RevisionSpec | None = None,
) -> list[dict[str, Any]]:
    """Every manifest of ``spec`` in apply order (the storage container and runtimes before
    the objects using them; the model's SLO ``PrometheusRule`` last).

    Args:
        spec: The desired revisions.
        placement: The environment's and model's cluster settings.
        files: Each revision's artifact file paths.
        latest: KServe's predictor revision (default: :func:`choose_latest` without history).

    Raises:
        InvalidDeploymentSpec: the spec is not expressible by the environment's workload.
    """
    missing = sorted(r.revision for r in spec.revisions if r.revision not in files)
    if missing:
        raise InvalidDeploymentSpec(f"{spec.env}/{spec.model}: no artifact files for {missing}")
    check_faults(spec)
    rule = prometheus_rule(spec, placement)
    rules = [rule] if rule else []
    if placement.workload == "kserve":
        latest = latest or choose_latest(spec, None, None)
        engines = sorted({latest.engine, *(r.engine for r in spec.revisions)})
        return [
            kserve.storage_container(kserve.artifact_stores(spec)),
            *(kserve.serving_runtime(engine, placement.namespace) for engine in engines),
            kserve.inference_service(spec, placement, files, latest=latest),
            *rules,
        ]
    out: list[dict[str, Any]] = []
    for rev in spec.revisions:
        out.append(workloads.deployment(spec, rev, placement, files[rev.revision]))
        port = serving_port(rev.engine, container_spec(spec.model, rev, files[rev.revision]).port)
        out.append(workloads.revision_service(spec, rev, placement, port))
        if placement.autoscaling_enabled:
            out.append(workloads.autoscaler(spec, rev, placement))
    serving = workloads.serving_revision(spec)
    port = serving_port(
        serving.engine, container_spec(spec.model, serving, files[serving.revision]).port
    )
    out.append(workloads.model_service(spec, placement, port))
    return out + rules


class _PlainDumper(yaml.SafeDumper):
    """Writes shared sub-objects (e.g. one labels dict) out in full: no ``&id``/``*id`` aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def yaml_stream(manifests: list[dict[str, Any]]) -> str:
    """The manifests as one YAML stream (``---`` between documents, no aliases)."""
    return yaml.dump_all(manifests, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False)
