"""`make demo` end to end: the headless run tells the whole story and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from definitions import build_defs
from llm_platform.artifact_store.uri import open_store
from llm_platform.gitops import GitRepo
from llm_platform.promotion import Ledger
from llm_platform.promotion.rollback_hold import (
    latest_model_commit,
    rollback_hold_item,
    rolled_back_digest,
)
from llm_platform.settings import Settings
from platform_demo import LLAMA
from sensors.git_push import git_push_sensor
from tests.helpers.paths import REPO_ROOT
from tests.helpers.runtime_fixtures import teardown_home

pytestmark = pytest.mark.long(180)  # seconds on 2 cores: the longest test

ROOT = REPO_ROOT


def _make_dev_continues(env: dict[str, str], dagster_home: Path) -> None:
    """`make dev` after the demo: the daemon's first git_push_sensor tick (no cursor) re-runs
    nothing, and the rolled-back llama 1.1.0 stays out of production."""
    settings = Settings.from_env(env)
    defs = build_defs(settings)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        with dg.build_sensor_context(
            instance=instance,
            instance_ref=instance.get_ref(),
            definitions=defs,
            resources=dict(defs.resources or {}),
        ) as ctx:
            tick = git_push_sensor.evaluate_tick(ctx)
        assert not tick.run_requests, [r.partition_key for r in tick.run_requests or []]
    repo = GitRepo(settings.models_repo)
    ledger = Ledger(open_store(settings.artifact_store_uri))
    history = ledger.history(LLAMA, env="production")
    rolled = next(e for e in history if rolled_back_digest(e))
    held = rollback_hold_item(
        history,
        env="production",
        version="1.1.0",
        digest=str(rolled_back_digest(rolled)),
        renewed_by=latest_model_commit(repo, repo.head(), LLAMA),
    )
    assert not held.ok and "was rolled back from production" in held.reason


# The whole story (five models, Gemma on llama.cpp, two promotions, a rollback) takes minutes.
@pytest.mark.timeout(900)
def test_headless_demo_promotes_holds_and_rolls_back(tmp_path):
    home = tmp_path / "home"
    env = {
        **os.environ,
        "LLM_PLATFORM_HOME": str(home),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
    }
    for key in ("LLM_PLATFORM_MODELS_REPO", "ARTIFACT_STORE_URI", "PROMETHEUS_URL", "KFP_ENDPOINT"):
        env.pop(key, None)
    try:
        out = subprocess.run(
            [str(Path(sys.executable).parent / "llm-platform"), "demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=840,
        )
        if out.returncode == 0:
            _make_dev_continues(env, tmp_path / "dagster")
    finally:
        teardown_home(home)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    text = out.stdout
    assert "check slo_latency_p95 held" in text  # mistral held in staging, reason shown
    assert "refused: approval" in text.replace("\n", " ")
    assert "run production_job [llama-3-1-8b] failed" in text  # each run line names its model
    assert "dagster._core" not in text  # refusals read as refusals, not exception paths
    assert "production_rollback_sensor: rollback requested" in text
    # llama 1.1.0 went out with shadow traffic: judged on copies, then switched blue-green
    assert "shadow: " in text and "copied requests and serves 100%" in text
    assert text.count("ok   ") == 5  # including Gemma promoted, served by llama.cpp
    # Gemma 1.1.0 (Q2_K, built during the demo) held by output_quality with its lost cases.
    flat = text.replace("\n", " ")
    assert "check output_quality held: fail against production 1.0.0" in flat
    assert "output_quality: fail — kept" in flat
    # It ends with the delivery metrics: llama promoted twice, one rollback.
    ending = text.split("Stack still running")[-1]
    assert "delivery metrics, production" in ending and "50% (1/2)" in ending
    # The runs' own logs went to the log file, not the terminal.
    assert " - dagster - DEBUG - " not in text
    assert (home / "logs" / "demo.log").stat().st_size > 0
    assert (tmp_path / "dagster" / "dagster.yaml").exists()
