"""The model server as a real process: digest verification, OpenAI shape, metrics (faults are
injected by the gateway: tests/serving/test_gateway_faults.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.targets.local.processes import free_port
from tests.helpers.contract_bodies import ABUSIVE_BODIES
from tests.helpers.serving_fixtures import build_artifact, start_model_server


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("artifact") / "tiny-shakespeare"
    return out, build_artifact(out)


@pytest.fixture(scope="module")
def server(
    artifact: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """One server for the shape tests."""
    logs = tmp_path_factory.mktemp("logs")
    proc, url = start_model_server(artifact[0], artifact[1], logs)
    yield url, logs
    proc.stop()


def _complete(url: str, **body: object) -> httpx.Response:
    payload = {"model": "tiny", "prompt": "Shall I compare thee", "max_tokens": 12, **body}
    return httpx.post(url + "/v1/completions", json=payload, timeout=10)


def _server_args(artifact: Path, digest: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "llm_platform.serving.model_server", "--artifact", str(artifact),
        "--expected-digest", digest, "--model", "tiny", "--version", "1.0.0", "--revision", "r1",
        "--host", "127.0.0.1", "--port", str(free_port()), *extra,
    ]  # fmt: skip


def test_wrong_digest_refuses_to_start(artifact: tuple[Path, str]) -> None:
    out = subprocess.run(
        _server_args(artifact[0], "0" * 64), capture_output=True, text=True, timeout=30
    )
    assert out.returncode != 0
    assert "digest mismatch" in out.stderr
    assert artifact[1] in out.stderr  # names the digest actually found


def test_tampered_artifact_refuses_to_start(artifact: tuple[Path, str], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in artifact[0].iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    cfg = copy / "config.json"
    cfg.write_text(cfg.read_text() + " ")
    out = subprocess.run(
        _server_args(copy, artifact[1]), capture_output=True, text=True, timeout=30
    )
    assert out.returncode != 0
    assert "digest mismatch" in out.stderr


def test_fail_load_exits_with_reason(artifact: tuple[Path, str]) -> None:
    out = subprocess.run(
        _server_args(*artifact, "--fail-load"), capture_output=True, text=True, timeout=30
    )
    assert out.returncode != 0
    assert "model load failed" in out.stderr


def test_health_and_models(server: tuple[str, Path], artifact: tuple[Path, str]) -> None:
    url, _ = server
    health = httpx.get(url + "/health").json()
    assert health == {
        "status": "ok",
        "model": "tiny",
        "version": "1.0.0",
        "revision": "r1",
        "digest": artifact[1],
    }
    models = httpx.get(url + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["tiny"]


def test_completion_shape_and_determinism(server: tuple[str, Path]) -> None:
    url, _ = server
    first = _complete(url, temperature=0.0)
    assert first.status_code == 200
    body = first.json()
    assert body["object"] == "text_completion"
    assert body["id"].startswith("cmpl-")
    assert body["model"] == "tiny"
    assert isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["logprobs"] is None
    assert choice["text"] and choice["finish_reason"] in ("length", "stop")
    usage = body["usage"]
    assert 0 < usage["completion_tokens"] <= 12
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    again = _complete(url, temperature=0.0, prompt=["Shall I compare thee"]).json()
    assert again["choices"][0]["text"] == choice["text"]
    seeded = [_complete(url, temperature=1.0, seed=5).json()["choices"][0]["text"] for _ in "ab"]
    assert seeded[0] == seeded[1]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "x"}, "model"),
        ({"model": "tiny"}, "prompt"),
        ({"model": "tiny", "prompt": "x", "max_tokens": 100000}, "max_tokens"),
        ({"model": "tiny", "prompt": ["a", "b"]}, "prompt"),
        ({"model": "tiny", "prompt": "x", "temperature": -1}, "temperature"),
        ({"model": "tiny", "prompt": "x", "stream": "yes"}, "stream"),
    ],
)
def test_bad_bodies_get_openai_400(server: tuple[str, Path], body: dict, param: str) -> None:
    r = httpx.post(server[0] + "/v1/completions", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param
    assert param in err["message"]


def test_non_json_body_is_400(server: tuple[str, Path]) -> None:
    r = httpx.post(server[0] + "/v1/completions", content=b"{not json")
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]["message"]


def test_wrong_model_is_404(server: tuple[str, Path]) -> None:
    r = _complete(server[0], model="other")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"


def test_metrics_count_requests_and_errors(server: tuple[str, Path]) -> None:
    url, _ = server
    text = httpx.get(url + "/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    labels = {"model": "tiny", "version": "1.0.0", "revision": "r1"}
    for name in ("llm_server_requests", "llm_server_errors", "llm_server_request_duration_seconds"):
        assert name in families, name
        assert all({k: s.labels[k] for k in labels} == labels for s in families[name].samples), name
    requests = next(s.value for s in families["llm_server_requests"].samples
                    if s.name.endswith("_total"))  # fmt: skip
    assert requests >= 1


# Bodies a client can send that must come back 4xx: a 5xx here would count against the
# deployment's error-rate objective and could roll production back (issue 9).
@pytest.mark.parametrize(
    ("body", "param"), [b[1:] for b in ABUSIVE_BODIES], ids=[b[0] for b in ABUSIVE_BODIES]
)
def test_abusive_bodies_are_client_errors(
    server: tuple[str, Path], body: bytes, param: str | None
) -> None:
    before = _server_errors(server[0])
    r = httpx.post(server[0] + "/v1/completions", content=body, timeout=20)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error" and err["param"] == param
    assert _server_errors(server[0]) == before


def _server_errors(url: str) -> float:
    text = httpx.get(url + "/metrics").text
    (line,) = [x for x in text.splitlines() if x.startswith("llm_server_errors_total")]
    return float(line.split()[-1])


def test_prompt_longer_than_the_context_is_400(artifact: tuple[Path, str], tmp_path: Path) -> None:
    proc, url = start_model_server(*artifact, tmp_path, extra=["--max-sequence-length", "64"])
    try:
        assert _complete(url, prompt="a" * 50, max_tokens=14).status_code == 200
        r = _complete(url, prompt="a" * 50, max_tokens=15)
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["code"] == "context_length_exceeded" and err["param"] == "prompt"
        assert "64 tokens" in err["message"] and "50 in the prompt" in err["message"]
        r = _complete(url, prompt="a" * 100_000)  # only a prefix is tokenized
        assert r.status_code == 400 and "at least 512 in" in r.json()["error"]["message"]
        assert httpx.get(url + "/v1/models").json()["data"][0]["max_model_len"] == 64
    finally:
        proc.stop()


def test_unknown_path_and_wrong_method(server: tuple[str, Path]) -> None:
    r = httpx.get(server[0] + "/v1/completions")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    r = httpx.post(server[0] + "/v1/nothing", json={})
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
