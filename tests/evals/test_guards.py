"""Reference-free guards and expectation scoring (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_platform.config.eval_suite import EvalCase, Expect
from llm_platform.endpoint_tests.checks import Api
from llm_platform.evals import Guard, guard_failures
from llm_platform.evals.guards import TEMPLATE_TOKENS, leaked_tokens, repetition_coverage
from llm_platform.evals.runner import parse_answer, score_case
from llm_platform.evals.scoring import matches


@pytest.mark.parametrize("output", ["", "   ", "\n\t"])
def test_empty_output_fails(output: str) -> None:
    assert guard_failures(output) == [Guard.EMPTY]


@pytest.mark.parametrize(
    "token",
    [
        "<start_of_turn>",
        "<end_of_turn>",
        "<start_of_image>",  # what a Q2_K re-quantized Gemma 3 270M emitted
        "<|im_start|>",
        "<|eot_id|>",
        "[INST]",
        "</s>",
    ],
)
def test_template_tokens_leaking_fail(token: str) -> None:
    output = f" Paris{token}model\nParis"
    assert Guard.TEMPLATE_TOKEN in guard_failures(output)
    assert token in leaked_tokens(output)


@pytest.mark.parametrize(
    "output",
    [
        "the cat the cat the cat the cat the cat the cat",
        " Paris Paris Paris Paris Paris Paris Paris",
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "Answer: 12121212121212121212121212121212",
        "ok\nok\nok\nok\nok\nok\nok\nok\nok\nok\n",
    ],
)
def test_degenerate_repetition_fails(output: str) -> None:
    assert Guard.REPETITION in guard_failures(output), repetition_coverage(output)


@pytest.mark.parametrize(
    "output",
    [
        " Paris",
        " Thursday, Friday, Saturday and Sunday.",
        " 6, 7, 8, 9, 10, 11, 12, 13, 14, 15",
        ' {"name": "Carol", "age": 41}',
        " The play was written by William Shakespeare.",
        " aaa bbb",  # short answers are exempt
        "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday, Monday",
    ],
)
def test_normal_answers_pass_the_guards(output: str) -> None:
    assert guard_failures(output) == []


@given(st.text(min_size=1, max_size=6), st.integers(min_value=8, max_value=30))
@settings(max_examples=200, deadline=None)
def test_any_unit_repeated_many_times_is_caught(unit: str, times: int) -> None:
    output = unit * times
    if len(output.strip()) >= 24 and not any(t in output for t in TEMPLATE_TOKENS):
        assert Guard.REPETITION in guard_failures(output)


def test_expectations() -> None:
    assert matches(Expect(contains_any=["paris", "lutetia"]), " PARIS, France")
    assert not matches(Expect(contains_any=["paris"]), " Rome")
    assert matches(Expect(equals="books"), "  Books \n")
    assert not matches(Expect(equals="books"), "books and more")
    assert matches(Expect(regex=r"^\s*6,\s*7"), " 6, 7, 8")
    assert not matches(Expect(regex=r"^\s*6"), "5, 6")
    assert matches(Expect(not_contains=["sorry"]), "Paris")
    assert not matches(Expect(not_contains=["SORRY"]), "I'm sorry")
    schema = {"type": "object", "required": ["ok"]}
    assert matches(Expect(json_schema=schema), ' {"ok": true} ')
    assert not matches(Expect(json_schema=schema), '{"no": 1}')
    assert not matches(Expect(json_schema=schema), "ok: true")  # not JSON at all
    assert not matches(Expect(json_schema={"$ref": "https://example.com/s.json"}), "{}")


def test_a_guard_failure_fails_a_case_whose_expectation_holds() -> None:
    case = EvalCase(id="c", prompt="x", expect=Expect(contains_any=["paris"]))
    good = score_case(case, " Paris", 0.1)
    assert good.passed is True and good.guard_failures == []
    leaked = score_case(case, " Paris<end_of_turn>", 0.1)
    assert leaked.passed is False and leaked.guard_failures == ["template-token"]
    assert score_case(case, " Rome", 0.1).passed is False


def test_parse_answer_tells_answers_from_errors() -> None:
    ok = b'{"choices": [{"text": " Paris"}]}'
    assert parse_answer(Api.COMPLETIONS, 200, ok) == (" Paris", None)
    assert parse_answer(Api.COMPLETIONS, 200, b'{"choices": [{"text": ""}]}') == ("", None)
    chat = b'{"choices": [{"message": {"role": "assistant", "content": null}}]}'
    assert parse_answer(Api.CHAT, 200, chat) == ("", None)
    output, error = parse_answer(Api.COMPLETIONS, 500, b"boom")
    assert output is None and error == "HTTP 500: boom"
    output, error = parse_answer(Api.CHAT, 200, ok)
    assert output is None and error is not None and "/v1/chat/completions" in error
