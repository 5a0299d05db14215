"""Fault injected in production -> rollback requested: the SLO rules' page alert vs the hourly
re-check.

One run on a real embedded stack (Prometheus scraping every second, a production gateway, a
builtin model server): the SLO rules of a one-model repo are generated and loaded into the
embedded Prometheus (``install_rules``, as the git-push sensor does), steady traffic flows
through the gateway, then the fault file makes the serving revision fail ``--error-rate`` of its
requests. Measured from the injection:

* until the page alert (14.4x over 1h and 5m, ``for: 1m``) fires in Prometheus (polled every
  second);
* until ``production_rollback_sensor`` (evaluated on a real Dagster instance at the daemon's
  cadence, its ``minimum_interval_seconds``) requests the rollback run.

Baseline, same run: the hourly ``slo_recheck_schedule`` (``0 * * * *``). At the moment the
sensor acted, the re-check's own decision logic (``evaluate_production_fleet``) is run on the
same Prometheus to show it agrees -- it only runs once an hour, so a fault waits for the next
tick: 1800 s on average, 3600 s at worst (+ the sensor's interval). The ratio printed is
baseline / measured.

    .venv/bin/python bench/bench_fault_to_rollback.py [--quick] [--error-rate 0.3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dagster as dg  # noqa: E402
import httpx  # noqa: E402

from assets.names import PRODUCTION_DEPLOYMENT  # noqa: E402
from llm_platform.artifact_store import open_store  # noqa: E402
from llm_platform.common.digest import digest_directory  # noqa: E402
from llm_platform.config import effective_slo  # noqa: E402
from llm_platform.config.environments import PRODUCTION  # noqa: E402
from llm_platform.config.slo_rules_source import load_checkout, rules_for  # noqa: E402
from llm_platform.demo.traffic import Traffic  # noqa: E402
from llm_platform.promotion import AliasTarget, Ledger, LedgerEvent  # noqa: E402
from llm_platform.slo import DEFAULT_PROFILE, PrometheusClient  # noqa: E402
from llm_platform.slo.alerts import rollback_alerts_query  # noqa: E402
from llm_platform.slo.recheck import RecheckTarget, evaluate_production_fleet  # noqa: E402
from llm_platform.targets.base import DeploymentSpec, RevisionSpec  # noqa: E402
from llm_platform.targets.local.local import LocalRuntime  # noqa: E402
from llm_platform.targets.local.processes import stop_process  # noqa: E402
from llm_platform.targets.local.prometheus_rules import install_rules  # noqa: E402
from llm_platform.targets.local.stack import stack_down, stack_up  # noqa: E402
from resources.artifact_store import LocalArtifactStore  # noqa: E402
from resources.git_repo import ModelsRepoResource  # noqa: E402
from resources.prometheus import PrometheusResource  # noqa: E402
from sensors.promotion import production_rollback_sensor  # noqa: E402

MODEL, REVISION = "bench-model", "bench-r2"
HOURLY_S = 3600.0
ENV_YAML = """\
environment: production
namespace: production
deployment:
  strategy: blue-green
slo:
  window: 1h
  error_rate: 0.01
  min_requests: 100
"""
MODEL_YAML = """\
name: bench-model
version: 1.0.0
architecture: llama
description: benchmark model
resources: {memory_gb: 16, gpu_count: 1, gpu_type: nvidia-tesla-v100}
serving: {max_batch_size: 4, max_sequence_length: 256, protocol: http, engine: builtin}
source: {type: local, uri: weights/demo}
"""


def models_repo(root: Path) -> Path:
    """A git models repo with the production environment and one model."""
    (root / "config").mkdir(parents=True)
    (root / "models" / MODEL).mkdir(parents=True)
    (root / "config" / "production.yaml").write_text(ENV_YAML)
    (root / "models" / MODEL / "model.yaml").write_text(MODEL_YAML)
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=b@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)
    return root


def seed_instance(instance: dg.DagsterInstance, store: Path) -> None:
    """Production serves REVISION (materialization) and has a previous alias to go back to."""
    instance.add_dynamic_partitions("models", [MODEL])
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            PRODUCTION_DEPLOYMENT, partition=MODEL, metadata={"revision": REVISION}
        )
    )
    ledger = Ledger(open_store(str(store)))
    for version, digest, revision in (
        ("0.9.0", "0" * 64, "bench-r1"),
        ("1.0.0", "1" * 64, REVISION),
    ):
        ledger.promote(
            LedgerEvent(
                kind="promoted", model=MODEL, env=PRODUCTION, version=version,
                digest=digest, reason="bench",
            ),
            AliasTarget(version=version, digest=digest, revision=revision),
        )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter warm-up")
    parser.add_argument("--error-rate", type=float, default=0.3)
    parser.add_argument("--rps", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    warmup = 15.0 if args.quick else 60.0
    interval = float(production_rollback_sensor.minimum_interval_seconds or 30)
    with tempfile.TemporaryDirectory(prefix="bench-f2r-") as tmp:
        root = Path(tmp)
        from llm_platform.demo_model import build

        art = root / "art"
        build(art)
        digest = digest_directory(art).digest
        home = root / "home"
        repo = models_repo(root / "repo")
        runtime = LocalRuntime(home)
        info = stack_up(home, envs=[PRODUCTION], prometheus_port=0, gateway_base_port=0)
        traffic: Traffic | None = None
        try:
            env_cfg, models = load_checkout(repo, PRODUCTION)
            done = install_rules(home, {PRODUCTION: rules_for(env_cfg, models)})
            assert done.reloaded, done
            spec = RevisionSpec(
                revision=REVISION, version="1.0.0", digest=digest, artifact_uri=art.as_uri(),
                color="blue", weight=100, engine="builtin",
            )  # fmt: skip
            runtime.apply(DeploymentSpec(env=PRODUCTION, model=MODEL, revisions=[spec]))
            runtime.wait_ready(PRODUCTION, MODEL, timeout_s=120)
            traffic = Traffic(
                f"{info.gateways[PRODUCTION]}/{MODEL}", MODEL, rps=args.rps, max_tokens=2
            )
            traffic.start()
            print(f"warm-up: {warmup:.0f} s of clean traffic at <= {args.rps:g} rps")
            time.sleep(warmup)
            if not traffic.sent or traffic.failed:
                raise RuntimeError(f"warm-up: {traffic.failed} of {traffic.sent} requests failed")
            store = root / "store"
            resources = {
                "artifact_store": LocalArtifactStore(root=str(store)),
                "models_repo": ModelsRepoResource(location=str(repo)),
                "prometheus": PrometheusResource(home=str(home)),
            }
            fault = runtime.fault_file(PRODUCTION, MODEL, REVISION)
            fault.parent.mkdir(parents=True, exist_ok=True)
            with dg.instance_for_test() as instance:
                seed_instance(instance, store)
                before = traffic.sent
                fault.write_text(f'{{"error_rate": {args.error_rate}}}')
                t0 = time.monotonic()
                print(f"fault injected: error_rate {args.error_rate:g} on {MODEL}/{REVISION}")
                alert_s = sensor_s = None
                next_tick = t0
                url = str(info.prometheus_url)
                with httpx.Client(timeout=10, trust_env=False) as prom:
                    while time.monotonic() - t0 < args.timeout and sensor_s is None:
                        now = time.monotonic()
                        if alert_s is None:
                            q = {"query": rollback_alerts_query(PRODUCTION)}
                            got = prom.get(f"{url}/api/v1/query", params=q).json()
                            if got["data"]["result"]:
                                alert_s = now - t0
                                print(f"  page alert firing after {alert_s:.1f} s")
                        if now >= next_tick:
                            next_tick += interval
                            with dg.build_sensor_context(
                                instance=instance, resources=resources
                            ) as ctx:
                                tick = production_rollback_sensor(ctx)
                            if isinstance(tick, dg.SensorResult) and tick.run_requests:
                                sensor_s = time.monotonic() - t0
                                reason = tick.run_requests[0].run_config["ops"][
                                    PRODUCTION_DEPLOYMENT
                                ]
                                print(f"  rollback requested after {sensor_s:.1f} s: "
                                      f"{reason['config']['reason'][:120]}")  # fmt: skip
                        time.sleep(1.0)
                target = RecheckTarget(
                    model=MODEL, namespace=env_cfg.namespace, revision=REVISION,
                    profile=DEFAULT_PROFILE, objectives=effective_slo(env_cfg, models[MODEL]),
                )  # fmt: skip
                with PrometheusClient(url) as client:
                    hourly = evaluate_production_fleet(client, [target], env=PRODUCTION)
            sent = traffic.sent - before
        finally:
            if traffic is not None:
                traffic.stop.set()
                traffic.join(timeout=15)
            stack_down(home)
            for rec in runtime.store.load_observed().revisions.values():
                stop_process(rec.pid, rec.argv)
    if sensor_s is None:
        print(f"no rollback within {args.timeout:.0f} s (alert: {alert_s})")
        return 1
    decision = hourly[MODEL].action
    print(f"traffic after the fault: {sent} requests ({traffic.failed} failed in all)")
    print(f"hourly re-check's decision at that moment (same Prometheus): {decision}")
    print(f"sensor interval {interval:.0f} s; alert rule for: 1m; Prometheus evaluates every 1 s")
    expected = (alert_s or sensor_s) + interval / 2
    print(f"fault -> rollback requested: {sensor_s:.1f} s (expected with a random daemon phase: "
          f"{expected:.1f} s; target < 120 s)")  # fmt: skip
    for label, base in (
        ("worst case", HOURLY_S + interval),
        ("average", HOURLY_S / 2 + interval / 2),
    ):
        print(f"baseline hourly schedule ({label}): {base:.0f} s -> {base / sensor_s:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
