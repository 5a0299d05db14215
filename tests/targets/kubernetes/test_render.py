"""Rendering for the Kubernetes target and ``llm-platform manifests``: every manifest validates
strictly (core kinds with kubernetes-validate 1.30, KServe kinds against the vendored CRD
schemas) and carries the environment's namespace, selectors, GPUs, multipliers, autoscaling."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from llm_platform.cli import _register, app
from llm_platform.common.digest import digest_directory
from llm_platform.config import EnvironmentConfig
from llm_platform.targets.base import DeploymentSpec, InvalidDeploymentSpec
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.render import choose_latest, render
from tests.helpers.config_fixtures import env_dict
from tests.helpers.k8s_fixtures import (
    COMMIT,
    DIGEST_A,
    DIGEST_B,
    MODEL,
    by_kind,
    placement,
    register_gguf,
    revision,
    write_checkout,
)
from tests.helpers.k8s_schemas import validate_manifest


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    root = write_checkout(tmp_path / "repo")
    store = tmp_path / "store"
    record = register_gguf(store, tmp_path)
    monkeypatch.setenv("ARTIFACT_STORE_URI", str(store))
    monkeypatch.setenv("LLM_PLATFORM_HOME", str(tmp_path / "home"))
    return {"root": root, "record": record, "store": store, "tmp": tmp_path}


def run_manifests(*args: str) -> Any:
    _register()
    return CliRunner().invoke(app, ["manifests", *args])


def test_manifests_kserve_environment(checkout: dict[str, Any]) -> None:
    record = checkout["record"]
    result = run_manifests("--env", "staging", "--model", MODEL, "--repo", str(checkout["root"]))
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == [
        "ClusterStorageContainer", "ServingRuntime", "InferenceService", "PrometheusRule",
    ]  # fmt: skip
    for doc in docs:
        validate_manifest(doc)
    storage, runtime, isvc, _ = docs
    assert "namespace" not in storage["metadata"]  # cluster-scoped
    assert runtime["metadata"]["namespace"] == isvc["metadata"]["namespace"] == "staging"
    (uri_format,) = storage["spec"]["supportedUriFormats"]
    assert re.search(uri_format["regex"], record.artifact_uri)
    assert isvc["spec"]["predictor"]["storageContainerName"] == storage["metadata"]["name"]
    assert runtime["metadata"]["name"] == "llm-platform-llama-cpp"
    assert runtime["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/health"
    predictor = isvc["spec"]["predictor"]
    model = predictor["model"]
    assert model["runtime"] == "llm-platform-llama-cpp"
    assert model["storageUri"] == record.artifact_uri
    assert model["args"][:2] == ["--model", "/mnt/models/model.gguf"]
    # gpu_count 1 x gpu_multiplier 2.0; memory 16 GiB x memory_multiplier 1.5
    assert model["resources"]["limits"] == {"memory": "24576Mi", "nvidia.com/gpu": "2"}
    assert model["resources"]["requests"]["memory"] == "16384Mi"
    assert model["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert model["readinessProbe"]["httpGet"]["path"] == "/health"
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 5)
    assert predictor["nodeSelector"] == {"node-type": "gpu-v100"}
    assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "canaryTrafficPercent" not in predictor  # one revision serves everything
    labels = isvc["metadata"]["labels"]
    assert labels[names.MODEL] == MODEL and labels[names.VERSION] == "1.0.0"
    assert labels[names.DIGEST_PREFIX] == record.digest[:12]
    assert labels[names.COMMIT] == COMMIT
    assert labels[names.REVISION] == f"v1-0-0-{record.digest[:8]}"
    assert isvc["metadata"]["annotations"][names.DIGEST] == record.digest


def test_manifests_deployment_environment(checkout: dict[str, Any]) -> None:
    record = checkout["record"]
    result = run_manifests(
        "--env", "production", "--model", MODEL, "--repo", str(checkout["root"]),
        "--digest", record.digest,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "&id" not in result.stdout  # shared label dicts are written out, not aliased
    docs = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in docs] == [
        "Deployment", "Service", "HorizontalPodAutoscaler", "Service", "PrometheusRule",
    ]  # fmt: skip
    for doc in docs:
        validate_manifest(doc)
        assert doc["metadata"]["namespace"] == "llm-prod"
    deployment, _, hpa, service, rule = docs
    # the model's SLO rules: every rule selects it, with the environment's name and thresholds
    assert rule["metadata"]["labels"] == names.model_labels("production", MODEL)
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert exprs and all(f'"{MODEL}"' in e for e in exprs)
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert {a["labels"]["environment"] for a in alerts} == {"production"}
    assert {a["labels"]["severity"] for a in alerts} == {"page", "ticket"}
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "25%",
        "maxUnavailable": 0,
    }
    assert "replicas" not in deployment["spec"]  # the HPA owns the count
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert pod["nodeSelector"] == {"node-type": "gpu-a100", "pool": "serving"}
    fetch = pod["initContainers"][0]
    assert f"--digest={record.digest}" in fetch["args"]
    assert f"--uri={record.artifact_uri}" in fetch["args"]
    engine = pod["containers"][0]
    assert engine["args"][1] == f"/mnt/models/{MODEL}/{record.digest}/model.gguf"
    # production keeps the default multipliers: memory_multiplier 0.8 from the fixture is
    # below 1, so the request is capped at the limit (a request above its limit is invalid)
    assert engine["resources"]["limits"]["memory"] == "13108Mi"
    assert engine["resources"]["requests"]["memory"] == "13108Mi"
    assert engine["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert service["spec"]["selector"][names.COLOR] == "blue"
    assert deployment["spec"]["template"]["metadata"]["labels"][names.COLOR] == "blue"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--env", "nope"], "nope.yaml"),
        (["--env", "staging", "--digest", "f" * 64], "no registered artifact"),
    ],
)
def test_manifests_configuration_errors_exit_2(
    checkout: dict[str, Any], args: list[str], needle: str
) -> None:
    result = run_manifests(*args, "--model", MODEL, "--repo", str(checkout["root"]))
    assert result.exit_code == 2
    assert needle in result.output


def test_manifests_preview_an_unregistered_model_from_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like ``helm template``: a reviewer sees what the change would deploy before it is
    registered; the digest is the one registration would compute from the same files."""
    from tests.helpers.config_fixtures import model_dict
    from tests.helpers.gguf_fixtures import write_gguf

    source = {"type": "local", "uri": "weights/llama"}
    root = write_checkout(tmp_path / "repo", model=model_dict(source=source))
    write_gguf(root / "weights" / "llama" / "model.gguf", metadata={"general.name": "m"})
    store = tmp_path / "empty-store"
    monkeypatch.setenv("ARTIFACT_STORE_URI", str(store))
    monkeypatch.setenv("LLM_PLATFORM_HOME", str(tmp_path / "home"))
    result = run_manifests("--env", "staging", "--model", MODEL, "--repo", str(root))
    assert result.exit_code == 0, result.output
    assert "is not registered: previewing from its source weights/llama" in result.stderr
    digest = digest_directory(root / "weights" / "llama").digest
    docs = list(yaml.safe_load_all(result.stdout))
    (isvc,) = by_kind(docs, "InferenceService")
    uri = isvc["spec"]["predictor"]["model"]["storageUri"]
    assert uri == f"{store.as_uri()}/{MODEL}/1.0.0/{digest}/files/"
    for doc in docs:
        validate_manifest(doc)
    # A source that only registration can fetch is refused with the reason.
    on_s3 = model_dict(source={"type": "s3", "uri": "s3://models/llama"})
    root2 = write_checkout(tmp_path / "repo2", model=on_s3)
    refused = run_manifests("--env", "staging", "--model", MODEL, "--repo", str(root2))
    assert refused.exit_code == 2
    assert "cannot be previewed from config alone" in refused.output
    assert "pass --digest" not in refused.output


FILES = {"r-blue": ("model.gguf",), "r-green": ("model.gguf",), "r-three": ("model.gguf",)}


def test_blue_green_switch_moves_the_service_selector() -> None:
    blue, green = (
        revision("r-blue", DIGEST_A, 100, "blue"),
        revision("r-green", DIGEST_B, 0, "green"),
    )
    before = render(
        DeploymentSpec(env="prod", model="m", revisions=[blue, green]),
        placement("deployment"),
        FILES,
    )
    after = render(
        DeploymentSpec(
            env="prod",
            model="m",
            revisions=[
                blue.model_copy(update={"weight": 0}),
                green.model_copy(update={"weight": 100}),
            ],
        ),
        placement("deployment"),
        FILES,
    )
    for doc in before + after:
        validate_manifest(doc)
    assert by_kind(before, "Service")[-1]["spec"]["selector"][names.COLOR] == "blue"
    assert by_kind(after, "Service")[-1]["spec"]["selector"][names.COLOR] == "green"
    # both revisions keep running, each with its own Service (its own URL)
    assert len(by_kind(after, "Deployment")) == 2 and len(by_kind(after, "Service")) == 3
    assert by_kind(after, "Deployment")[0]["spec"]["replicas"] == 1  # autoscaling off


def test_deployment_workload_refuses_a_traffic_split() -> None:
    spec = DeploymentSpec(
        env="prod",
        model="m",
        revisions=[
            revision("r-blue", DIGEST_A, 90, "blue"),
            revision("r-green", DIGEST_B, 10, "green"),
        ],
    )
    with pytest.raises(InvalidDeploymentSpec, match="kubernetes.workload: kserve"):
        render(spec, placement("deployment"), FILES)


def test_kserve_canary_weight_is_the_latest_revisions_share() -> None:
    stable, canary = (
        revision("r-blue", DIGEST_A, 90, "stable"),
        revision("r-green", DIGEST_B, 10, "canary"),
    )
    previous = DeploymentSpec(
        env="prod", model="m", revisions=[stable.model_copy(update={"weight": 100})]
    )
    spec = DeploymentSpec(env="prod", model="m", revisions=[stable, canary])
    latest = choose_latest(spec, previous, "r-blue")
    assert latest.revision == "r-green"  # the revision this apply added
    docs = render(spec, placement("kserve"), FILES, latest=latest)
    for doc in docs:
        validate_manifest(doc)
    predictor = by_kind(docs, "InferenceService")[0]["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == canary.artifact_uri
    # a later weight change keeps the predictor (both revisions were already there)
    assert choose_latest(spec, spec, "r-green").revision == "r-green"


def test_kserve_holds_at_most_two_revisions() -> None:
    spec = DeploymentSpec(
        env="prod",
        model="m",
        revisions=[
            revision("r-blue", DIGEST_A, 100, "blue"),
            revision("r-green", DIGEST_B, 0, "green"),
            revision("r-three", "c" * 64, 0, "stable"),
        ],
    )
    with pytest.raises(InvalidDeploymentSpec, match="at most 2"):
        choose_latest(spec, None, None)


def test_vllm_runs_on_the_hugging_face_runtime_with_the_vllm_backend() -> None:
    rev = revision("r-blue", DIGEST_A, 100, "blue", engine="vllm")
    spec = DeploymentSpec(env="prod", model="m", revisions=[rev])
    files = {"r-blue": ("config.json", "model.safetensors")}
    docs = render(spec, placement("kserve", gpu_count=2, gpu_multiplier=1.0), files)
    for doc in docs:
        validate_manifest(doc)
    _, runtime, isvc = docs
    assert "--backend=vllm" in runtime["spec"]["containers"][0]["args"]
    assert runtime["spec"]["supportedModelFormats"][0]["name"] == "huggingface"
    model = isvc["spec"]["predictor"]["model"]
    assert model["args"] == ["--max-model-len=4096", "--max-num-seqs=8"]
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "2"


def test_builtin_engine_renders_on_both_workloads() -> None:
    rev = revision("r-blue", DIGEST_A, 100, "blue", engine="builtin")
    spec = DeploymentSpec(env="prod", model="m", revisions=[rev])
    files = {"r-blue": ("config.json", "weights.npz")}
    for workload in ("kserve", "deployment"):
        for doc in render(
            spec, placement(workload, autoscaling_enabled=True, max_replicas=3), files
        ):
            validate_manifest(doc)


def test_gpu_limit_rounds_up_and_names_start_with_a_letter() -> None:
    assert placement("kserve", gpu_count=3, gpu_multiplier=1.5).gpu_limit == 5
    assert names.object_name("3b-model") == "m-3b-model"
    long = names.object_name("a" * 40, "v1-0-0-" + "b" * 30)
    assert len(long) == 63 and long != names.object_name("a" * 40, "v1-0-0-" + "c" * 30)


def test_deployment_workload_allows_only_blue_green() -> None:
    with pytest.raises(ValidationError, match="kubernetes.workload deployment cannot"):
        EnvironmentConfig.model_validate(
            env_dict(kubernetes={"workload": "deployment"}), strict=False
        )
    ok = EnvironmentConfig.model_validate(
        env_dict(kubernetes={"workload": "deployment"}, deployment={"strategy": "blue-green"})
    )
    assert ok.kubernetes.workload == "deployment"
    with pytest.raises(ValidationError, match="kubernetes.workload"):
        EnvironmentConfig.model_validate(env_dict(kubernetes={"workload": "statefulset"}))


def test_fetch_init_container_verifies_the_digest(tmp_path: Path) -> None:
    """What the Deployment's init container runs: the verified files land in the engine's
    model directory; other bytes exit 1 and the engine would not start."""
    import subprocess
    import sys

    from llm_platform.targets.kubernetes.fetch import MODULE, model_dir

    record = register_gguf(tmp_path / "store", tmp_path)
    cache = tmp_path / "models"

    def fetch(digest: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", MODULE, f"--model={MODEL}", f"--uri={record.artifact_uri}"]
        argv += [f"--digest={digest}", f"--cache={cache}"]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    ok = fetch(record.digest)
    assert ok.returncode == 0, ok.stderr
    assert (Path(model_dir(str(cache), MODEL, record.digest)) / "model.gguf").is_file()
    bad = fetch("e" * 64)
    assert bad.returncode == 1
    assert f"the revision names {'e' * 64}" in bad.stderr
    assert not Path(model_dir(str(cache), MODEL, "e" * 64)).exists()
