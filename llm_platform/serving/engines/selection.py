"""Which engine serves a registered artifact, with which launch settings.

Staging decides once, from the model config's ``serving`` block and the fetched artifact's
format, and records the decision in its metadata; production reads it back from there, so it
serves exactly what staging tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llm_platform.common.engine_names import BUILTIN_ENGINE
from llm_platform.serving.engines.base import Engine, ServingSettings
from llm_platform.serving.engines.registry import check_engine_name, choose_engine, get_engine

#: Metadata keys a deployment records its serving choice under.
ENGINE_KEY = "engine"
CONTEXT_SIZE_KEY = "context_size"
MAX_BATCH_SIZE_KEY = "max_batch_size"


class ServingChoice(BaseModel):
    """The engine serving a revision and the launch settings taken from ``serving``."""

    model_config = ConfigDict(frozen=True)

    engine: str
    context_size: int | None = Field(default=None, ge=1)
    max_batch_size: int | None = Field(default=None, ge=1)

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str) -> str:
        return check_engine_name(value)

    @property
    def spec(self) -> Engine:
        """The registered engine."""
        return get_engine(self.engine)

    def metadata(self) -> dict[str, str | int]:
        """The choice as flat metadata (unset settings are left out)."""
        meta: dict[str, str | int] = {ENGINE_KEY: self.engine}
        if self.context_size is not None:
            meta[CONTEXT_SIZE_KEY] = self.context_size
        if self.max_batch_size is not None:
            meta[MAX_BATCH_SIZE_KEY] = self.max_batch_size
        return meta


def resolve_serving(serving: ServingSettings | None, artifact: Path) -> ServingChoice:
    """The engine for ``artifact``: ``serving.engine`` when set, else chosen by its format.

    Args:
        serving: the model config's ``serving`` block (None: all defaults).
        artifact: a verified local copy of the registered artifact.

    Raises:
        EngineError: the configured engine does not load the artifact's format, or no
            engine recognises it (``NoEngineForArtifact``, ``EngineFormatMismatch``).
    """
    engine = choose_engine(artifact, serving.engine if serving else None)
    return ServingChoice(
        engine=engine.name,
        context_size=serving.max_sequence_length if serving else None,
        max_batch_size=serving.max_batch_size if serving else None,
    )


def serving_from_metadata(meta: Mapping[str, object]) -> ServingChoice:
    """The choice a deployment recorded (builtin for deployments that predate engines).

    Raises:
        pydantic.ValidationError: the recorded engine is unknown or a setting is invalid.
    """

    def optional_int(key: str) -> int | None:
        value = meta.get(key)
        return None if value is None else int(str(value))

    return ServingChoice(
        engine=str(meta.get(ENGINE_KEY) or BUILTIN_ENGINE),
        context_size=optional_int(CONTEXT_SIZE_KEY),
        max_batch_size=optional_int(MAX_BATCH_SIZE_KEY),
    )


def streams_through_gateway(engine: Engine) -> bool:
    """Whether the integration suite streams through the gateway to ``engine`` (the gateway
    relays every engine's Server-Sent Events; the engine must produce them)."""
    return engine.supports_streaming
