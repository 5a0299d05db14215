"""Output-quality rules without servers: no suite, quality.required, the suite at a commit, the
baseline cache's file handling, the gate's evidence and the tables' escaping."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_platform.config import ConfigError, parse_environment_config
from llm_platform.demo.gemma import EXAMPLE_SUITE
from llm_platform.evals import CaseResult, SuiteRun
from llm_platform.evals.baseline_cache import BaselineCache, baseline_cache_root
from llm_platform.evals.quality_check import no_suite
from llm_platform.evals.quality_report import cell
from llm_platform.evals.targets import suite_at, suite_required
from llm_platform.gitops import GitRepo
from llm_platform.promotion.gate import CheckEvidence, checks_item
from tests.helpers.models_repo import ENV_YAML, ModelsRepo


def _run(*passed: bool | None, model: str = "m", suite_hash: str = "sha256:x") -> SuiteRun:
    results = [
        CaseResult(id=f"c{i}", kind="completion", passed=p, output="o", error=None)
        for i, p in enumerate(passed)
    ]
    return SuiteRun(
        results=results,
        model=model,
        url="http://x",
        suite_hash=suite_hash,
        duration_s=1.0,
        concurrency=1,
    )


def test_no_suite_passes_and_says_so_unless_required() -> None:
    free = no_suite("evals/alpha.yaml", required=False)
    assert free.passed and free.status == "no_suite"
    assert free.reason.startswith("no suite: evals/alpha.yaml does not exist")
    held = no_suite("evals/alpha.yaml", required=True, envs="production")
    assert not held.passed and held.status == "no_suite"
    assert "production requires one (quality.required: true)" in held.reason


def test_quality_block_is_strict() -> None:
    base = ENV_YAML.format(env="production")
    assert not parse_environment_config(base.encode(), source="p.yaml").quality.required
    on = parse_environment_config((base + "quality:\n  required: true\n").encode(), source="p.yaml")
    assert on.quality.required
    for bad in ("quality:\n  requird: true\n", "quality:\n  required: maybe\n"):
        with pytest.raises(ConfigError) as err:
            parse_environment_config((base + bad).encode(), source="config/production.yaml")
        assert "quality" in str(err.value) and "config/production.yaml" in str(err.value)


def test_suite_and_requirement_are_read_at_the_commit(models_repo: ModelsRepo) -> None:
    repo = GitRepo(str(models_repo.path))
    before = models_repo.head()
    assert suite_at(repo, before, "alpha") is None
    assert suite_required(repo, before, ("staging", "production")) == []  # no production.yaml
    models_repo.write("evals/alpha.yaml", EXAMPLE_SUITE.read_text())
    models_repo.write(
        "config/production.yaml", ENV_YAML.format(env="production") + "quality:\n  required: true\n"
    )
    after = models_repo.commit("alpha suite; production requires suites")
    suite = suite_at(repo, after, "alpha")
    assert suite is not None and len(suite.cases) == 40
    assert suite_at(repo, after, "beta") is None
    assert suite_required(repo, after, ("staging", "production")) == ["production"]
    assert suite_at(repo, before, "alpha") is None  # the old commit still has none
    models_repo.write(
        "evals/beta.yaml", "cases:\n  - id: x\n    prompt: p\n    expect: {nope: 1}\n"
    )
    broken = models_repo.commit("broken beta suite")
    with pytest.raises(ConfigError) as err:
        suite_at(repo, broken, "beta")
    assert "evals/beta.yaml" in str(err.value)


def test_cache_keeps_only_complete_runs_and_survives_corruption(tmp_path: Path) -> None:
    cache = BaselineCache(baseline_cache_root(tmp_path))
    key = {"model": "m", "digest": "d" * 64, "engine": "llama-cpp", "suite_hash": "sha256:x"}
    assert not cache.put(_run(True, None), digest=key["digest"], engine="llama-cpp")
    assert cache.get(**key) is None
    assert cache.put(_run(True, False), digest=key["digest"], engine="llama-cpp")
    got = cache.get(**key)
    assert got is not None and [r.passed for r in got.results] == [True, False]
    assert cache.get(**{**key, "suite_hash": "sha256:y"}) is None
    assert cache.get(**{**key, "engine": "vllm"}) is None
    path = cache.path(**key)
    assert path.parent == tmp_path / "eval-baselines" / "m"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left
    path.write_text("{not json")
    assert cache.get(**key) is None  # asked again, never trusted


def test_gate_refuses_a_digest_whose_output_quality_failed() -> None:
    def ev(name: str, passed: bool, description: str | None = None) -> CheckEvidence:
        return CheckEvidence(
            name=name, executed=True, passed=passed, current=True, description=description
        )

    ok = checks_item([ev("integration_tests", True), ev("output_quality", True)], digest="a" * 64)
    assert ok.ok and "output_quality" in ok.reason
    held = checks_item(
        [ev("integration_tests", True), ev("output_quality", False, "fail: 20 lost")],
        digest="a" * 64,
    )
    assert not held.ok and "output_quality failed (fail: 20 lost)" in held.reason


def test_table_cells_cannot_break_the_table() -> None:
    assert cell("a|b\nc") == "`a\\|b⏎c`"
    assert cell("x" * 500).endswith("…") and len(cell("x" * 500)) < 130
    assert cell(None) == "–"
    assert "`" not in cell("``` fence")[1:-1]
