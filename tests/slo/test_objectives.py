"""The SLO objectives registry: schema, evaluator, fleet, checks and docs all derive from it.

The time-to-first-token and time-per-output-token objectives are evaluated against a real
Prometheus serving backfilled histograms (gateway and vLLM metric names).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from assets.gate import staging_gate_checks
from assets.names import CHECK_INTEGRATION_TESTS, SLO_CHECKS
from assets.slo_checks import slo_specs
from llm_platform.config import (
    EnvironmentConfig,
    ModelConfig,
    SLOObjectives,
    SLOOverrides,
    effective_slo,
)
from llm_platform.slo import (
    DEFAULT_PROFILE,
    OBJECTIVES,
    VLLM_PROFILE,
    PrometheusClient,
    configured,
    evaluate,
    evaluate_fleet,
    profile_for_engine,
)
from llm_platform.slo.objectives import objectives_table
from tests.helpers.config_fixtures import env_dict, model_dict
from tests.helpers.paths import REPO_ROOT
from tests.helpers.prom_fixtures import (
    TOKEN_BUCKETS,
    PrometheusProcess,
    Scenario,
    aligned_now,
    p95_from,
    start_with_history,
)

NS = "staging"
FAST_TTFT = {0.25: 0.9, 0.5: 0.99}  # p95 between 250 and 500 ms
SLOW_TTFT = {1.0: 0.5, 2.0: 0.9, 2.5: 0.97}  # p95 between 2 and 2.5 s
TPOT = {0.01: 0.5, 0.02: 0.96}  # p95 between 10 and 20 ms
OBJ = {"window": "1h", "availability": 0.99, "min_requests": 1000}


# --- registry, schema, checks ------------------------------------------------------------


def test_registry_names_keys_and_checks_are_unique() -> None:
    names = [o.name for o in OBJECTIVES]
    keys = [o.key for o in OBJECTIVES]
    assert len(set(names)) == len(names) and len(set(keys)) == len(keys)
    assert SLO_CHECKS == {o.name: f"slo_{o.name}" for o in OBJECTIVES}
    assert {"ttft_p95_ms", "tpot_p95_ms"} <= set(keys)


def test_schema_fields_are_the_registry() -> None:
    settings = {"window", "min_requests", "min_soak", "budget_period"}
    thresholds = set(SLOObjectives.model_fields) - settings
    assert thresholds == {o.key for o in OBJECTIVES}
    assert set(SLOOverrides.model_fields) == set(SLOObjectives.model_fields)
    defaults = SLOObjectives()
    for o in OBJECTIVES:
        assert getattr(defaults, o.key) == o.default


@pytest.mark.parametrize("key", ["ttft_p95_ms", "tpot_p95_ms"])
def test_environment_and_model_accept_the_new_keys(key: str) -> None:
    env = EnvironmentConfig.model_validate(env_dict(slo={"window": "5m", key: 800}))
    assert getattr(env.slo, key) == 800
    model = ModelConfig.model_validate(model_dict(slo={key: 300}))
    assert model.slo is not None and getattr(model.slo, key) == 300
    assert getattr(effective_slo(env, model), key) == 300
    plain = ModelConfig.model_validate(model_dict(slo=None))
    assert getattr(effective_slo(env, plain), key) == 800


@pytest.mark.parametrize("key", ["ttft_p95_ms", "tpot_p95_ms"])
@pytest.mark.parametrize("bad", [0, -5, "800", True, None, float("nan")])
def test_new_keys_reject_bad_values(key: str, bad: object) -> None:
    if bad is None:  # an explicit null in the environment means "not configured": allowed
        assert getattr(SLOObjectives.model_validate({key: None}), key) is None
        return
    with pytest.raises(ValidationError) as err:
        EnvironmentConfig.model_validate(env_dict(slo={key: bad}))
    assert key in str(err.value)
    with pytest.raises(ValidationError):
        ModelConfig.model_validate(model_dict(slo={key: bad}))


def test_unknown_objective_keys_are_refused() -> None:
    for slo in ({"ttft_p99_ms": 5}, {"ttft_p95": 5}, {"time_to_first_token": 5}):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            EnvironmentConfig.model_validate(env_dict(slo=slo))


def test_check_set_is_derived_from_the_configuration() -> None:
    base = SLOObjectives(**OBJ)
    assert [o.name for o, _ in configured(base)] == ["availability", "latency_p95", "error_rate"]
    assert staging_gate_checks(base) == (
        CHECK_INTEGRATION_TESTS,
        "output_quality",
        "slo_availability",
        "slo_latency_p95",
        "slo_error_rate",
    )
    with_ttft = SLOObjectives(**OBJ, ttft_p95_ms=500)
    assert staging_gate_checks(with_ttft)[-1] == "slo_ttft_p95"
    assert "slo_tpot_p95" not in staging_gate_checks(with_ttft)
    both = SLOObjectives(**OBJ, ttft_p95_ms=500, tpot_p95_ms=40)
    assert staging_gate_checks(both)[-2:] == ("slo_ttft_p95", "slo_tpot_p95")
    # Dagster declares a blocking spec for every objective; runs report the configured ones.
    specs = slo_specs("staging_deployment", blocking=True)
    assert [s.name for s in specs] == [o.check_name for o in OBJECTIVES]
    assert all(s.blocking for s in specs)
    assert "Only for models whose slo: sets ttft_p95_ms" in (specs[3].description or "")


def test_engine_selects_the_metric_profile() -> None:
    assert profile_for_engine("vllm") is VLLM_PROFILE
    for engine in ("builtin", "llama-cpp", None):
        assert profile_for_engine(engine) is DEFAULT_PROFILE


def test_docs_show_the_registry() -> None:
    root = REPO_ROOT
    table = objectives_table()
    for doc in ("docs/slos.md", "docs/architecture.md"):
        assert table in (root / doc).read_text(), f"{doc}: regenerate the SLO objectives table"


# --- real Prometheus -----------------------------------------------------------------------

SCENARIOS = [
    Scenario("fast", NS, ttft=FAST_TTFT, tpot=TPOT),
    Scenario("slow-first-token", NS, ttft=SLOW_TTFT, tpot=TPOT),
    Scenario("no-token-series", NS),
    Scenario("llama-vllm", NS, profile="vllm", ttft=SLOW_TTFT, tpot=TPOT),
]


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, int]]:
    end = aligned_now()
    process = start_with_history(tmp_path_factory.mktemp("tokens"), SCENARIOS, end=end, steps=300)
    yield process, end
    process.stop()


def _run(prom: tuple[PrometheusProcess, int], model: str, objectives: SLOObjectives, **kw):  # noqa: ANN003, ANN202
    with PrometheusClient(prom[0].url, timeout=30) as client:
        verdict = evaluate(
            client,
            model=model,
            namespace=NS,
            objectives=objectives,
            at=datetime.fromtimestamp(prom[1], tz=UTC),
            **kw,
        )
        return verdict, client.queries_issued


@pytest.mark.integration
def test_ttft_objective_on_real_histograms(prom: tuple[PrometheusProcess, int]) -> None:
    objectives = SLOObjectives(**OBJ, ttft_p95_ms=1000, tpot_p95_ms=50)
    fast, queries = _run(prom, "fast", objectives)
    results = {r.name: r for r in fast.objectives}
    assert fast.verdict == "pass", fast.reason
    assert queries == 2 + 5
    assert results["ttft_p95"].value == pytest.approx(p95_from(FAST_TTFT) * 1000, rel=0.02)
    assert results["tpot_p95"].value == pytest.approx(
        p95_from(TPOT, TOKEN_BUCKETS) * 1000, rel=0.02
    )
    assert "llm_time_to_first_token_seconds_bucket" in results["ttft_p95"].query
    slow, _ = _run(prom, "slow-first-token", objectives)
    verdicts = {r.name: r.verdict for r in slow.objectives}
    assert slow.verdict == "fail" and verdicts["ttft_p95"] == "fail"
    assert verdicts["latency_p95"] == verdicts["tpot_p95"] == "pass"
    assert "ttft_p95: p95 time to first token" in slow.reason and "> 1000 ms" in slow.reason


@pytest.mark.integration
def test_configured_objective_without_data_is_inconclusive(
    prom: tuple[PrometheusProcess, int],
) -> None:
    verdict, _ = _run(prom, "no-token-series", SLOObjectives(**OBJ, ttft_p95_ms=1000))
    ttft = next(r for r in verdict.objectives if r.name == "ttft_p95")
    assert ttft.verdict == "inconclusive" and verdict.verdict == "inconclusive"
    assert "no data for p95 time to first token" in ttft.reason


@pytest.mark.integration
def test_objective_not_configured_is_not_queried(prom: tuple[PrometheusProcess, int]) -> None:
    verdict, queries = _run(prom, "slow-first-token", SLOObjectives(**OBJ))
    assert [r.name for r in verdict.objectives] == ["availability", "latency_p95", "error_rate"]
    assert verdict.verdict == "pass" and queries == 5


@pytest.mark.integration
def test_vllm_profile_reads_vllm_token_histograms(prom: tuple[PrometheusProcess, int]) -> None:
    objectives = SLOObjectives(**OBJ, ttft_p95_ms=1000)
    verdict, _ = _run(prom, "llama-vllm", objectives, profile=profile_for_engine("vllm"))
    ttft = next(r for r in verdict.objectives if r.name == "ttft_p95")
    assert "vllm:time_to_first_token_seconds_bucket" in ttft.query
    assert ttft.verdict == "fail"
    assert ttft.value == pytest.approx(p95_from(SLOW_TTFT) * 1000, rel=0.02)


@pytest.mark.integration
def test_fleet_with_mixed_objectives_matches_per_model(
    prom: tuple[PrometheusProcess, int],
) -> None:
    plain = SLOObjectives(**OBJ)
    ttft = SLOObjectives(**OBJ, ttft_p95_ms=1000)
    wanted = {"fast": ttft, "slow-first-token": ttft, "no-token-series": plain}
    with PrometheusClient(prom[0].url, timeout=30) as client:
        fleet = evaluate_fleet(
            client,
            namespace=NS,
            objectives_by_model=wanted,  # type: ignore[arg-type]
            at=datetime.fromtimestamp(prom[1], tz=UTC),
        )
        assert client.queries_issued == 5 + 6  # one query set per distinct objective set
    for model, objectives in wanted.items():
        single, _ = _run(prom, model, objectives)
        assert [(r.name, r.verdict) for r in fleet[model].objectives] == [
            (r.name, r.verdict) for r in single.objectives
        ]
        for mine, theirs in zip(fleet[model].objectives, single.objectives, strict=True):
            if mine.value is not None:
                assert mine.value == pytest.approx(theirs.value, rel=1e-6)
