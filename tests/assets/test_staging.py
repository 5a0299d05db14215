"""staging_deployment + staging SLO checks on the embedded stack (real processes, Prometheus)."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import httpx
import pytest

from assets.model_config import model_config
from assets.names import CHECK_INTEGRATION_TESTS, STAGING_DEPLOYMENT
from assets.registered_model import registered_model
from assets.slo_checks import staging_slo_checks
from assets.staging import staging_deployment
from llm_platform.artifact_store import open_store
from llm_platform.promotion import Ledger
from llm_platform.slo import OBJECTIVES
from resources.artifact_store import LocalArtifactStore
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource
from resources.registrar import LocalKfpRegistrarResource
from resources.runtime import LocalRuntimeResource
from tests.helpers.paths import DEMO_WEIGHTS

pytestmark = pytest.mark.long

#: The SLO checks every model gets (objectives with a default in the registry).
DEFAULT_SLO_CHECKS = [o.check_name for o in OBJECTIVES if o.default is not None]
ASSETS = [model_config, registered_model, staging_deployment, staging_slo_checks]


@pytest.fixture
def repo(models_repo):
    shutil.copytree(DEMO_WEIGHTS / "tiny-shakespeare", models_repo.path / "weights" / "alpha")
    text = (models_repo.path / "models/alpha/model.yaml").read_text()
    models_repo.write("models/alpha/model.yaml", text + "slo:\n  latency_p95_ms: 400\n")
    models_repo.commit("alpha weights, tight latency objective")
    return models_repo


def _resources(repo, tmp_path: Path, home: Path, prometheus_url: str | None = None):
    return {
        "models_repo": ModelsRepoResource(location=str(repo.path)),
        "artifact_store": LocalArtifactStore(root=str(tmp_path / "store")),
        "registrar": LocalKfpRegistrarResource(pipeline_root=str(tmp_path / "kfp")),
        "runtime": LocalRuntimeResource(home=str(home)),
        "prometheus": PrometheusResource(url=prometheus_url, home=str(home)),
        "notifier": NotifierResource(),
        "github": CommitStatusResource(),
    }


def _run(repo, tmp_path, home, instance, run_config=None, prometheus_url=None):
    return dg.materialize(
        ASSETS,
        instance=instance,
        partition_key="alpha",
        resources=_resources(repo, tmp_path, home, prometheus_url),
        run_config=run_config,
        raise_on_error=False,
    )


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _staging_config(**ops):
    return {"ops": {STAGING_DEPLOYMENT: {"config": {"load_requests": 24, **ops}}}}


def test_deploy_to_staging_serves_and_passes_checks(repo, tmp_path, stack_home):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = _run(repo, tmp_path, stack_home, instance, _staging_config())
        checks = _checks(result)
        assert checks[CHECK_INTEGRATION_TESTS].passed
        mat = result.asset_materializations_for_node(STAGING_DEPLOYMENT)[0]
        meta = {k: v.value for k, v in mat.metadata.items()}
        assert meta["load_success_rate"] == 1.0 and meta["load_p95_ms"] > 0
        endpoint = meta["endpoint"]
        body = httpx.post(
            f"{endpoint}/v1/completions",
            json={"model": "alpha", "prompt": "Shall I", "max_tokens": 8},
            timeout=10,
        ).json()
        assert body["choices"][0]["text"]
        for check in DEFAULT_SLO_CHECKS:
            assert checks[check].passed, checks[check].description
            assert checks[check].metadata["revision"].value == meta["revision"]
        # alpha's slo: sets no ttft/tpot objective: those checks pass as "not configured".
        for unset in ("slo_ttft_p95", "slo_tpot_p95"):
            assert checks[unset].passed, checks[unset].description
            assert checks[unset].metadata["verdict"].value == "not_configured"
        assert checks["slo_error_rate"].metadata["samples"].value >= 24
        assert result.success
        # The ledger knows what staging serves.
        staged = Ledger(open_store(str(tmp_path / "store"))).serving("alpha", "staging")
        assert staged is not None and staged.digest == meta["digest"]


def test_injected_latency_fails_the_latency_slo_only(repo, tmp_path, stack_home):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = _run(
            repo, tmp_path, stack_home, instance, _staging_config(inject_latency_ms=600.0)
        )
        checks = _checks(result)
        assert checks[CHECK_INTEGRATION_TESTS].passed
        latency = checks["slo_latency_p95"]
        assert not latency.passed
        assert latency.metadata["verdict"].value == "fail"
        assert latency.metadata["value"].value > 400
        assert checks["slo_error_rate"].passed
        assert not result.success  # a blocking check failed


def test_prometheus_down_fails_slo_checks_closed(repo, tmp_path, stack_home):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = _run(
            repo,
            tmp_path,
            stack_home,
            instance,
            _staging_config(),
            prometheus_url="http://127.0.0.1:9",
        )
        checks = _checks(result)
        assert checks[CHECK_INTEGRATION_TESTS].passed
        for check in DEFAULT_SLO_CHECKS:
            assert not checks[check].passed
            assert "Prometheus" in (checks[check].description or "")


def test_artifact_that_fails_to_load_keeps_previous_revision(repo, tmp_path, stack_home):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        first = _run(repo, tmp_path, stack_home, instance, _staging_config())
        assert first.success
        old = first.asset_materializations_for_node(STAGING_DEPLOYMENT)[0].metadata
        # New weights that pass the scan but cannot be loaded by the server.
        (repo.path / "weights/alpha/config.json").write_text('{"architecture": "unknown"}')
        repo.commit("broken weights")
        second = _run(repo, tmp_path, stack_home, instance, _staging_config())
        assert not second.success
        assert not second.asset_materializations_for_node(STAGING_DEPLOYMENT)
        failure = [e for e in second.all_events if e.event_type_value == "STEP_FAILURE"][0]
        assert "previous revision keeps serving" in str(failure.event_specific_data.error)
        # The old revision still answers through the gateway.
        r = httpx.post(
            f"{old['endpoint'].value}/v1/completions",
            json={"model": "alpha", "prompt": "to be", "max_tokens": 4},
            timeout=10,
        )
        assert r.status_code == 200
        assert r.headers["x-llm-revision"] == old["revision"].value
