"""``llm-platform slo check`` against a real Prometheus serving backfilled history: JSON and
text output, exit codes (0 pass, 1 fail, 2 configuration error, 3 inconclusive) and the revision
the promotion ledger says is serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_platform.artifact_store import LocalDirStore
from llm_platform.promotion import AliasTarget, Ledger, LedgerEvent
from llm_platform.targets.local.processes import free_port
from tests.helpers.config_fixtures import env_dict, model_dict, to_yaml, write_repo
from tests.helpers.prom_fixtures import PrometheusProcess, Scenario, history_prometheus

pytestmark = pytest.mark.integration

NS = "staging"
STEPS = 480  # 2 h of 15 s samples
SCENARIOS = [
    Scenario("healthy", NS),
    Scenario("error-spike", NS, error_ratio=0.05),
    Scenario("no-traffic", NS, rps=0),
    Scenario("p95-inside", NS, cumulative={1.5: 0.9, 2.0: 0.96}),
    Scenario("canary-model", NS, labels={"revision": "stable"}),
    Scenario("canary-model", NS, labels={"revision": "canary"}, error_ratio=0.2),
]
P, F, I = "pass", "fail", "inconclusive"  # noqa: E741


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, int]]:
    with history_prometheus(tmp_path_factory.mktemp("prom"), SCENARIOS, steps=STEPS) as served:
        yield served


@pytest.fixture(scope="module")
def models_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = {
        name: model_dict(name=name, slo=None)
        for name in ("healthy", "error-spike", "no-traffic", "canary-model")
    }
    # The model's own objective makes an otherwise passing p95 fail.
    models["p95-inside"] = model_dict(name="p95-inside", slo={"latency_p95_ms": 1500})
    root = write_repo(tmp_path_factory.mktemp("repo"), models)
    slo = {"window": "1h", "availability": 0.99, "min_requests": 1000}
    (root / "config" / "staging.yaml").write_bytes(to_yaml(env_dict(slo=slo)))
    return root


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).parent / "llm-platform"
    full_env = (
        {
            k: v
            for k, v in os.environ.items()
            if k not in ("PROMETHEUS_URL", "LLM_PLATFORM_MODELS_REPO")
        }
        | {"ARTIFACT_STORE_URI": "/nonexistent/llm-platform-store"}  # no ledger: all revisions
        | (env or {})
    )
    return subprocess.run(
        [str(cli), "slo", "check", *args], capture_output=True, text=True, timeout=60, env=full_env
    )


@pytest.mark.parametrize(
    ("model", "code", "verdict"),
    [("healthy", 0, P), ("error-spike", 1, F), ("no-traffic", 3, I), ("p95-inside", 1, F)],
)
def test_cli_json_and_exit_codes(
    prom: tuple[PrometheusProcess, int], models_repo: Path, model: str, code: int, verdict: str
) -> None:
    result = _cli(
        "--env",
        "staging",
        "--model",
        model,
        "--format",
        "json",
        env={"PROMETHEUS_URL": prom[0].url, "LLM_PLATFORM_MODELS_REPO": str(models_repo)},
    )
    assert result.returncode == code, result.stderr
    doc = json.loads(result.stdout)
    assert list(doc) == ["model", "env", "verdict", "objectives", "revision"]
    assert (doc["model"], doc["env"], doc["verdict"]) == (model, "staging", verdict)
    assert doc["revision"] is None  # no ledger entry: every revision's series
    assert [o["name"] for o in doc["objectives"]] == ["availability", "latency_p95", "error_rate"]
    for objective in doc["objectives"]:
        assert list(objective) == [
            "name",
            "query",
            "value",
            "threshold",
            "samples",
            "verdict",
            "reason",
        ]
        assert f'model="{model}"' in objective["query"]


def test_cli_text_output(prom: tuple[PrometheusProcess, int], models_repo: Path) -> None:
    result = _cli(
        "--env",
        "staging",
        "--model",
        "error-spike",
        "--repo",
        str(models_repo),
        "--prometheus",
        prom[0].url,
    )
    assert result.returncode == 1
    assert "error_rate" in result.stdout and "error rate 0.05 > 0.01" in result.stdout


def test_cli_prometheus_down_is_exit_2(models_repo: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = _cli(
        "--env", "staging", "--model", "healthy", "--repo", str(models_repo), "--prometheus", url
    )
    assert result.returncode == 2
    assert url in result.stderr and "unreachable" in result.stderr


@pytest.mark.parametrize(
    ("env", "model", "needle"),
    [
        ("nope", "healthy", "nope.yaml"),
        ("staging", "ghost", "ghost"),
    ],
)
def test_cli_config_errors_are_exit_2(
    prom: tuple[PrometheusProcess, int], models_repo: Path, env: str, model: str, needle: str
) -> None:
    result = _cli(
        "--env", env, "--model", model, "--repo", str(models_repo), "--prometheus", prom[0].url
    )
    assert result.returncode == 2
    assert needle in result.stderr


def test_cli_judges_the_revision_the_ledger_says_is_serving(
    prom: tuple[PrometheusProcess, int], models_repo: Path, tmp_path: Path
) -> None:
    """canary-model's "stable" serves; its retired "canary" revision failed (20 % errors)."""
    store = tmp_path / "store"
    digest = "ab" * 32
    Ledger(LocalDirStore(store)).promote(
        LedgerEvent(
            kind="deployed", model="canary-model", env="staging", version="1", digest=digest
        ),
        AliasTarget(version="1", digest=digest, revision="stable"),
    )
    env = {
        "PROMETHEUS_URL": prom[0].url,
        "LLM_PLATFORM_MODELS_REPO": str(models_repo),
        "ARTIFACT_STORE_URI": str(store),
    }
    args = ["--env", "staging", "--model", "canary-model"]
    serving = _cli(*args, "--format", "json", env=env)
    assert serving.returncode == 0, serving.stdout + serving.stderr
    doc = json.loads(serving.stdout)
    assert doc["revision"] == "stable" and doc["verdict"] == P
    assert all('revision="stable"' in o["query"] for o in doc["objectives"])
    text = _cli(*args, env=env)
    assert text.returncode == 0 and "revision stable" in text.stdout
    every = _cli(*args, "--revision", "all", "--format", "json", env=env)
    assert every.returncode == 1 and json.loads(every.stdout)["revision"] is None
    assert "all revisions" in _cli(*args, "--revision", "all", env=env).stdout
    canary = _cli(*args, "--revision", "canary", "--format", "json", env=env)
    assert canary.returncode == 1 and json.loads(canary.stdout)["revision"] == "canary"
    # No ledger entry for the environment: every revision, said so.
    unknown = {**env, "ARTIFACT_STORE_URI": str(tmp_path / "none")}
    assert json.loads(_cli(*args, "--format", "json", env=unknown).stdout)["revision"] is None
