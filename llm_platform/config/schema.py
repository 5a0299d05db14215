"""Pydantic models for ``models/<name>/model.yaml`` (environments live in ``environment.py``).

Every model forbids unknown keys (a typo must not pass silently) and validates strictly: a bool
is not an int, a string is not a number, a number is not a string.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from llm_platform.common.dns_label import check_dns_label
from llm_platform.common.durations import check_duration, duration_seconds
from llm_platform.config.source_paths import relative_source_problem
from llm_platform.slo.budgets import MIN_BUDGET_PERIOD
from llm_platform.slo.objectives import OBJECTIVES, Objective

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_PERCENT = re.compile(r"^\d+%$")

GIB_PER_GPU = 8


def _int_or_percent(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _PERCENT.match(value):
        return value
    raise ValueError("must be a non-negative integer or a percentage such as '25%'")


PromDuration = Annotated[str, Field(min_length=1)]
IntOrPercent = Annotated[int | str, PlainValidator(_int_or_percent)]


class Resources(BaseModel):
    """Compute a model needs: memory (GiB) and GPUs."""

    model_config = STRICT

    memory_gb: float = Field(ge=1)
    gpu_count: int = Field(ge=1)
    gpu_type: str | None = None

    @model_validator(mode="after")
    def _enough_memory(self) -> Resources:
        needed = GIB_PER_GPU * self.gpu_count
        if self.memory_gb < needed:
            raise PydanticCustomError(
                "memory_per_gpu",
                "memory_gb {memory_gb} is below {needed} ({per} GiB per GPU x {gpus} GPUs)",
                {
                    "memory_gb": self.memory_gb,
                    "needed": needed,
                    "per": GIB_PER_GPU,
                    "gpus": self.gpu_count,
                },
            )
        return self


class Serving(BaseModel):
    """How the model is served."""

    model_config = STRICT

    max_batch_size: int | None = Field(default=None, ge=1)
    max_sequence_length: int | None = Field(default=None, ge=1)
    protocol: Literal["http", "grpc"] = "http"
    engine: str | None = Field(
        default=None, description="inference engine; chosen from the artifact's format if unset"
    )

    @field_validator("engine")
    @classmethod
    def _engine(cls, value: str | None) -> str | None:
        # Imported when validating: the engine registry imports the serving and security code.
        from llm_platform.serving.engines.registry import check_engine_name

        return None if value is None else check_engine_name(value)

    @model_validator(mode="after")
    def _protocol_is_served(self) -> Serving:
        # The seed's schema allows grpc; accepting it and serving HTTP would drop it silently.
        if self.protocol == "grpc":
            from llm_platform.serving.engines.registry import ENGINE_NAMES

            engines = (
                f"engine {self.engine}"
                if self.engine
                else f"any engine ({', '.join(ENGINE_NAMES)})"
            )
            raise PydanticCustomError(
                "protocol_not_served",
                "protocol grpc is not served by {engines}: every engine of the platform "
                "serves the OpenAI-compatible HTTP API (KServe's v2 gRPC protocol needs a v2 "
                "runtime, which none of them is); use protocol: http",
                {"engines": engines},
            )
        return self


class Source(BaseModel):
    """Where the weights come from."""

    model_config = STRICT

    type: Literal["s3", "huggingface", "local"]
    uri: str = Field(min_length=1)

    @field_validator("uri")
    @classmethod
    def _local_stays_in_repo(cls, uri: str, info: ValidationInfo) -> str:
        # Absolute paths need the operator's allow-list, which only validate/registration know.
        local = info.data.get("type") == "local"
        problem = relative_source_problem(uri) if local else None
        if problem is not None:
            raise ValueError(problem)
        return uri


def check_budget_period(value: str) -> str:
    """A budget period: a duration at least as long as the longest burn-rate alert window."""
    check_duration(value)
    if duration_seconds(value) < duration_seconds(MIN_BUDGET_PERIOD):
        raise ValueError(
            f"{value!r} is shorter than the longest burn-rate window ({MIN_BUDGET_PERIOD})"
        )
    return value


class _SLOBlock(BaseModel):
    """What both ``slo:`` blocks share: strict validation and threshold lookup by objective."""

    model_config = STRICT

    def threshold(self, objective: Objective) -> float | None:
        """The threshold set for ``objective``, or None when it is not configured."""
        value = getattr(self, objective.key, None)
        return None if value is None else float(value)


class SLOObjectivesBase(_SLOBlock):
    """Window and traffic floor of resolved objectives; thresholds come from the registry."""

    window: PromDuration = "24h"
    min_requests: int = Field(default=1000, ge=0)
    min_soak: PromDuration | None = Field(
        default=None,
        description="staging verdicts are inconclusive until the revision has "
        "served this long (default: window)",
    )
    budget_period: PromDuration = Field(
        default="30d", description="error-budget period of the production burn-rate alerts"
    )

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return check_duration(value)

    @field_validator("budget_period")
    @classmethod
    def _budget_period(cls, value: str) -> str:
        return check_budget_period(value)

    @field_validator("min_soak")
    @classmethod
    def _soak(cls, value: str | None) -> str | None:
        return None if value is None else check_duration(value)

    @property
    def window_seconds(self) -> float:
        """The evaluation window in seconds."""
        return duration_seconds(self.window)

    @property
    def soak(self) -> str:
        """How long a staging revision must serve before its verdict counts."""
        return self.min_soak or self.window


class SLOOverridesBase(_SLOBlock):
    """Optional window and traffic floor of a model's overrides."""

    window: PromDuration | None = None
    min_requests: int | None = Field(default=None, ge=0)
    min_soak: PromDuration | None = None
    budget_period: PromDuration | None = None

    @field_validator("window", "min_soak")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        return None if value is None else check_duration(value)

    @field_validator("budget_period")
    @classmethod
    def _budget_period(cls, value: str | None) -> str | None:
        return None if value is None else check_budget_period(value)


def _threshold(objective: Objective, *, override: bool) -> Any:
    default = None if override else objective.default
    kind: Any = float if default is not None else float | None
    return (
        kind,
        Field(
            default,
            description=objective.description,
            gt=objective.gt,
            ge=objective.ge,
            le=objective.le,
        ),
    )


# One field per objective of llm_platform.slo.objectives (the registry is the source): an
# objective with a default is always set in an environment; one without is optional.
if TYPE_CHECKING:
    SLOObjectives = SLOObjectivesBase
    SLOOverrides = SLOOverridesBase
else:
    SLOObjectives = create_model(
        "SLOObjectives",
        __base__=SLOObjectivesBase,
        __module__=__name__,
        __doc__="Fully resolved service-level objectives for one model in one environment.",
        **{o.key: _threshold(o, override=False) for o in OBJECTIVES},
    )
    SLOOverrides = create_model(
        "SLOOverrides",
        __base__=SLOOverridesBase,
        __module__=__name__,
        __doc__="A model's optional per-objective overrides of its environment's SLO block.",
        **{o.key: _threshold(o, override=True) for o in OBJECTIVES},
    )


class ModelConfig(BaseModel):
    """``models/<name>/model.yaml``: one deployable model."""

    model_config = STRICT

    name: str
    version: str
    architecture: str = Field(min_length=1)
    description: str | None = None
    resources: Resources
    serving: Serving | None = None
    source: Source | None = None
    slo: SLOOverrides | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str, info: ValidationInfo) -> str:
        check_dns_label(value)
        expected = (info.context or {}).get("expected_name")
        if expected is not None and value != expected:
            raise ValueError(f"{value!r} does not match its directory name {expected!r}")
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _SEMVER.match(value):
            raise ValueError(f"{value!r} is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.2.0)")
        return value

    def config_hash(self) -> str:
        """sha256 (hex) of the canonical JSON form: formatting and key order do not change it."""
        canonical = json.dumps(
            self.model_dump(mode="json", exclude_none=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
