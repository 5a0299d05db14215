"""RemoteKfpRegistrar: kfp.Client against a local HTTP server playing the KFP v2beta1 REST API.

On run creation the fake server does what the cluster would: it runs the submitted pipeline's
steps (fetch from S3 -> scan -> register) with the submitted parameters, against a real moto
S3 server, so the record the registrar reads back was produced from what it sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy
import pytest
import safetensors.numpy
from dagster_aws.s3 import S3Resource

from llm_platform.artifact_store import ModelRegistry
from llm_platform.config import ModelConfig
from llm_platform.registration import ArtifactUnsafeError, RegistrationError, RemoteKfpRegistrar
from llm_platform.registration.steps import fetch_step, register_step, scan_step
from llm_platform.settings import DEFAULT_MAX_ARTIFACT_BYTES
from resources.artifact_store import S3ArtifactStore
from resources.github import CommitStatusResource
from resources.registrar import RemoteKfpRegistrarResource
from tests.helpers.loopback_http import QuietHandler
from tests.helpers.registry_fixtures import moto_server, s3_resource, set_aws_env
from tests.helpers.security_fixtures import malicious_pickle

BUCKET = "kfp-artifacts"
TOKEN = "s3cr3t-t0ken"


class FakeKfp:
    """The subset of the KFP v2beta1 API that kfp.Client uses to create and poll a run."""

    def __init__(self, workdir: Path, final_state: str, execute: bool) -> None:
        self.workdir = workdir
        self.final_state = final_state
        self.execute = execute
        self.requests: list[tuple[str, str, str | None]] = []
        self.runs: list[dict[str, Any]] = []
        self.failed_tasks: dict[str, str] = {}
        self.polls = 0
        fake = self

        class Handler(QuietHandler):
            def _reply(self, body: dict[str, Any]) -> None:
                self.reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, self.headers.get("Authorization")))
                if self.path.startswith("/apis/v2beta1/healthz"):
                    self._reply({"multi_user": False})
                elif self.path.startswith("/apis/v2beta1/experiments"):
                    self._reply({})
                elif self.path.startswith("/apis/v2beta1/runs/run-"):
                    fake.polls += 1
                    run_id = self.path.rsplit("/", 1)[1]
                    failed_task = fake.failed_tasks.get(run_id, "register-artifact")
                    state = "RUNNING" if fake.polls < 2 else fake.final_state
                    if run_id in fake.failed_tasks and fake.polls >= 2:
                        state = "FAILED"
                    body: dict[str, Any] = {"run_id": run_id, "state": state}
                    if state == "FAILED":
                        body["error"] = {"code": 9, "message": f"task {failed_task} failed"}
                    self._reply(body)
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(("POST", self.path, self.headers.get("Authorization")))
                if self.path == "/apis/v2beta1/experiments":
                    self._reply({"experiment_id": "exp-1", "display_name": body["display_name"]})
                elif self.path == "/apis/v2beta1/runs":
                    run_id = f"run-{len(fake.runs) + 1}"
                    fake.runs.append(body)
                    if fake.execute:
                        fake.run_steps(run_id, body)
                    self._reply({"run_id": run_id, "display_name": body["display_name"]})
                else:
                    self.send_error(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def run_steps(self, run_id: str, body: dict[str, Any]) -> None:
        """Run the steps as the cluster would; a step that raises fails the run, as in KFP."""
        params = body["runtime_config"]["parameters"]
        task = self.workdir / run_id
        step = "fetch-and-hash"
        try:
            manifest = fetch_step(
                params["source_type"],
                params["source_uri"],
                task / "model",
                "",
                max_bytes=int(params["max_bytes"]),
            )
            step = "scan-artifact"
            scan_step(
                task / "model",
                task / "report.json",
                task / "report.sarif",
                store_uri=params["store_uri"],
                name=params["name"],
                version=params["version"],
                registration_id=params["registration_id"],
            )
            step = "register-artifact"
            self._register(run_id, params, task, manifest.model_dump_json())
        except Exception:
            self.failed_tasks[run_id] = step

    @staticmethod
    def _register(run_id: str, params: dict[str, Any], task: Path, manifest_json: str) -> None:
        register_step(
            task / "model",
            manifest_json=manifest_json,
            source_uri=params["source_uri"],
            report_path=task / "report.json",
            sarif_path=task / "report.sarif",
            name=params["name"],
            version=params["version"],
            commit_sha=params["commit_sha"],
            config_hash=params["config_hash"],
            store_uri=params["store_uri"],
            kfp_run_id=run_id,
            kfp_ui_url=params["kfp_ui_url"],
        )


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[S3Resource]:
    with moto_server() as endpoint:
        set_aws_env(monkeypatch, endpoint)  # what the cluster's task pods would have
        monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no stray ~/.config/kfp context
        resource = s3_resource(endpoint)
        client = resource.get_client()
        client.create_bucket(Bucket=BUCKET)
        weights = safetensors.numpy.save({"w": numpy.arange(8, dtype=numpy.float32)})
        client.put_object(Bucket=BUCKET, Key="src/tiny/model.safetensors", Body=weights)
        client.put_object(Bucket=BUCKET, Key="src/tiny/config.json", Body=b"{}")
        yield resource


def start_fake(tmp_path: Path, final_state: str, execute: bool) -> FakeKfp:
    fake = FakeKfp(tmp_path / "cluster", final_state, execute)
    fake.thread.start()
    return fake


CONFIG = ModelConfig.model_validate(
    {
        "name": "tiny",
        "version": "2.1.0",
        "architecture": "llama",
        "resources": {"memory_gb": 8, "gpu_count": 1, "gpu_type": "nvidia-tesla-t4"},
        "source": {"type": "s3", "uri": f"s3://{BUCKET}/src/tiny"},
    }
)


def test_remote_registration_submits_pipeline_and_reads_record(
    s3: S3Resource, tmp_path: Path
) -> None:
    fake = start_fake(tmp_path, "SUCCEEDED", execute=True)
    try:
        store = S3ArtifactStore(s3=s3, bucket=BUCKET, prefix="registry")
        registrar = RemoteKfpRegistrarResource(endpoint=fake.endpoint, token=TOKEN)
        inner = registrar.registrar(store)
        inner.poll_interval_s = 0.05  # type: ignore[attr-defined]
        result = inner.register(
            config=CONFIG, models_repo_dir=tmp_path, commit_sha="e" * 40, run_id="dg-42"
        )
    finally:
        fake.server.shutdown()

    assert len(fake.runs) == 1
    run = fake.runs[0]
    assert run["display_name"] == "register-tiny-2.1.0-dg-42"
    assert run["experiment_id"] == "exp-1"
    params = run["runtime_config"]["parameters"]
    assert params.pop("registration_id").startswith("dg-42-")
    assert params == {
        "name": "tiny",
        "version": "2.1.0",
        "source_type": "s3",
        "source_uri": f"s3://{BUCKET}/src/tiny",
        "commit_sha": "e" * 40,
        "config_hash": CONFIG.config_hash(),
        "store_uri": f"s3://{BUCKET}/registry",
        "max_bytes": DEFAULT_MAX_ARTIFACT_BYTES,
        "kfp_ui_url": fake.endpoint,
    }
    spec = run["pipeline_spec"]
    assert spec["pipelineInfo"]["name"] == "llm-platform-register-model"
    assert set(spec["root"]["dag"]["tasks"]) == {
        "fetch-and-hash",
        "scan-artifact",
        "register-artifact",
    }
    assert {"comp-fetch-and-hash", "comp-scan-artifact", "comp-register-artifact"} <= set(
        spec["components"]
    )
    executors = json.dumps(spec["deploymentSpec"]["executors"])
    assert "scan_step" in executors and "register_step" in executors
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in fake.requests)

    assert result.kfp_run_id == "run-1"
    assert result.kfp_run_url == f"{fake.endpoint}/#/runs/details/run-1"
    assert result.record.kfp_run_url == result.kfp_run_url
    assert result.record.name == "tiny" and result.record.scan_safe
    assert json.loads(result.scan_report_json)["safe"] is True
    assert ModelRegistry(store.store()).verify(result.record)


def test_failed_run_raises_with_run_url_and_no_token(s3: S3Resource, tmp_path: Path) -> None:
    fake = start_fake(tmp_path, "FAILED", execute=False)
    store = S3ArtifactStore(s3=s3, bucket=BUCKET, prefix="registry")
    registrar = RemoteKfpRegistrar(
        fake.endpoint, TOKEN, store.uri, poll_interval_s=0.05, store=store.store()
    )
    try:
        with pytest.raises(RegistrationError) as info:
            registrar.register(config=CONFIG, models_repo_dir=tmp_path, commit_sha="f", run_id="x")
    finally:
        fake.server.shutdown()
    message = str(info.value)
    assert f"{fake.endpoint}/#/runs/details/run-1" in message and "FAILED" in message
    assert "task register-artifact failed" in message
    assert TOKEN not in message and TOKEN not in repr(registrar)
    assert ModelRegistry(store.store()).list_records("tiny") == []


def test_run_that_never_finishes_times_out_with_url(s3: S3Resource, tmp_path: Path) -> None:
    fake = start_fake(tmp_path, "RUNNING", execute=False)
    registrar = RemoteKfpRegistrar(
        fake.endpoint, None, f"s3://{BUCKET}/registry", timeout_s=0.3, poll_interval_s=0.05
    )
    try:
        with pytest.raises(RegistrationError, match=r"still RUNNING after .*#/runs/details/run-1"):
            registrar.register(config=CONFIG, models_repo_dir=tmp_path, commit_sha="f", run_id="y")
    finally:
        fake.server.shutdown()
    assert fake.polls <= 20


def test_remote_refuses_local_store_and_local_source(tmp_path: Path) -> None:
    registrar = RemoteKfpRegistrar("http://127.0.0.1:9", None, str(tmp_path / "store"))
    with pytest.raises(RegistrationError, match="needs an s3:// artifact store"):
        registrar.register(config=CONFIG, models_repo_dir=tmp_path, commit_sha="f", run_id="z")
    local = CONFIG.model_copy(update={"source": CONFIG.source.model_copy(update={"type": "local"})})  # type: ignore[union-attr]
    registrar = RemoteKfpRegistrar("http://127.0.0.1:9", None, f"s3://{BUCKET}/r")
    with pytest.raises(RegistrationError, match="cannot be fetched by a remote"):
        registrar.register(config=local, models_repo_dir=tmp_path, commit_sha="f", run_id="z")


def test_unsafe_artifact_through_kfp_client_raises_typed_error_with_report(
    s3: S3Resource, tmp_path: Path
) -> None:
    s3.get_client().put_object(
        Bucket=BUCKET, Key="src/evil/pytorch_model.bin", Body=malicious_pickle(tmp_path / "pwned")
    )
    s3.get_client().put_object(Bucket=BUCKET, Key="src/evil/config.json", Body=b"{}")
    evil = CONFIG.model_copy(
        update={"source": CONFIG.source.model_copy(update={"uri": f"s3://{BUCKET}/src/evil"})}  # type: ignore[union-attr]
    )
    fake = start_fake(tmp_path, "SUCCEEDED", execute=True)
    store = S3ArtifactStore(s3=s3, bucket=BUCKET, prefix="registry")
    registrar = RemoteKfpRegistrarResource(
        endpoint=fake.endpoint, token=TOKEN, poll_interval_s=0.05
    ).registrar(store)
    try:
        with pytest.raises(ArtifactUnsafeError) as info:
            registrar.register(
                config=evil, models_repo_dir=tmp_path, commit_sha="e" * 40, run_id="u"
            )
    finally:
        fake.server.shutdown()
    assert fake.failed_tasks == {"run-1": "scan-artifact"}
    report = info.value.report
    assert report.safe is False and report.summary["unsafe"] == 1
    assert [f.path for f in report.bad_files()] == ["pytorch_model.bin"]
    message = str(info.value)
    assert f"{fake.endpoint}/#/runs/details/run-1" in message and TOKEN not in message
    assert ModelRegistry(store.store()).list_records("tiny") == []
    assert not (tmp_path / "pwned").exists()


def test_registered_model_fails_security_scan_check_through_kfp_client(
    s3: S3Resource, tmp_path: Path, models_repo: Any
) -> None:
    import dagster as dg

    from assets.model_config import model_config
    from assets.names import CHECK_SECURITY_SCAN, REGISTERED_MODEL
    from assets.registered_model import registered_model
    from resources.git_repo import ModelsRepoResource

    client = s3.get_client()
    client.put_object(
        Bucket=BUCKET, Key="src/alpha/pytorch_model.bin", Body=malicious_pickle(tmp_path / "pwn")
    )
    yaml_path = models_repo.path / "models/alpha/model.yaml"
    text = yaml_path.read_text().replace("type: local", "type: s3")
    yaml_path.write_text(text.replace("uri: weights/alpha", f"uri: s3://{BUCKET}/src/alpha"))
    models_repo.commit("alpha from s3")
    fake = start_fake(tmp_path, "SUCCEEDED", execute=True)
    try:
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("models", ["alpha"])
            result = dg.materialize(
                [model_config, registered_model],
                instance=instance,
                partition_key="alpha",
                resources={
                    "models_repo": ModelsRepoResource(location=str(models_repo.path)),
                    "artifact_store": S3ArtifactStore(s3=s3, bucket=BUCKET, prefix="registry"),
                    "registrar": RemoteKfpRegistrarResource(
                        endpoint=fake.endpoint, token=TOKEN, poll_interval_s=0.05
                    ),
                    "github": CommitStatusResource(),
                },
                raise_on_error=False,
            )
            evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    finally:
        fake.server.shutdown()
    assert fake.failed_tasks == {"run-1": "scan-artifact"}
    assert not result.success
    scan = evaluations[CHECK_SECURITY_SCAN]
    assert scan.passed is False
    assert scan.metadata["unsafe"].value == 1
    assert [f["path"] for f in scan.metadata["unsafe_files"].value] == ["pytorch_model.bin"]
    assert not result.asset_materializations_for_node(REGISTERED_MODEL)
