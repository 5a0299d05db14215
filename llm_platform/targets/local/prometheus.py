"""The embedded Prometheus: binary lookup, config, file_sd target files, start/stop by pid.

Targets are discovered through ``file_sd_configs`` (refreshed every second) so that the runtime
only rewrites two JSON files when servers come and go. The SLO rule files under
``prometheus/rules`` are the one thing that needs a reload (``/-/reload``, lifecycle API on):
:mod:`llm_platform.targets.local.prometheus_rules`.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import yaml
from pydantic import BaseModel

from llm_platform.common.errors import ConfigurationError
from llm_platform.serving.engines import get_engine
from llm_platform.targets.local.processes import (
    http_ok,
    is_our_process,
    loopback_url,
    spawn_detached,
    stop_process,
    tail_lines,
)
from llm_platform.targets.local.state import (
    DesiredState,
    ObservedState,
    atomic_write_json,
    atomic_write_text,
    replica_records,
)

MODEL_JOB = "llm-model"
GATEWAY_JOB = "llm-gateway"
RULE_FILE_SUFFIX = ".rules.yml"
DEFAULT_BINARY_LOCATIONS = (Path("/usr/bin/prometheus"), Path("/usr/local/bin/prometheus"))


class PrometheusNotInstalled(ConfigurationError):
    """No prometheus binary on this machine."""


class PrometheusStartError(ConfigurationError):
    """Prometheus exited or did not become ready; the message holds its log tail."""


class TargetGroup(BaseModel):
    """One file_sd entry: scrape targets plus the labels attached to their series."""

    targets: list[str]
    labels: dict[str, str]


class PrometheusPaths:
    """Where the embedded Prometheus keeps its files under the platform home."""

    def __init__(self, home: Path) -> None:
        self.root = home / "prometheus"
        self.config = self.root / "prometheus.yml"
        self.data = self.root / "data"
        self.targets = self.root / "targets"
        self.model_targets = self.targets / "models.json"
        self.gateway_targets = self.targets / "gateways.json"
        #: One rule file per environment (``llm_platform.targets.local.prometheus_rules``).
        self.rules = self.root / "rules"
        self.log = home / "logs" / "prometheus.log"


def find_prometheus_binary() -> Path:
    """Locate the prometheus executable (PATH first, then the Debian location).

    Raises:
        PrometheusNotInstalled: nothing found; the message says how to install it.
    """
    on_path = shutil.which("prometheus")
    if on_path:
        return Path(on_path)
    for candidate in DEFAULT_BINARY_LOCATIONS:
        if candidate.is_file():
            return candidate
    raise PrometheusNotInstalled(
        "prometheus binary not found on PATH or in /usr/bin: install the Debian package "
        "prometheus (make installs it)"
    )


def render_config(paths: PrometheusPaths, *, scrape_interval: str = "1s") -> str:
    """The prometheus.yml text: one file_sd job for model servers, one for gateways."""

    def job(name: str, target_file: Path) -> dict[str, object]:
        return {
            "job_name": name,
            "metrics_path": "/metrics",
            # The servers label their own series (model, namespace, version, ...); target labels
            # only fill in what a series lacks, and always label the synthetic `up` series.
            "honor_labels": True,
            "file_sd_configs": [{"files": [str(target_file)], "refresh_interval": "1s"}],
        }

    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            job(MODEL_JOB, paths.model_targets),
            job(GATEWAY_JOB, paths.gateway_targets),
        ],
        # The SLO recording rules and burn-rate alerts, evaluated every scrape interval.
        "rule_files": [str(paths.rules / f"*{RULE_FILE_SUFFIX}")],
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_config(home: Path, *, scrape_interval: str = "1s") -> PrometheusPaths:
    """Write prometheus.yml and empty target files when missing; return the paths."""
    paths = PrometheusPaths(home)
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.rules.mkdir(parents=True, exist_ok=True)
    for target_file in (paths.model_targets, paths.gateway_targets):
        if not target_file.exists():
            write_targets(target_file, [])
    atomic_write_text(paths.config, render_config(paths, scrape_interval=scrape_interval))
    return paths


def write_targets(path: Path, groups: list[TargetGroup]) -> None:
    """Atomically replace a file_sd target file (skipped when the content is unchanged)."""
    data = [g.model_dump() for g in sorted(groups, key=lambda g: (g.targets, sorted(g.labels)))]
    if path.exists():
        try:
            if json.loads(path.read_text()) == data:
                return
        except ValueError:
            pass  # a corrupt file is simply rewritten below
    atomic_write_json(path, data)


def target_groups(
    desired: DesiredState, observed: ObservedState
) -> tuple[list[TargetGroup], list[TargetGroup]]:
    """file_sd groups for model servers (job llm-model) and gateways (job llm-gateway).

    A revision becomes a target once it has been healthy (like a Kubernetes endpoint that
    waits for readiness), so a server still loading its model is not counted as an outage;
    after that it stays a target while it is down or restarting, so that ``up`` records the
    outage. An engine without a metrics endpoint would be no target (scraping it would record a
    false outage); every engine here has one (llama.cpp's through the platform's wrapper).
    """
    models: list[TargetGroup] = []
    for dep in desired.deployments.values():
        env, model = dep.spec.env, dep.spec.model
        for rev in [*dep.spec.revisions, *dep.retiring]:
            if get_engine(rev.engine).metrics_path is None:
                continue
            labels = {
                "model": model,
                "namespace": env,
                "revision": rev.revision,
                "version": rev.version,
                "color": rev.color,
            }
            targets = [
                f"127.0.0.1:{rec.port}"
                for rec in replica_records(observed, env, model, rev)
                if rec.port is not None
                and rec.starts > 0
                and (rec.ever_healthy or rec.consecutive_crashes > 0)
            ]
            if targets:  # replicas share the labels; Prometheus tells them apart by instance
                models.append(TargetGroup(targets=targets, labels=labels))
    gateways = [
        TargetGroup(targets=[f"127.0.0.1:{rec.port}"], labels={"namespace": env})
        for env, rec in observed.gateways.items()
        if rec.port is not None
    ]
    return models, gateways


def prometheus_argv(binary: Path, paths: PrometheusPaths, port: int) -> list[str]:
    """The command line of the embedded Prometheus (bound to 127.0.0.1 only)."""
    return [
        str(binary),
        f"--config.file={paths.config}",
        f"--storage.tsdb.path={paths.data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]


def start_prometheus(
    home: Path, port: int, *, scrape_interval: str = "1s", timeout_s: float = 60.0
) -> tuple[int, list[str]]:
    """Write the config, start Prometheus detached and wait for ``/-/ready``.

    Returns:
        (pid, argv) of the started process.

    Raises:
        PrometheusNotInstalled: no binary.
        PrometheusStartError: it exited or was not ready within ``timeout_s``.
    """
    binary = find_prometheus_binary()
    paths = write_config(home, scrape_interval=scrape_interval)
    argv = prometheus_argv(binary, paths, port)
    pid = spawn_detached(argv, paths.log, cwd=paths.root, home=home)
    url = loopback_url(port)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if http_ok(f"{url}/-/ready", timeout_s=0.5):
            return pid, argv
        if not is_our_process(pid, argv):
            break
        time.sleep(0.1)
    stop_process(pid, argv)
    raise PrometheusStartError(
        f"prometheus on {url} did not become ready; last lines of {paths.log}:\n"
        + tail_lines(paths.log)
    )


def embedded_url(stack_file: Path) -> str | None:
    """The URL ``stack.json`` records for the embedded Prometheus (None: no stack)."""
    try:
        url = json.loads(stack_file.read_text()).get("prometheus_url")
    except (OSError, ValueError, AttributeError):
        return None
    return url if isinstance(url, str) and url else None


def wait_until_unscraped(stack_file: Path, addresses: set[str], *, timeout_s: float) -> bool:
    """Wait until the embedded Prometheus no longer lists ``addresses`` as active targets.

    Called after the targets file dropped them and before their processes are stopped, so a
    deliberate retirement is never scraped as ``up == 0``. Without a running embedded Prometheus
    (no ``stack.json`` URL, or it does not answer) there is nothing to wait for.

    Returns:
        True when none of the addresses is an active target (any more), False at the timeout.
    """
    url = embedded_url(stack_file)
    if not url or not addresses:
        return True
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with httpx.Client(trust_env=False, timeout=2.0) as client:
                resp = client.get(f"{url}/api/v1/targets", params={"state": "active"})
            active = {t["labels"].get("instance") for t in resp.json()["data"]["activeTargets"]}
        except (httpx.HTTPError, ValueError, KeyError):
            return True  # Prometheus is not running: nothing scrapes the servers
        if not active & addresses:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
