"""`make demo` end to end: the headless run tells the whole story and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime_fixtures import teardown_home

pytestmark = pytest.mark.long(180)  # seconds on 2 cores: the longest test

ROOT = Path(__file__).resolve().parent.parent


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
    finally:
        teardown_home(home)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    text = out.stdout
    assert "check slo_latency_p95 held" in text  # mistral held in staging, reason shown
    assert "refused: approval" in text.replace("\n", " ")
    assert "production_rollback_sensor: rollback requested" in text
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
