"""The hardened YAML loader: size, encoding, tags, duplicates, alias bombs, fuzzing."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_platform.config import ConfigError, parse_environment_config, parse_model_config
from llm_platform.config.yaml_loader import MAX_FILE_BYTES, key_lines
from tests.helpers.config_fixtures import model_dict, to_yaml

BILLION_LAUGHS = b"""\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def problems_of(data: bytes) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_model_config(data, source="m.yaml")
    return [str(p) for p in info.value.problems]


def test_file_over_one_mib_is_refused_before_parsing() -> None:
    # Not even valid YAML: the size check must come first.
    data = b"[" * (MAX_FILE_BYTES + 1)
    (problem,) = problems_of(data)
    assert "limit is 1048576 bytes" in problem


def test_file_of_exactly_one_mib_is_parsed() -> None:
    base = to_yaml(model_dict())
    data = base + b"#" * (MAX_FILE_BYTES - len(base))
    assert len(data) == MAX_FILE_BYTES
    assert parse_model_config(data, source="m").name == "llama-3-1-8b"


def test_invalid_utf8_reports_byte_offset_and_line() -> None:
    data = b"name: a\nversion: 1.0.0\ndescription: caf\xe9\n"
    (problem,) = problems_of(data)
    assert "invalid UTF-8 at byte offset 39" in problem
    assert problem.startswith("m.yaml:3:")


def test_utf8_bom_is_accepted() -> None:
    assert parse_model_config(b"\xef\xbb\xbf" + to_yaml(model_dict()), source="m").version


@pytest.mark.parametrize(
    ("doc", "line", "shown"),
    [
        (b"name: a\nversion: !!python/object/apply:os.system ['true']\n", 2, "!!python/object"),
        (b"name: !!python/object:builtins.dict {}\n", 1, "!!python/object:builtins.dict"),
        (b"name: a\n\nresources: !custom {memory_gb: 8}\n", 3, "!custom"),
        (b"name: !!str a\n", 1, "!!str"),
        (b"name: ! a\n", 1, "'!'"),
        (b"%TAG !e! tag:example.com,2000:\n---\nname: !e!x a\n", 3, "tag:example.com,2000:x"),
    ],
)
def test_any_tag_is_refused_with_its_line(doc: bytes, line: int, shown: str) -> None:
    (problem,) = problems_of(doc)
    assert problem.startswith(f"m.yaml:{line}: YAML tags are not allowed")
    assert shown in problem


def test_tag_is_never_executed(tmp_path) -> None:  # noqa: ANN001
    marker = tmp_path / "pwned"
    doc = f"name: !!python/object/apply:os.system ['touch {marker}']\n".encode()
    problems_of(doc)
    assert not marker.exists()


def test_all_tags_in_a_file_are_reported() -> None:
    problems = problems_of(b"a: !x 1\nb: !y 2\nc: !!int 3\n")
    assert [p.split(":")[1] for p in problems] == ["1", "2", "3"]


def test_exclamation_marks_in_strings_are_fine() -> None:
    data = to_yaml(model_dict(description="Wow! a 'quoted !tag' and !!"))
    assert parse_model_config(data, source="m").description == "Wow! a 'quoted !tag' and !!"


def test_duplicate_keys_are_errors_with_both_lines() -> None:
    doc = (
        b"name: llama\n"
        b"version: 1.0.0\n"
        b"architecture: llama\n"
        b"resources:\n"
        b"  memory_gb: 16\n"
        b"  gpu_count: 1\n"
        b"  memory_gb: 4\n"
        b"name: llama\n"
    )
    problems = problems_of(doc)
    assert "m.yaml:7: resources.memory_gb: duplicate key (first defined on line 5)" in problems
    assert "m.yaml:8: name: duplicate key (first defined on line 1)" in problems
    # The last value wins for the schema check, and its line is the one reported.
    assert "m.yaml:7: resources.memory_gb: memory_gb 4.0 is below 8" in problems[1]
    assert len(problems) == 3


def test_duplicate_keys_reported_alongside_schema_problems() -> None:
    problems = problems_of(b"name: a\nname: a\nversion: x\narchitecture: y\n")
    assert any("duplicate key" in p for p in problems)
    assert any("version" in p and "semantic" in p for p in problems)
    assert any("resources" in p and "required" in p for p in problems)


def test_merge_keys_may_be_overridden_but_explicit_duplicates_may_not() -> None:
    ok = b"base: &base {memory_gb: 16, gpu_count: 1}\nx: 1\n"
    # 'base' and 'x' are unknown model keys, but no duplicate is reported.
    assert not any("duplicate" in p for p in problems_of(ok))
    merged = (
        b"name: a\nversion: 1.0.0\narchitecture: y\n"
        b"resources:\n  <<: {memory_gb: 8, gpu_count: 1}\n  memory_gb: 24\n"
    )
    assert parse_model_config(merged, source="m").resources.memory_gb == 24
    dup = merged + b"  memory_gb: 32\n"
    assert any("duplicate key" in p for p in problems_of(dup))


# Even the barest walk over the bomb's 9**9 leaves takes ~20 s of CPU; refusing it takes
# milliseconds. The bound
# is CPU time (other processes on a busy machine do not count), far from both.
BOMB_CPU_SECONDS = 5.0


def test_billion_laughs_fails_fast() -> None:
    start = time.process_time()
    (problem,) = problems_of(BILLION_LAUGHS)
    elapsed = time.process_time() - start
    assert "alias bomb" in problem
    assert elapsed < BOMB_CPU_SECONDS


def test_billion_laughs_fails_fast_as_environment_too() -> None:
    start = time.process_time()
    with pytest.raises(ConfigError):
        parse_environment_config(
            b"slo:\n" + b"".join(b"  " + line + b"\n" for line in BILLION_LAUGHS.splitlines()),
            source="e",
        )
    assert time.process_time() - start < BOMB_CPU_SECONDS


def test_modest_aliases_are_allowed() -> None:
    doc = b"name: &n a\nversion: 1.0.0\narchitecture: *n\nresources: {memory_gb: 8, gpu_count: 1}\n"
    assert parse_model_config(doc, source="m").architecture == "a"


def test_recursive_alias_is_refused() -> None:
    (problem,) = problems_of(b"a: &a [1, *a]\n")
    assert "recursive alias" in problem


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        (b"", "empty"),
        (b"# only a comment\n", "empty"),
        (b"- a\n- b\n", "got a list"),
        (b"just a string\n", "got a str"),
        (b"42\n", "got a int"),
        (b"null\n", "got a NoneType"),
        (b"a: 1\n---\nb: 2\n", "invalid YAML"),
        (b"a: [1, 2\n", "invalid YAML"),
        (b"a: b: c\n", "invalid YAML"),
        (b"a: 1\x00\n", "invalid YAML"),
        (b"[" * 2000, "invalid YAML"),
        (b"? [1, 2]\n: x\n", "invalid YAML"),
    ],
)
def test_bad_documents(doc: bytes, needle: str) -> None:
    problems = problems_of(doc)
    assert len(problems) == 1 and needle in problems[0]
    assert problems[0].startswith("m.yaml")


def test_yaml_syntax_error_has_a_line() -> None:
    (problem,) = problems_of(b"name: a\nversion: 1.0.0\nresources: [1,\n")
    assert problem.startswith("m.yaml:")
    assert int(problem.split(":")[1]) >= 3


def test_key_lines_maps_nested_paths() -> None:
    lines = key_lines("a:\n  b:\n    - x\n    - y: 1\nc: 2\n")
    assert lines[("a",)] == 1
    assert lines[("a", "b")] == 2
    assert lines[("a", "b", "1", "y")] == 4
    assert lines[("c",)] == 5


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_config_error(data: bytes) -> None:
    try:
        parse_model_config(data, source="fuzz.yaml", expected_name="fuzz")
    except ConfigError as exc:
        assert exc.problems and all(p.path == "fuzz.yaml" for p in exc.problems)


YAMLISH = st.text(
    alphabet=st.sampled_from(list("ab01 :-[]{},\n\t'\"!&*<>?|%#.@`~\\") + ["\u00e9", "\u2028"]),
    max_size=200,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_arbitrary_yamlish_text_only_raises_config_error(text: str) -> None:
    for parse in (parse_model_config, parse_environment_config):
        try:
            parse(text.encode("utf-8"), source="fuzz.yaml")
        except ConfigError as exc:
            assert exc.problems


KEYS = st.sampled_from(
    [
        "name",
        "version",
        "architecture",
        "resources",
        "memory_gb",
        "gpu_count",
        "slo",
        "serving",
        "protocol",
        "window",
        "x",
        "1",
        "<<",
    ]
)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_arbitrary_structures_only_raise_config_error(data: dict) -> None:  # type: ignore[type-arg]
    import yaml

    raw = yaml.safe_dump(data).encode()
    for parse in (parse_model_config, parse_environment_config):
        try:
            parse(raw, source="fuzz.yaml")
        except ConfigError as exc:
            assert exc.problems


def test_deep_nesting_is_a_config_error() -> None:
    for depth in (300, 990):
        data = b"name: " + b"[" * depth + b"]" * depth + b"\n"
        with pytest.raises(ConfigError):
            parse_model_config(data, source="m")


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        (b"name: =\n", "constructor"),
        (b"? - x\n: 1\n", "non-scalar key"),
        (b"<<: 5\n", "merging"),
        (b"a: *missing\n", "undefined alias"),
    ],
)
def test_odd_yaml_constructs(doc: bytes, needle: str) -> None:
    (problem,) = problems_of(doc)
    assert needle in problem and problem.startswith("m.yaml:1: invalid YAML")


def test_implicit_scalar_types_match_pyyaml() -> None:
    import yaml

    text = "a: 2001-12-14\nb: 0x1F\nc: .inf\nd: ~\ne: yes\nf: 1_000\ng: '1'\nh: 1e3\ni: -0.5\n"
    from llm_platform.config.yaml_loader import load_mapping

    assert load_mapping(text.encode(), source="m").data == yaml.safe_load(text)
