"""Artifact store resources: a local directory (embedded default) or S3 through dagster-aws."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from llm_platform.artifact_store import LocalDirStore, ModelRegistry, ObjectStore, S3Store


class ArtifactStoreResource(dg.ConfigurableResource, ABC):
    """Where registered model artifacts and their records live."""

    @abstractmethod
    def store(self) -> ObjectStore:
        """The object store this resource points at."""

    @property
    @abstractmethod
    def uri(self) -> str:
        """The store as a URI: a directory path or ``s3://bucket/prefix``."""

    def registry(self) -> ModelRegistry:
        """The model registry on top of :meth:`store`."""
        return ModelRegistry(self.store())


class LocalArtifactStore(ArtifactStoreResource):
    """Artifacts in a local directory."""

    root: str

    def store(self) -> ObjectStore:
        """A :class:`LocalDirStore` on ``root``."""
        return LocalDirStore(Path(self.root).absolute())

    @property
    def uri(self) -> str:
        """The absolute directory path."""
        return str(Path(self.root).absolute())


class S3ArtifactStore(ArtifactStoreResource):
    """Artifacts in ``s3://<bucket>/<prefix>`` through a dagster-aws ``S3Resource``."""

    s3: S3Resource
    bucket: str
    prefix: str = "artifacts"

    def store(self) -> ObjectStore:
        """An :class:`S3Store` using the resource's boto3 client."""
        return S3Store(self.s3.get_client(), self.bucket, self.prefix)

    @property
    def uri(self) -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.bucket}/{self.prefix.strip('/')}".rstrip("/")
