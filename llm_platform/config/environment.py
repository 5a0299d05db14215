"""Pydantic models for ``config/<env>.yaml``: one deployment environment.

Strict like the model file's schema (:mod:`llm_platform.config.schema`): unknown keys and
values of the wrong type are refused.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from llm_platform.common.dns_label import check_dns_label
from llm_platform.common.durations import check_duration, duration_seconds
from llm_platform.common.strategy_names import STRATEGY_SPECS, Strategy
from llm_platform.config.schema import (
    STRICT,
    IntOrPercent,
    ModelConfig,
    SLOObjectives,
)
from llm_platform.reporting.routes import check_webhook_env_name


class Cluster(BaseModel):
    """Where the environment's model pods are scheduled."""

    model_config = STRICT

    gpu_node_selector: dict[str, str] = Field(default_factory=dict)


class DefaultLimits(BaseModel):
    """Multipliers applied to a model's requested resources to get its limits."""

    model_config = STRICT

    memory_multiplier: float = Field(default=1.0, gt=0)
    gpu_multiplier: float = Field(default=1.0, gt=0)


class EnvironmentResources(BaseModel):
    """Resource defaults of an environment."""

    model_config = STRICT

    default_limits: DefaultLimits = Field(default_factory=DefaultLimits)


class Autoscaling(BaseModel):
    """Replica bounds (``min_replicas <= max_replicas``)."""

    model_config = STRICT

    enabled: bool = False
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise PydanticCustomError(
                "replica_bounds",
                "min_replicas {low} is greater than max_replicas {high}",
                {"low": self.min_replicas, "high": self.max_replicas},
            )
        return self


class Monitoring(BaseModel):
    """Monitoring settings of an environment."""

    model_config = STRICT

    prometheus_namespace: str = "monitoring"
    #: The *name* of the environment variable holding this environment's Slack webhook URL
    #: (``SLACK_WEBHOOK_<NAME>``), never the URL: see ``llm_platform/reporting/routes.py``.
    alert_manager_webhook: str | None = None

    @field_validator("alert_manager_webhook")
    @classmethod
    def _webhook_is_a_variable_name(cls, value: str | None) -> str | None:
        return None if value is None else check_webhook_env_name(value)


class Deployment(BaseModel):
    """How new revisions roll out in an environment."""

    model_config = STRICT

    strategy: Strategy
    max_unavailable: IntOrPercent = 0
    max_surge: IntOrPercent = 1
    approval_required: bool = False
    canary_percentage: int = Field(default=10, ge=1, le=100)
    shadow_percentage: int = Field(
        default=100, ge=1, le=100, description="shadow: percent of requests copied to the candidate"
    )


#: What a canary analysis still inconclusive at its deadline does (``analysis.on_inconclusive``).
OnInconclusive = Literal["rollback", "hold"]


class CanaryAnalysisSettings(BaseModel):
    """``analysis:``: how the canary strategy's sequential analysis looks and ends.

    The analysis looks every ``look_every`` until the judge decides or ``deadline`` passes;
    ``on_inconclusive`` is then ``rollback`` (the default: never promoted on no evidence) or
    ``hold`` (the canary keeps its share and the rollout ends ``held`` for a human).
    ``traffic_rps`` > 0 sends that many labelled synthetic requests per second through the
    gateway during the analysis (models with too little traffic of their own).
    """

    model_config = STRICT

    deadline: str = "10m"
    look_every: str = "5s"
    on_inconclusive: OnInconclusive = "rollback"
    confidence: float = Field(default=0.95, gt=0, lt=1)
    max_increase: float = Field(
        default=0.1, ge=0, description="tolerated increase of the typical latency (fraction)"
    )
    traffic_rps: float = Field(default=0.0, ge=0, le=100)

    @field_validator("deadline", "look_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        return check_duration(value)

    @model_validator(mode="after")
    def _order(self) -> CanaryAnalysisSettings:
        if duration_seconds(self.look_every) > duration_seconds(self.deadline):
            raise PydanticCustomError(
                "analysis_look",
                "look_every {look} is longer than deadline {deadline}",
                {"look": self.look_every, "deadline": self.deadline},
            )
        return self


#: Kubernetes workloads a model runs as on the Kubernetes target (``kubernetes.workload``).
Workload = Literal["kserve", "deployment"]
#: Strategies a plain Deployment + Service can carry: its Service selects one color at a time,
#: so only whole switches (blue-green) are expressible; traffic splits need KServe.
DEPLOYMENT_WORKLOAD_STRATEGIES: frozenset[str] = frozenset(
    name for name, spec in STRATEGY_SPECS.items() if spec.traffic == "switch"
)


class KubernetesSettings(BaseModel):
    """How the environment's models run on the Kubernetes target."""

    model_config = STRICT

    workload: Workload = Field(
        default="kserve",
        description="kserve: an InferenceService per model on a ServingRuntime per engine; "
        "deployment: a Deployment per revision + Service + HorizontalPodAutoscaler",
    )


class EnvironmentServing(BaseModel):
    """What the environment's gateway forwards to the engines beyond OpenAI's contract."""

    model_config = STRICT

    extensions: list[str] = Field(
        default_factory=list,
        description="engine extensions enabled beyond each engine's defaults, e.g. grammar "
        "(llama-cpp); the gateway refuses the others with a 400 naming them",
    )

    @field_validator("extensions")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        # Imported when validating: the engine registry imports the serving and security code.
        from llm_platform.serving.engines.registry import check_extension_name

        for name in value:
            check_extension_name(name)
        if len(set(value)) != len(value):
            raise ValueError("extensions: listed more than once")
        return value


class Quality(BaseModel):
    """Output-quality rules of an environment (the ``output_quality`` check)."""

    model_config = STRICT

    required: bool = Field(
        default=False,
        description="every model needs an output-quality suite (evals/<model>.yaml); a model "
        "without one fails the output_quality check instead of passing with 'no suite'",
    )


class EnvironmentConfig(BaseModel):
    """``config/<env>.yaml``: one deployment environment (staging, production, ...)."""

    model_config = STRICT

    environment: str = Field(min_length=1)
    namespace: str
    cluster: Cluster = Field(default_factory=Cluster)
    resources: EnvironmentResources = Field(default_factory=EnvironmentResources)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    deployment: Deployment
    analysis: CanaryAnalysisSettings = Field(default_factory=CanaryAnalysisSettings)
    slo: SLOObjectives = Field(default_factory=SLOObjectives)
    approvers: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    serving: EnvironmentServing = Field(default_factory=EnvironmentServing)
    quality: Quality = Field(default_factory=Quality)

    @model_validator(mode="after")
    def _workload_carries_strategy(self) -> EnvironmentConfig:
        workload, strategy = self.kubernetes.workload, self.deployment.strategy
        if workload == "deployment" and strategy not in DEPLOYMENT_WORKLOAD_STRATEGIES:
            raise PydanticCustomError(
                "workload_strategy",
                "deployment.strategy {strategy} splits traffic between revisions, which "
                "kubernetes.workload deployment cannot (its Service selects one color); use "
                "kubernetes.workload kserve or deployment.strategy blue-green",
                {"strategy": strategy},
            )
        return self

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return check_dns_label(value)

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str, info: ValidationInfo) -> str:
        expected = (info.context or {}).get("expected_environment")
        if expected is not None and value != expected:
            raise ValueError(f"{value!r} does not match its file name {expected + '.yaml'!r}")
        return value


def effective_slo(env: EnvironmentConfig, model: ModelConfig) -> SLOObjectives:
    """The objectives that apply to ``model`` in ``env``: the model's overrides win.

    Args:
        env: The environment, whose ``slo`` block holds the defaults.
        model: The model, whose optional ``slo`` block overrides single objectives.

    Returns:
        Fully resolved objectives.
    """
    if model.slo is None:
        return env.slo
    overrides = model.slo.model_dump(exclude_none=True)
    return env.slo.model_copy(update=overrides)
