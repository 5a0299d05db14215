"""Steady traffic for the demo's fault injection: sequential completions to one gateway model."""

from __future__ import annotations

import threading
import time

import httpx


class Traffic(threading.Thread):
    """Sequential completions to ``url`` (a gateway's model prefix) until the block ends."""

    def __init__(self, url: str, model: str) -> None:
        super().__init__(daemon=True)
        self.url, self.model = url, model
        self.sent = self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        body = {"model": self.model, "prompt": "Shall I", "max_tokens": 4}
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    ok = client.post(f"{self.url}/v1/completions", json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.sent += 1
                self.failed += not ok
                self.stop.wait(0.02)

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
