"""Headless end-to-end run of llm-platform on the embedded defaults (``make demo``).

Does what the Dagster daemon would do, step by step (one function per step below), on a
persistent DAGSTER_HOME, so that ``make dev`` afterwards shows every run, check and
materialization in the UI. The story it tells, and checks at the end (exit 1 when a step did
not end as told), is "What make demo shows" in the README; the Dagster-free parts (the repo
changes, the story's expectations, the tables, the traffic) are in :mod:`llm_platform.demo`.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

warnings.filterwarnings("ignore", category=dg.PreviewWarning)
warnings.filterwarnings("ignore", category=dg.BetaWarning)
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:  # the types of evaluate_automation_conditions' cursor and of a sensor tick
    from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor
    from dagster._core.definitions.sensor_definition import SensorExecutionData
from rich.table import Table

from assets.check_history import latest_materialization_metadata
from assets.names import (
    CHECK_OUTPUT_QUALITY,
    DELIVERY_METRICS,
    DELIVERY_METRICS_AUTOMATION,
    PRODUCTION_DEPLOYMENT,
    REGISTERED_MODEL,
    STAGING_DEPLOYMENT,
    TAG_PARTITION,
    TAG_TRIGGER,
)
from definitions import build_defs
from llm_platform.artifact_store import open_store
from llm_platform.cli.metrics_cmd import report_table
from llm_platform.cli.options import PIPE_WIDTH
from llm_platform.config.environments import PRODUCTION
from llm_platform.demo.changes import RepoChanges
from llm_platform.demo.quality import BROKEN_FTYPE, BROKEN_VERSION, ensure_gemma_q2k
from llm_platform.demo.report import (
    failure_text,
    lost_cases,
    quality_summary,
    standing_table,
    verdict_lines,
)
from llm_platform.demo.setup import quiet
from llm_platform.demo.start import start
from llm_platform.demo.story import (
    DEFAULT_STAGING,
    GEMMA,
    LLAMA,
    MISTRAL,
    STAGING,
    CheckSeen,
    expectations,
)
from llm_platform.demo.traffic import Traffic
from llm_platform.dora.metrics import DeliveryReport
from llm_platform.promotion import Ledger
from llm_platform.promotion.deployment_record import DeploymentRecord
from llm_platform.settings import Settings
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.stack import StackInfo
from sensors.git_push import git_push_sensor
from sensors.promotion import production_rollback_sensor
from sensors.slo_rules import slo_rules_sensor

#: Progress goes to the terminal; the runs' own logs (Dagster events, kfp.local task output)
#: go to ``$LLM_PLATFORM_HOME/logs/demo.log`` (see ``quiet``).
_out = os.fdopen(os.dup(1), "w", buffering=1)
# Tables keep their rows whole when the demo's output goes to a pipe or a log (rich's default
# there is 80 columns).
console = Console(file=_out, width=None if _out.isatty() else PIPE_WIDTH)


class Demo:
    """The platform's Definitions driven by hand on a real instance."""

    def __init__(
        self, settings: Settings, instance: dg.DagsterInstance, keys: dict[str, Path]
    ) -> None:
        self.settings, self.instance = settings, instance
        self.defs = build_defs(settings)
        self.repo = Path(settings.models_repo)
        #: Commits to the models repo by the story's people.
        self.changes = RepoChanges(self.repo, keys, console.print)
        self.ledger = Ledger(open_store(settings.artifact_store_uri))
        self.sensor_cursor: str | None = None
        #: The check evaluations of the last run launched per partition.
        self.checks: dict[str, dict[str, dg.AssetCheckEvaluation]] = {}
        self.auto_cursor: AssetDaemonCursor | None = None

    def quiet(self) -> AbstractContextManager[None]:
        """Send the runs' own output to the demo's log while the block runs."""
        return quiet(self.settings.home / "logs" / "demo.log")

    def tick(self, sensor: dg.SensorDefinition, cursor: str | None = None) -> SensorExecutionData:
        """One evaluation of ``sensor`` on the instance, as the daemon does it."""
        # Entered: the context enters the instance for its resources and must exit it again.
        with (
            dg.build_sensor_context(
                instance=self.instance,
                instance_ref=self.instance.get_ref(),
                definitions=self.defs,
                cursor=cursor,
                resources=dict(self.defs.resources or {}),
            ) as ctx,
            self.quiet(),
        ):
            return sensor.evaluate_tick(ctx)

    def tick_git_sensor(self) -> None:
        """One ``git_push_sensor`` tick: add the partitions it asks for, launch its runs."""
        result = self.tick(git_push_sensor, self.sensor_cursor)
        for partitions in result.dynamic_partitions_requests or []:
            if isinstance(partitions, dg.AddDynamicPartitionsRequest):
                self.instance.add_dynamic_partitions(
                    partitions.partitions_def_name, list(partitions.partition_keys)
                )
        self.sensor_cursor = result.cursor or self.sensor_cursor
        run_requests = result.run_requests or []
        console.print(f"  git_push_sensor: {len(run_requests)} run(s) requested")
        for req in run_requests:
            staging = STAGING.get(req.partition_key or "", DEFAULT_STAGING)
            self.launch(
                "model_job",
                req.partition_key,
                tags=req.tags,
                config={"ops": {STAGING_DEPLOYMENT: {"config": staging}}},
            )

    def evaluate_automation(self) -> None:
        """One evaluation of the automation conditions; launch the production runs requested."""
        with self.quiet():
            result = dg.evaluate_automation_conditions(
                defs=self.defs, instance=self.instance, cursor=self.auto_cursor
            )
        self.auto_cursor = result.cursor
        keys = sorted(
            k for k in result.get_requested_partitions(dg.AssetKey(PRODUCTION_DEPLOYMENT)) if k
        )
        console.print(f"  promotion_automation: requests production for {keys or 'nothing'}")
        for key in keys:
            self.launch("production_job", key, tags={TAG_TRIGGER: "promotion_automation"})
        if keys:
            # The daemon's next tick: it marks the requests as handled. Without it, the next
            # staging update would count as handled by this request (Dagster's since_last_handled).
            with self.quiet():
                self.auto_cursor = dg.evaluate_automation_conditions(
                    defs=self.defs, instance=self.instance, cursor=self.auto_cursor
                ).cursor

    def launch(self, job: str, partition: str | None, *, tags=None, config=None) -> bool:
        """Run ``job`` in process and print one line naming the model, then what held it."""
        t0 = time.monotonic()
        with self.quiet():
            result = self.defs.resolve_job_def(job).execute_in_process(
                instance=self.instance,
                partition_key=partition,
                tags=tags,
                run_config=config,
                raise_on_error=False,
            )
        who = partition or (tags or {}).get(TAG_PARTITION, "")
        self.checks[who] = {ev.check_name: ev for ev in result.get_asset_check_evaluations()}
        state = "[green]success[/green]" if result.success else "[red]failed[/red]"
        # escape(): "[llama-3-1-8b]" would be read as a markup tag and vanish.
        console.print(f"    run {job} {escape(f'[{who}]')} {state} in {time.monotonic() - t0:.1f}s")
        for ev in result.get_asset_check_evaluations():
            if not ev.passed:
                console.print(
                    f"      [yellow]check {ev.check_name} held:[/yellow] {ev.description}"
                )
        for event in result.all_events:
            error = event.step_failure_data.error if event.is_step_failure else None
            if error is not None and event.step_key not in (
                "staging_slo_checks",
                "production_slo_checks",
            ):
                why = escape(failure_text(error.message, error.cls_name))
                console.print(f"      [red]{event.step_key}:[/red] {why}")
        return result.success

    def tick_rules_sensor(self) -> None:
        """One evaluation of ``slo_rules_sensor``: the embedded Prometheus gets the SLO rules
        of the branch head (recording rules, burn-rate alerts) and reloads."""
        tick = self.tick(slo_rules_sensor)
        console.print(f"  slo_rules_sensor: {tick.skip_message}")

    def tick_rollback_sensor(self) -> SensorExecutionData:
        """One evaluation of ``production_rollback_sensor`` (as the daemon does every 30 s)."""
        return self.tick(production_rollback_sensor)

    def wait_for_alert_rollback(self, *, timeout_s: float) -> tuple[SensorExecutionData, float]:
        """Tick the rollback sensor at the daemon's interval until the SLO rules' page alert
        makes it request a rollback (or ``timeout_s``); returns the tick and the seconds."""
        interval = float(production_rollback_sensor.minimum_interval_seconds or 30)
        t0 = time.monotonic()
        while True:
            time.sleep(interval)
            tick = self.tick_rollback_sensor()
            waited = time.monotonic() - t0
            if tick.run_requests or waited > timeout_s:
                return tick, waited
            console.print(f"  [dim]{waited:.0f} s: no page alert firing yet[/dim]")

    def latest(self, asset: str, model: str) -> dict[str, object]:
        """The latest materialization metadata of ``asset`` for ``model`` (empty: none)."""
        return latest_materialization_metadata(self.instance, asset, model) or {}

    def deployment(self, asset: str, model: str) -> DeploymentRecord | None:
        """The latest deployment ``asset`` recorded for ``model`` (None: none, or unreadable)."""
        try:
            return DeploymentRecord.from_metadata(self.latest(asset, model))
        except ValueError:
            return None

    def approve(self, model: str, *, approver: str = "alice") -> None:
        """``approver`` approves the version of ``model`` last registered (signed commit)."""
        reg = self.latest(REGISTERED_MODEL, model)
        if not reg:
            console.print(f"  [red]{model} was never registered: nothing to approve[/red]")
            return
        self.changes.approve(
            model, version=str(reg["version"]), digest=str(reg["digest"]), approver=approver
        )


def first_push_and_approvals(demo: Demo) -> None:
    """Steps 2 and 3: every model validated, registered and staged; two approved, promoted."""
    demo.evaluate_automation()  # eager() only reacts to updates after its first evaluation
    console.print("[bold]2.[/bold] first push: validate, register, stage every model")
    demo.tick_git_sensor()
    demo.evaluate_automation()
    console.print(
        "[bold]3.[/bold] alice approves llama-3-1-8b and gemma-3-270m in the repo (signed)"
    )
    demo.approve(LLAMA)
    demo.approve(GEMMA)
    demo.tick_git_sensor()
    demo.evaluate_automation()


def release_llama(demo: Demo) -> None:
    """Step 4: llama 1.1.0 pushed by bob, approved by alice, promoted with shadow traffic."""
    console.print(
        "[bold]4.[/bold] llama-3-1-8b 1.1.0 (new weights) by bob, approved by alice, promoted "
        "(shadow traffic judged, then blue-green)"
    )
    demo.changes.release_new_weights(LLAMA)
    demo.tick_git_sensor()
    demo.approve(LLAMA)
    demo.tick_git_sensor()
    demo.evaluate_automation()
    promoted = [e for e in demo.ledger.history(LLAMA, env="production", limit=3) if e.version]
    if promoted and promoted[0].kind == "promoted" and promoted[0].version == "1.1.0":
        console.print(f"  shadow: {escape(promoted[0].reason)}")


def fault_and_rollback(demo: Demo, info: StackInfo) -> None:
    """Step 5: a fault under steady traffic; the page alert (or the re-check) rolls back."""
    console.print("[bold]5.[/bold] a fault in production: the SLO page alert, automatic rollback")
    demo.tick_rules_sensor()
    prod = demo.deployment(PRODUCTION_DEPLOYMENT, LLAMA)
    if prod is None:
        console.print(f"  [red]{LLAMA} has no production deployment: no fault to inject[/red]")
        return
    fault = LocalRuntime(demo.settings.home).fault_file(PRODUCTION, LLAMA, prod.revision)
    fault.parent.mkdir(parents=True, exist_ok=True)
    url = f"{info.gateways[PRODUCTION]}/{LLAMA}"
    with Traffic(url, LLAMA) as traffic:
        fault.write_text('{"latency_ms": 0, "error_rate": 0.3}')
        console.print(f"  30% errors injected into {LLAMA} {prod.revision}; steady traffic")
        tick, waited = demo.wait_for_alert_rollback(timeout_s=300.0)
        # The production checks record the incident (ledger, notification) as the hourly
        # re-check would; enough traffic for their min_requests first.
        traffic.wait_sent(1200, timeout_s=120.0)
        demo.launch(
            "slo_checks_job",
            None,
            tags={TAG_PARTITION: LLAMA, TAG_TRIGGER: "slo_recheck_schedule"},
        )
        via_alert = bool(tick.run_requests)
        if not via_alert:  # no alert in time: the re-check's record decides
            tick = demo.tick_rollback_sensor()
    console.print(f"  sent {traffic.sent} requests to {url}: {traffic.failed} failed")
    how = (
        f"page alert: fault -> rollback requested in {waited:.0f} s"
        if via_alert
        else f"no page alert within {waited:.0f} s: the re-check's record"
    )
    for req in tick.run_requests or []:
        console.print(f"  production_rollback_sensor: rollback requested ({how})")
        demo.launch("production_job", req.partition_key, tags=req.tags, config=req.run_config)


def main() -> int:
    settings, keys, info = start(console)
    with dg.DagsterInstance.get() as instance:
        demo = Demo(settings, instance, keys)
        first_push_and_approvals(demo)
        release_llama(demo)
        fault_and_rollback(demo, info)
        console.print(
            f"[bold]6.[/bold] {GEMMA} {BROKEN_VERSION} by bob: the same weights re-quantized to "
            f"{BROKEN_FTYPE} (built now), held by {CHECK_OUTPUT_QUALITY}"
        )
        push_broken_gemma(demo)
        summary(demo, [LLAMA, MISTRAL, GEMMA])
        ok = story_happened(demo)
        delivery = delivery_metrics_table(demo)
    console.print(
        f"Stack still running (Prometheus {info.prometheus_url}). "
        "`make dev` shows all of this in the Dagster UI; "
        "`.venv/bin/llm-platform stack down` stops it."
    )
    console.print(delivery)
    return 0 if ok else 1


def summary(demo: Demo, models: Iterable[str]) -> None:
    """Print where every model stands (staging, production, last ledger events)."""
    staged = {m: demo.deployment(STAGING_DEPLOYMENT, m) for m in models}
    console.print(standing_table(demo.ledger, staged))


def delivery_metrics_table(demo: Demo) -> Table:
    """Materialize ``delivery_metrics`` (as its automation sensor does after a production
    change) and render its report: the table ``llm-platform metrics`` prints."""
    with demo.quiet():
        result = dg.materialize(
            [demo.defs.resolve_assets_def(DELIVERY_METRICS)],
            instance=demo.instance,
            tags={TAG_TRIGGER: DELIVERY_METRICS_AUTOMATION},
        )
    (mat,) = result.asset_materializations_for_node(DELIVERY_METRICS)
    return report_table(DeliveryReport.model_validate(mat.metadata["report"].value))


def _quality_check(demo: Demo) -> CheckSeen | None:
    """Gemma's output-quality check in its last run, if it ran."""
    check = demo.checks.get(GEMMA, {}).get(CHECK_OUTPUT_QUALITY)
    if check is None:
        return None
    return CheckSeen(check.passed, {k: v.value for k, v in check.metadata.items()})


def push_broken_gemma(demo: Demo) -> None:
    """Commit Gemma 1.1.0 (Q2_K, built at demo time), stage it, print the quality verdict."""
    t0 = time.monotonic()
    ensure_gemma_q2k(demo.settings.home)
    console.print(
        f"  {BROKEN_FTYPE} build made in {time.monotonic() - t0:.1f}s (llama.cpp quantizer)"
    )
    demo.changes.release_broken_gemma(GEMMA, demo.settings.home)
    demo.tick_git_sensor()
    quality = _quality_check(demo)
    if quality is not None:
        console.print(quality_summary(CHECK_OUTPUT_QUALITY, quality.meta))
        for line in lost_cases(quality.meta):
            console.print(line, markup=False)
    demo.evaluate_automation()


def story_happened(demo: Demo) -> bool:
    """Exit status of the demo: did each step end the way the story says?"""
    expected = expectations(
        demo.ledger,
        gemma_production=demo.deployment(PRODUCTION_DEPLOYMENT, GEMMA),
        gemma_staging=demo.deployment(STAGING_DEPLOYMENT, GEMMA),
        quality=_quality_check(demo),
        quality_check=CHECK_OUTPUT_QUALITY,
    )
    for line in verdict_lines(expected.items()):
        console.print(line)
    return all(expected.values())


if __name__ == "__main__":
    sys.exit(main())
