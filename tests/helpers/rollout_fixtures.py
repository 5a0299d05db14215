"""Two versions of the demo model and an embedded production stack, for the rollout tests.

Shared by the strategy tests (``test_rollout.py``) and the shadow tests (``test_shadow.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from llm_platform.common.digest import digest_directory
from llm_platform.promotion.rollout import RolloutPlan, RolloutResult, execute_rollout
from llm_platform.targets.base import DeploymentStatus
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.stack import StackInfo, stack_up
from tests.helpers.paths import DEMO_WEIGHTS
from tests.helpers.runtime_fixtures import teardown_home

EXAMPLE = DEMO_WEIGHTS / "tiny-shakespeare"
ENV = "production"


class Artifacts:
    """Two versions of the demo model with different digests."""

    def __init__(self, root: Path) -> None:
        self.v1, self.v2 = root / "v1", root / "v2"
        shutil.copytree(EXAMPLE, self.v1)
        shutil.copytree(EXAMPLE, self.v2)
        (self.v2 / "NOTES.txt").write_text("v2: same weights, different artifact digest\n")
        self.d1 = digest_directory(self.v1).digest
        self.d2 = digest_directory(self.v2).digest


@contextmanager
def production_stack(home: Path) -> Iterator[StackInfo]:
    """An embedded stack with the production environment only; every process gone after."""
    try:
        yield stack_up(home, envs=(ENV,), prometheus_port=0, gateway_base_port=0)
    finally:
        assert teardown_home(home) == [], "stack down left processes behind"


def plan(model: str, art: Artifacts, version: str, strategy: str, **kw: object) -> RolloutPlan:
    """A plan for v1 (version 1.x) or v2 of the demo model."""
    v2 = version.startswith("2")
    return RolloutPlan.model_validate(
        {
            "env": ENV,
            "model": model,
            "version": version,
            "digest": art.d2 if v2 else art.d1,
            "artifact_uri": (art.v2 if v2 else art.v1).as_uri(),
            "strategy": strategy,
            "ready_timeout_s": 30,
            # Traffic here is bounded by count; Prometheus' scrape settle is tested elsewhere.
            "metrics_settle_s": 0,
            **kw,
        }
    )


def current(runtime: LocalRuntime, model: str) -> DeploymentStatus:
    """The model's deployment in production (it must exist)."""
    status = runtime.status(ENV, model)
    assert status is not None
    return status


def endpoint_of(runtime: LocalRuntime, model: str) -> str:
    """The gateway endpoint of the model's deployment in production (it must have one)."""
    endpoint = current(runtime, model).endpoint
    assert endpoint is not None
    return endpoint


def weights(runtime: LocalRuntime, model: str) -> dict[str, int]:
    """Traffic weight per revision of the model in production."""
    return {r.revision: r.weight for r in current(runtime, model).revisions}


def first(runtime: LocalRuntime, model: str, art: Artifacts, strategy: str) -> RolloutResult:
    """Deploy v1 of the model for the first time (whatever ``strategy``: nothing to switch from)."""
    result = execute_rollout(runtime, plan(model, art, "1.0.0", strategy))
    assert result.outcome == "promoted", result.reason
    assert result.strategy == "first-deployment" and result.previous_revision is None
    return result


def served_digest(status: DeploymentStatus) -> str:
    """The digest that the revision at 100% reports on its own /health."""
    (rev,) = [r for r in status.revisions if r.weight == 100]
    health = httpx.get(f"{rev.url}/health", timeout=5, trust_env=False).json()
    return str(health["digest"])
