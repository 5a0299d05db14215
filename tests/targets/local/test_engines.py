"""LocalRuntime serving a real GGUF (Gemma 3 270M) with llama.cpp, through the engines package.

Requests go to the revision's own URL and through the gateway's non-streaming
``/v1/completions`` only; token counts stay small (2 cores).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm_platform.serving.engines import get_engine
from llm_platform.serving.engines.base import LAUNCH_MODULE
from llm_platform.targets.artifacts import ArtifactUnavailable
from llm_platform.targets.base import DeploymentSpec, RevisionSpec
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.prometheus import PrometheusPaths
from tests.helpers.engine_fixtures import GEMMA, require_llama_cpp
from tests.helpers.runtime_fixtures import WRONG_DIGEST, pid_alive, teardown_home, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

READY_TIMEOUT_S = 150.0


def gemma_revision(artifact: Path, digest: str, name: str = "g1") -> RevisionSpec:
    return RevisionSpec(
        revision=name,
        version="1.0.0",
        digest=digest,
        artifact_uri=artifact.as_uri(),
        color="stable",
        weight=100,
        engine="llama-cpp",
        context_size=512,
        max_batch_size=1,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("rt-engines")
    yield root
    assert teardown_home(root) == [], "stack down left processes behind"


def _complete(client: httpx.Client, base: str) -> httpx.Response:
    return client.post(
        f"{base}/v1/completions",
        json={"model": GEMMA, "prompt": "The capital of France is", "max_tokens": 4},
        timeout=60.0,
    )


def test_llama_cpp_revision_serves_through_the_runtime_and_refuses_tampered_bytes(
    home: Path,
    gemma_artifact: Path,
    gemma_digest: str,
) -> None:
    require_llama_cpp()
    runtime = LocalRuntime(home)
    runtime.apply(DeploymentSpec(env="staging", model=GEMMA, revisions=[gemma_revision(
        gemma_artifact, gemma_digest)]))  # fmt: skip
    status = runtime.wait_ready("staging", GEMMA, timeout_s=READY_TIMEOUT_S)
    rev = status.revisions[0]
    assert status.ready and rev.url is not None and status.endpoint is not None

    # Started through the digest-verifying launcher, health-checked on llama.cpp's own path.
    observed = json.loads((home / "runtime" / "observed.json").read_text())
    record = next(r for k, r in observed["revisions"].items() if k.startswith(f"staging/{GEMMA}"))
    assert LAUNCH_MODULE in record["argv"] and gemma_digest in record["argv"]
    assert record["health_path"] == get_engine("llama-cpp").readiness_path == "/health"
    # A Prometheus target (availability = `up`) on the /metrics route the wrapper adds.
    targets = json.loads(PrometheusPaths(home).model_targets.read_text())
    gemma_targets = [g["targets"] for g in targets if g["labels"]["model"] == GEMMA]
    assert gemma_targets == [[rev.url.removeprefix("http://")]]

    with httpx.Client(trust_env=False) as client:
        direct = _complete(client, rev.url)
        assert direct.status_code == 200, direct.text
        assert direct.json()["choices"][0]["text"].strip()
        routed = _complete(client, status.endpoint)
        assert routed.status_code == 200, routed.text
        assert routed.headers["x-llm-revision"] == "g1"
        assert routed.json()["choices"][0]["text"].strip()

    # Bytes changed in the runtime's cache after apply: the restarted engine never loads them.
    cached = next((home / "artifact-cache" / GEMMA / gemma_digest).glob("*.gguf"))
    with open(cached, "ab") as handle:
        handle.write(b"tampered")
    assert rev.pid is not None
    os.kill(rev.pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(rev.pid), 10, "the killed engine to exit")

    def refused() -> str | None:
        runtime.reconcile()  # what the controller loop does
        current = runtime.status("staging", GEMMA)
        assert current is not None
        error = current.revisions[0].last_error or ""
        return error if "launch:" in error else None

    error = wait_until(refused, 60, "the launcher to refuse the tampered artifact", 0.5)
    assert "digest" in error or "hash" in error, error
    current = runtime.status("staging", GEMMA)
    assert current is not None and not current.revisions[0].healthy
    runtime.delete("staging", GEMMA)


def test_wrong_registered_digest_is_refused_before_anything_starts(
    tmp_path: Path,
    gemma_artifact: Path,
) -> None:
    runtime = LocalRuntime(tmp_path)
    bad = gemma_revision(gemma_artifact, WRONG_DIGEST)
    with pytest.raises(ArtifactUnavailable, match=WRONG_DIGEST):
        runtime.apply(DeploymentSpec(env="staging", model=GEMMA, revisions=[bad]))
    assert runtime.desired_spec("staging", GEMMA) is None
    assert not (tmp_path / "artifact-cache" / GEMMA / WRONG_DIGEST).exists()
