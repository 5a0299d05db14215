"""Staging and production on separate clusters (the seed's STAGING_KUBECONFIG and
PRODUCTION_KUBECONFIG): ``LLM_PLATFORM_KUBECONFIG_<ENV>`` sends each environment's deployments,
capacity reads and Prometheus discovery to its own API server (two kmock servers here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from definitions import capacity_for, runtime_for
from llm_platform.common.errors import ConfigurationError
from llm_platform.config import parse_environment_config, parse_model_config
from llm_platform.settings import Settings
from llm_platform.targets.base import DeploymentSpec, RevisionSpec
from llm_platform.targets.kubernetes.kubeconfigs import kubeconfig_env_var
from tests.helpers.k8s_fixtures import register_gguf
from tests.helpers.kmock_fixtures import kube_server
from tests.helpers.kube_emulator_fixtures import CORE_KINDS, node
from tests.helpers.models_repo import ENV_YAML, ModelsRepo


def test_each_environment_deploys_to_its_own_cluster(
    models_repo: ModelsRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models_repo.write("config/production.yaml", ENV_YAML.format(env="production"))
    models_repo.commit("production environment")
    record = register_gguf(tmp_path / "store", tmp_path, name="alpha", commit=models_repo.head())
    # No default cluster at all: every environment must reach its own.
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config either
    with kube_server() as staging_api, kube_server() as production_api:
        variables = {
            kubeconfig_env_var("staging"): str(
                staging_api.write_kubeconfig(tmp_path / "staging.kubeconfig")
            ),
            kubeconfig_env_var("production"): str(
                production_api.write_kubeconfig(tmp_path / "production.kubeconfig")
            ),
        }
        assert set(variables) == {
            "LLM_PLATFORM_KUBECONFIG_STAGING",
            "LLM_PLATFORM_KUBECONFIG_PRODUCTION",
        }
        settings = Settings.from_env(
            {
                "LLM_PLATFORM_TARGET": "kubernetes",
                "LLM_PLATFORM_MODELS_REPO": str(models_repo.path),
                "LLM_PLATFORM_HOME": str(tmp_path / "home"),
                **variables,
            }
        )
        assert settings.kubeconfigs == variables
        runtime = runtime_for(settings).runtime()
        for env in ("staging", "production"):
            revision = RevisionSpec(
                revision=f"r-{env}",
                version=record.version,
                digest=record.digest,
                artifact_uri=record.artifact_uri,
                color="blue",
                weight=100,
                engine="llama-cpp",
            )
            runtime.apply(DeploymentSpec(env=env, model="alpha", revisions=[revision]))
        for api, env in ((staging_api, "staging"), (production_api, "production")):
            (obj,) = api.objects("inferenceservices")
            assert obj["metadata"]["namespace"] == env
        assert [(d.env, d.model) for d in runtime.list_deployments()] == [
            ("production", "alpha"),
            ("staging", "alpha"),
        ]
        assert runtime.desired_spec("staging", "alpha") is not None

        # The capacity gate reads production's own nodes (staging's cluster has none).
        production_api.emulator.resources.update(CORE_KINDS)
        staging_api.emulator.resources.update(CORE_KINDS)
        with production_api.api() as api:
            labels = {"node-type": "gpu-v100"}
            client.CoreV1Api(api).create_node(node("gpu-1", gpus=2, labels=labels))
        env = parse_environment_config(
            ENV_YAML.format(env="production").encode(), source="config/production.yaml"
        )
        rel = "models/alpha/model.yaml"
        model = parse_model_config((models_repo.path / rel).read_bytes(), source=rel)
        item = capacity_for(settings).gate_item(runtime, env=env, model=model, artifact_bytes=1)
        assert item.ok, item.reason
        staging_env = env.model_copy(update={"environment": "staging"})
        refused = capacity_for(settings).gate_item(
            runtime, env=staging_env, model=model, artifact_bytes=1
        )
        assert not refused.ok  # staging's cluster has no node that fits


def test_a_relative_kubeconfig_path_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="LLM_PLATFORM_KUBECONFIG_STAGING"):
        Settings.from_env({"LLM_PLATFORM_KUBECONFIG_STAGING": "relative/kubeconfig"})
