"""Real-Prometheus helpers for the SLO tests and bench: synthetic history, backfill, start/stop.

History is written as OpenMetrics text (timestamps in seconds, ``# EOF`` at the end), turned
into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics`` and served by a real
``prometheus`` process on 127.0.0.1 that scrapes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from llm_platform.targets.local.processes import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
STEP = 15  # seconds between synthetic samples
BUCKETS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 5.0)
TOKEN_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25)  # time per output token


@dataclass
class Scenario:
    """Synthetic history of one model deployment (one set of series).

    Attributes:
        model: ``model`` label.
        namespace: ``namespace`` label.
        rps: Requests per second (0 = no request series at all).
        error_ratio: Fraction of requests that fail.
        cumulative: Cumulative fraction of requests at or below each bucket bound in BUCKETS
            (missing bounds take the previous value; +Inf is always 1).
        down_steps: Step indices (counted back from the end, 0 = last sample) where ``up`` is 0.
        reset_steps_ago: When set, the counters restart from 0 this many steps before the end.
        labels: Extra labels on every series (``revision``, ``version``, ...).
        frozen_histogram: Histogram buckets never increase (no latency observations -> NaN).
        profile: ``default`` or ``vllm`` metric names.
        ttft: Cumulative fractions (over BUCKETS) of the time-to-first-token histogram; None
            writes no such series.
        tpot: Cumulative fractions (over TOKEN_BUCKETS) of the time-per-output-token histogram.
    """

    model: str
    namespace: str
    rps: float = 2.0
    error_ratio: float = 0.0
    cumulative: dict[float, float] = field(default_factory=lambda: {0.5: 0.6, 1.0: 0.97})
    down_steps: set[int] = field(default_factory=set)
    reset_steps_ago: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    frozen_histogram: bool = False
    profile: str = "default"
    ttft: dict[float, float] | None = None
    tpot: dict[float, float] | None = None


def p95_from(cumulative: dict[float, float], buckets: tuple[float, ...] = BUCKETS) -> float:
    """The p95 (seconds) that histogram_quantile reports for a scenario's bucket fractions."""
    prev_le, prev_frac = 0.0, 0.0
    for le, frac in _fractions(cumulative, buckets):
        if frac >= 0.95:
            return prev_le + (le - prev_le) * (0.95 - prev_frac) / (frac - prev_frac)
        prev_le, prev_frac = le, frac
    return buckets[-1]


def _fractions(
    cumulative: dict[float, float], buckets: tuple[float, ...] = BUCKETS
) -> list[tuple[float, float]]:
    out, current = [], 0.0
    for le in buckets:
        current = cumulative.get(le, current)
        out.append((le, current))
    return out


def _labels(items: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in items.items()) + "}"


def _token_histograms(profile: str) -> tuple[str, str]:
    if profile == "vllm":
        return "vllm:time_to_first_token_seconds", "vllm:time_per_output_token_seconds"
    return "llm_time_to_first_token_seconds", "llm_time_per_output_token_seconds"


def _names(profile: str) -> tuple[str, str, str, str, str]:
    if profile == "vllm":
        return (
            "vllm:request_success",
            "vllm:e2e_request_latency_seconds",
            "model_name",
            "",
            "vllm",
        )
    return (
        "llm_requests",
        "llm_request_duration_seconds",
        "model",
        "llm_requests_failed",
        "llm-model",
    )


def write_openmetrics(
    path: Path, scenarios: list[Scenario], *, end: int, steps: int, step: int = STEP
) -> None:
    """Write the history of ``scenarios``: ``steps`` samples ``step`` s apart ending at ``end``."""
    times = [end - (steps - 1 - i) * step for i in range(steps)]
    families: dict[str, tuple[str, list[str]]] = {}

    def add(family: str, kind: str, line_iter: Iterator[str]) -> None:
        families.setdefault(family, (kind, []))[1].extend(line_iter)

    for sc in scenarios:
        total_f, hist, mlabel, failed_f, job = _names(sc.profile)
        base = {mlabel: sc.model, "namespace": sc.namespace, **sc.labels}

        def counter(i: int, *, ratio: float = 1.0, sc: Scenario = sc) -> float:
            age = steps - 1 - i
            if sc.reset_steps_ago is not None and age <= sc.reset_steps_ago:
                done = (sc.reset_steps_ago - age + 1) * sc.rps * step
            else:
                done = 100_000 + (i + 1) * sc.rps * step
            return round(done * ratio, 6)

        def series(name: str, labels: dict[str, str], value) -> Iterator[str]:  # noqa: ANN001
            lab = _labels(labels)
            for i, t in enumerate(times):
                yield f"{name}{lab} {value(i)} {t}"

        up_labels = {"job": job, "model": sc.model, "namespace": sc.namespace, **sc.labels}
        add(
            "up",
            "gauge",
            series("up", up_labels, lambda i, sc=sc: 0 if steps - 1 - i in sc.down_steps else 1),
        )
        if sc.rps <= 0:
            continue
        ok = 1.0 - sc.error_ratio
        if sc.profile == "vllm":
            add(
                total_f,
                "counter",
                series(
                    f"{total_f}_total",
                    {**base, "finished_reason": "stop"},
                    lambda i, ok=ok, c=counter: c(i, ratio=ok),
                ),
            )
            add(
                total_f,
                "counter",
                series(
                    f"{total_f}_total",
                    {**base, "finished_reason": "abort"},
                    lambda i, sc=sc, c=counter: c(i, ratio=sc.error_ratio),
                ),
            )
        else:
            add(total_f, "counter", series(f"{total_f}_total", base, counter))
            add(
                failed_f,
                "counter",
                series(
                    f"{failed_f}_total",
                    base,
                    lambda i, sc=sc, c=counter: c(i, ratio=sc.error_ratio),
                ),
            )
        ttft_name, tpot_name = _token_histograms(sc.profile)
        histograms = [(hist, sc.cumulative, BUCKETS, sc.frozen_histogram)]
        if sc.ttft is not None:
            histograms.append((ttft_name, sc.ttft, BUCKETS, False))
        if sc.tpot is not None:
            histograms.append((tpot_name, sc.tpot, TOKEN_BUCKETS, False))
        for name, cumulative, buckets, frozen in histograms:
            for le, frac in [*_fractions(cumulative, buckets), (float("inf"), 1.0)]:
                le_text = "+Inf" if le == float("inf") else repr(le)
                if frozen:
                    value = lambda i: 0  # noqa: E731
                else:
                    value = lambda i, f=frac, c=counter: c(i, ratio=f)  # noqa: E731
                add(name, "histogram", series(f"{name}_bucket", {**base, "le": le_text}, value))
    with open(path, "w", encoding="utf-8") as out:
        for family, (kind, lines) in families.items():
            out.write(f"# TYPE {family} {kind}\n")
            out.write("\n".join(lines))
            out.write("\n")
        out.write("# EOF\n")


def backfill(om_file: Path, data_dir: Path) -> None:
    """Turn an OpenMetrics file into TSDB blocks in ``data_dir`` (raises on promtool failure)."""
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(om_file), str(data_dir)],
        check=True,
        capture_output=True,
        timeout=600,
    )


class PrometheusProcess:
    """A real Prometheus serving ``data_dir`` on 127.0.0.1; stop it with :meth:`stop`.

    Args:
        data_dir: TSDB directory.
        config_text: The prometheus.yml text (default: scrape nothing).
        web_config: Optional ``--web.config.file`` (e.g. ``basic_auth_users``).
        probe_headers: Headers for the readiness probe (what ``web_config`` demands).
    """

    def __init__(
        self,
        data_dir: Path,
        config_text: str = "global:\n  scrape_interval: 15s\n",
        *,
        web_config: Path | None = None,
        probe_headers: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = data_dir.parent / f"prometheus-{self.port}.yml"
        config.write_text(config_text)
        self._log = open(data_dir.parent / f"prometheus-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.path={data_dir}",
                "--storage.tsdb.retention.time=3650d",
                *([f"--web.config.file={web_config}"] if web_config else []),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}")
            try:
                ready = httpx.get(f"{self.url}/-/ready", timeout=1, headers=probe_headers)
                if ready.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus on {self.url} not ready after 30 s")

    def stop(self) -> None:
        """Stop the process by PID (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def start_with_history(
    tmp: Path,
    scenarios: list[Scenario],
    *,
    end: int,
    steps: int,
    step: int = STEP,
    web_config: Path | None = None,
    probe_headers: dict[str, str] | None = None,
) -> PrometheusProcess:
    """Backfill ``scenarios`` into a fresh TSDB under ``tmp`` and start Prometheus on it."""
    tmp.mkdir(parents=True, exist_ok=True)
    om_file, data_dir = tmp / "history.om", tmp / "data"
    write_openmetrics(om_file, scenarios, end=end, steps=steps, step=step)
    backfill(om_file, data_dir)
    os.remove(om_file)
    return PrometheusProcess(data_dir, web_config=web_config, probe_headers=probe_headers)


@contextmanager
def history_prometheus(
    tmp: Path, scenarios: list[Scenario], *, steps: int
) -> Iterator[tuple[PrometheusProcess, int]]:
    """Prometheus serving ``steps`` samples of ``scenarios`` that end now: (server, end time)."""
    end = aligned_now()
    server = start_with_history(tmp, scenarios, end=end, steps=steps)
    try:
        yield server, end
    finally:
        server.stop()


def aligned_now() -> int:
    """Current time in whole seconds, rounded down to a multiple of STEP."""
    now = int(time.time())
    return now - now % STEP
