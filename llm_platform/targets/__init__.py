"""Deployment targets: the target-neutral runtime interface, and one package per target.

``base`` defines :class:`Runtime` and its models; ``local`` runs deployments as processes on this
machine; ``kubernetes`` renders and applies KServe manifests through the official client.
``registry`` is the table of targets (:class:`~llm_platform.targets.registry.TargetSpec`): what
each one does differently, read by every place that varies by target.
"""

from llm_platform.targets.base import (
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
