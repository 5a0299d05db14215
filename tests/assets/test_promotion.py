"""The promotion gate across runs, approvals, blue-green promotion and automatic rollback.

Real everything: a git repo, kfp.local registration, model servers behind the gateway, a real
Prometheus scraping them, the full Definitions and Dagster's automation evaluation.
"""

from __future__ import annotations

import time

import dagster as dg
import httpx
import pytest

from assets.names import PRODUCTION_DEPLOYMENT, STAGING_DEPLOYMENT, TAG_PARTITION
from assets.staging import staging_deployment
from llm_platform.artifact_store import open_store
from llm_platform.promotion import Ledger
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY
from sensors.promotion import production_rollback_sensor
from tests.helpers.promotion_fixtures import (
    approve,
    make_platform,
    prepare_repo,
    set_model_latency_objective,
    set_production,
)

pytestmark = pytest.mark.long

STAGING = {"ops": {STAGING_DEPLOYMENT: {"config": {"load_requests": 24}}}}


def promote(approver: str | None = None, **extra) -> dict:
    cfg = {"smoke_requests": 8, **extra}
    if approver:
        cfg["approver"] = approver
    return {"ops": {PRODUCTION_DEPLOYMENT: {"config": cfg}}}


@pytest.fixture
def platform(models_repo, stack_home, signers):
    prepare_repo(models_repo, signers)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        yield make_platform(models_repo, stack_home, instance, trusted_signers=signers.trust_root)


def _requested(result) -> set[str]:
    return set(result.get_requested_partitions(dg.AssetKey(PRODUCTION_DEPLOYMENT)))


def announced_failures(p, run_id: str, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What the run-failure sensor sends for the run (evaluated as the daemon would)."""
    from assets.names import RUN_FAILURE_SENSOR
    from resources.notifier import NotifierResource
    from sensors.run_failure import run_failure_sensor

    sent: list[object] = []
    monkeypatch.setattr(NotifierResource, "notify_failure", lambda self, f: sent.append(f) or True)
    run = p.instance.get_run_by_id(run_id)
    (record,) = p.instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records
    with dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR,
        dagster_instance=p.instance,
        dagster_run=run,
        dagster_event=record.event_log_entry.dagster_event,
        resources={"notifier": p.defs.resources["notifier"]},
    ) as context:
        run_failure_sensor(context.for_run_failure())
    return sent


def test_gate_holds_across_runs_until_checks_pass_and_resets_on_redeploy(platform, monkeypatch):
    p = platform
    auto = dg.evaluate_automation_conditions(defs=p.defs, instance=p.instance)
    # Staging deploys, but the latency objective (1 ms) cannot be met: blocking check fails.
    set_model_latency_objective(p.repo, 1)
    p.repo.commit("impossible latency objective")
    staged = p.run("model_job", config=STAGING)
    assert not staged.success
    assert not p.checks(staged)["staging_deployment:slo_latency_p95"].passed
    # Objectives alpha does not set are "not configured", not failed (and do not block).
    for unset in ("slo_ttft_p95", "slo_tpot_p95"):
        result = p.checks(staged)[f"staging_deployment:{unset}"]
        assert result.passed and result.metadata["verdict"].value == "not_configured"
        assert "sets no" in (result.description or "")
    auto = dg.evaluate_automation_conditions(defs=p.defs, instance=p.instance, cursor=auto.cursor)
    assert _requested(auto) == set()
    # A manual production run is refused with the reason.
    refused = p.run("production_job", config=promote("alice"))
    assert not refused.success
    assert "slo_latency_p95 failed" in p.failure(refused)
    # The refusal was announced from its ledger event: the run-failure sensor stays silent
    # (one refusal, one message), while the staging run held by its check is announced.
    assert announced_failures(p, refused.run_id, monkeypatch) == []
    assert len(announced_failures(p, staged.run_id, monkeypatch)) == 1
    # The objective is relaxed; a checks-only run passes without redeploying staging.
    set_model_latency_objective(p.repo, 5000)
    p.repo.commit("realistic latency objective")
    assert p.run("model_job", selection=[dg.AssetKey("model_config")]).success
    rechecked = p.run("slo_checks_job", partition=None, tags={TAG_PARTITION: "alpha"})
    assert rechecked.success, p.failure(rechecked)
    auto = dg.evaluate_automation_conditions(defs=p.defs, instance=p.instance, cursor=auto.cursor)
    assert _requested(auto) == {"alpha"}
    # Staging redeployed after the pass (checks not re-run): stale, no promotion.
    redeploy = dg.materialize(
        [staging_deployment],
        instance=p.instance,
        partition_key="alpha",
        resources=dict(p.defs.resources or {}),
        run_config=STAGING,
    )
    assert redeploy.success
    assert sorted(p.checks(redeploy)) == ["staging_deployment:integration_tests"]
    auto = dg.evaluate_automation_conditions(defs=p.defs, instance=p.instance, cursor=auto.cursor)
    assert _requested(auto) == set()
    stale = p.run("production_job", config=promote("alice"))
    assert not stale.success and "stale" in p.failure(stale)


def test_approvals_are_required_and_verified_then_blue_green_promotes(platform, signers):
    p = platform
    assert p.run("model_job", config=STAGING).success
    missing = p.run("production_job", config=promote())
    assert not missing.success and "approval" in p.failure(missing)
    # A name typed into a UI launch is no approval, whoever it names.
    for name in ("mallory", "alice"):
        typed = p.run("production_job", config=promote(name, comment="load test reviewed"))
        assert not typed.success
        assert f"the UI launch's approver '{name}' never satisfies" in p.failure(typed)
    staged = p.instance.fetch_materializations(dg.AssetKey(STAGING_DEPLOYMENT), limit=1)
    digest = staged.records[0].asset_materialization.metadata["digest"].value
    approve(p.repo, signers, digest=digest, version="1.0.0", approver="alice")
    ok = p.run("production_job", config=promote())
    assert ok.success, p.failure(ok)
    meta = ok.asset_materializations_for_node(PRODUCTION_DEPLOYMENT)[0].metadata
    assert meta["approver"].value == "alice" and meta["strategy"].value == "first-deployment"
    r = httpx.post(
        f"{meta['endpoint'].value}/v1/completions",
        json={"model": "alpha", "prompt": "Shall", "max_tokens": 4},
        timeout=10,
    )
    assert r.status_code == 200 and r.headers["x-llm-revision"] == meta["revision"].value
    # Right after the switch there is little evidence (smoke tests and one request, around
    # min_requests 10): the production checks are not judged yet ("soaking") or judged on what
    # there is, never failed as inconclusive.
    prod = {
        dg.AssetCheckKey(dg.AssetKey(PRODUCTION_DEPLOYMENT), c)
        for c in ("slo_availability", "slo_latency_p95", "slo_error_rate", "slo_recheck")
    }
    soon = (
        p.defs.resolve_job_def("slo_checks_job")
        .get_subset(asset_selection=set(), asset_check_selection=prod)
        .execute_in_process(
            instance=p.instance, tags={TAG_PARTITION: "alpha"}, raise_on_error=False
        )
    )
    # Not judged while too few requests exist ("soaking"), or, when the smoke tests and
    # retries already brought min_requests, judged on that evidence: never failed as
    # inconclusive.
    assert soon.success, p.failure(soon)
    assert all(e.passed for e in soon.get_asset_check_evaluations()), p.checks(soon)
    ledger = Ledger(open_store(str(p.home / ("store-" + p.repo.path.parent.name))))
    kinds = [e.kind for e in ledger.history("alpha", env="production")]
    assert kinds == ["promoted", "refused", "refused", "refused"]
    assert ledger.serving("alpha", "production").digest == meta["digest"].value


def test_approval_from_the_models_repo_and_rollback_on_failing_production_slo(platform, signers):
    p = platform
    assert p.run("model_job", config=STAGING).success
    v1 = p.instance.fetch_materializations(dg.AssetKey(STAGING_DEPLOYMENT), limit=1).records[0]
    digest1 = v1.asset_materialization.metadata["digest"].value
    approve(p.repo, signers, digest=digest1, version="1.0.0", approver="bob")
    first = p.run("production_job", config=promote())
    assert first.success, p.failure(first)
    # Version 2: new bytes, staged, approved by alice (signed), promoted blue-green.
    (p.repo.path / "weights/alpha/NOTES.txt").write_text("v2\n")
    p.repo.write(
        "models/alpha/model.yaml",
        (p.repo.path / "models/alpha/model.yaml").read_text().replace("1.0.0", "2.0.0"),
    )
    p.repo.commit("alpha 2.0.0")
    assert p.run("model_job", config=STAGING).success
    v2 = p.instance.fetch_materializations(dg.AssetKey(STAGING_DEPLOYMENT), limit=1).records[0]
    digest2 = v2.asset_materialization.metadata["digest"].value
    approve(p.repo, signers, digest=digest2, version="2.0.0", approver="alice")
    second = p.run("production_job", config=promote())
    assert second.success, p.failure(second)
    meta2 = second.asset_materializations_for_node(PRODUCTION_DEPLOYMENT)[0].metadata
    assert meta2["strategy"].value == "blue-green" and meta2["previous_revision"].value
    # Production now breaches its objective: the check fails, the sensor rolls back.
    set_production(p.repo, latency=0.001)
    p.repo.commit("production: impossible latency")
    assert p.run("model_job", selection=[dg.AssetKey("model_config")]).success
    with httpx.Client(timeout=10) as client:
        for _ in range(15):
            client.post(
                f"{meta2['endpoint'].value}/v1/completions",
                json={"model": "alpha", "prompt": "a", "max_tokens": 2},
            )
    checks = p.run("slo_checks_job", partition=None, tags={TAG_PARTITION: "alpha"})
    production = {k: v for k, v in p.checks(checks).items() if k.startswith("production")}
    latency = production["production_deployment:slo_latency_p95"].metadata["verdict"].value
    assert latency == "fail", production
    # The re-check's decision: a latency objective (no error budget) failing rolls back.
    recheck = production["production_deployment:slo_recheck"]
    assert recheck.metadata["action"].value == "rollback" and not recheck.passed
    # The failed production verdict opened an incident in the ledger (time to restore).
    ledger = Ledger(open_store(str(p.home / ("store-" + p.repo.path.parent.name))))
    assert ledger.history("alpha", env="production", limit=1)[0].kind == "check_failed"
    with dg.build_sensor_context(
        instance=p.instance,
        instance_ref=p.instance.get_ref(),
        definitions=p.defs,
        resources=dict(p.defs.resources or {}),
    ) as ctx:
        tick = production_rollback_sensor.evaluate_tick(ctx)
    assert len(tick.run_requests) == 1
    req = tick.run_requests[0]
    rolled = p.run("production_job", config=req.run_config, tags=req.tags)
    assert rolled.success, p.failure(rolled)
    meta3 = rolled.asset_materializations_for_node(PRODUCTION_DEPLOYMENT)[0].metadata
    assert meta3["action"].value == "rollback" and meta3["digest"].value == digest1
    assert meta3["endpoint"].value == meta2["endpoint"].value  # the latest record stays complete
    assert meta3[METRIC_PROFILE_KEY].value == "default" and meta3["engine"].value == "builtin"
    r = httpx.post(
        f"{meta2['endpoint'].value}/v1/completions",
        json={"model": "alpha", "prompt": "a", "max_tokens": 2},
        timeout=10,
    )
    assert r.headers["x-llm-revision"] == meta3["revision"].value
    # The same failing evidence does not roll back twice.
    with dg.build_sensor_context(
        instance=p.instance,
        instance_ref=p.instance.get_ref(),
        definitions=p.defs,
        resources=dict(p.defs.resources or {}),
        cursor=tick.cursor,
    ) as ctx:
        again = production_rollback_sensor.evaluate_tick(ctx)
    assert not again.run_requests
    # The rolled-back 2.0.0 stays out: its staging checks still pass, yet a promotion (manual or
    # automatic: the same gate) is refused, saying when and why it was rolled back.
    held = p.run("production_job", config=promote())
    assert not held.success
    assert f"2.0.0 ({digest2[:12]}) was rolled back from production at" in p.failure(held)
    assert "production SLO failed" in p.failure(held)
    # A new commit to the model names it again: the hold lifts.
    time.sleep(1.1)  # commit times are whole seconds
    p.repo.write("models/alpha/NOTES.md", "2.0.0 again, latency investigated\n")
    p.repo.commit("alpha: 2.0.0 again")
    again = p.run("production_job", config=promote())
    assert again.success, p.failure(again)
    meta4 = again.asset_materializations_for_node(PRODUCTION_DEPLOYMENT)[0].metadata
    gate = meta4["gate"].value
    assert meta4["digest"].value == digest2 and "not rolled back since" in gate, gate
