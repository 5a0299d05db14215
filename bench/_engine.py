"""Helpers for benchmarks that start a real engine: readiness, a prompt."""

from __future__ import annotations

import subprocess
import time

import httpx

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
