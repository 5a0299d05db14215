"""The local capacity check counts the servers that run at once at the peak of the
environment's strategy, as the cluster check does (it used to assume twice the replicas)."""

from __future__ import annotations

import pytest

from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.schema import ModelConfig
from llm_platform.targets.base import CapacityReport, Runtime
from llm_platform.targets.kubernetes.capacity_source import replicas_to_place
from llm_platform.targets.local.replicas import LOCAL_SERVER_OVERHEAD_BYTES
from llm_platform.targets.options import TargetOptions
from llm_platform.targets.registry import LOCAL
from tests.helpers.config_fixtures import env_dict, model_dict

ARTIFACT = 10 * 1024 * 1024
PER_SERVER = LOCAL_SERVER_OVERHEAD_BYTES + 2 * ARTIFACT


class FixedMemory:
    """Only what the capacity check asks of a runtime: its capacity report."""

    def __init__(self, available: int) -> None:
        self.available = available

    def capacity(self) -> CapacityReport:
        return CapacityReport(
            memory_total_bytes=self.available,
            memory_available_bytes=self.available,
            detail="fixed",
        )


def environment(strategy: str, replicas: int, max_surge: int | str = 1) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        env_dict(
            autoscaling={"enabled": True, "min_replicas": replicas, "max_replicas": 8},
            deployment={"strategy": strategy, "max_surge": max_surge, "max_unavailable": 0},
        )
    )


def check(env: EnvironmentConfig, available: int):  # noqa: ANN201
    runtime: Runtime = FixedMemory(available)  # type: ignore[assignment]
    model = ModelConfig.model_validate(model_dict())
    return LOCAL.capacity_item(runtime, env, model, ARTIFACT, TargetOptions())


@pytest.mark.parametrize(
    ("strategy", "replicas", "max_surge", "servers"),
    [
        ("blue-green", 2, 1, 4),
        ("canary", 3, 1, 6),
        ("shadow", 1, 1, 2),
        ("rolling-update", 4, 1, 5),
        ("rolling-update", 4, "50%", 6),
    ],
)
def test_local_capacity_counts_the_strategys_peak(
    strategy: str, replicas: int, max_surge: int | str, servers: int
) -> None:
    env = environment(strategy, replicas, max_surge)
    assert servers == replicas + replicas_to_place(env)  # the same peak as the cluster check
    fits = check(env, servers * PER_SERVER)
    assert fits.ok and f"for {servers} local servers" in fits.reason
    short = check(env, servers * PER_SERVER - 1)
    assert not short.ok and f"for {servers} local servers" in short.reason


def test_a_rolling_update_no_longer_needs_twice_the_replicas() -> None:
    env = environment("rolling-update", 4, 1)
    assert check(env, 5 * PER_SERVER).ok  # the old check wanted 8 servers' memory
