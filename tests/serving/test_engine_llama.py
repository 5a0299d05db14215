"""A real llama.cpp server (llama-cpp-python) serving Gemma 3 270M, started by the registry argv.

Token counts stay small: on 2 cores one short request takes ~0.5-1 s once warm.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from llm_platform.common.digest import digest_directory
from tests.helpers.engine_fixtures import GEMMA, EngineProcess, start_llama
from tests.helpers.gguf_fixtures import write_gguf

pytestmark = pytest.mark.integration

PROMPT = "The capital of France is"


def _sse_events(response: httpx.Response) -> list[str]:
    """The ``data:`` payloads of a Server-Sent Events response, in order."""
    events = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            events.append(line[len("data:") :].strip())
    return events


def test_ready_on_its_readiness_path_serving_the_alias(llama_server: EngineProcess) -> None:
    models = httpx.get(f"{llama_server.base_url}/v1/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == [GEMMA]
    assert "verified, starting llm_platform.serving.engines.llama_server" in llama_server.log_text()
    # The wrapper's Prometheus endpoint: a scrape succeeds while the server answers (`up`).
    metrics = httpx.get(f"{llama_server.base_url}/metrics", timeout=5)
    assert metrics.status_code == 200 and "python_info" in metrics.text
    # The wrapper's health route (llama-server's path), idle here.
    health = httpx.get(f"{llama_server.base_url}/health", timeout=5)
    assert health.json() == {"status": "ok", "busy": False}


def test_completion_generates_text(llama_server: EngineProcess) -> None:
    body = {"model": GEMMA, "prompt": PROMPT, "max_tokens": 8, "temperature": 0}
    reply = httpx.post(f"{llama_server.base_url}/v1/completions", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    doc = reply.json()
    assert doc["choices"][0]["text"].strip()
    assert 1 <= doc["usage"]["completion_tokens"] <= 8
    assert doc["usage"]["prompt_tokens"] >= 5


def test_streaming_completion_is_server_sent_events(llama_server: EngineProcess) -> None:
    body = {"model": GEMMA, "prompt": PROMPT, "max_tokens": 8, "temperature": 0, "stream": True}
    with httpx.stream(
        "POST", f"{llama_server.base_url}/v1/completions", json=body, timeout=60
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    texts = [c["choices"][0]["text"] for c in chunks if c.get("choices")]
    assert sum(1 for t in texts if t) >= 2, events
    assert all("error" not in c for c in chunks)


def test_chat_completion_has_content(llama_server: EngineProcess) -> None:
    body = {
        "model": GEMMA,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 8,
        "temperature": 0,
    }
    reply = httpx.post(f"{llama_server.base_url}/v1/chat/completions", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"].strip()


def test_wrong_digest_is_refused_before_the_engine_starts(tmp_path: Path) -> None:
    artifact = tmp_path / "model"
    write_gguf(artifact / "tiny.gguf")
    proc = start_llama(artifact, "0" * 64, tmp_path / "wrong.log")
    try:
        assert proc.popen.wait(timeout=60) == 1
    finally:
        proc.stop()
    log = proc.log_text()
    assert "artifact digest mismatch" in log and "refusing to serve" in log
    assert "verified, starting" not in log
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", proc.port)) != 0


def test_tampered_artifact_is_refused(tmp_path: Path) -> None:
    artifact = tmp_path / "model"
    gguf = write_gguf(artifact / "tiny.gguf")
    digest = digest_directory(artifact).digest
    gguf.write_bytes(gguf.read_bytes() + b"\0")
    proc = start_llama(artifact, digest, tmp_path / "tampered.log")
    try:
        assert proc.popen.wait(timeout=60) == 1
    finally:
        proc.stop()
    assert f"expected {digest}" in proc.log_text()


def test_missing_engine_module_fails_clearly(tmp_path: Path) -> None:
    write_gguf(tmp_path / "m" / "tiny.gguf")
    digest = digest_directory(tmp_path / "m").digest
    argv = [
        sys.executable, "-m", "llm_platform.serving.engines.launch", "--artifact",
        str(tmp_path / "m"), "--digest", digest, "--module", "no_such_engine.server", "--",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "engine module 'no_such_engine.server' is not installed" in done.stderr
