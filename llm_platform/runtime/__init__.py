"""Serving runtimes: the target-neutral interface and the embedded local control plane.

``base`` defines :class:`Runtime` and its models; ``local`` runs deployments as processes on this
machine (desired state on disk, reconciled by ``controller``); ``stack`` manages the embedded
stack (Prometheus, gateways, controller) behind ``llm-platform stack up|down|status``.
"""

from llm_platform.runtime.base import (
    CapacityReport,
    DeploymentNotFound,
    DeploymentNotReady,
    DeploymentSpec,
    DeploymentStatus,
    EngineRefused,
    InvalidDeploymentSpec,
    RevisionSpec,
    RevisionStatus,
    Runtime,
)

__all__ = [
    "CapacityReport",
    "DeploymentNotFound",
    "DeploymentNotReady",
    "DeploymentSpec",
    "DeploymentStatus",
    "EngineRefused",
    "InvalidDeploymentSpec",
    "RevisionSpec",
    "RevisionStatus",
    "Runtime",
]
