"""The DNS-1123 label rule: the checker with its reasons, the predicate and the pydantic field
agree on every name (one rule for models, environments, namespaces and revisions)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from llm_platform.common.dns_label import (
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    DnsLabel,
    check_dns_label,
    is_dns_label,
)


class _Named(BaseModel):
    name: DnsLabel


def _field_accepts(value: str) -> bool:
    try:
        _Named(name=value)
    except ValidationError:
        return False
    return True


def _checker_accepts(value: str) -> bool:
    try:
        check_dns_label(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", ["a", "0", "llama-3-1-8b", "a" * DNS_LABEL_MAX, "a-b-c", "9x"])
def test_valid_labels(name: str) -> None:
    assert check_dns_label(name) == name
    assert is_dns_label(name)
    assert _field_accepts(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "must not be empty"),
        ("a" * (DNS_LABEL_MAX + 1), "at most 63 characters"),
        ("Llama", "only lowercase letters, digits and '-'"),
        ("a_b", "only lowercase letters, digits and '-'"),
        ("a.b", "only lowercase letters, digits and '-'"),
        ("-a", "must start and end"),
        ("a-", "must start and end"),
        ("a\n", "only lowercase letters, digits and '-'"),
    ],
)
def test_invalid_labels_say_why(name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_dns_label(name)
    assert not is_dns_label(name)
    assert not _field_accepts(name)


@given(st.text(alphabet="ab-_Z.0\n", max_size=70))
def test_checker_predicate_and_field_agree(value: str) -> None:
    expected = _checker_accepts(value)
    assert is_dns_label(value) is expected
    assert _field_accepts(value) is expected


def test_pattern_is_the_kubernetes_rule() -> None:
    assert DNS_LABEL_PATTERN == r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
