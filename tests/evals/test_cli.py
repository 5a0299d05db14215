"""``llm-platform eval`` against real servers: llama.cpp serving Gemma 3 270M (candidate and
baseline), the bundled demo LM as a much worse candidate, and a port nobody listens on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_platform.cli import _register, app
from llm_platform.config.eval_suite import load_suite
from llm_platform.demo.gemma import EXAMPLE_SUITE, GEMMA_MODEL
from llm_platform.evals import EndpointUnreachable, run_suite
from tests.helpers.engine_fixtures import EngineProcess
from tests.helpers.serving_fixtures import (
    FakeUpstream,
    build_artifact,
    free_port,
    start_model_server,
)

pytestmark = pytest.mark.integration
SUITE = str(EXAMPLE_SUITE)
FEW_SHOT = "Q: What is the capital of Peru?\\nA: Lima\\nQ: What is the capital of {}?\\nA:"


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register()
    return CliRunner()


@pytest.fixture(scope="module")
def gemma_url(llama_server: EngineProcess) -> str:
    return llama_server.base_url


@pytest.fixture(scope="module")
def demo_lm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bundled n-gram demo LM, answering under Gemma's name: a real, far worse model."""
    root = tmp_path_factory.mktemp("demo-lm")
    digest = build_artifact(root / "artifact")
    proc, url = start_model_server(root / "artifact", digest, root, model=GEMMA_MODEL)
    try:
        yield url
    finally:
        proc.stop()


def tiny_suite(tmp_path: Path) -> Path:
    """Three few-shot capital questions Gemma answers."""
    suite = tmp_path / "tiny.yaml"
    cases = "\n".join(
        f'  - {{id: {c.lower()}, prompt: "{FEW_SHOT.format(c)}", max_tokens: 6, stop: ["\\n"], '
        f"expect: {{contains_any: [{a}]}}}}"
        for c, a in (("France", "paris"), ("Italy", "rome"), ("Japan", "tokyo"))
    )
    suite.write_text(f"cases:\n{cases}\n")
    return suite


def invoke(cli: CliRunner, *args: str) -> tuple[int, str, str]:
    result = cli.invoke(app, ["eval", *args])
    return result.exit_code, result.stdout, result.stderr


def test_same_server_as_candidate_and_baseline_passes(cli: CliRunner, gemma_url: str) -> None:
    code, out, err = invoke(
        cli, gemma_url, "--model", GEMMA_MODEL, "--suite", SUITE, "--baseline", gemma_url
    )
    assert code == 0, out + err
    assert "Verdict: PASS" in out and "kept 40, lost 0, gained 0" in out
    assert "40/40" in err  # the progress bars, on stderr


def test_a_far_worse_candidate_fails_with_its_lost_cases(
    cli: CliRunner, gemma_url: str, demo_lm_url: str
) -> None:
    code, out, _ = invoke(
        cli, demo_lm_url, "--model", GEMMA_MODEL, "--suite", SUITE, "--baseline", gemma_url,
        "--format", "json",
    )  # fmt: skip
    payload = json.loads(out)
    assert code == 1 and payload["verdict"] == "fail"
    counts = payload["counts"]
    assert counts["scored"] == 40 and counts["unscored"] == 0 and counts["lost"] >= 30
    assert counts["kept"] + counts["lost"] == 40  # Gemma (the baseline) passes every case
    assert payload["scores"]["lower"] > 0.10 and payload["scores"]["baseline"] == 1.0
    assert payload["suite_hash"].startswith("sha256:") and payload["baseline_url"] == gemma_url
    assert payload["gate"]["max_regression"] == 0.10
    lost = {case["id"]: case for case in payload["lost_cases"]}
    assert "paris" in lost["capital-france"]["baseline_output"].lower()
    assert "paris" not in lost["capital-france"]["candidate_output"].lower()
    by_id = {case["id"]: case for case in payload["cases"]}
    assert len(by_id) == 40
    france = by_id["capital-france"]
    assert france["kind"] == "completion" and france["expect"] == "contains_any"
    assert france["baseline"]["passed"] is True and france["candidate"]["passed"] is False
    assert france["candidate"]["output"] == lost["capital-france"]["candidate_output"]
    assert france["candidate"]["error"] is None and france["candidate"]["latency_s"] > 0


def test_without_baseline_the_suite_floor_decides(cli: CliRunner, demo_lm_url: str) -> None:
    code, out, _ = invoke(cli, demo_lm_url, "--model", GEMMA_MODEL, "--suite", SUITE)
    assert code == 1 and "min_score 80.0%" in out


def test_a_tiny_suite_is_inconclusive_and_lists_lost_cases(
    cli: CliRunner, gemma_url: str, demo_lm_url: str, tmp_path: Path
) -> None:
    suite = tiny_suite(tmp_path)
    code, out, _ = invoke(
        cli, gemma_url, "--model", GEMMA_MODEL, "--suite", str(suite), "--baseline", gemma_url
    )
    assert code == 3, out
    assert "INCONCLUSIVE" in out and "fewer than min_cases 10" in out and "kept 3" in out
    # Even three of three lost is no fail on three cases; the text names each with both answers.
    code, out, _ = invoke(
        cli, demo_lm_url, "--model", GEMMA_MODEL, "--suite", str(suite), "--baseline", gemma_url
    )
    assert code == 3 and "kept 0, lost 3, gained 0" in out
    assert "Lost cases" in out and "france" in out and "baseline:  ' Paris'" in out


def test_baseline_down_is_an_error_never_a_pass(
    cli: CliRunner, gemma_url: str, tmp_path: Path
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    suite = str(tiny_suite(tmp_path))
    code, out, err = invoke(
        cli, gemma_url, "--model", GEMMA_MODEL, "--suite", suite, "--baseline", down
    )
    assert code == 2 and "Verdict" not in out
    assert "baseline" in err and "endpoint unreachable" in err and down in err


def test_candidate_down_raises_a_typed_error_quickly() -> None:
    down = f"http://127.0.0.1:{free_port()}/{GEMMA_MODEL}"
    with pytest.raises(EndpointUnreachable) as info:
        run_suite(down, model=GEMMA_MODEL, suite=load_suite(EXAMPLE_SUITE), timeout_s=5)
    assert info.value.url == down and "Connect" in info.value.detail


def test_suite_errors_are_usage_errors_with_lines(
    cli: CliRunner, gemma_url: str, tmp_path: Path
) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text(
        "cases:\n  - id: a\n    prompt: x\n    expect: {regex: '('}\n"
        "  - id: a\n    prompt: y\n    expect: {equals: y}\ngate: {min_casez: 3}\n"
    )
    code, out, err = invoke(cli, gemma_url, "--model", GEMMA_MODEL, "--suite", str(suite))
    assert code == 2 and out == ""
    assert f"{suite}:4: cases[0].expect.regex: invalid regular expression" in err
    assert f"{suite}:5: cases[1].id: duplicate case id 'a'" in err
    assert f"{suite}:8: gate.min_casez: unknown key" in err
    missing = invoke(cli, gemma_url, "--model", GEMMA_MODEL, "--suite", str(tmp_path / "no"))
    assert missing[0] == 2 and "file not found" in missing[2]
    assert (
        invoke(cli, gemma_url, "--model", GEMMA_MODEL, "--suite", SUITE, "--format", "xml")[0] == 2
    )


def test_requests_are_greedy_and_errors_unscorable(tmp_path: Path) -> None:
    """What the runner sends, and how a server error is scored (never pass, never fail)."""
    upstream = FakeUpstream(
        "Paris",
        completion=lambda n: (
            (500, b'{"error": "boom"}') if n % 2 else (200, b'{"choices": [{"text": " Paris"}]}')
        ),
    )
    try:
        suite = tmp_path / "s.yaml"
        suite.write_text(
            "cases:\n"
            '  - {id: c1, prompt: "Capital?", max_tokens: 5, stop: ["\\n"], '
            "expect: {contains_any: [paris]}}\n"
            "  - {id: c2, messages: [{role: user, content: hi}], expect: {equals: x}}\n"
        )
        # One at a time: the fake answers by arrival order (the first 200, the second 500).
        run = run_suite(upstream.url + "/m", model="m", suite=load_suite(suite), concurrency=1)
    finally:
        upstream.close()
    bodies = sorted((json.loads(body) for body in upstream.bodies), key=lambda b: "messages" in b)
    assert bodies[0] == {
        "model": "m", "max_tokens": 5, "temperature": 0.0, "seed": 1234, "prompt": "Capital?",
        "stop": ["\n"],
    }  # fmt: skip
    assert bodies[1]["messages"] == [{"role": "user", "content": "hi"}]
    assert bodies[1]["temperature"] == 0.0 and bodies[1]["max_tokens"] == 32
    outcomes = {(r.passed, r.error is not None) for r in run.results}
    assert outcomes == {(None, True), (True, False)}  # one 500 (unscorable), one pass
    assert run.unscored == 1 and run.passed == 1


def test_a_prompt_beyond_the_context_is_unscorable_on_real_llama(gemma_url: str) -> None:
    suite_text = (
        "cases:\n"
        f'  - {{id: long, prompt: "{"word " * 2000}", expect: {{contains_any: [x]}}}}\n'
        f'  - {{id: ok, prompt: "{FEW_SHOT.format("France")}", max_tokens: 6, '
        'stop: ["\\n"], expect: {contains_any: [paris]}}\n'
    )
    from llm_platform.config.eval_suite import parse_suite

    suite = parse_suite(suite_text.encode(), source="inline")
    run = run_suite(gemma_url, model=GEMMA_MODEL, suite=suite)
    by_id = {r.id: r for r in run.results}
    assert by_id["long"].passed is None and by_id["long"].error is not None
    assert by_id["ok"].passed is True


def test_a_hung_endpoint_is_unreachable_after_the_timeout() -> None:
    """No answer within --timeout to the first requests: a typed error, not 40 slow failures."""
    upstream = FakeUpstream("slow", delay_s=3.0)
    try:
        with pytest.raises(EndpointUnreachable, match="TimeoutError"):
            run_suite(upstream.url, model="m", suite=load_suite(EXAMPLE_SUITE), timeout_s=0.3)
        assert upstream.posts <= 4  # the first wave (concurrency 4), then it gave up
    finally:
        upstream.close()
