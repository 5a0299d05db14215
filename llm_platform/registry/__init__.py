"""Content-addressed artifact store and model registry (local directory or S3).

See :mod:`llm_platform.registry.records` for the key layout and
:mod:`llm_platform.registry.registry` for the crash-safe registration order.
"""

from llm_platform.registry.digest_cache import DigestCache
from llm_platform.registry.local_store import LocalDirStore
from llm_platform.registry.records import RegistryRecord
from llm_platform.registry.registry import (
    ModelRegistry,
    RegisterOutcome,
    RegistryError,
)
from llm_platform.registry.s3_store import S3Store
from llm_platform.registry.store import ObjectNotFoundError, ObjectStore, StoreError
from llm_platform.registry.uri import open_store, parse_s3_uri

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
