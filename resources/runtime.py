"""The serving runtime as a Dagster resource (local target).

Assets and sensors depend on :class:`RuntimeResource` and the target-neutral
:class:`llm_platform.runtime.base.Runtime` it returns, so they never branch on the target; the
composition root (``definitions.py``) picks the implementation.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from llm_platform.digest import DigestError, digest_directory
from llm_platform.registry import ModelRegistry, RegistryRecord
from llm_platform.runtime.base import Runtime
from llm_platform.runtime.local import LocalRuntime


class RuntimeResource(dg.ConfigurableResource, ABC):
    """The serving target: its :class:`Runtime` and how an artifact reaches it."""

    @abstractmethod
    def runtime(self) -> Runtime:
        """The target's runtime."""

    @abstractmethod
    def stage_artifact(self, registry: ModelRegistry, record: RegistryRecord) -> str:
        """Make a registered artifact loadable by the runtime; return where it is."""


class LocalRuntimeResource(RuntimeResource):
    """Model-server processes behind per-environment gateways, state under ``home``.

    Deployments outlive the Dagster run that applied them: desired state is kept on disk under
    ``home/runtime`` and the controller started by ``llm-platform stack up`` keeps them running.
    """

    home: str

    _runtime: LocalRuntime | None = PrivateAttr(default=None)

    def runtime(self) -> Runtime:
        """The runtime (created on first use, reused afterwards)."""
        return self.local_runtime()

    def local_runtime(self) -> LocalRuntime:
        """The concrete local runtime (for local-only helpers such as ``fault_file``)."""
        if self._runtime is None:
            self._runtime = LocalRuntime(Path(self.home))
        return self._runtime

    def stage_artifact(self, registry: ModelRegistry, record: RegistryRecord) -> str:
        """Make a registered artifact loadable by the runtime; return where it is.

        The local runtime serves from ``home/artifact-cache/<name>/<digest>``: fetched from the
        artifact store with every hash verified, into a temporary directory renamed into place,
        so a half-fetched artifact is never served. An existing copy is re-verified.
        """
        dest = Path(self.home) / "artifact-cache" / record.name / record.digest
        if dest.is_dir():
            try:
                if digest_directory(dest).digest == record.digest:
                    return str(dest)
            except DigestError:
                pass  # unreadable or empty: fetched again below
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{record.digest[:12]}-", dir=dest.parent))
        try:
            registry.fetch(record, tmp)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return str(dest)
