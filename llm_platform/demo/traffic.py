"""Steady traffic for fault injection (the demo, the fault-to-rollback benchmark): sequential
completions to one gateway model."""

from __future__ import annotations

import threading
import time

import httpx

from llm_platform.serving.openai_paths import COMPLETIONS_PATH

#: Pause after each answer when no rate is set.
_PAUSE_S = 0.02


class Traffic(threading.Thread):
    """Sequential completions to ``url`` (a gateway's model prefix) until the block ends (or
    ``stop`` is set): at most ``rps`` a second, or a request every 20 ms after the previous
    answer when ``rps`` is None. Never through a proxy: the gateway is on loopback."""

    def __init__(
        self, url: str, model: str, *, rps: float | None = None, max_tokens: int = 4
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.model, self.max_tokens = url, model, max_tokens
        self.period = 1.0 / rps if rps else None
        self.sent = self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        body = {"model": self.model, "prompt": "Shall I", "max_tokens": self.max_tokens}
        with httpx.Client(timeout=10, trust_env=False) as client:
            while not self.stop.is_set():
                t0 = time.monotonic()
                try:
                    ok = client.post(self.url + COMPLETIONS_PATH, json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.sent += 1
                self.failed += not ok
                if self.period is None:
                    self.stop.wait(_PAUSE_S)
                else:
                    self.stop.wait(max(0.0, self.period - (time.monotonic() - t0)))

    def wait_sent(self, n: int, *, timeout_s: float) -> None:
        """Wait until ``n`` requests have been sent (or ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while self.sent < n and time.monotonic() < deadline:
            time.sleep(0.5)

    def __enter__(self) -> Traffic:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(timeout=15)
