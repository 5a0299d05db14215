"""The ``delivery_metrics`` asset (plottable metadata from a real ledger, registry and git repo),
its refresh condition, and ``llm-platform metrics`` printing the same table.

No ``from __future__ import annotations``: dagster reads annotations.
"""

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from assets.names import DELIVERY_METRICS, PRODUCTION_DEPLOYMENT
from definitions import build_defs
from llm_platform.artifact_store import ModelRegistry, open_store
from llm_platform.cli import _register, app
from llm_platform.promotion import Ledger, LedgerEvent
from llm_platform.settings import Settings
from tests.helpers.models_repo import ModelsRepo
from tests.helpers.registry_fixtures import record_meta

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


@pytest.fixture()
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """alpha registered from a real commit and promoted twice (the second rolled back)."""
    repo = ModelsRepo(tmp_path / "models-repo")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.write_model("alpha")
    ten_hours_ago = (datetime.now(UTC) - timedelta(hours=10)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    monkeypatch.setenv("GIT_COMMITTER_DATE", ten_hours_ago)  # the history below is in the past
    sha = repo.commit("alpha 1.0.0")
    committed = datetime.fromtimestamp(int(repo.git("log", "-1", "--format=%ct")), UTC)
    home = tmp_path / "home"
    env = {
        "LLM_PLATFORM_MODELS_REPO": str(repo.path),
        "LLM_PLATFORM_HOME": str(home),
        "ARTIFACT_STORE_URI": str(home / "store"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    store = open_store(env["ARTIFACT_STORE_URI"])
    weights = tmp_path / "w"
    weights.mkdir()
    digests = []
    for i in range(2):
        (weights / "w.bin").write_bytes(b"weights %d" % i)
        digests.append(
            ModelRegistry(store)
            .register(
                weights,
                name="alpha",
                version=f"1.0.{i}",
                **(record_meta("local:w") | {"commit_sha": sha}),
            )
            .record.digest
        )
    ledger = Ledger(store)
    for i, hours in enumerate((1.0, 3.0)):
        ledger.promote(
            LedgerEvent(
                kind="promoted",
                model="alpha",
                env="production",
                version=f"1.0.{i}",
                digest=digests[i],
                time=committed + timedelta(hours=hours),
            ),
            target=_target(f"1.0.{i}", digests[i]),
        )
    ledger.record(
        LedgerEvent(
            kind="check_failed",
            model="alpha",
            env="production",
            digest=digests[1],
            time=committed + timedelta(hours=3.5),
        )
    )
    ledger.rollback(
        LedgerEvent(
            kind="rolled_back",
            model="alpha",
            env="production",
            version="1.0.0",
            digest=digests[0],
            time=committed + timedelta(hours=4),
        )
    )
    settings = Settings.from_env(env)
    return build_defs(settings), ledger, digests, committed


def _target(version: str, digest: str):
    from llm_platform.promotion import AliasTarget

    return AliasTarget(version=version, digest=digest)


def _materialize(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict[str, object]:
    result = dg.materialize(
        [defs.resolve_assets_def(DELIVERY_METRICS)],
        instance=instance,
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node(DELIVERY_METRICS)
    return dict(mat.metadata)


def test_asset_records_plottable_metrics_and_the_cli_prints_the_same(world) -> None:
    defs, ledger, digests, committed = world
    with dg.instance_for_test() as instance:
        meta = _materialize(defs, instance)
        assert isinstance(meta["fleet/deployments"], dg.IntMetadataValue)
        assert meta["fleet/deployments"].value == 2
        assert isinstance(meta["alpha/lead_time_p50_hours"], dg.FloatMetadataValue)
        assert meta["alpha/lead_time_p50_hours"].value == pytest.approx(
            1.0
        )  # nearest rank of 1h, 3h
        assert meta["alpha/lead_time_p90_hours"].value == pytest.approx(3.0)
        assert meta["alpha/change_failure_rate"].value == pytest.approx(0.5)
        assert meta["alpha/time_to_restore_p50_hours"].value == pytest.approx(0.5)
        assert meta["alpha/open_incidents"].value == 0
        table = meta["table"].value
        assert "| alpha | 2 |" in table and "| fleet | 2 |" in table
        # a third promotion: the next materialization plots a new point
        ledger.record(
            LedgerEvent(
                kind="promoted",
                model="alpha",
                env="production",
                version="1.0.1",
                digest=digests[1],
                time=committed + timedelta(hours=5),
            )
        )
        assert _materialize(defs, instance)["fleet/deployments"].value == 3
        history = instance.fetch_materializations(dg.AssetKey(DELIVERY_METRICS), limit=10)
        assert len(history.records) == 2
        asset_report = meta["report"].value

    _register()
    runner = CliRunner()
    out = runner.invoke(app, ["metrics", "--format", "json"])
    assert out.exit_code == 0, out.output
    cli_report = json.loads(out.output)
    assert cli_report["fleet"]["deployments"] == 3
    first = {k: v for k, v in asset_report["models"][0].items()}
    assert first["lead_time_p50_h"] == pytest.approx(1.0)
    assert cli_report["models"][0]["lead_time_p50_h"] == pytest.approx(3.0)  # 1 h, 3 h, 5 h
    assert cli_report["models"][0]["change_failure_rate"] == pytest.approx(1 / 3)
    text = runner.invoke(app, ["metrics"], env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    for heading in ("deploys", "lead p50", "lead p90", "fail rate", "restore p50", "open"):
        assert heading in text.output
    assert "33% (1/3)" in text.output and "fleet" in text.output


def test_cli_refuses_a_missing_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTIFACT_STORE_URI", str(tmp_path / "nowhere"))
    monkeypatch.setenv("LLM_PLATFORM_HOME", str(tmp_path))
    _register()
    out = CliRunner().invoke(app, ["metrics"])
    assert out.exit_code == 2
    assert "does not exist" in out.output


def test_refreshed_after_a_production_change_and_hourly(world) -> None:
    defs, *_ = world
    key = dg.AssetKey(DELIVERY_METRICS)
    start = datetime(2026, 11, 2, 10, 5, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        cursor = None

        def requested_at(minutes: int) -> int:
            """Runs of the delivery metrics the automation asks for ``minutes`` after 10:05."""
            nonlocal cursor
            result = dg.evaluate_automation_conditions(
                defs=defs,
                instance=instance,
                cursor=cursor,
                evaluation_time=start + timedelta(minutes=minutes),
            )
            cursor = result.cursor
            return result.get_num_requested(key)

        assert requested_at(0) == 0
        assert requested_at(5) == 0  # idle
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=PRODUCTION_DEPLOYMENT, partition="alpha")
        )
        assert requested_at(10) == 1  # promoted
        assert requested_at(15) == 0  # handled
        assert requested_at(56) == 1  # 11:01, past the 11:00 tick


def test_cli_without_the_models_repo_shows_the_rest(world, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PLATFORM_MODELS_REPO", "/nonexistent/models-repo")
    _register()
    out = CliRunner().invoke(app, ["metrics", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert "models repository /nonexistent/models-repo does not exist" in out.stderr
    report = json.loads(out.stdout)
    alpha = report["models"][0]
    assert alpha["deployments"] == 2 and alpha["lead_time_samples"] == 0
    assert alpha["change_failure_rate"] == pytest.approx(0.5)
    assert any("no models repo" in note for note in report["notes"])
