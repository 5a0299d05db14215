"""Model registration: the KFP v2 pipeline, source resolution and the two registrars."""

from llm_platform.registration.registrars import (
    LocalKfpRegistrar,
    Registrar,
    RegistrationError,
    RegistrationResult,
    RemoteKfpRegistrar,
)
from llm_platform.registration.sources import SourceError, materialize_source
from llm_platform.registration.steps import UnsafeArtifactError

__all__ = [
    "LocalKfpRegistrar",
    "Registrar",
    "RegistrationError",
    "RegistrationResult",
    "RemoteKfpRegistrar",
    "SourceError",
    "UnsafeArtifactError",
    "materialize_source",
]
