"""The gateway sidecar on a cluster: engines without contract metrics (builtin, llama.cpp) get
the platform's gateway in their pod, taking the traffic and the scrapes; vLLM does not. The
rendered sidecar command is run for real in front of a real builtin model server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.serving.metrics import REQUESTS_FAILED_TOTAL
from llm_platform.targets.base import DeploymentSpec, InvalidDeploymentSpec, RevisionSpec
from llm_platform.targets.kubernetes.pods import CONTAINER_NAME
from llm_platform.targets.kubernetes.prometheus import scrape_annotations
from llm_platform.targets.kubernetes.render import render
from llm_platform.targets.kubernetes.sidecar import (
    GATEWAY_PORT,
    SIDECAR_NAME,
    gateway_container,
    needs_gateway,
)
from llm_platform.targets.local.processes import free_port
from tests.helpers.k8s_fixtures import DIGEST_A, by_kind, placement, revision
from tests.helpers.k8s_schemas import validate_manifest
from tests.helpers.serving_fixtures import Proc, build_artifact, start_model_server

FILES = {
    "llama-cpp": ("model.gguf",),
    "builtin": ("config.json", "weights.npz"),
    "vllm": ("config.json", "model.safetensors"),
}


def rendered(engine: str, workload: str) -> list[dict[str, Any]]:
    rev = revision("r-blue", DIGEST_A, 100, "blue", engine=engine)
    spec = DeploymentSpec(env="prod", model="m", revisions=[rev])
    docs = render(spec, placement(workload), {"r-blue": FILES[engine]})
    for doc in docs:
        validate_manifest(doc)
    return docs


def test_only_engines_on_the_default_profile_need_the_gateway() -> None:
    assert needs_gateway("builtin") and needs_gateway("llama-cpp")
    assert not needs_gateway("vllm")


@pytest.mark.parametrize("engine", ["builtin", "llama-cpp"])
def test_deployment_pods_serve_and_export_through_the_sidecar(engine: str) -> None:
    docs = rendered(engine, "deployment")
    pod = by_kind(docs, "Deployment")[0]["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    assert list(containers) == [CONTAINER_NAME, SIDECAR_NAME]
    args = containers[SIDECAR_NAME]["args"]
    for flag in ("--model=m", "--version=1.0.0", "--revision=r-blue", "--color=blue"):
        assert flag in args
    # The namespace label the SLO queries select on (env "prod" lives in "team-a").
    assert "--namespace=team-a" in args
    engine_port = containers[CONTAINER_NAME]["ports"][0]["containerPort"]
    assert f"--upstream=http://127.0.0.1:{engine_port}" in args
    assert (
        pod["metadata"]["annotations"] | scrape_annotations(GATEWAY_PORT)
        == (pod["metadata"]["annotations"])
    )
    for service in by_kind(docs, "Service"):  # the revision's and the model's
        assert service["spec"]["ports"][0]["targetPort"] == GATEWAY_PORT


@pytest.mark.parametrize("engine", ["builtin", "llama-cpp"])
def test_kserve_predictor_carries_the_sidecar_and_the_runtime_no_port(engine: str) -> None:
    _, runtime, isvc = rendered(engine, "kserve")
    engine_container = runtime["spec"]["containers"][0]
    assert "ports" not in engine_container  # Knative routes to the one declared port
    predictor = isvc["spec"]["predictor"]
    (sidecar,) = predictor["containers"]
    assert sidecar["name"] == SIDECAR_NAME
    assert sidecar["ports"][0]["containerPort"] == GATEWAY_PORT
    assert "--revision=r-blue" in sidecar["args"]
    assert "--namespace=team-a" in sidecar["args"]  # the placement's, not the env name
    for notes in (predictor["annotations"], runtime["spec"]["annotations"]):
        assert notes["prometheus.kserve.io/port"] == str(GATEWAY_PORT)
        assert notes["prometheus.kserve.io/path"] == "/metrics"


def test_vllm_pods_have_no_sidecar_and_are_scraped_directly() -> None:
    docs = rendered("vllm", "deployment")
    pod = by_kind(docs, "Deployment")[0]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    port = container["ports"][0]["containerPort"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert by_kind(docs, "Service")[0]["spec"]["ports"][0]["targetPort"] == port
    _, runtime, isvc = rendered("vllm", "kserve")
    assert "containers" not in isvc["spec"]["predictor"]
    assert runtime["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080
    assert isvc["spec"]["predictor"]["annotations"]["prometheus.kserve.io/port"] == "8080"


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("sidecar")
    artifact = tmp / "artifact"
    proc, url = start_model_server(artifact, build_artifact(artifact), tmp, model="m")
    yield url, tmp
    proc.stop()


def sidecar_argv(upstream: str, port: int, rev: RevisionSpec | None = None) -> list[str]:
    """The rendered sidecar's command and args, with the engine and listen address local."""
    rev = rev or revision("r-blue", DIGEST_A, 100, "blue", engine="builtin")
    container = gateway_container("prod", "m", rev, 8080)
    args = [a for a in container["args"] if not a.startswith(("--upstream=", "--host=", "--port="))]
    assert container["command"][:2] == ["python", "-m"]
    return [*container["command"][1:], *args, f"--upstream={upstream}", "--host=127.0.0.1",
            f"--port={port}"]  # fmt: skip


def test_rendered_sidecar_exports_the_contract_series(model_server: tuple[str, Path]) -> None:
    upstream, tmp = model_server
    port = free_port()
    proc = Proc(sidecar_argv(upstream, port), tmp / "sidecar.log")
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(url + "/-/health")
        body = {"model": "m", "prompt": "hello", "max_tokens": 2}
        with httpx.Client(timeout=30) as c:
            for _ in range(3):  # the engine's own paths: no /<model> prefix
                assert c.post(url + "/v1/completions", json=body).status_code == 200
            assert c.get(url + "/health").status_code == 200  # proxied, not counted
            text = c.get(url + "/metrics").text
    finally:
        proc.stop()
    labels = {"model": "m", "namespace": "prod", "version": "1.0.0", "color": "blue",
              "revision": "r-blue"}  # fmt: skip
    samples = {
        s.name: s
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name in ("llm_requests_total", "llm_time_to_first_token_seconds_count")
    }
    assert samples["llm_requests_total"].labels == labels
    assert samples["llm_requests_total"].value == 3.0
    assert samples["llm_time_to_first_token_seconds_count"].labels == labels


def test_rendered_sidecar_injects_the_revisions_faults(model_server: tuple[str, Path]) -> None:
    upstream, tmp = model_server
    port = free_port()
    rev = revision("r-blue", DIGEST_A, 100, "blue", engine="builtin")
    faulty = rev.model_copy(update={"error_rate": 1.0, "latency_ms": 50.0})
    argv = sidecar_argv(upstream, port, faulty)
    assert '--faults={"latency_ms":50.0,"error_rate":1.0,"stall_ms":0.0,"cut_rate":0.0}' in argv
    assert not any(a.startswith("--faults") for a in sidecar_argv(upstream, port, rev))
    proc = Proc(argv, tmp / "faulty-sidecar.log")
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_http(url + "/-/health")
        body = {"model": "m", "prompt": "hello", "max_tokens": 2}
        with httpx.Client(timeout=30) as c:
            codes = [c.post(url + "/v1/completions", json=body).status_code for _ in range(4)]
            text = c.get(url + "/metrics").text
    finally:
        proc.stop()
    assert codes == [500] * 4
    failed = [
        s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == REQUESTS_FAILED_TOTAL
    ]
    assert failed == [4.0]  # counted as the revision's failures, so its SLO checks see them


def test_faults_on_an_engine_without_the_sidecar_are_refused() -> None:
    rev = revision("r-blue", DIGEST_A, 100, "blue", engine="vllm")
    spec = DeploymentSpec(
        env="prod", model="m", revisions=[rev.model_copy(update={"latency_ms": 5.0})]
    )
    for workload in ("kserve", "deployment"):
        with pytest.raises(InvalidDeploymentSpec, match="r-blue.*engine vllm"):
            render(spec, placement(workload), {"r-blue": FILES["vllm"]})


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--upstream=http://127.0.0.1:1", "--model=m", "--version=1"], "--revision"),
        (
            ["--upstream=ftp://x", "--model=m", "--version=1", "--revision=r"],
            "url",
        ),
        (["--upstream=http://127.0.0.1:1", "--routes=r.json"], "not allowed with"),
        (
            [
                "--upstream=http://127.0.0.1:1",
                "--model=m",
                "--version=1",
                "--revision=r",
                '--faults={"error_rate": 2}',
            ],
            "error_rate",
        ),  # fmt: skip
    ],
)
def test_bad_upstream_arguments_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    import subprocess
    import sys

    argv = [sys.executable, "-m", "llm_platform.serving.gateway", "--namespace=prod", "--port=1"]
    done = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert needle in done.stderr
