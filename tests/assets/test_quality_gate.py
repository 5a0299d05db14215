"""The output-quality decision on real llama.cpp servers serving real Gemma builds.

The baseline is the packaged Q4_K_M (the session's llama.cpp server); candidates are that same
build, a build with damaged tensors, and suites too small to judge. Builds are made once per
session (``tests/helpers/eval_build_fixtures.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_platform.common.digest import digest_directory
from llm_platform.config.eval_suite import EvalSuite
from llm_platform.evals import SuiteRun
from llm_platform.evals.baseline_cache import BaselineCache
from llm_platform.evals.quality_check import BaselineTarget, evaluate_quality
from llm_platform.evals.quality_report import cases_markdown, lost_cases_markdown, numeric_metadata
from llm_platform.evals.template_drift import artifact_chat_template, template_drift
from llm_platform.serving.engines import get_engine
from tests.helpers.engine_fixtures import GEMMA, EngineProcess, require_llama_cpp, start_llama
from tests.helpers.eval_build_fixtures import CHATML_TEMPLATE, CountingProxy

pytestmark = pytest.mark.long(150)


@pytest.fixture(scope="module")
def damaged_server(
    gemma_damaged: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineProcess]:
    """llama.cpp serving the damaged build."""
    require_llama_cpp()
    log = tmp_path_factory.mktemp("damaged-llama") / "server.log"
    proc = start_llama(gemma_damaged, digest_directory(gemma_damaged).digest, log)
    try:
        proc.wait_ready(get_engine("llama-cpp").readiness_path, timeout_s=120)
        yield proc
    finally:
        proc.stop()


def _target(url: str, digest: str) -> BaselineTarget:
    return BaselineTarget(
        url=url, digest=digest, engine="llama-cpp", revision="r1", version="1.0.0"
    )


def _tiny(suite: EvalSuite, n: int = 3) -> EvalSuite:
    return suite.model_copy(update={"cases": suite.cases[:n]})


def test_identical_build_passes_and_an_unchanged_production_is_asked_once(
    llama_server: EngineProcess, gemma_digest: str, example_suite: EvalSuite, tmp_path: Path
) -> None:
    cache = BaselineCache(tmp_path / "cache")
    with CountingProxy(llama_server.base_url) as production:
        target = _target(production.url, gemma_digest)
        first = evaluate_quality(
            model=GEMMA,
            suite=example_suite,
            candidate_url=llama_server.base_url,
            baseline=target,
            cache=cache,
        )
        assert first.status == "pass" and first.passed, first.reason
        assert first.verdict is not None and first.verdict.lost == 0 and first.verdict.gained == 0
        assert first.verdict.kept + first.verdict.both_failed == len(example_suite.cases)
        assert not first.baseline_from_cache
        assert production.requests == len(example_suite.cases)
        # Second check of another candidate against the same production: not asked again.
        second = evaluate_quality(
            model=GEMMA,
            suite=example_suite,
            candidate_url=llama_server.base_url,
            baseline=target,
            cache=cache,
        )
        assert production.requests == len(example_suite.cases)
        assert second.baseline_from_cache and second.status == "pass"
        assert second.baseline is not None and first.baseline is not None
        assert [r.output for r in second.baseline.results] == [
            r.output for r in first.baseline.results
        ]
        # Another suite is another key: production is asked for it.
        tiny = _tiny(example_suite, 2)
        evaluate_quality(
            model=GEMMA,
            suite=tiny,
            candidate_url=llama_server.base_url,
            baseline=target,
            cache=cache,
        )
        assert production.requests == len(example_suite.cases) + 2
    meta = numeric_metadata(second)
    assert meta["baseline_cached"] is True and meta["lost"] == 0
    assert lost_cases_markdown(second) is None


def test_damaged_build_fails_with_the_lost_cases_and_both_answers(
    damaged_server: EngineProcess,
    llama_server: EngineProcess,
    gemma_digest: str,
    example_suite: EvalSuite,
) -> None:
    outcome = evaluate_quality(
        model=GEMMA,
        suite=example_suite,
        candidate_url=damaged_server.base_url,
        baseline=_target(llama_server.base_url, gemma_digest),
    )
    assert outcome.status == "fail" and not outcome.passed
    verdict = outcome.verdict
    assert verdict is not None and verdict.lost >= len(example_suite.cases) // 2
    assert verdict.lower is not None and verdict.lower > example_suite.gate.max_regression
    assert "lost: capital-" in outcome.reason or "lost: " in outcome.reason
    table = lost_cases_markdown(outcome)
    assert table is not None and table.count("\n") == verdict.lost + 1
    first = verdict.lost_cases[0]
    baseline_answer = first.baseline_output.strip().replace("|", "\\|")
    assert baseline_answer and baseline_answer[:20] in table
    cases = cases_markdown(outcome)
    assert cases is not None and "| FAIL | pass |" in cases


def test_too_few_cases_is_inconclusive_and_holds(
    llama_server: EngineProcess, gemma_digest: str, example_suite: EvalSuite
) -> None:
    tiny = _tiny(example_suite)
    outcome = evaluate_quality(
        model=GEMMA,
        suite=tiny,
        candidate_url=llama_server.base_url,
        baseline=_target(llama_server.base_url, gemma_digest),
    )
    assert outcome.status == "inconclusive" and not outcome.passed
    assert outcome.verdict is not None and outcome.verdict.scored == 3
    assert "min_cases 20" in outcome.reason


def test_baseline_down_is_an_error_never_a_pass(
    llama_server: EngineProcess, gemma_digest: str, example_suite: EvalSuite, tmp_path: Path
) -> None:
    cache = BaselineCache(tmp_path / "cache")
    outcome = evaluate_quality(
        model=GEMMA,
        suite=_tiny(example_suite),
        candidate_url=llama_server.base_url,
        baseline=_target("http://127.0.0.1:9", gemma_digest),
        cache=cache,
    )
    assert outcome.status == "error" and not outcome.passed
    assert "baseline (production 1.0.0, r1) unreachable" in outcome.reason
    assert "127.0.0.1:9" in outcome.reason
    assert outcome.candidate is not None  # the candidate's answers are still shown
    assert not list((tmp_path / "cache").rglob("*.json"))  # nothing cached from a failure


def test_cases_without_an_answer_are_asked_once_more(
    llama_server: EngineProcess, example_suite: EvalSuite
) -> None:
    tiny = _tiny(example_suite, 4)
    with CountingProxy(llama_server.base_url, fail_first=2) as flaky:
        outcome = evaluate_quality(model=GEMMA, suite=tiny, candidate_url=flaky.url, baseline=None)
        assert flaky.requests == 4 + 2  # the two refused cases were asked again
    assert outcome.candidate is not None and outcome.candidate.unscored == 0
    assert [r.id for r in outcome.candidate.results] == [c.id for c in tiny.cases]
    with CountingProxy(llama_server.base_url, fail_first=100) as down:
        held = evaluate_quality(model=GEMMA, suite=tiny, candidate_url=down.url, baseline=None)
    assert held.candidate is not None and held.candidate.unscored == 4  # never scored
    assert held.status == "inconclusive" and not held.passed


def test_candidate_run_is_cached_for_when_it_reaches_production(
    llama_server: EngineProcess, gemma_digest: str, example_suite: EvalSuite, tmp_path: Path
) -> None:
    cache = BaselineCache(tmp_path / "cache")
    tiny = _tiny(example_suite, 4)
    evaluate_quality(
        model=GEMMA,
        suite=tiny,
        candidate_url=llama_server.base_url,
        baseline=None,
        cache=cache,
        candidate_build=(gemma_digest, "llama-cpp"),
    )
    kept = cache.get(model=GEMMA, digest=gemma_digest, engine="llama-cpp", suite_hash=_hash(tiny))
    assert isinstance(kept, SuiteRun) and len(kept.results) == 4
    # Another engine or digest is another build.
    assert (
        cache.get(model=GEMMA, digest=gemma_digest, engine="vllm", suite_hash=_hash(tiny)) is None
    )


def _hash(suite: EvalSuite) -> str:
    from llm_platform.config.eval_suite import suite_hash

    return suite_hash(suite)


def test_template_drift_between_real_builds(gemma_artifact: Path, gemma_q2k_chatml: Path) -> None:
    production = artifact_chat_template(gemma_artifact)
    candidate = artifact_chat_template(gemma_q2k_chatml)
    assert production is None  # the packaged Gemma carries no template
    assert candidate == CHATML_TEMPLATE
    drift = template_drift(candidate, production)
    assert drift.changed
    text = drift.markdown()
    assert "```diff" in text and "+{% for message in messages %}" in text
    assert (
        "production (no template)" in text
        and f"candidate (sha256 {drift.candidate_sha256[:12]}" in text
    )
    same = template_drift(candidate, candidate)
    assert not same.changed and "unchanged" in same.markdown()
