"""What to roll out where, and how: the input of every rollout strategy."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from llm_platform.common.digest import Sha256Hex
from llm_platform.common.dns_label import DnsLabel
from llm_platform.common.engine_names import BUILTIN_ENGINE
from llm_platform.common.strategy_names import STRATEGY_SPECS, Strategy
from llm_platform.config.environment import OnInconclusive
from llm_platform.config.schema import IntOrPercent
from llm_platform.promotion.analysis import CanaryThresholds
from llm_platform.serving.engines.selection import ServingChoice
from llm_platform.slo import DEFAULT_PROFILE, PROFILES


class RolloutPlan(BaseModel):
    """What to roll out where, and how.

    ``smoke_requests=0`` skips the smoke test; only the canary strategy allows it (its analysis
    is then the only gate). ``latency_ms`` / ``error_rate`` inject faults into the new revision
    (demos and tests).
    """

    env: DnsLabel
    model: DnsLabel
    version: str = Field(min_length=1)
    digest: Sha256Hex
    artifact_uri: str = Field(min_length=1)
    strategy: Strategy
    canary_percentage: int = Field(default=10, ge=1, le=100)
    shadow_percentage: int = Field(
        default=100, ge=1, le=100, description="shadow: percent of requests copied to the new one"
    )
    smoke_requests: int = Field(default=20, ge=0)
    smoke_min_success_rate: float = Field(default=1.0, ge=0, le=1)
    smoke_timeout_s: float = Field(default=30.0, gt=0)
    ready_timeout_s: float = Field(default=60.0, gt=0)
    analysis_window_s: float = Field(
        default=5.0, gt=0, description="canary analysis: seconds between the judge's looks"
    )
    analysis_deadline_s: float = Field(
        default=600.0, gt=0, description="canary analysis: inconclusive after this long"
    )
    on_inconclusive: OnInconclusive = Field(
        default="rollback", description="canary inconclusive at the deadline: rollback | hold"
    )
    analysis_traffic_rps: float = Field(
        default=0.0, ge=0, description="synthetic requests/s through the gateway (0: live only)"
    )
    analysis_prompts: list[str] = Field(
        default_factory=list,
        description="prompts of the synthetic analysis traffic (empty: the built-in set)",
    )
    thresholds: CanaryThresholds | None = None
    prometheus_url: str | None = Field(default=None, description="canary analysis source")
    metric_profile: str = Field(
        default=DEFAULT_PROFILE.name,
        description="metric profile the revisions' servers export (canary analysis series)",
    )
    metrics_namespace: str | None = Field(
        default=None, description="namespace label of the metrics (default: env)"
    )
    rollback_window_s: float = Field(default=3600.0, ge=0)
    metrics_settle_s: float = Field(
        default=2.5, ge=0, description="scrape time between routing a revision and its traffic"
    )
    latency_ms: float = Field(default=0, ge=0)
    error_rate: float = Field(default=0, ge=0, le=1)
    replicas: int = Field(default=1, ge=1, description="server processes of the new revision")
    max_surge: IntOrPercent = 1
    max_unavailable: IntOrPercent = 0
    engine: str = Field(default=BUILTIN_ENGINE, description="the engine serving the new revision")
    context_size: int | None = Field(default=None, ge=1)
    max_batch_size: int | None = Field(default=None, ge=1)
    extensions: list[str] = Field(
        default_factory=list, description="engine extensions the environment enables"
    )

    @property
    def serving(self) -> ServingChoice:
        """The engine and launch settings of the new revision."""
        return ServingChoice(
            engine=self.engine, context_size=self.context_size, max_batch_size=self.max_batch_size
        )

    @model_validator(mode="after")
    def _check(self) -> RolloutPlan:
        if self.metric_profile not in PROFILES:
            raise ValueError(
                f"metric_profile: {self.metric_profile!r} is not one of {sorted(PROFILES)}"
            )
        if self.smoke_requests == 0 and not STRATEGY_SPECS[self.strategy].smoke_test_optional:
            raise ValueError(
                f"smoke_requests: 0 skips the only gate of strategy {self.strategy}; "
                "only canary may skip the smoke test"
            )
        spec = STRATEGY_SPECS[self.strategy]
        if spec.analysis and spec.traffic == "split" and self.canary_percentage >= 100:
            raise ValueError("canary_percentage: must be below 100 (stable is the baseline)")
        return self
