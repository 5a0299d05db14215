"""Bench: the scheduled production re-check -- one fleet tick vs one checks-only run per model.

Builds N production models for real: a git models repo (fast-import), a Dagster instance on disk
(SQLite, as ``dagster dev``) with each model's ``model_config`` and ``production_deployment``
recorded, and a real Prometheus backfilled with 7 h of history per model (10 % burn their error
budget fast, 10 % slowly, the rest are healthy). Then times

* today's path: what the schedule used to launch -- a checks-only run of ``slo_checks_job`` per
  model (production checks, in process: no run-launcher process, so a *lower* bound of today's
  cost). ``--baseline-runs`` of them are run and timed; their mean is multiplied by N;
* the new path: ``slo_recheck_schedule``'s tick (``evaluate_tick``), which evaluates every model
  with a constant number of queries, records one ``slo_recheck`` evaluation per partition and
  requests runs only for models that warn.

Both decide with the same rule; the bench checks that the sampled runs' ``slo_recheck`` actions
equal the tick's. Queries are counted by Prometheus itself (``/api/v1/query`` requests).

Run: ``.venv/bin/python bench/bench_fleet_recheck.py`` (100 models; ``--quick`` is the same);
``--models 1000`` for the fleet size of the issue.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _repo import build_repo, git  # noqa: E402

from assets.check_history import latest_check_status  # noqa: E402
from assets.names import (  # noqa: E402
    MODEL_CONFIG,
    PRODUCTION_DEPLOYMENT,
    SLO_CHECKS,
    TAG_PARTITION,
)
from assets.recheck_record import FLEET_RECHECK_KEY  # noqa: E402
from definitions import build_defs  # noqa: E402
from llm_platform.settings import Settings  # noqa: E402
from llm_platform.slo.recheck import RECHECK_CHECK  # noqa: E402
from resources.git_repo import ModelsRepoResource  # noqa: E402
from resources.prometheus import PrometheusResource  # noqa: E402
from sensors.schedules import build_slo_recheck_schedule  # noqa: E402
from tests.helpers.budget_fixtures import Timeline, during, production_yaml, start  # noqa: E402
from tests.helpers.prom_fixtures import aligned_now  # noqa: E402

HOUR, MIN = 3600, 60


def _timeline(i: int, name: str, future: int) -> Timeline:
    """Model ``i``'s history; ``future``: seconds of it after the bench starts."""
    labels = {"revision": f"{name}-r1"}
    if i % 10 == 1:  # 20 % errors for the last 70 min before the bench starts: fast burn
        return Timeline(
            name,
            "production",
            7 * HOUR,
            error_ratio=during(70 * MIN + future, -1, 0.2, 0.001),
            labels=labels,
        )
    if i % 10 == 2:  # 8 % errors for 7 h: slow burn
        return Timeline(
            name,
            "production",
            7 * HOUR,
            labels=labels,
            error_ratio=during(7 * HOUR, -1, 0.08, 0.001),
        )
    return Timeline(name, "production", 7 * HOUR, labels=labels)


def _query_count(url: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = r'prometheus_http_requests_total\{code="200",handler="/api/v1/query"\} (\d+)'
    match = re.search(pattern, text)
    return int(match.group(1)) if match else 0


def _populate(instance: dg.DagsterInstance, names: list[str], sha: str) -> None:
    instance.add_dynamic_partitions("models", names)
    for name in names:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                MODEL_CONFIG, partition=name, metadata={"valid": True, "commit_sha": sha}
            )
        )
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                PRODUCTION_DEPLOYMENT,
                partition=name,
                metadata={"revision": f"{name}-r1", "digest": "ab" * 32, "version": "1.0.0"},
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100, help="production models (100)")
    parser.add_argument("--baseline-runs", type=int, default=5, help="per-model runs timed")
    parser.add_argument("--quick", action="store_true", help="the default size (make bench)")
    args = parser.parse_args()
    n, k = args.models, min(args.baseline_runs, args.models)
    names = [f"model-{i:05d}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="bench-recheck-") as tmp_text:
        tmp = Path(tmp_text)
        t0 = time.perf_counter()
        repo = build_repo(tmp / "repo", n)
        (repo / "config").mkdir()
        (repo / "config/production.yaml").write_text(production_yaml("min_requests: 100"))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "production")
        sha = git(repo, "rev-parse", "HEAD")
        # Both paths evaluate at "now": the history runs on past the end of the bench, so that
        # every model's story holds whenever its check happens (setup takes minutes at 1,000).
        future = 600 + n
        end = aligned_now() // 60 * 60 + future
        timelines = [_timeline(i, m, future) for i, m in enumerate(names)]
        prom = start(tmp / "prom", timelines, end=end)
        try:
            (tmp / "dagster").mkdir()
            with dg.instance_for_test(temp_dir=str(tmp / "dagster")) as instance:
                _populate(instance, names, sha)
                print(
                    f"setup: {n} models (repo, Prometheus, instance) in "
                    f"{time.perf_counter() - t0:.1f} s"
                )
                os.environ["PROMETHEUS_URL"] = prom.url
                defs = build_defs(
                    Settings.from_env(
                        {
                            "LLM_PLATFORM_MODELS_REPO": str(repo),
                            "LLM_PLATFORM_HOME": str(tmp / "home"),
                            "PROMETHEUS_URL": prom.url,
                        }
                    )
                )
                keys = {
                    dg.AssetCheckKey(dg.AssetKey(PRODUCTION_DEPLOYMENT), c)
                    for c in [*SLO_CHECKS.values(), RECHECK_CHECK]
                }
                # What the schedule used to request per model: its production checks only.
                job = defs.resolve_job_def("slo_checks_job").get_subset(
                    asset_selection=set(), asset_check_selection=keys
                )
                sample = names[:k]  # healthy, fast and slow burners among them
                # One warm-up run (imports, job plan), not timed: today's cost is not inflated.
                job.execute_in_process(instance=instance, tags={TAG_PARTITION: names[-1]})
                before = _query_count(prom.url)
                t0 = time.perf_counter()
                run_actions = {}
                for name in sample:
                    result = job.execute_in_process(
                        instance=instance,
                        tags={TAG_PARTITION: name},
                        raise_on_error=False,
                    )
                    if not result.success:
                        raise SystemExit(f"baseline run for {name} failed")
                    st = latest_check_status(instance, PRODUCTION_DEPLOYMENT, RECHECK_CHECK, name)
                    run_actions[name] = st.metadata.get("action")
                per_run = (time.perf_counter() - t0) / len(sample)
                per_run_queries = (_query_count(prom.url) - before) / len(sample)
                schedule = build_slo_recheck_schedule("0 * * * *")
                with dg.build_schedule_context(
                    instance=instance,
                    scheduled_execution_time=datetime.now(UTC),
                    resources={
                        "models_repo": ModelsRepoResource(location=str(repo)),
                        "prometheus": PrometheusResource(url=prom.url),
                    },
                ) as ctx:
                    before = _query_count(prom.url)
                    t0 = time.perf_counter()
                    tick = schedule.evaluate_tick(ctx)
                    tick_s = time.perf_counter() - t0
                tick_queries = _query_count(prom.url) - before
                # The tick's verdicts are recorded by its one checks-only run (fleet_recheck).
                t0 = time.perf_counter()
                recorded = [
                    r
                    for r in tick.run_requests or []
                    if FLEET_RECHECK_KEY in (r.asset_check_keys or [])
                ]
                defs.resolve_job_def("slo_checks_job").get_subset(
                    asset_selection=set(), asset_check_selection={FLEET_RECHECK_KEY}
                ).execute_in_process(
                    instance=instance, run_config=recorded[0].run_config, tags=recorded[0].tags
                )
                record_s = time.perf_counter() - t0
                tick_actions = {
                    m: latest_check_status(
                        instance, PRODUCTION_DEPLOYMENT, RECHECK_CHECK, m
                    ).metadata.get("action")
                    for m in names
                }
        finally:
            prom.stop()
    agree = sum(run_actions[m] == tick_actions[m] for m in sample)
    counts = {a: sum(v == a for v in tick_actions.values()) for a in ("none", "notify", "rollback")}
    today = per_run * n
    print(f"models: {n}  tick actions: {counts}  runs requested: {len(tick.run_requests or [])}")
    print(f"same decision as the per-model runs: {agree}/{len(sample)} sampled models")
    print(
        f"today: {per_run_queries * n:7.0f} queries  {today:8.1f} s  "
        f"({len(sample)} runs timed, {per_run:.2f} s each, x {n})"
    )
    print(f"tick:  {tick_queries:7d} queries  {tick_s:8.1f} s  (constant: one query set)")
    print(f"record run (one per tick, every model's slo_recheck): {record_s:.1f} s")
    print(
        f"speedup (today / (tick + record run)): {today / (tick_s + record_s):.1f}x   "
        f"query ratio: {per_run_queries * n / max(tick_queries, 1):.0f}x"
    )
    if agree != len(sample):
        raise SystemExit("the tick and the per-model runs disagree")


if __name__ == "__main__":
    main()
