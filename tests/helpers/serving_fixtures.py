"""Real processes and tiny real HTTP servers for the serving and integration-suite tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from llm_platform.common.digest import digest_directory
from llm_platform.targets.local.processes import free_port
from tests.helpers.loopback_http import LoopbackServer, QuietHandler

Reply = tuple[int, bytes]


def build_artifact(out: Path) -> str:
    """Build the demo model into ``out``; return its manifest digest."""
    from llm_platform.demo_model import build

    build(out)
    return digest_directory(out).digest


class Proc:
    """A child process with its output in a log file; stopped by PID."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            [sys.executable, *args], stdout=self._fh, stderr=subprocess.STDOUT
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_http(self, url: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"process exited {self.popen.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{url} not ready within {timeout_s} s:\n{self.log_text()}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._fh.close()


def start_model_server(
    artifact: Path,
    digest: str,
    log_dir: Path,
    *,
    model: str = "tiny",
    version: str = "1.0.0",
    revision: str = "r1",
    extra: list[str] | None = None,
) -> tuple[Proc, str]:
    """Start a model server and wait until /health answers; return (process, base URL)."""
    port = free_port()
    args = [
        "-m", "llm_platform.serving.model_server", "--artifact", str(artifact),
        "--expected-digest", digest, "--model", model, "--version", version,
        "--revision", revision, "--host", "127.0.0.1", "--port", str(port), *(extra or []),
    ]  # fmt: skip
    proc = Proc(args, log_dir / f"server-{revision}-{port}.log")
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(url + "/health")
    return proc, url


def write_routes(path: Path, models: dict[str, list[dict[str, object]]]) -> None:
    """Write a routes file atomically, the way the runtime does."""
    data = {"models": {m: {"revisions": revs} for m, revs in models.items()}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def start_gateway(
    routes: Path, log_dir: Path, *, namespace: str = "staging", extra: list[str] | None = None
) -> tuple[Proc, str]:
    """Start a gateway (routes polled every 0.1 s, seeded choice) and wait until it is up."""
    port = free_port()
    args = [
        "-m", "llm_platform.serving.gateway", "--routes", str(routes), "--namespace", namespace,
        "--host", "127.0.0.1", "--port", str(port), "--poll-interval", "0.1", "--seed", "7",
        *(extra or []),
    ]  # fmt: skip
    proc = Proc(args, log_dir / f"gateway-{port}.log")
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(url + "/-/health")
    return proc, url


def completion_body(text: str = "hello", tokens: int = 2) -> bytes:
    """A valid OpenAI completion response body."""
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 0,
            "model": "fake",
            "choices": [{"index": 0, "text": text, "finish_reason": "length", "logprobs": None}],
            "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": 1 + tokens},
        }
    ).encode()


class FakeUpstream:
    """An in-process HTTP/1.1 server whose answers the test decides.

    Args:
        name: returned in the ``x-upstream`` header and as completion text.
        completion: called with the request number (0-based) for each POST; returns
            (status, body). Default: a valid completion whose text is ``name``.
        health: (status, body) for every GET.
        delay_s: sleep before answering a POST.
    """

    def __init__(
        self,
        name: str = "fake",
        *,
        completion: Callable[[int], Reply] | None = None,
        health: Reply = (200, b'{"status": "ok"}'),
        delay_s: float = 0.0,
    ) -> None:
        self.name = name
        self.completion = completion or (lambda _n: (200, completion_body(name)))
        self.health = health
        self.delay_s = delay_s
        self.posts = 0
        self.bodies: list[bytes] = []  # every POST body received, in order
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # one write per response (no Nagle/delayed-ACK stalls)

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.send_header("x-upstream", outer.name)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self._reply(*outer.health)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with outer.lock:
                    outer.bodies.append(body)
                    n = outer.posts
                    outer.posts += 1
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                self._reply(*outer.completion(n))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def metric_samples(url: str, name: str, model: str | None = None) -> dict[tuple[str, ...], float]:
    """Samples of metric ``name`` (of ``model``, or all) on ``url``/metrics, keyed by the label
    values (model, namespace, version, color, revision); every sample carries exactly those."""
    text = httpx.get(url + "/metrics").text
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and model in (None, s.labels["model"]):
                assert set(s.labels) == {"model", "namespace", "version", "color", "revision"}
                key = tuple(s.labels[k] for k in ("model", "namespace", "version", "color",
                                                   "revision"))  # fmt: skip
                out[key] = s.value
    return out


class MetricsServer(LoopbackServer):
    """A real HTTP server on 127.0.0.1 serving whatever ``text`` holds."""

    def __init__(self) -> None:
        self.text = ""
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                status = 200 if self.path == "/metrics" else 404
                content_type = {"content-type": "text/plain; version=0.0.4"}
                self.reply(status, outer.text.encode(), content_type)

        super().__init__(Handler)
