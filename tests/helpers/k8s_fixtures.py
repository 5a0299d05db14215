"""A models-repo checkout, a registered artifact, revisions and placements for the Kubernetes
target's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llm_platform.artifact_store import LocalDirStore, ModelRegistry, RegistryRecord
from llm_platform.targets.base import RevisionSpec
from llm_platform.targets.kubernetes.placement import Placement
from tests.helpers.config_fixtures import env_dict, model_dict, to_yaml
from tests.helpers.gguf_fixtures import write_gguf
from tests.helpers.registry_fixtures import record_meta

MODEL = "llama-3-1-8b"
COMMIT = "c0ffee"
DIGEST_A, DIGEST_B = "a" * 64, "b" * 64
STORE = "s3://bucket/registry"

#: staging: KServe with canary; production: Deployment + Service + HPA with blue-green.
STAGING: dict[str, Any] = env_dict(
    deployment={"strategy": "canary", "canary_percentage": 10},
    resources={"default_limits": {"memory_multiplier": 1.5, "gpu_multiplier": 2.0}},
)
PRODUCTION: dict[str, Any] = env_dict(
    environment="production",
    namespace="llm-prod",
    cluster={"gpu_node_selector": {"node-type": "gpu-a100", "pool": "serving"}},
    autoscaling={"enabled": True, "min_replicas": 2, "max_replicas": 6},
    deployment={"strategy": "blue-green", "max_surge": "25%", "max_unavailable": 0},
    kubernetes={"workload": "deployment"},
)


def write_checkout(root: Path, *, model: dict[str, Any] | None = None) -> Path:
    """A models repo checkout with ``MODEL`` and the staging + production environments."""
    (root / "models" / MODEL).mkdir(parents=True)
    data = model or model_dict(resources={"memory_gb": 16, "gpu_count": 1})
    (root / "models" / MODEL / "model.yaml").write_bytes(to_yaml(data))
    (root / "config").mkdir()
    (root / "config" / "staging.yaml").write_bytes(to_yaml(STAGING))
    (root / "config" / "production.yaml").write_bytes(to_yaml(PRODUCTION))
    return root


def register_gguf(
    store_root: Path,
    work: Path,
    *,
    version: str = "1.0.0",
    seed: int = 0,
    name: str = MODEL,
    commit: str = COMMIT,
) -> RegistryRecord:
    """Register a well-formed GGUF artifact (of ``name``, from ``commit``); returns the record."""
    src = work / f"gguf-{seed}"
    write_gguf(src / "model.gguf", metadata={"general.name": f"m{seed}"})
    registry = ModelRegistry(LocalDirStore(store_root))
    meta = record_meta(str(src)) | {"commit_sha": commit}
    return registry.register(src, name=name, version=version, **meta).record  # type: ignore[arg-type]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The manifests of one kind."""
    return [d for d in docs if d["kind"] == kind]


def revision(
    name: str, digest: str, weight: int, color: str, engine: str = "llama-cpp"
) -> RevisionSpec:
    """A revision of model ``m`` 1.0.0 whose artifact lives in :data:`STORE`."""
    return RevisionSpec(
        revision=name,
        version="1.0.0",
        digest=digest,
        artifact_uri=f"{STORE}/m/1.0.0/{digest}/files/",
        color=color,  # type: ignore[arg-type]
        weight=weight,
        engine=engine,
        context_size=4096,
        max_batch_size=8,
    )


def placement(workload: str, **changes: Any) -> Placement:
    """A placement in namespace ``team-a`` (16 GB, one GPU) with ``changes``."""
    data = {"namespace": "team-a", "workload": workload, "memory_gb": 16, "gpu_count": 1}
    return Placement.model_validate(data | changes)
