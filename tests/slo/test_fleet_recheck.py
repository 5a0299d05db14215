"""The scheduled fleet re-check: one tick, constant queries, results per partition, runs only
where needed -- against a real git repo, a real Dagster instance and a real Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from assets.check_history import latest_check_status, latest_materialization_storage_id
from assets.jobs import slo_checks_job
from assets.names import (
    MODEL_CONFIG,
    PRODUCTION_DEPLOYMENT,
    SLO_RECHECK_SCHEDULE,
    STAGING_DEPLOYMENT,
    TAG_PARTITION,
)
from assets.recheck_record import FLEET_RECHECK_KEY, fleet_recheck, record_request
from llm_platform.artifact_store import open_store
from llm_platform.config import effective_slo, parse_environment_config, parse_model_config
from llm_platform.config.environments import PRODUCTION
from llm_platform.gitops import GitRepo
from llm_platform.promotion import Ledger
from llm_platform.slo import PrometheusClient, evaluate
from llm_platform.slo.budgets import evaluate_budgets
from llm_platform.slo.recheck import RECHECK_CHECK, outcome
from resources.artifact_store import LocalArtifactStore
from resources.git_repo import ModelsRepoResource
from resources.prometheus import PrometheusResource
from sensors.fleet_recheck import FleetRecheck, run_fleet_recheck
from sensors.promotion import production_rollback_sensor
from sensors.schedules import build_slo_recheck_schedule
from tests.helpers.budget_fixtures import during, production_yaml, revision_history, start
from tests.helpers.models_repo import ModelsRepo
from tests.helpers.prom_fixtures import PrometheusProcess, aligned_now
from tests.helpers.promotion_fixtures import promote_twice

pytestmark = pytest.mark.integration

HOUR, MIN = 3600, 60
FUTURE_S = 20 * MIN
EXPECTED = {  # model -> the re-check's action
    "healthy": "none",
    "fast": "rollback",
    "slow": "notify",
    "spike": "none",
    "slow-latency": "rollback",
}
#: The retired revision of "healthy" failed everything; the serving one must be judged alone.
TIMELINES = [
    revision_history("healthy", "healthy-r2", 12 * HOUR),
    revision_history("healthy", "healthy-r1", 12 * HOUR, error_ratio=lambda age: 0.5, rps=0.05),
    revision_history("fast", "fast-r1", 12 * HOUR, error_ratio=during(90 * MIN, -1, 0.2, 0.001)),
    revision_history("slow", "slow-r1", 12 * HOUR, error_ratio=during(7 * HOUR, -1, 0.08, 0.001)),
    revision_history(
        "spike",
        "spike-r1",
        12 * HOUR,
        error_ratio=during(FUTURE_S + 20 * MIN, FUTURE_S + 10 * MIN, 1.0, 0.0),
    ),
    revision_history("slow-latency", "slow-latency-r1", 12 * HOUR),
    revision_history("staged", "staged-r1", 1 * HOUR, "staging"),
]


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, int]]:
    # The tick evaluates at "now": the history runs on into the future so that "now" stays
    # inside each story (e.g. the fast burn's 5-minute window) however slow the machine is.
    end = aligned_now() // 60 * 60 + FUTURE_S
    server = start(tmp_path_factory.mktemp("fleet"), TIMELINES, end=end)
    try:
        yield server, end
    finally:
        server.stop()


def _repo(models_repo: ModelsRepo) -> str:
    models_repo.write("config/production.yaml", production_yaml("min_requests: 100"))
    for name in [*EXPECTED, "staged"]:
        models_repo.write_model(name)
    text = (models_repo.path / "models/slow-latency/model.yaml").read_text()
    models_repo.write("models/slow-latency/model.yaml", text + "slo:\n  latency_p95_ms: 100\n")
    return models_repo.commit("production fleet")


def _digest(model: str) -> str:
    return (model.encode().hex() * 64)[:64]


def _materialize(instance: dg.DagsterInstance, sha: str) -> None:
    instance.add_dynamic_partitions("models", [*EXPECTED, "staged"])
    for model in [*EXPECTED, "staged"]:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                MODEL_CONFIG, partition=model, metadata={"valid": True, "commit_sha": sha}
            )
        )
    for model in EXPECTED:
        meta = {"revision": f"{model}-r{2 if model == 'healthy' else 1}", "digest": _digest(model)}
        for asset in (STAGING_DEPLOYMENT, PRODUCTION_DEPLOYMENT):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset, partition=model, metadata={**meta, "version": "1.0.0"}
                )
            )
    # Staged with a new digest, not promoted yet: its staging checks are re-run.
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            STAGING_DEPLOYMENT,
            partition="staged",
            metadata={"version": "1.0.0", "digest": _digest("staged"), "revision": "staged-r1"},
        )
    )


@pytest.fixture
def fleet(models_repo: ModelsRepo, prom, tmp_path: Path):  # noqa: ANN001, ANN201
    sha = _repo(models_repo)
    with dg.instance_for_test() as instance:
        _materialize(instance, sha)
        yield instance, models_repo, sha


def execute(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """Run a checks-only request of ``slo_checks_job`` as the daemon would launch it."""
    # slo_checks_job reduced to the recording check (its other checks need the platform's
    # resources; the request selects only this one).
    assert set(request.asset_check_keys or []) == {FLEET_RECHECK_KEY}
    job = dg.define_asset_job(
        slo_checks_job.name, selection=dg.AssetSelection.checks(fleet_recheck)
    )
    defs = dg.Definitions(
        assets=[dg.AssetSpec(PRODUCTION_DEPLOYMENT)], asset_checks=[fleet_recheck], jobs=[job]
    )
    return defs.resolve_job_def(slo_checks_job.name).execute_in_process(
        instance=instance, run_config=request.run_config, tags=request.tags
    )


def record(instance: dg.DagsterInstance, result: FleetRecheck) -> str:
    """Record a fleet re-check as the schedule does: one checks-only run; its run id."""
    request = record_request(result.evaluations, run_key="test", trigger="test")
    return execute(instance, request).run_id


def tick(instance: dg.DagsterInstance, repo: ModelsRepo, prom) -> list[dg.RunRequest]:  # noqa: ANN001
    """One schedule tick (evaluate_tick, as the daemon); the record run executed."""
    schedule = build_slo_recheck_schedule("0 * * * *")
    with dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=datetime.now(UTC),
        resources={
            "models_repo": ModelsRepoResource(location=str(repo.path)),
            "prometheus": PrometheusResource(url=prom[0].url),
        },
    ) as ctx:
        requests = list(schedule.evaluate_tick(ctx).run_requests or [])
    records = [r for r in requests if FLEET_RECHECK_KEY in (r.asset_check_keys or [])]
    assert len(records) == 1
    execute(instance, records[0])
    return requests


def test_one_tick_records_every_model_and_launches_runs_only_where_needed(fleet, prom) -> None:  # noqa: ANN001
    instance, repo, _ = fleet
    requests = tick(instance, repo, prom)
    requested = {r.tags["dagster/partition"]: r for r in requests if r.tags.get(TAG_PARTITION)}
    assert set(requested) == {"slow", "staged"}
    assert {k.name for k in requested["slow"].asset_check_keys or []} >= {RECHECK_CHECK}
    assert {k.asset_key.path[-1] for k in requested["staged"].asset_check_keys or []} == {
        STAGING_DEPLOYMENT
    }
    for model, action in EXPECTED.items():
        st = latest_check_status(instance, PRODUCTION_DEPLOYMENT, RECHECK_CHECK, model)
        assert st.executed and st.metadata["action"] == action, (model, st.description)
        assert st.passed == (action == "none")
        assert st.target_storage_id is not None
    slow = latest_check_status(instance, PRODUCTION_DEPLOYMENT, RECHECK_CHECK, "slow").metadata
    assert slow["error_rate_burn_rate_6h"] == pytest.approx(8.0, rel=0.05)
    assert isinstance(slow["error_rate_budget_remaining"], float)
    assert slow["budget_period"] == "30d"


def _client(prom) -> PrometheusClient:  # noqa: ANN001
    return PrometheusClient(prom[0].url, timeout=30)


def test_queries_are_constant_and_verdicts_match_per_model_checks(fleet, prom) -> None:  # noqa: ANN001
    instance, repo, sha = fleet
    git = GitRepo(str(repo.path))
    with _client(prom) as client:
        result = run_fleet_recheck(instance, git, client, trigger="test")
        queries = client.queries_issued
    # Two traffic queries + three objectives (window) + two budget objectives.
    assert queries == 7 and not result.errors
    env = parse_environment_config(
        git.read_file(sha, "config/production.yaml"), source="config/production.yaml"
    )
    at = next(iter(result.outcomes.values())).slo.evaluated_at
    with _client(prom) as client:
        for model, fleet_outcome in result.outcomes.items():
            objectives = effective_slo(
                env,
                parse_model_config(git.read_file(sha, f"models/{model}/model.yaml"), source=model),
            )
            single = outcome(
                evaluate(
                    client,
                    model=model,
                    namespace="production",
                    objectives=objectives,
                    extra_labels={"revision": f"{model}-r{2 if model == 'healthy' else 1}"},
                    at=at,
                    env=PRODUCTION,
                ),
                evaluate_budgets(
                    client,
                    namespace="production",
                    objectives_by_model={model: objectives},
                    at=at,
                    env=PRODUCTION,
                    fleet=False,
                )[model],
            )
            assert single.action == fleet_outcome.action == EXPECTED[model]
            assert [(o.name, o.verdict) for o in single.slo.objectives] == [
                (o.name, o.verdict) for o in fleet_outcome.slo.objectives
            ]


def test_prometheus_down_is_recorded_as_an_error_never_a_pass(fleet) -> None:  # noqa: ANN001
    instance, repo, _ = fleet
    with PrometheusClient("http://127.0.0.1:9", timeout=2) as client:
        result = run_fleet_recheck(instance, GitRepo(str(repo.path)), client, trigger="test")
    record(instance, result)
    assert set(result.errors) == set(EXPECTED) and not result.outcomes
    st = latest_check_status(instance, PRODUCTION_DEPLOYMENT, RECHECK_CHECK, "healthy")
    assert not st.passed and st.metadata["slo_verdict"] == "error"
    assert st.metadata["action"] == "none" and "Prometheus" in (st.description or "")


def test_rollback_sensor_acts_on_the_ticks_record(fleet, prom, tmp_path: Path) -> None:  # noqa: ANN001
    instance, repo, _ = fleet
    store = LocalArtifactStore(root=str(tmp_path / "store"))
    ledger = Ledger(open_store(str(tmp_path / "store")))
    for model in ("fast", "slow-latency"):
        promote_twice(ledger, model=model, revision=f"{model}-r1", digest=_digest(model))
    with _client(prom) as client:
        result = run_fleet_recheck(
            instance, GitRepo(str(repo.path)), client, trigger=SLO_RECHECK_SCHEDULE
        )
    record(instance, result)
    resources = {
        "artifact_store": store,
        "models_repo": ModelsRepoResource(location=str(repo.path)),
        "prometheus": PrometheusResource(url=prom[0].url),  # no rules loaded: no alert fires
    }
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        tick = production_rollback_sensor(ctx)
    assert isinstance(tick, dg.SensorResult)
    rollbacks = {r.partition_key for r in tick.run_requests or []}
    assert rollbacks == {"fast", "slow-latency"}  # "slow" only warns; healthy and spike pass


def test_three_ticks_on_one_persistent_instance(
    models_repo: ModelsRepo,
    prom,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """Every tick records (no unique-key clash on the second), each is the latest, and a fast
    burn judged at the third tick still makes the rollback sensor decide."""
    sha = _repo(models_repo)
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    store = LocalArtifactStore(root=str(tmp_path / "store"))
    run_ids: list[str | None] = []
    cursor = None
    for n in range(3):
        # A fresh process's view each time: the instance is reopened from its home on disk.
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert not instance.is_ephemeral
            if n == 0:
                _materialize(instance, sha)
            if n == 2:  # "fast" 1.0.0 was promoted over 0.9.0: now there is one to restore
                promote_twice(
                    Ledger(open_store(str(tmp_path / "store"))),
                    model="fast",
                    revision="fast-r1",
                    digest=_digest("fast"),
                )
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(
                        PRODUCTION_DEPLOYMENT,
                        partition="fast",
                        metadata={
                            "version": "1.0.0",
                            "revision": "fast-r1",
                            "digest": _digest("fast"),
                        },
                    )
                )
            tick(instance, models_repo, prom)
            fast = latest_check_status(instance, PRODUCTION_DEPLOYMENT, RECHECK_CHECK, "fast")
            run_ids.append(fast.run_id)
            assert fast.executed and fast.run_id and fast.run_id not in run_ids[:-1]
            assert fast.metadata["action"] == "rollback", fast.description
            assert fast.target_storage_id == latest_materialization_storage_id(
                instance, PRODUCTION_DEPLOYMENT, "fast"
            )
            healthy = latest_check_status(instance, PRODUCTION_DEPLOYMENT, RECHECK_CHECK, "healthy")
            assert healthy.run_id == fast.run_id and healthy.passed
            sensor_resources = {
                "artifact_store": store,
                "models_repo": ModelsRepoResource(location=str(models_repo.path)),
                "prometheus": PrometheusResource(url=prom[0].url),  # no rules: no alert fires
            }
            with dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=sensor_resources
            ) as ctx:
                sensed = production_rollback_sensor(ctx)
            assert isinstance(sensed, dg.SensorResult)
            cursor = sensed.cursor
            rollbacks = {r.partition_key for r in sensed.run_requests or []}
            # Before the third tick "fast" has no previous production version to restore.
            assert rollbacks == ({"fast"} if n == 2 else set()), (n, rollbacks)
