"""Dagster's own config schemas for instance files and executors, in one place.

Dagster 1.13 has no public API that validates a ``dagster.yaml`` without building the instance
(which would connect to PostgreSQL and a cluster). These are the functions ``DagsterInstance``
itself calls: ``dagster_instance_config`` (the top-level schema) and, per configurable class
(storage, run launcher, run coordinator, scheduler), the class's own ``config_type()``. They are
private, so they are imported here only.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes import ConfigurableClassData, class_from_code_pointer
from dagster_k8s import k8s_job_executor

_CONFIGURABLE = (
    "run_launcher",
    "run_coordinator",
    "run_storage",
    "event_log_storage",
    "schedule_storage",
    "scheduler",
    "compute_logs",
)


def _raise(where: str, errors: Any) -> None:
    messages = "; ".join(str(getattr(e, "message", e)) for e in errors)
    raise ValueError(f"{where}: {messages}")


def _validate_dir(base: Path) -> dict[str, Any]:
    try:
        config, _ = dagster_instance_config(str(base))
    except DagsterInvalidConfigError as exc:
        _raise("instance config", exc.errors or [exc])
    for key in _CONFIGURABLE:
        entry = config.get(key)
        if not entry or "module" not in entry:
            continue
        # As the instance loads it: ConfigurableClassData maps ``dagster.core.*`` (what the
        # chart writes) to the private module path.
        data = ConfigurableClassData(entry["module"], entry["class"], "{}")
        cls = class_from_code_pointer(data.module_name, data.class_name)
        result = validate_config(cls.config_type(), entry.get("config") or {})
        if not result.success:
            _raise(f"{key} ({entry['class']})", result.errors)
    return dict(config)


def validate_instance_file(path: Path, workdir: Path) -> dict[str, Any]:
    """Validate an instance ``dagster.yaml`` file (raises ValueError naming the problems)."""
    target = workdir / "instance"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, target / "dagster.yaml")
    return _validate_dir(target)


def validate_instance_mapping(instance: dict[str, Any]) -> dict[str, Any]:
    """Validate instance config given as a mapping (raises ValueError naming the problems)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "dagster.yaml").write_text(yaml.safe_dump(instance))
        return _validate_dir(Path(tmp))


def validate_k8s_executor_config(config: dict[str, Any]) -> None:
    """Validate ``config`` against dagster-k8s ``k8s_job_executor``'s schema (raises
    ValueError)."""
    result = validate_config(k8s_job_executor.config_schema.config_type, config)
    if not result.success:
        _raise("k8s_job_executor", result.errors)
