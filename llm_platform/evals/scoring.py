"""Score one answer against its case's expectation (pure; no I/O)."""

from __future__ import annotations

import json
import re

import jsonschema.validators
from referencing.exceptions import Unresolvable

from llm_platform.config.eval_suite import Expect


def _fold(text: str) -> str:
    return text.casefold()


def _json_matches(output: str, schema: dict[str, object]) -> bool:
    try:
        value = json.loads(output.strip())
    except (ValueError, RecursionError):
        return False
    validator = jsonschema.validators.validator_for(schema)(schema)
    try:
        return bool(validator.is_valid(value))
    except (Unresolvable, RecursionError):  # a $ref to elsewhere: nothing is fetched
        return False


def matches(expect: Expect, output: str) -> bool:
    """True when ``output`` satisfies ``expect`` (see
    :class:`~llm_platform.config.eval_suite.Expect`)."""
    if expect.contains_any is not None:
        folded = _fold(output)
        return any(_fold(item) in folded for item in expect.contains_any)
    if expect.not_contains is not None:
        folded = _fold(output)
        return not any(_fold(item) in folded for item in expect.not_contains)
    if expect.equals is not None:
        return _fold(output.strip()) == _fold(expect.equals.strip())
    if expect.regex is not None:
        return re.search(expect.regex, output) is not None
    assert expect.json_schema is not None  # Expect guarantees exactly one kind
    return _json_matches(output, expect.json_schema)
