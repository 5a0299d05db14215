"""Helpers for benchmarks that start a real engine: readiness, a prompt, a Gemma server."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_platform.common.digest import digest_directory  # noqa: E402
from llm_platform.demo.gemma import ensure_gemma_artifact  # noqa: E402
from llm_platform.serving.engines import get_engine  # noqa: E402
from llm_platform.settings import Settings  # noqa: E402
from tests.helpers.engine_fixtures import EngineProcess, start_llama  # noqa: E402

#: The prompt every engine benchmark sends (same text, comparable token counts).
PROMPT = "The history of the city of Paris begins"


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 180) -> None:
    """Poll ``url`` until it answers 200; fail when ``proc`` exits or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout_s} s")


@dataclass(frozen=True)
class GemmaServer:
    """A running llama.cpp server for a benchmark: its process, the digest it verified and
    the seconds from spawn to its readiness path answering."""

    process: EngineProcess
    digest: str
    startup_s: float
    workdir: Path

    @property
    def url(self) -> str:
        return self.process.base_url


@contextmanager
def gemma_server(*, context_size: int, max_batch_size: int | None = None) -> Iterator[GemmaServer]:
    """Gemma 3 270M Q4_K_M on llama.cpp with the registry's argv (revision ``bench``), ready,
    with a temporary work directory (its log, and whatever the benchmark keeps there).

    On a failure inside the block the engine log's tail goes to stderr; the server is stopped
    by PID and the work directory removed at the end.
    """
    artifact = ensure_gemma_artifact(Settings.from_env().home)
    digest = digest_directory(artifact).digest
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        proc = start_llama(
            artifact,
            digest,
            workdir / "engine.log",
            revision="bench",
            context_size=context_size,
            max_batch_size=max_batch_size,
        )
        try:
            startup_s = proc.wait_ready(get_engine("llama-cpp").readiness_path, timeout_s=180)
            yield GemmaServer(proc, digest, startup_s, workdir)
        except Exception:
            sys.stderr.write(proc.log_text()[-3000:])
            raise
        finally:
            proc.stop()
