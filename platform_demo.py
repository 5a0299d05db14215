"""Headless end-to-end run of llm-platform on the embedded defaults (``make demo``).

Does what the Dagster daemon would do, step by step, on a persistent DAGSTER_HOME (so that
``make dev`` afterwards shows every run, check and materialization in the UI):

1. create the demo models repo and start the embedded stack (Prometheus, gateways, controller);
2. tick ``git_push_sensor``: one partition and one run per model (validate → register → stage);
   ``mistral-7b`` is staged with injected latency, so its latency SLO holds it in staging;
   ``gemma-3-270m`` (a real GGUF, weights outside git) is served by llama.cpp and staged with
   streaming and chat tests and a time-to-first-token check;
3. alice approves ``llama-3-1-8b`` and ``gemma-3-270m`` in ``approvals/<model>.yaml`` (commits
   SSH-signed with her key, which is in the demo's trust root ``LLM_PLATFORM_TRUSTED_SIGNERS``):
   the sensor reacts, staging is re-checked and ``promotion_automation`` promotes them;
4. ``llama-3-1-8b`` 1.1.0 (new weights) is pushed by bob, approved by alice and promoted with
   shadow traffic: copies of production requests go to 1.1.0, the sequential judge decides on
   the pairs, then a blue-green switch;
5. a fault is injected into production under steady traffic: the SLO rules' page alert fires
   in the embedded Prometheus and ``production_rollback_sensor`` (ticked at the daemon's
   interval) rolls production back to 1.0.0 on its own; the production checks record the
   incident; the measured fault -> rollback time is printed;
6. ``gemma-3-270m`` 1.1.0, the packaged weights re-quantized to Q2_K right here, is pushed by
   bob: as fast as 1.0.0, but ``output_quality`` (the example suite on staging vs production)
   finds the lost answers and holds it in staging, while production keeps 1.0.0;
7. ``delivery_metrics`` is refreshed and its table (what ``llm-platform metrics`` prints) ends
   the demo.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import httpx

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
from llm_platform.cli.metrics_cmd import report_table
from llm_platform.cli.options import PIPE_WIDTH
from llm_platform.demo.gemma import GEMMA_MODEL, add_gemma_to_repo
from llm_platform.demo.quality import (
    BROKEN_FTYPE,
    BROKEN_VERSION,
    broken_gemma_model_yaml,
    ensure_gemma_q2k,
)
from llm_platform.demo.repo import ensure_demo_repo
from llm_platform.demo.setup import allow_gemma_source, quiet, use_dagster_home, use_demo_trust_root
from llm_platform.demo.signing import DEMO_MODEL_OWNER, demo_email, signing_options
from llm_platform.dora.metrics import DeliveryReport
from llm_platform.promotion import Ledger
from llm_platform.registry import open_store
from llm_platform.settings import TRUSTED_SIGNERS_ENV, Settings
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.stack import stack_up
from sensors.git_push import git_push_sensor
from sensors.promotion import production_rollback_sensor
from sensors.slo_rules import slo_rules_sensor

#: Progress goes to the terminal; the runs' own logs (Dagster events, kfp.local task output)
#: go to ``$LLM_PLATFORM_HOME/logs/demo.log`` (see ``quiet``).
_out = os.fdopen(os.dup(1), "w", buffering=1)
# Tables keep their rows whole when the demo's output goes to a pipe or a log (rich's default
# there is 80 columns).
console = Console(file=_out, width=None if _out.isatty() else PIPE_WIDTH)


LLAMA, MISTRAL, GEMMA = "llama-3-1-8b", "mistral-7b", GEMMA_MODEL
#: Staging options per model: mistral gets injected latency; llama.cpp answers one request at
#: a time on a small CPU, so Gemma's load is short and sequential (its SLO floor is 10).
STAGING = {
    MISTRAL: {"inject_latency_ms": 1700.0, "load_requests": 56},
    GEMMA: {"load_requests": 12, "load_concurrency": 1, "ready_timeout_s": 180.0},
}


def failure_text(message: str, cls_name: str | None, limit: int = 300) -> str:
    """A step's failure as a reader wants it: the message without the exception's module path
    (``dagster._core.definitions.events.Failure: promotion ... refused`` reads as the refusal)."""
    text = message.strip()
    if cls_name:
        text = re.sub(rf"^(?:[\w.]+\.)?{re.escape(cls_name)}: ", "", text)
    return text[:limit]


class Demo:
    """The platform's Definitions driven by hand on a real instance."""

    def __init__(
        self, settings: Settings, instance: dg.DagsterInstance, keys: dict[str, Path]
    ) -> None:
        self.settings, self.instance, self.keys = settings, instance, keys
        self.defs = build_defs(settings)
        self.repo = Path(settings.models_repo)
        self.sensor_cursor: str | None = None
        #: The check evaluations of the last run launched per partition.
        self.checks: dict[str, dict[str, dg.AssetCheckEvaluation]] = {}
        self.auto_cursor: AssetDaemonCursor | None = None

    def git(self, *args: str, author: str = "alice", key: Path | None = None) -> str:
        import subprocess

        env = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": demo_email(author),
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": demo_email(author),
            "PATH": "/usr/bin:/bin",
        }
        options = signing_options(key) if key else []
        return subprocess.run(
            ["git", "-C", str(self.repo), *options, *args],
            check=True,
            text=True,
            capture_output=True,
            env=env,
        ).stdout.strip()

    def commit(self, message: str, author: str = "alice", *, signed: bool = False) -> None:
        key = self.keys[author] if signed else None
        self.git("add", "-A", author=author)
        self.git("commit", "-q", *(["-S"] if key else []), "-m", message, author=author, key=key)
        how = " (SSH-signed)" if key else ""
        console.print(f"  [dim]git commit by {author}{how}:[/dim] {message}")

    def tick_git_sensor(self) -> None:
        # Entered: the context enters the instance for its resources and must exit it again.
        with (
            dg.build_sensor_context(
                instance=self.instance,
                instance_ref=self.instance.get_ref(),
                definitions=self.defs,
                cursor=self.sensor_cursor,
                resources=dict(self.defs.resources or {}),
            ) as ctx,
            quiet(self.settings.home / "logs" / "demo.log"),
        ):
            result = git_push_sensor.evaluate_tick(ctx)
        for partitions in result.dynamic_partitions_requests or []:
            if isinstance(partitions, dg.AddDynamicPartitionsRequest):
                self.instance.add_dynamic_partitions(
                    partitions.partitions_def_name, list(partitions.partition_keys)
                )
        self.sensor_cursor = result.cursor or self.sensor_cursor
        run_requests = result.run_requests or []
        console.print(f"  git_push_sensor: {len(run_requests)} run(s) requested")
        for req in run_requests:
            staging = STAGING.get(req.partition_key or "", {"load_requests": 60})
            self.launch(
                "model_job",
                req.partition_key,
                tags=req.tags,
                config={"ops": {STAGING_DEPLOYMENT: {"config": staging}}},
            )

    def evaluate_automation(self) -> None:
        with quiet(self.settings.home / "logs" / "demo.log"):
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
            with quiet(self.settings.home / "logs" / "demo.log"):
                self.auto_cursor = dg.evaluate_automation_conditions(
                    defs=self.defs, instance=self.instance, cursor=self.auto_cursor
                ).cursor

    def launch(self, job: str, partition: str | None, *, tags=None, config=None) -> bool:
        """Run ``job`` in process and print one line naming the model, then what held it."""
        t0 = time.monotonic()
        with quiet(self.settings.home / "logs" / "demo.log"):
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
        with (
            dg.build_sensor_context(
                instance=self.instance,
                instance_ref=self.instance.get_ref(),
                definitions=self.defs,
                resources=dict(self.defs.resources or {}),
            ) as ctx,
            quiet(self.settings.home / "logs" / "demo.log"),
        ):
            tick = slo_rules_sensor.evaluate_tick(ctx)
        console.print(f"  slo_rules_sensor: {tick.skip_message}")

    def tick_rollback_sensor(self) -> SensorExecutionData:
        """One evaluation of ``production_rollback_sensor`` (as the daemon does every 30 s)."""
        with (
            dg.build_sensor_context(
                instance=self.instance,
                instance_ref=self.instance.get_ref(),
                definitions=self.defs,
                resources=dict(self.defs.resources or {}),
            ) as ctx,
            quiet(self.settings.home / "logs" / "demo.log"),
        ):
            tick = production_rollback_sensor.evaluate_tick(ctx)
        return tick

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
        return latest_materialization_metadata(self.instance, asset, model) or {}

    def approve(self, model: str, *, approver: str = "alice") -> None:
        reg = self.latest(REGISTERED_MODEL, model)
        if not reg:
            console.print(f"  [red]{model} was never registered: nothing to approve[/red]")
            return
        path = self.repo / "approvals" / f"{model}.yaml"
        path.parent.mkdir(exist_ok=True)
        existing = path.read_text() if path.exists() else "approvals:\n"
        path.write_text(
            existing
            + (
                f"  - environment: production\n    version: {reg['version']}\n"
                f"    digest: {reg['digest']}\n    approver: {approver}\n"
                f"    approved_at: '{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}'\n"
            )
        )
        self.commit(
            f"approve {model} {reg['version']} for production", author=approver, signed=True
        )


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


def summary(demo: Demo, models: Iterable[str]) -> None:
    ledger = Ledger(open_store(demo.settings.artifact_store_uri))
    table = Table(title="where every model stands")
    for col in ("model", "staging", "production", "last ledger events"):
        table.add_column(col)
    for m in models:
        st = demo.latest(STAGING_DEPLOYMENT, m)
        aliases = ledger.aliases(m)
        events = ", ".join(e.kind for e in ledger.history(m, limit=4))
        table.add_row(
            m,
            f"{st.get('version', '-')} {str(st.get('digest', ''))[:12]}",
            f"{aliases['production'].version} {aliases['production'].digest[:12]}"
            if "production" in aliases
            else "-",
            events or "-",
        )
    console.print(table)


def main() -> int:
    allow_gemma_source(Settings.from_env().home)
    keys, ignored = use_demo_trust_root(Settings.from_env().home)
    if ignored:
        console.print(f"  [yellow]{TRUSTED_SIGNERS_ENV}={ignored} ignored:[/yellow] the demo's")
        console.print("  approvals are signed by its own keys, trusted by its own trust root")
    settings = Settings.from_env()
    home = settings.home
    use_dagster_home(home)
    console.rule("llm-platform demo (embedded defaults)")
    if settings.models_repo == str(settings.demo_repo_path) and settings.demo_repo_path.exists():
        shutil.rmtree(settings.demo_repo_path)  # a fresh demo every time
        shutil.rmtree(home / "kfp", ignore_errors=True)
    owner_key = keys[DEMO_MODEL_OWNER]  # bob adds and changes the models, signed; alice approves
    ensure_demo_repo(settings.demo_repo_path, signing_key=owner_key)
    if settings.models_repo == str(settings.demo_repo_path):
        console.print(f"  assembling {GEMMA} (230 MB, outside git) and adding it to the repo")
        add_gemma_to_repo(settings.demo_repo_path, home, signing_key=owner_key)
    console.print(f"[bold]1.[/bold] models repo {settings.models_repo}; starting the stack")
    names = ", ".join(demo_email(n) for n in keys)
    console.print(f"  approvals trust root {settings.trusted_signers} ({names})")
    info = stack_up(home, progress=lambda m: console.print(f"  {m}"))
    with dg.DagsterInstance.get() as instance:
        demo = Demo(settings, instance, keys)
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
        console.print(
            "[bold]4.[/bold] llama-3-1-8b 1.1.0 (new weights) by bob, approved by alice, promoted "
            "(shadow traffic judged, then blue-green)"
        )
        shutil.copytree(demo.repo / "weights/tiny-shakespeare", demo.repo / "weights/llama-v2")
        (demo.repo / "weights/llama-v2/RELEASE.txt").write_text("1.1.0\n")
        cfg = demo.repo / f"models/{LLAMA}/model.yaml"
        cfg.write_text(
            cfg.read_text()
            .replace("version: 1.0.0", "version: 1.1.0")
            .replace("weights/tiny-shakespeare", "weights/llama-v2")
        )
        demo.commit("llama-3-1-8b 1.1.0", author=DEMO_MODEL_OWNER, signed=True)
        demo.tick_git_sensor()
        demo.approve(LLAMA)
        demo.tick_git_sensor()
        demo.evaluate_automation()
        ledger = Ledger(open_store(demo.settings.artifact_store_uri))
        promoted = [e for e in ledger.history(LLAMA, env="production", limit=3) if e.version]
        if promoted and promoted[0].kind == "promoted" and promoted[0].version == "1.1.0":
            console.print(f"  shadow: {escape(promoted[0].reason)}")
        console.print(
            "[bold]5.[/bold] a fault in production: the SLO page alert, automatic rollback"
        )
        demo.tick_rules_sensor()
        prod = demo.latest(PRODUCTION_DEPLOYMENT, LLAMA)
        runtime = LocalRuntime(home)
        fault = runtime.fault_file("production", LLAMA, str(prod["revision"]))
        fault.parent.mkdir(parents=True, exist_ok=True)
        url = f"{info.gateways['production']}/{LLAMA}"
        with Traffic(url, LLAMA) as traffic:
            fault.write_text('{"latency_ms": 0, "error_rate": 0.3}')
            console.print(f"  30% errors injected into {LLAMA} {prod['revision']}; steady traffic")
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


def delivery_metrics_table(demo: Demo) -> Table:
    """Materialize ``delivery_metrics`` (as its automation sensor does after a production
    change) and render its report: the table ``llm-platform metrics`` prints."""
    with quiet(demo.settings.home / "logs" / "demo.log"):
        result = dg.materialize(
            [demo.defs.resolve_assets_def(DELIVERY_METRICS)],
            instance=demo.instance,
            tags={TAG_TRIGGER: DELIVERY_METRICS_AUTOMATION},
        )
    (mat,) = result.asset_materializations_for_node(DELIVERY_METRICS)
    return report_table(DeliveryReport.model_validate(mat.metadata["report"].value))


def push_broken_gemma(demo: Demo) -> None:
    """Commit Gemma 1.1.0 (Q2_K, built at demo time), stage it, print the quality verdict."""
    t0 = time.monotonic()
    ensure_gemma_q2k(demo.settings.home)
    console.print(
        f"  {BROKEN_FTYPE} build made in {time.monotonic() - t0:.1f}s (llama.cpp quantizer)"
    )
    cfg = demo.repo / f"models/{GEMMA}/model.yaml"
    cfg.write_text(broken_gemma_model_yaml(demo.settings.home))
    demo.commit(
        f"{GEMMA} {BROKEN_VERSION}: {BROKEN_FTYPE} build (smaller, as fast)",
        author=DEMO_MODEL_OWNER,
        signed=True,
    )
    demo.tick_git_sensor()
    check = demo.checks.get(GEMMA, {}).get(CHECK_OUTPUT_QUALITY)
    if check is not None:
        meta = {k: v.value for k, v in check.metadata.items()}
        console.print(
            f"  {CHECK_OUTPUT_QUALITY}: {meta.get('status')} — kept {meta.get('kept')}, "
            f"lost {meta.get('lost')}, gained {meta.get('gained')} "
            f"(production answers {'from the cache' if meta.get('baseline_cached') else 'asked'})"
        )
        lost = meta.get("lost_cases")
        if isinstance(lost, str):  # the check's table: | case | candidate | production | ...
            for line in lost.splitlines()[2:6]:
                case, cand, prod = (c.strip() for c in line.strip("|").split(" | ")[:3])
                console.print(f"    lost {case}: {cand} (production: {prod})", markup=False)
    demo.evaluate_automation()


def story_happened(demo: Demo) -> bool:
    """Exit status of the demo: did each step end the way the story says?"""
    ledger = Ledger(open_store(demo.settings.artifact_store_uri))
    llama = ledger.aliases(LLAMA).get("production")
    gemma = demo.latest(PRODUCTION_DEPLOYMENT, GEMMA)
    kinds = [e.kind for e in ledger.history(LLAMA, env="production")]
    quality = demo.checks.get(GEMMA, {}).get(CHECK_OUTPUT_QUALITY)
    quality_meta = {k: v.value for k, v in quality.metadata.items()} if quality else {}
    gemma_prod = ledger.aliases(GEMMA).get("production")
    expected = {
        "mistral-7b held in staging (never promoted)": "production" not in ledger.aliases(MISTRAL),
        "llama-3-1-8b refused without approval, promoted twice, failed its SLO, rolled back": kinds
        == ["rolled_back", "check_failed", "promoted", "promoted", "refused"],
        "production serves llama-3-1-8b 1.0.0 again": llama is not None
        and llama.version == "1.0.0",
        "gemma-3-270m promoted to production, served by llama.cpp": gemma_prod is not None
        and gemma.get("engine") == "llama-cpp",
        f"gemma-3-270m {BROKEN_VERSION} ({BROKEN_FTYPE}) held in staging by "
        f"{CHECK_OUTPUT_QUALITY} (lost cases), production keeps 1.0.0": quality is not None
        and not quality.passed
        and quality_meta.get("status") == "fail"
        and str(quality_meta.get("lost", "0")) != "0"
        and demo.latest(STAGING_DEPLOYMENT, GEMMA).get("version") == BROKEN_VERSION
        and gemma_prod is not None
        and gemma_prod.version == "1.0.0",
    }
    for what, happened in expected.items():
        console.print(("[green]ok[/green]   " if happened else "[red]FAIL[/red] ") + what)
    return all(expected.values())


if __name__ == "__main__":
    sys.exit(main())
