"""The staging asset unchanged on the Kubernetes target: model_config -> registered_model
(kfp.local) -> staging_deployment applied to kmock's API server, where the test plays KServe:
it fetches ``storageUri`` like the storage initializer, runs the predictor container's own
arguments (the builtin model server) on 127.0.0.1 and reports the URL and Ready in status."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from assets.model_config import model_config
from assets.names import CHECK_INTEGRATION_TESTS, STAGING_DEPLOYMENT
from assets.registered_model import registered_model
from assets.staging import staging_deployment
from llm_platform.kubernetes import names
from llm_platform.runtime.artifacts import ArtifactCache
from llm_platform.serving.engines.builtin import MODEL_SERVER_MODULE
from resources.artifact_store import LocalArtifactStore
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource
from resources.registrar import LocalKfpRegistrarResource
from resources.runtime import KubernetesRuntimeResource
from tests.kmock_fixtures import KubeServer, kube_server
from tests.registry_fixtures import free_port

DEMO_WEIGHTS = Path(__file__).resolve().parent.parent / "examples/models-repo/weights"
ISVC_PATH = "/apis/serving.kserve.io/v1beta1/namespaces/staging/inferenceservices/alpha"


class FakeKServe:
    """Turns the applied InferenceService into a running server, then reports it Ready."""

    def __init__(self, server: KubeServer, work: Path) -> None:
        self.server, self.work = server, work
        self.proc: subprocess.Popen[bytes] | None = None
        self.isvc: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            deadline = time.monotonic() + 120
            while not self.server.objects("inferenceservices"):
                if time.monotonic() > deadline:
                    raise TimeoutError("no InferenceService was applied")
                time.sleep(0.2)
            (self.isvc,) = self.server.objects("inferenceservices")
            model = self.isvc["spec"]["predictor"]["model"]
            digest = self.isvc["metadata"]["annotations"][names.DIGEST]
            local = ArtifactCache(self.work / "pod").resolve("alpha", model["storageUri"], digest)
            port = free_port()
            args = [str(local) if a == "/mnt/models" else a for a in model["args"]]
            args = ["127.0.0.1" if a == "0.0.0.0" else a for a in args]
            args[args.index("--port") + 1] = str(port)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", MODEL_SERVER_MODULE, *args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            url = f"http://127.0.0.1:{port}"
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1, trust_env=False).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("the model server did not become healthy")
                time.sleep(0.2)
            status = {
                "url": url,
                "conditions": [{"type": "Ready", "status": "True"}],
                "components": {"predictor": {"traffic": [{"tag": "latest", "url": url}]}},
            }
            self.server.api().call_api(
                f"{ISVC_PATH}/status",
                "PATCH",
                header_params={"Content-Type": "application/merge-patch+json"},
                body={"status": status},
                auth_settings=["BearerToken"],
            )
        except BaseException as exc:  # reported by the test
            self.error = exc

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


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
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "k", "cluster": {"server": server.url}}],
                    "users": [{"name": "u", "user": {"token": "t"}}],
                    "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
                    "current-context": "c",
                }
            )
        )
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
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
        kserve = FakeKServe(server, tmp_path)
        kserve.thread.start()
        try:
            with dg.instance_for_test() as instance:
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
            kserve.thread.join(5)
            assert kserve.error is None, kserve.error
            assert result.success, [e.message for e in result.all_events if e.is_failure]
        finally:
            kserve.stop()
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks[CHECK_INTEGRATION_TESTS].passed
        meta = {
            k: v.value
            for k, v in result.asset_materializations_for_node(STAGING_DEPLOYMENT)[
                0
            ].metadata.items()
        }
        assert meta["namespace"] == "staging" and meta["engine"] == "builtin"
        (isvc,) = server.objects("inferenceservices")
        assert isvc["status"]["url"] == meta["endpoint"]
        assert isvc["spec"]["predictor"]["model"]["storageUri"] == meta["artifact_uri"]
        assert isvc["metadata"]["labels"][names.COMMIT] == repo.head()
        assert isvc["metadata"]["labels"][names.REVISION] == meta["revision"]
        assert meta["load_success_rate"] == 1.0
