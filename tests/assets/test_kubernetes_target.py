"""The staging asset unchanged on the Kubernetes target: model_config -> registered_model
(kfp.local) -> staging_deployment applied to kmock's API server, where
:class:`~tests.helpers.fake_kserve.FakeKServe` plays KServe: it fetches ``storageUri`` like
the storage initializer, runs the predictor's engine and gateway sidecar on 127.0.0.1 and reports
the URL and Ready in status."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets.model_config import model_config
from assets.names import CHECK_INTEGRATION_TESTS, STAGING_DEPLOYMENT
from assets.registered_model import registered_model
from assets.staging import staging_deployment
from llm_platform.targets.kubernetes import names
from resources.artifact_store import LocalArtifactStore
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource
from resources.registrar import LocalKfpRegistrarResource
from resources.runtime import KubernetesRuntimeResource
from tests.helpers.fake_kserve import FakeKServe
from tests.helpers.kmock_fixtures import kube_server
from tests.helpers.paths import DEMO_WEIGHTS


@pytest.fixture
def repo(models_repo):  # type: ignore[no-untyped-def]
    shutil.copytree(DEMO_WEIGHTS / "tiny-shakespeare", models_repo.path / "weights" / "alpha")
    models_repo.commit("alpha weights")
    return models_repo


@pytest.mark.integration
def test_staging_deployment_on_the_kubernetes_target(
    repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with kube_server() as server:
        monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kubeconfig")))
        home = tmp_path / "home"
        resources = {
            "models_repo": ModelsRepoResource(location=str(repo.path)),
            "artifact_store": LocalArtifactStore(root=str(tmp_path / "store")),
            "registrar": LocalKfpRegistrarResource(pipeline_root=str(tmp_path / "kfp")),
            "runtime": KubernetesRuntimeResource(home=str(home), models_repo=str(repo.path)),
            "prometheus": PrometheusResource(url=None, home=str(home)),
            "notifier": NotifierResource(),
            "github": CommitStatusResource(),
        }
        with (
            FakeKServe(server, tmp_path / "cluster", tmp_path / "targets.json") as kserve,
            dg.instance_for_test() as instance,
        ):
            instance.add_dynamic_partitions("models", ["alpha"])
            result = dg.materialize(
                [model_config, registered_model, staging_deployment],
                instance=instance,
                partition_key="alpha",
                resources=resources,
                run_config={
                    "ops": {
                        STAGING_DEPLOYMENT: {
                            "config": {"load_requests": 12, "settle_before_load_s": 0.0}
                        }
                    }
                },
                raise_on_error=False,
            )
            assert kserve.error is None, kserve.error
            assert result.success, [e.message for e in result.all_events if e.is_failure]
            isvc = kserve.settled("staging", "alpha")
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks[CHECK_INTEGRATION_TESTS].passed
        meta = {
            k: v.value
            for k, v in result.asset_materializations_for_node(STAGING_DEPLOYMENT)[
                0
            ].metadata.items()
        }
        assert meta["namespace"] == "staging" and meta["engine"] == "builtin"
        assert isvc["status"]["url"] == meta["endpoint"]
        assert isvc["spec"]["predictor"]["model"]["storageUri"] == meta["artifact_uri"]
        assert isvc["metadata"]["labels"][names.COMMIT] == repo.head()
        assert isvc["metadata"]["labels"][names.REVISION] == meta["revision"]
        assert meta["load_success_rate"] == 1.0
