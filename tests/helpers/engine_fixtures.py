"""The real Gemma GGUF and a real llama.cpp server started through the engine registry.

A missing llama-cpp-python build or Gemma package fails the tests that need them with the
command that installs them; nothing is skipped.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llm_platform.common.digest import digest_directory
from llm_platform.demo.gemma import ensure_gemma_artifact
from llm_platform.serving.engines import LaunchSettings, get_engine, launch_argv
from llm_platform.targets.local.processes import free_port

GEMMA = "gemma-3-270m"
CONTEXT = 512


def require_llama_cpp() -> None:
    """Fail (never skip) with the fix when llama-cpp-python is not installed."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail(
            "llama-cpp-python is not installed in this environment: run `make install` "
            "(builds llama.cpp with CMAKE_ARGS=-DGGML_NATIVE=OFF, ~5 min the first time)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def gemma_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A platform home holding the assembled Gemma GGUF (assembled once per session)."""
    home = tmp_path_factory.mktemp("gemma-home")
    try:
        ensure_gemma_artifact(home)
    except Exception as exc:  # noqa: BLE001 - reported as a failure with its reason
        pytest.fail(f"cannot assemble the Gemma GGUF: {exc}", pytrace=False)
    return home


@pytest.fixture(scope="session")
def gemma_artifact(gemma_home: Path) -> Path:
    """The artifact directory holding only ``gemma-3-270m-q4_k_m.gguf``."""
    return gemma_home / "models" / GEMMA


@pytest.fixture(scope="session")
def gemma_digest(gemma_artifact: Path) -> str:
    """The manifest digest of the Gemma artifact (what registration would record)."""
    return digest_directory(gemma_artifact).digest


class EngineProcess:
    """An engine started from its registry argv in its own session; stopped by PID."""

    def __init__(self, argv: list[str], log: Path, port: int) -> None:
        self.argv = argv
        self.log = log
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv, stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, path: str, timeout_s: float = 60.0) -> float:
        """Poll ``path`` until it answers 200; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"engine exited with {self.popen.returncode}:\n{self.log_text()[-3000:]}"
                )
            try:
                if httpx.get(self.base_url + path, timeout=1.0).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"engine not ready after {timeout_s} s:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._fh.close()


def start_llama(
    artifact: Path,
    digest: str,
    log: Path,
    *,
    model: str = GEMMA,
    revision: str = "r1",
    context_size: int = CONTEXT,
    max_batch_size: int | None = 1,
) -> EngineProcess:
    """Start llama.cpp on ``artifact`` with exactly the argv the registry builds."""
    port = free_port()
    settings = LaunchSettings(
        model=model,
        version="1.0.0",
        revision=revision,
        artifact=artifact,
        digest=digest,
        port=port,
        context_size=context_size,
        max_batch_size=max_batch_size,
    )
    return EngineProcess(launch_argv(None, settings, python=sys.executable), log, port)


@pytest.fixture(scope="session")
def llama_server(
    gemma_artifact: Path, gemma_digest: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineProcess]:
    """One real llama.cpp server serving Gemma for the whole session."""
    require_llama_cpp()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    proc = start_llama(gemma_artifact, gemma_digest, log)
    try:
        proc.wait_ready(get_engine("llama-cpp").readiness_path)
        yield proc
    finally:
        proc.stop()
