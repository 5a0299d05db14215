"""Synthetic canary-analysis traffic: labelled, rate-limited requests through the gateway.

For models with too little traffic of their own, the canary analysis can send its own requests
through the environment gateway while it looks (``analysis.traffic_rps`` in
``config/<env>.yaml``). The prompts are replayed from the model's output-quality suite
(``evals/<model>.yaml``: its ``prompt`` cases) when it has one, else a small built-in set.
Every request carries the :data:`TRAFFIC_HEADER` header and the OpenAI ``user`` field
:data:`TRAFFIC_LABEL`, so logs and any downstream consumer can tell it apart from clients'.
The rate is an upper bound (a token bucket per worker); the total is bounded by
``rps x duration``; failures are left to the gateway's counters, which the analysis judges.
"""

from __future__ import annotations

import itertools
import threading
import time
from types import TracebackType

import httpx
import yaml

from llm_platform.serving.openai_paths import COMPLETIONS_PATH

#: Header (and its value) on every synthetic analysis request.
TRAFFIC_HEADER = "X-LLM-Platform-Traffic"
TRAFFIC_LABEL = "canary-analysis"
#: Prompts when the model has no eval suite with prompt cases.
BUILTIN_PROMPTS = (
    "Canary check: summarise the weather in one sentence.",
    "Write one line about the sea.",
    "Name three colours.",
    "Complete the sentence: The quick brown fox",
    "What is two plus two?",
)
#: Concurrent senders at most (loopback / in-cluster gateway; keeps the load bounded).
MAX_WORKERS = 4


def suite_prompts(text: str | bytes | None) -> list[str]:
    """The string ``prompt`` cases of an ``evals/<model>.yaml`` document (chat cases skipped).

    Raises:
        ValueError: the document is not YAML or has no ``cases`` list.
    """
    if text is None:
        return []
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"eval suite is not valid YAML: {exc}") from exc
    cases = doc.get("cases") if isinstance(doc, dict) else None
    if not isinstance(cases, list):
        raise ValueError("eval suite: expected a top-level 'cases' list")
    return [c["prompt"] for c in cases if isinstance(c, dict) and isinstance(c.get("prompt"), str)]


class AnalysisTraffic:
    """Send labelled completions to ``endpoint`` at up to ``rps`` until stopped.

    Use as a context manager around the analysis; :attr:`sent` counts the requests sent.

    Args:
        endpoint: the environment gateway's URL for the model (``/v1/completions`` appended).
        model: the model name in the request body.
        rps: requests per second, > 0.
        max_duration_s: the senders stop after this long even if not stopped.
        prompts: replayed in order, cycling (empty: :data:`BUILTIN_PROMPTS`).
        max_tokens: per request (small: the analysis needs samples, not long answers).
    """

    def __init__(
        self,
        endpoint: str,
        model: str,
        *,
        rps: float,
        max_duration_s: float,
        prompts: list[str] | None = None,
        max_tokens: int = 8,
    ) -> None:
        if rps <= 0:
            raise ValueError(f"rps must be > 0, got {rps}")
        self.url = endpoint.rstrip("/") + COMPLETIONS_PATH
        self.model, self.rps, self.max_tokens = model, rps, max_tokens
        self.max_duration_s = max_duration_s
        self.prompts = list(prompts or BUILTIN_PROMPTS)
        self.sent = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._next = itertools.cycle(self.prompts)
        self._threads: list[threading.Thread] = []

    def _prompt(self) -> str:
        with self._lock:
            self.sent += 1
            return next(self._next)

    def _worker(self, rate: float, deadline: float) -> None:
        interval = 1.0 / rate
        headers = {TRAFFIC_HEADER: TRAFFIC_LABEL}
        with httpx.Client(trust_env=False, timeout=30.0, headers=headers) as client:
            due = time.monotonic()
            while not self._stop.is_set() and time.monotonic() < deadline:
                body = {
                    "model": self.model,
                    "prompt": self._prompt(),
                    "max_tokens": self.max_tokens,
                    "temperature": 0.0,
                    "user": TRAFFIC_LABEL,
                }
                try:
                    client.post(self.url, json=body)
                except httpx.HTTPError:
                    pass  # the gateway counts the failure; the analysis judges it
                due = max(due + interval, time.monotonic())  # no burst after a slow answer
                self._stop.wait(max(0.0, due - time.monotonic()))

    def __enter__(self) -> AnalysisTraffic:
        workers = max(1, min(MAX_WORKERS, int(self.rps)))
        deadline = time.monotonic() + self.max_duration_s
        for i in range(workers):
            t = threading.Thread(
                target=self._worker,
                args=(self.rps / workers, deadline),
                name=f"analysis-traffic-{i}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=35.0)
