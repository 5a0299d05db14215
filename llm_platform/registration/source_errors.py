"""Why a model source cannot be resolved (shared by the source resolvers, which import each
other's modules only one way)."""

from __future__ import annotations

from llm_platform.common.errors import PlatformError


class SourceError(PlatformError):
    """A model source cannot be resolved (missing path, empty prefix, unreachable hub)."""


class SourceNotAllowedError(SourceError):
    """A ``local`` source leaves the models repo and is not under the operator's allow-list."""
