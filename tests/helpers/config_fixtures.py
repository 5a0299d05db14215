"""Shared builders for the config tests: valid documents as dicts and as YAML bytes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

VALID_MODEL: dict[str, Any] = {
    "name": "llama-3-1-8b",
    "version": "1.0.0",
    "architecture": "llama",
    "description": "test model",
    "resources": {"memory_gb": 16, "gpu_count": 1, "gpu_type": "nvidia-tesla-v100"},
    "serving": {"max_batch_size": 32, "max_sequence_length": 4096, "protocol": "http"},
    "source": {"type": "local", "uri": "weights/tiny-shakespeare"},
    "slo": {"latency_p95_ms": 1500},
}

VALID_ENV: dict[str, Any] = {
    "environment": "staging",
    "namespace": "staging",
    "cluster": {"gpu_node_selector": {"node-type": "gpu-v100"}},
    "resources": {"default_limits": {"memory_multiplier": 0.8, "gpu_multiplier": 1.0}},
    "autoscaling": {"enabled": True, "min_replicas": 1, "max_replicas": 5},
    "monitoring": {
        "prometheus_namespace": "monitoring",
        "alert_manager_webhook": "SLACK_WEBHOOK_STAGING",
    },
    "deployment": {"strategy": "rolling-update", "max_unavailable": 1, "max_surge": 1},
    "slo": {"window": "5m", "availability": 0.99, "min_requests": 50},
    "approvers": ["alice", "bob"],
}


def _changed(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with top-level keys replaced (None value = delete)."""
    data = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def model_dict(**changes: Any) -> dict[str, Any]:
    """A deep copy of VALID_MODEL with top-level keys replaced (None value = delete)."""
    return _changed(VALID_MODEL, changes)


def env_dict(**changes: Any) -> dict[str, Any]:
    """A deep copy of VALID_ENV with top-level keys replaced (None value = delete)."""
    return _changed(VALID_ENV, changes)


def to_yaml(data: dict[str, Any]) -> bytes:
    """Block-style YAML bytes, keys in insertion order."""
    return yaml.safe_dump(data, sort_keys=False).encode("utf-8")


def write_repo(root: Path, models: dict[str, dict[str, Any]] | None = None) -> Path:
    """Create a models repo with the given models (default: one valid) and a staging config."""
    models = models if models is not None else {"llama-3-1-8b": model_dict()}
    for name, data in models.items():
        (root / "models" / name).mkdir(parents=True)
        (root / "models" / name / "model.yaml").write_bytes(to_yaml(data))
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / "staging.yaml").write_bytes(to_yaml(env_dict()))
    return root
