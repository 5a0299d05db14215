"""Model registration: the KFP v2 pipeline that fetches, scans and registers a model into the
artifact store (:mod:`llm_platform.artifact_store`), source resolution and the two registrars."""

from llm_platform.registration.outcome import (
    ArtifactUnsafeError,
    RegistrationError,
    RegistrationResult,
)
from llm_platform.registration.registrars import LocalKfpRegistrar, Registrar
from llm_platform.registration.remote import RemoteKfpRegistrar
from llm_platform.registration.sources import (
    SourceError,
    SourceNotAllowedError,
    materialize_source,
)
from llm_platform.registration.steps import UnsafeArtifactError

__all__ = [
    "ArtifactUnsafeError",
    "LocalKfpRegistrar",
    "Registrar",
    "RegistrationError",
    "RegistrationResult",
    "RemoteKfpRegistrar",
    "SourceError",
    "SourceNotAllowedError",
    "UnsafeArtifactError",
    "materialize_source",
]
