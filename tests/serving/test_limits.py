"""Limits of the gateway and the model server as real processes: sizes, timeouts, connections.

Each server runs with small limits so that the tests take well under a second per case; raw
sockets play the abusive clients (slow headers, oversized bodies, idle connections).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.serving_fixtures import (
    FakeUpstream,
    build_artifact,
    metric_samples,
    start_gateway,
    start_model_server,
    write_routes,
)

LIMITS = [
    "--max-body-bytes", "4096", "--max-header-bytes", "2048", "--header-timeout", "0.5",
    "--body-timeout", "0.5", "--idle-timeout", "0.7", "--max-connections", "8",
]  # fmt: skip
BODY = {"model": "m", "prompt": "hi", "max_tokens": 2}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway with small limits in front of one fake upstream; yields its base URL."""
    tmp = tmp_path_factory.mktemp("gw-limits")
    upstream = FakeUpstream("blue")
    routes = tmp / "routes.json"
    rev = {"revision": "r1", "version": "1.0.1", "color": "blue", "url": upstream.url,
           "weight": 100}  # fmt: skip
    write_routes(routes, {"m": [rev]})
    proc, url = start_gateway(routes, tmp, extra=LIMITS)
    yield url
    proc.stop()
    upstream.close()


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A model server (model ``m``) with the same small limits; yields its base URL."""
    tmp = tmp_path_factory.mktemp("ms-limits")
    artifact = tmp / "artifact"
    digest = build_artifact(artifact)
    proc, url = start_model_server(artifact, digest, tmp, model="m", extra=LIMITS)
    yield url
    proc.stop()


def _addr(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _connect(url: str) -> socket.socket:
    sock = socket.create_connection(_addr(url), timeout=5)
    sock.settimeout(5)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (5 s at most)."""
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def _status_and_error(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


@pytest.fixture(params=["gateway", "model_server"])
def server(request: pytest.FixtureRequest) -> tuple[str, bytes]:
    """(base URL, completion path) of each kind of server."""
    url = request.getfixturevalue(request.param)
    path = b"/m/v1/completions" if request.param == "gateway" else b"/v1/completions"
    return url, path


def test_declared_oversized_body_is_413_before_it_is_sent(server: tuple[str, bytes]) -> None:
    url, path = server
    with _connect(url) as sock:
        sock.sendall(b"POST " + path + b" HTTP/1.1\r\nhost: x\r\ncontent-length: 50000000\r\n"
                     b"content-type: application/json\r\n\r\n")  # fmt: skip
        status, err = _status_and_error(_read_all(sock))  # answered without any body byte
    assert status == 413
    assert err["code"] == "request_too_large" and "4096" in err["message"]
    assert err["type"] == "invalid_request_error" and "param" in err


def test_chunked_oversized_body_is_413(server: tuple[str, bytes]) -> None:
    url, path = server
    chunk = b"x" * 3000
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    with _connect(url) as sock:
        sock.sendall(b"POST " + path + b" HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                     + frame + frame)  # fmt: skip
        status, err = _status_and_error(_read_all(sock))
    assert status == 413 and err["code"] == "request_too_large"


def test_oversized_headers_are_431(server: tuple[str, bytes]) -> None:
    url, path = server
    r = httpx.post(url + path.decode(), json=BODY, headers={"x-big": "y" * 3000}, timeout=5)
    assert r.status_code == 431 and r.json()["error"]["code"] == "headers_too_large"


def test_slow_headers_get_408_and_close(server: tuple[str, bytes]) -> None:
    url, path = server
    with _connect(url) as sock:
        t0 = time.monotonic()
        sock.sendall(b"POST " + path + b" HTTP/1.1\r\nhost: x\r\n")  # and then nothing
        raw = _read_all(sock)
        elapsed = time.monotonic() - t0
    status, err = _status_and_error(raw)
    assert status == 408 and err["code"] == "request_timeout" and "headers" in err["message"]
    assert 0.4 < elapsed < 3.0


def test_silent_connection_is_closed_after_the_header_timeout(server: tuple[str, bytes]) -> None:
    url, _ = server
    with _connect(url) as sock:
        t0 = time.monotonic()
        status, _err = _status_and_error(_read_all(sock))
        assert status == 408 and 0.4 < time.monotonic() - t0 < 3.0


def test_slow_body_gets_408(server: tuple[str, bytes]) -> None:
    url, path = server
    with _connect(url) as sock:
        sock.sendall(b"POST " + path + b" HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
        status, err = _status_and_error(_read_all(sock))
    assert status == 408 and "body" in err["message"]


def test_idle_keep_alive_connection_is_closed(server: tuple[str, bytes]) -> None:
    url, _ = server
    health = b"/-/health" if b"/m/" in server[1] else b"/health"
    with _connect(url) as sock:
        sock.sendall(b"GET " + health + b" HTTP/1.1\r\nhost: x\r\n\r\n")
        t0 = time.monotonic()
        raw = _read_all(sock)  # the answer, then the close after the idle timeout
        elapsed = time.monotonic() - t0
    assert raw.startswith(b"HTTP/1.1 200")
    assert 0.5 < elapsed < 3.0


def test_connections_beyond_the_limit_get_503(server: tuple[str, bytes]) -> None:
    url, path = server
    held = [_connect(url) for _ in range(8)]
    try:
        time.sleep(0.1)
        with _connect(url) as extra:
            status, err = _status_and_error(_read_all(extra))
        assert status == 503 and err["code"] == "too_many_connections"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    r = httpx.post(url + path.decode(), json=BODY, timeout=5)
    assert r.status_code == 200


def test_slow_clients_do_not_block_a_normal_request(server: tuple[str, bytes]) -> None:
    url, path = server
    slow = [_connect(url) for _ in range(3)]
    try:
        for sock in slow:
            sock.sendall(b"POST " + path + b" HTTP/1.1\r\nhost: x\r\n")
        r = httpx.post(url + path.decode(), json=BODY, timeout=5)
        assert r.status_code == 200
    finally:
        for sock in slow:
            sock.close()


def test_limit_errors_are_not_counted_as_failures(gateway: str) -> None:
    with _connect(gateway) as sock:
        sock.sendall(b"POST /m/v1/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 9999\r\n\r\n")
        assert _read_all(sock).startswith(b"HTTP/1.1 413")
    assert set(metric_samples(gateway, "llm_requests_failed_total").values()) == {0.0}


def test_invalid_limit_flags_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "llm_platform.serving.gateway", "--routes", str(tmp_path / "r"),
         "--namespace", "staging", "--port", "1", "--max-body-bytes", "0"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 2 and "max_body_bytes" in out.stderr
