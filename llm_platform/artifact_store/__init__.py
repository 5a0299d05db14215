"""Content-addressed artifact store and model registry (local directory or S3).

See :mod:`llm_platform.artifact_store.records` for the key layout and
:mod:`llm_platform.artifact_store.registry` for the crash-safe registration order.
"""

from llm_platform.artifact_store.digest_cache import DigestCache
from llm_platform.artifact_store.local_store import LocalDirStore
from llm_platform.artifact_store.records import RegistryRecord
from llm_platform.artifact_store.registry import (
    ModelRegistry,
    RegisterOutcome,
    RegistryError,
)
from llm_platform.artifact_store.s3_store import S3Store
from llm_platform.artifact_store.store import ObjectNotFoundError, ObjectStore, StoreError
from llm_platform.artifact_store.uri import open_store, parse_s3_uri

__all__ = [
    "DigestCache",
    "LocalDirStore",
    "ModelRegistry",
    "ObjectNotFoundError",
    "ObjectStore",
    "RegisterOutcome",
    "RegistryError",
    "RegistryRecord",
    "S3Store",
    "StoreError",
    "open_store",
    "parse_s3_uri",
]
