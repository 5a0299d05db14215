"""deploy/: the image, the Helm values, the Dagster instance config and the RBAC.

No Docker daemon, no Helm and no cluster here: the Dockerfile is parsed and its sources must
exist; the Helm values are checked key by key against the chart's own values schema (vendored);
the instance config, both deploy/dagster.yaml and the one the chart renders from the values,
goes through Dagster's own config schemas; RBAC validates with kubernetes-validate strict.
"""

from __future__ import annotations

import copy
import re
import tomllib
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from assets.k8s_executor import STEP_RESOURCES, k8s_executor_config
from llm_platform.config.loading import load_environment_config
from llm_platform.registration.pipeline import DEFAULT_IMAGE
from llm_platform.settings import Settings
from llm_platform.targets.kubernetes.apply import PLURALS
from llm_platform.targets.kubernetes.image import PLATFORM_IMAGE
from llm_platform.targets.kubernetes.kserve import storage_container
from tests.helpers.dagster_config_schema import (
    validate_instance_file,
    validate_instance_mapping,
    validate_k8s_executor_config,
)
from tests.helpers.helm_instance import instance_from_helm_values
from tests.helpers.paths import HELPERS, REPO_ROOT

ROOT = REPO_ROOT
DEPLOY = ROOT / "deploy"
VALUES = DEPLOY / "helm" / "values.yaml"
RBAC = DEPLOY / "rbac" / "platform-rbac.yaml"
CHART_SCHEMA = HELPERS / "vendor" / "dagster_helm" / "values.schema.json"
KUBERNETES_VERSION = "1.30.0"


def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


# --- the image ----------------------------------------------------------------------------


def instructions() -> list[dict[str, Any]]:
    """The Dockerfile's instructions (comments left out), continuation lines joined."""
    with (DEPLOY / "Dockerfile").open("rb") as handle:
        parsed = DockerfileParser(fileobj=handle).structure
    return [i for i in parsed if i["instruction"] != "COMMENT"]


PINNED = re.compile(r"^[\w./:-]+@sha256:[0-9a-f]{64}$")


def test_upstream_images_are_pinned_by_digest():
    """A tag can be moved under a running platform; a digest names the exact image."""
    from llm_platform.serving.engines.llama_cpp import IMAGE as LLAMA_CPP_IMAGE
    from llm_platform.serving.engines.vllm import IMAGE as VLLM_IMAGE

    (base,) = [i["value"] for i in instructions() if i["instruction"] == "FROM"]
    for image in (base, LLAMA_CPP_IMAGE, VLLM_IMAGE):
        assert PINNED.match(image), f"{image} is not pinned by digest"


def test_dockerfile_parses_and_copies_files_that_exist():
    kinds = [i["instruction"] for i in instructions()]
    assert kinds.count("FROM") == 1 and kinds[0] == "FROM"
    assert "USER" in kinds and "CMD" in kinds
    copied: set[str] = set()
    for ins in instructions():
        if ins["instruction"] != "COPY":
            continue
        *sources, _dest = ins["value"].split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            copied.add(source.rstrip("/"))
    # Everything the package installs is in the build context.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    packages = [p.rstrip("*") for p in setuptools["packages"]["find"]["include"]]
    modules = [f"{m}.py" for m in setuptools["py-modules"]]
    for needed in [*packages, *modules, "pyproject.toml", project["project"]["readme"]]:
        assert needed in copied, f"deploy/Dockerfile does not COPY {needed}"


def test_dockerignore_lets_the_copied_files_in():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].removesuffix("/**") for line in ignore if line.startswith("!")}
    for ins in instructions():
        if ins["instruction"] == "COPY":
            for source in ins["value"].split()[:-1]:
                assert source.rstrip("/") in allowed, f"{source} is excluded from the context"


def test_the_image_has_one_name_everywhere():
    assert DEFAULT_IMAGE == PLATFORM_IMAGE  # the Kubeflow components run the platform image
    assert Settings.from_env({}).platform_image == PLATFORM_IMAGE
    assert (
        Settings.from_env({"LLM_PLATFORM_IMAGE": "r.example/x:1"}).platform_image == "r.example/x:1"
    )
    deployment = values()["dagster-user-deployments"]["deployments"][0]
    image = deployment["image"]
    assert f"{image['repository']}:{image['tag']}" == PLATFORM_IMAGE
    assert deployment["env"]["LLM_PLATFORM_IMAGE"] == PLATFORM_IMAGE
    assert f"-t {PLATFORM_IMAGE}" in (DEPLOY / "Dockerfile").read_text()


# --- Helm values ----------------------------------------------------------------------------


def strict(schema: Any) -> Any:
    """The chart schema with unknown keys forbidden (the chart silently ignores them) and
    ``required`` dropped (Helm merges these values over the chart's defaults)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items() if k != "required"}
        if "properties" in schema and "additionalProperties" not in schema:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def chart_validator() -> jsonschema.Draft7Validator:
    import json

    return jsonschema.Draft7Validator(strict(json.loads(CHART_SCHEMA.read_text())))


def test_helm_values_name_only_keys_the_chart_has():
    errors = sorted(chart_validator().iter_errors(values()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (["dagster-user-deployments", "deployments", 0], "envSecret"),
        (["runLauncher", "config", "k8sRunLauncher"], "jobNamespaces"),
        (["dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator"], "tagConcurrency"),
        ([], "postgres"),
    ],
)
def test_a_misspelled_key_is_caught(path, key):
    broken = values()
    target = broken
    for part in path:
        target = target[part]
    target[key] = "x"
    assert list(chart_validator().iter_errors(broken)), f"{key} at {path} was not caught"


def test_helm_values_configure_what_the_platform_needs():
    v = values()
    assert v["runLauncher"]["type"] == "K8sRunLauncher"
    assert v["postgresql"]["enabled"] is False and v["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in v["postgresql"]  # from the existing Secret, never here
    user = v["dagster-user-deployments"]["deployments"][0]
    assert user["env"]["LLM_PLATFORM_TARGET"] == "kubernetes"
    assert "PROMETHEUS_URL" not in user["env"]  # found in the cluster
    secret_names = ("TOKEN", "PASSWORD", "SECRET", "WEBHOOK", "HEADERS")
    assert not [k for k in user["env"] if any(s in k for s in secret_names)]
    limits = v["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    dagster_yaml = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    # One rule in both instance configs: one run per model at a time.
    local = dagster_yaml["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limits["tagConcurrencyLimits"] == local
    assert local == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]


# --- Dagster instance config ----------------------------------------------------------------


def test_deploy_dagster_yaml_validates_through_dagsters_schema(tmp_path):
    validate_instance_file(DEPLOY / "dagster.yaml", tmp_path)


def test_the_instance_the_chart_renders_from_the_values_validates():
    instance = instance_from_helm_values(values(), namespace="dagster")
    validate_instance_mapping(instance)
    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert launcher["config"]["env_secrets"] == ["llm-platform-secrets"]
    assert launcher["config"]["service_account_name"] == "llm-platform"
    coordinator = instance["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert coordinator["config"]["tag_concurrency_limits"][0]["key"] == "dagster/partition"
    assert instance["run_storage"]["class"] == "PostgresRunStorage"
    assert instance["run_storage"]["config"]["postgres_db"]["password"] == {
        "env": "DAGSTER_PG_PASSWORD"
    }


def test_a_wrong_instance_value_is_rejected():
    instance = instance_from_helm_values(values(), namespace="dagster")
    broken = copy.deepcopy(instance)
    broken["run_launcher"]["config"]["load_incluster_config"] = "yes"
    with pytest.raises(ValueError, match="load_incluster_config"):
        validate_instance_mapping(broken)
    broken = copy.deepcopy(instance)
    broken["run_coordinator"]["config"]["tag_concurrency_limits"][0]["limits"] = 1
    with pytest.raises(ValueError, match="limits"):
        validate_instance_mapping(broken)


# --- k8s_job_executor ----------------------------------------------------------------------


def test_k8s_executor_config_validates_and_names_real_steps(tmp_path):
    validate_k8s_executor_config(k8s_executor_config())
    broken = k8s_executor_config()
    broken["per_step_k8s_config"]["registered_model"]["container_confg"] = {}
    with pytest.raises(ValueError, match="container_confg"):
        validate_k8s_executor_config(broken)
    from definitions import build_defs

    settings = Settings.from_env(
        {"LLM_PLATFORM_HOME": str(tmp_path), "LLM_PLATFORM_EXECUTOR": "k8s_job"}
    )
    defs = build_defs(settings)
    job = defs.resolve_job_def("model_job")
    assert job.executor_def.name == "llm_platform_k8s_job_executor"
    steps = {node.name for node in job.graph.nodes}
    production = {n.name for n in defs.resolve_job_def("production_job").graph.nodes}
    assert set(STEP_RESOURCES) <= steps | production
    assert build_defs(Settings.from_env({"LLM_PLATFORM_HOME": str(tmp_path)})).executor is None


def test_unknown_executor_is_refused():
    from llm_platform.common.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="LLM_PLATFORM_EXECUTOR='k8s'"):
        Settings.from_env({"LLM_PLATFORM_EXECUTOR": "k8s"})


# --- RBAC ----------------------------------------------------------------------------------


def rbac_docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(RBAC.read_text()) if d]


def test_rbac_validates_strictly():
    docs = rbac_docs()
    assert {d["kind"] for d in docs} == {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    bad = copy.deepcopy(docs[0])
    bad["rules"][0]["verb"] = ["get"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_rbac_is_least_privilege():
    allowed_writes = {"create", "patch", "delete"}
    for doc in rbac_docs():
        for rule in doc.get("rules", []):
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{doc['metadata']['name']}: wildcard in {field}"
            assert "secrets" not in rule["resources"]
            if doc["kind"] == "ClusterRole" and rule.get("resourceNames"):
                # cluster-wide writes only to the named objects the runtime applies
                assert set(rule["verbs"]) <= {"create", "patch"}, doc
            elif (
                doc["kind"] == "ClusterRole"
                or "services" in rule["resources"]
                and doc["metadata"]["name"].endswith("discovery")
            ):
                assert not set(rule["verbs"]) & (allowed_writes | {"update"}), doc
            assert "update" not in rule["verbs"]  # writes are server-side apply (patch)
            assert set(rule["verbs"]) <= {"get", "list", "watch"} | allowed_writes


def test_rbac_covers_the_example_environments_and_the_service_account():
    config = ROOT / "examples" / "models-repo" / "config"
    envs = [load_environment_config(p) for p in sorted(config.glob("*.yaml"))]
    roles = {
        (d["metadata"].get("namespace"), d["metadata"]["name"])
        for d in rbac_docs()
        if d["kind"] == "Role"
    }
    for env in envs:
        assert (env.namespace, "llm-platform-serving") in roles
        assert (env.monitoring.prometheus_namespace, "llm-platform-prometheus-discovery") in roles
    account = values()["global"]["serviceAccountName"]
    for doc in rbac_docs():
        if doc["kind"].endswith("Binding"):
            assert doc["subjects"] == [
                {"kind": "ServiceAccount", "name": account, "namespace": "dagster"}
            ]


def test_rbac_lets_the_runtime_apply_its_cluster_scoped_objects() -> None:
    """Every cluster-scoped object the runtime renders (KServe's storage container) is
    writable by server-side apply (create + patch) by name, through a bound ClusterRole."""
    docs = rbac_docs()
    account = values()["global"]["serviceAccountName"]
    bound = {
        d["roleRef"]["name"]
        for d in docs
        if d["kind"] == "ClusterRoleBinding"
        and {"kind": "ServiceAccount", "name": account, "namespace": "dagster"} in d["subjects"]
    }
    manifest = storage_container(["s3://bucket/registry"])
    assert "namespace" not in manifest["metadata"]
    group = manifest["apiVersion"].rpartition("/")[0]
    plural = PLURALS[manifest["kind"]]
    granted = [
        set(rule["verbs"])
        for d in docs
        if d["kind"] == "ClusterRole" and d["metadata"]["name"] in bound
        for rule in d["rules"]
        if group in rule["apiGroups"]
        and plural in rule["resources"]
        and manifest["metadata"]["name"] in rule.get("resourceNames", [])
    ]
    assert granted and all(verbs == {"create", "patch"} for verbs in granted)
