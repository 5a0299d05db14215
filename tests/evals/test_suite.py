"""Output-quality suite files: the strict format, its errors (file, line, field) and its hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_platform.config.eval_suite import (
    DEFAULT_MAX_TOKENS,
    load_suite,
    parse_suite,
    suite_hash,
    suite_path,
)
from llm_platform.config.problems import ConfigError
from llm_platform.config.yaml_loader import MAX_FILE_BYTES
from llm_platform.demo.gemma import EXAMPLE_SUITE

GOOD = """\
cases:
  - id: capital-france
    prompt: "Q: What is the capital of France?\\nA:"   # -> /v1/completions
    max_tokens: 12
    stop: ["\\n"]
    expect: {contains_any: ["paris"]}
  - id: json-reply
    messages: [{role: user, content: "Reply with {\\"ok\\": true} only."}]
    expect: {json_schema: {type: object, required: [ok]}}
gate:
  min_cases: 10
  max_regression: 0.05
  confidence: 0.95
  min_score: 0.0
"""


def problems_of(text: str) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_suite(text.encode(), source="evals/m.yaml")
    assert all(p.path == "evals/m.yaml" for p in info.value.problems)
    return [(p.line, p.field, p.message) for p in info.value.problems]


def test_the_design_example_loads_with_kinds_and_defaults() -> None:
    suite = parse_suite(GOOD.encode(), source="evals/m.yaml")
    first, second = suite.cases
    assert (first.kind, first.expect.kind, first.max_tokens, first.stop) == (
        "completion",
        "contains_any",
        12,
        ["\n"],
    )
    assert (second.kind, second.expect.kind, second.max_tokens) == (
        "chat",
        "json_schema",
        DEFAULT_MAX_TOKENS,
    )
    assert second.messages is not None and second.messages[0].role == "user"
    assert suite.gate.min_cases == 10 and suite.gate.confidence == 0.95


def test_gate_defaults_when_absent() -> None:
    suite = parse_suite(b"cases: [{id: a, prompt: x, expect: {equals: y}}]", source="s")
    gate = suite.gate
    assert (gate.min_cases, gate.max_regression, gate.confidence, gate.min_score) == (
        10,
        0.05,
        0.95,
        0.0,
    )


def test_every_problem_is_reported_with_line_and_field() -> None:
    text = """\
cases:
  - id: a
    prompt: x
    expect: {contains_any: [x]}
  - id: a
    promt: y
    prompt: y
    expect: {regex: "(unclosed"}
  - id: b
    prompt: z
    messages: [{role: user, content: hi}]
    expect: {equals: z}
  - id: c
    expect: {equals: z}
  - id: d
    prompt: p
    expect: {json_schema: {type: 12}}
  - id: e
    prompt: p
    expect: {equals: a, regex: b}
gate:
  confidense: 0.9
  max_regression: 1.5
"""
    found = problems_of(text)
    by_field = {field: (line, message) for line, field, message in found}
    assert by_field["cases[1].id"] == (5, "duplicate case id 'a' (first used on line 2)")
    assert by_field["cases[1].promt"] == (6, "unknown key (did you mean 'prompt'?)")
    assert by_field["cases[1].expect.regex"][0] == 8
    assert "invalid regular expression" in by_field["cases[1].expect.regex"][1]
    assert (
        by_field["cases[2]"][0] == 9
        and "exactly one of prompt or messages (got both)" in (by_field["cases[2]"][1])
    )
    assert by_field["cases[3]"][0] == 13 and "(got neither)" in by_field["cases[3]"][1]
    assert by_field["cases[4].expect.json_schema"][0] == 17
    assert "invalid JSON schema at type" in by_field["cases[4].expect.json_schema"][1]
    assert by_field["cases[5].expect"][0] == 20
    assert "(got equals, regex)" in by_field["cases[5].expect"][1]
    assert by_field["gate.confidense"] == (22, "unknown key (did you mean 'confidence'?)")
    assert by_field["gate.max_regression"][0] == 23
    assert [line for line, _, _ in found] == sorted(line or 0 for line, _, _ in found)


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("cases: []\n", 1, "at least 1 item"),
        ("cases:\n  - id: a\n    prompt: x\n    expect: {}\n", 4, "exactly one of"),
        ("cases:\n  - id: 'bad id'\n    prompt: x\n    expect: {equals: x}\n", 2, "pattern"),
        (
            "cases:\n  - id: a\n    prompt: x\n    max_tokens: 0\n    expect: {equals: x}\n",
            4,
            "greater",
        ),
        ("cases:\n  - id: a\n    prompt: x\n    stop: []\n    expect: {equals: x}\n", 4, "least"),
        (
            "cases:\n  - {id: a, messages: [{role: robot, content: x}], expect: {equals: x}}\n",
            2,
            "",
        ),
        ("cases:\n  - {id: a, prompt: x, expect: {contains_any: []}}\n", 2, "at least 1"),
    ],
)
def test_invalid_values_name_their_line(text: str, line: int, needle: str) -> None:
    found = problems_of(text)
    assert any(got == line and needle in message for got, _, message in found), found


def test_hardened_loader_duplicate_keys_tags_and_size() -> None:
    dup = problems_of("cases:\n  - id: a\n    id: b\n    prompt: x\n    expect: {equals: x}\n")
    assert (3, "cases[0].id", "duplicate key (first defined on line 2)") in dup
    tagged = problems_of("cases: !!python/object:os.system [x]\n")
    assert tagged[0][0] == 1 and "YAML tags are not allowed" in tagged[0][2]
    with pytest.raises(ConfigError, match="limit is"):
        parse_suite(b"#" * (MAX_FILE_BYTES + 1), source="evals/m.yaml")


def test_load_suite_reads_files_and_refuses_escapes(tmp_path: Path) -> None:
    path = suite_path(tmp_path, "llama")
    assert path == tmp_path / "evals" / "llama.yaml"
    path.parent.mkdir()
    path.write_text(GOOD)
    assert len(load_suite(path).cases) == 2
    with pytest.raises(ConfigError, match="file not found"):
        load_suite(tmp_path / "evals" / "missing.yaml")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text(GOOD)
    (tmp_path / "evals" / "link.yaml").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the repository"):
        load_suite(tmp_path / "evals" / "link.yaml", repo_root=tmp_path)


def test_hash_ignores_layout_and_spelled_out_defaults_but_not_content() -> None:
    base = parse_suite(b"cases: [{id: a, prompt: x, expect: {equals: y}}]", source="s")
    same = parse_suite(
        b"# a comment\ngate: {min_cases: 10}\ncases:\n  - expect: {equals: y}\n"
        b"    max_tokens: 32\n    prompt: x\n    id: a\n",
        source="s",
    )
    changed = parse_suite(b"cases: [{id: a, prompt: x, expect: {equals: z}}]", source="s")
    stricter = parse_suite(
        b"cases: [{id: a, prompt: x, expect: {equals: y}}]\ngate: {min_cases: 11}", source="s"
    )
    assert suite_hash(base) == suite_hash(same)
    assert suite_hash(base).startswith("sha256:") and len(suite_hash(base)) == 71
    assert len({suite_hash(base), suite_hash(changed), suite_hash(stricter)}) == 3


def test_numbers_in_expectations_are_text() -> None:
    suite = parse_suite(b"cases: [{id: a, prompt: x, expect: {equals: 42}}]", source="s")
    assert suite.cases[0].expect.equals == "42"


def test_the_example_gemma_suite_is_valid_and_big_enough() -> None:
    suite = load_suite(EXAMPLE_SUITE)
    assert len(suite.cases) >= 24
    assert all(case.kind == "completion" for case in suite.cases)  # pretrained: no chat
    assert len(suite.cases) >= suite.gate.min_cases


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_hostile_text_is_a_suite_or_a_config_error(text: str) -> None:
    try:
        parse_suite(text.encode("utf-8", "surrogatepass"), source="evals/m.yaml")
    except ConfigError as exc:
        assert exc.problems and all(p.path == "evals/m.yaml" for p in exc.problems)
