"""Firing page alerts roll production back: the generated rules evaluated by a real Prometheus
over a backfilled history, the rollback sensor reading ``ALERTS`` with one query."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest

from assets.names import PRODUCTION_DEPLOYMENT
from llm_platform.artifact_store import open_store
from llm_platform.config.environments import PRODUCTION
from llm_platform.config.slo_rules_source import load_checkout, rules_for
from llm_platform.promotion import Ledger
from llm_platform.slo.alerts import FiringAlert, parse_alerts, rollback_alerts_query, rollbacks
from llm_platform.slo.prom import PromSample
from llm_platform.slo.rules import rules_yaml
from resources.artifact_store import LocalArtifactStore
from resources.git_repo import ModelsRepoResource
from resources.prometheus import PrometheusResource
from sensors.promotion import production_rollback_sensor
from tests.helpers.budget_fixtures import (
    constant,
    during,
    production_yaml,
    revision_history,
    write,
)
from tests.helpers.models_repo import ModelsRepo
from tests.helpers.prom_fixtures import PrometheusProcess, aligned_now, backfill
from tests.helpers.promotion_fixtures import promote_twice

pytestmark = pytest.mark.integration

MIN = 60
#: model -> its serving revision. "burning" fails 20 % of requests (20x its budget) for 90
#: minutes; "moved-on" burned the same way on r1, but r2 serves now; "healthy" never burns.
SERVING = {"burning": "burning-r2", "moved-on": "moved-on-r2", "healthy": "healthy-r1"}
TIMELINES = [
    revision_history(
        "burning", "burning-r2", 3 * 3600, error_ratio=during(90 * MIN, -1, 0.2, 0.001)
    ),
    revision_history(
        "moved-on", "moved-on-r1", 3 * 3600, error_ratio=during(90 * MIN, -1, 0.2, 0.001)
    ),
    revision_history("moved-on", "moved-on-r2", 3 * 3600),
    revision_history("healthy", "healthy-r1", 3 * 3600, error_ratio=constant(0.001)),
]


def _sample(**labels: str) -> PromSample:
    return PromSample(labels=labels, value=1.0)


def test_only_the_serving_revisions_alerts_ask_for_a_rollback() -> None:
    labels = {"alertname": "LLMErrorRateBudgetBurn", "objective": "error_rate", "burn_rate": "14.4"}
    alerts = parse_alerts(
        [
            _sample(model="a", revision="a-2", **labels, long_window="1h", short_window="5m"),
            _sample(model="b", revision="b-1", **labels),  # b serves b-2
            _sample(model="c", revision="c-1", **labels),  # c has no known serving revision
            _sample(revision="x", **labels),  # no model: nothing to roll back
        ]
    )
    assert [a.model for a in alerts] == ["a", "b", "c"]
    decided = rollbacks(alerts, {"a": "a-2", "b": "b-2", "c": ""})
    assert set(decided) == {"a"}
    assert "LLMErrorRateBudgetBurn" in decided["a"] and "a-2" in decided["a"]
    assert "14.4x over 1h and 5m" in decided["a"]
    assert rollbacks([], {"a": "a-2"}) == {}
    query = rollback_alerts_query("production")
    for matcher in ('alertstate="firing"', 'severity="page"', 'action="rollback"'):
        assert matcher in query
    assert query.startswith("ALERTS{") and 'environment="production"' in query
    assert FiringAlert("n", "m", "r", "o", "6", "6h", "30m").reason.endswith("6h and 30m")


@pytest.fixture
def repo(models_repo: ModelsRepo) -> ModelsRepo:
    models_repo.write("config/production.yaml", production_yaml("error_rate: 0.01"))
    for name in SERVING:
        models_repo.write_model(name)
    models_repo.commit("production fleet")
    return models_repo


@pytest.fixture
def prom(repo: ModelsRepo, tmp_path: Path) -> Iterator[PrometheusProcess]:
    """A real Prometheus evaluating the generated rules every second over the history."""
    rules = tmp_path / "production.rules.yml"
    rules.write_text(rules_yaml(rules_for(*load_checkout(repo.path, PRODUCTION))))
    # The history ends a minute ago: Prometheus appends the rules' samples only after the
    # backfilled blocks, and the 5-minute window still sees the burn for minutes.
    end = aligned_now() // 60 * 60 - MIN
    om, data = tmp_path / "history.om", tmp_path / "data"
    write(om, TIMELINES, end=end)
    backfill(om, data)
    config = f"global:\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n"
    server = PrometheusProcess(data, config)
    try:
        yield server
    finally:
        server.stop()


def _wait_firing(url: str, timeout_s: float = 240.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        resp = httpx.get(f"{url}/api/v1/query", params={"query": rollback_alerts_query(PRODUCTION)})
        firing = resp.json()["data"]["result"]
        if firing:
            return firing
        time.sleep(1)
    raise AssertionError(f"no page alert fired within {timeout_s} s")


def test_a_firing_page_alert_for_the_serving_revision_requests_one_rollback(
    repo: ModelsRepo, prom: PrometheusProcess, tmp_path: Path
) -> None:
    firing = _wait_firing(prom.url)
    assert {(a["metric"]["model"], a["metric"]["revision"]) for a in firing} == {
        ("burning", "burning-r2"),
        ("moved-on", "moved-on-r1"),
    }
    store = LocalArtifactStore(root=str(tmp_path / "store"))
    ledger = Ledger(open_store(str(tmp_path / "store")))
    for model, revision in SERVING.items():
        promote_twice(ledger, model=model, revision=revision, digest="1" * 64)
    resources = {
        "artifact_store": store,
        "models_repo": ModelsRepoResource(location=str(repo.path)),
        "prometheus": PrometheusResource(url=prom.url),
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", list(SERVING))
        for model, revision in SERVING.items():
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    PRODUCTION_DEPLOYMENT,
                    partition=model,
                    metadata={"version": "1.0.0", "digest": "1" * 64, "revision": revision},
                )
            )
        keys = []
        for _ in range(2):  # the second tick asks for the same run (run key = materialization)
            with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
                tick = production_rollback_sensor(ctx)
            assert isinstance(tick, dg.SensorResult)
            requests = tick.run_requests or []
            assert [r.partition_key for r in requests] == ["burning"]
            config = requests[0].run_config["ops"][PRODUCTION_DEPLOYMENT]["config"]
            assert config["action"] == "rollback"
            assert "LLMErrorRateBudgetBurn" in config["reason"]
            keys.append(requests[0].run_key)
        assert keys[0] == keys[1] and keys[0].startswith("rollback:burning:")


def test_prometheus_unreachable_requests_no_rollback_and_does_not_fail_the_tick(
    repo: ModelsRepo, tmp_path: Path
) -> None:
    resources = {
        "artifact_store": LocalArtifactStore(root=str(tmp_path / "store")),
        "models_repo": ModelsRepoResource(location=str(repo.path)),
        "prometheus": PrometheusResource(url="http://127.0.0.1:9"),
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["burning"])
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                PRODUCTION_DEPLOYMENT,
                partition="burning",
                metadata={"version": "1.0.0", "digest": "1" * 64, "revision": "burning-r2"},
            )
        )
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            tick = production_rollback_sensor(ctx)
    assert isinstance(tick, dg.SkipReason)
