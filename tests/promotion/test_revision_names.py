"""The one revision-name rule: DNS-1123 labels for any version, unique, digest always kept."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_platform.promotion.revisions import revision_name

DIGEST = "ab12cd34" + "e" * 56
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def test_semver_with_prerelease_and_build_metadata() -> None:
    assert revision_name("1.2.0-RC.1+build.7", DIGEST) == "v1-2-0-rc-1-build-7-ab12cd34"


def test_variant_and_taken_names_get_suffixes() -> None:
    clean = revision_name("1.0.0", DIGEST)
    faulty = revision_name("1.0.0", DIGEST, variant="f0a1b2c")
    assert clean == "v1-0-0-ab12cd34"
    assert faulty == "v1-0-0-ab12cd34-f0a1b2c"
    assert revision_name("1.0.0", DIGEST, taken={clean}) == clean + "-2"
    assert revision_name("1.0.0", DIGEST, taken={clean, clean + "-2"}) == clean + "-3"


def test_long_version_is_truncated_but_digest_and_suffixes_survive() -> None:
    name = revision_name("1.2.3+" + "x" * 200, DIGEST, variant="f123456", taken=set())
    assert len(name) == 63
    assert name.endswith("-ab12cd34-f123456")
    taken = {name}
    again = revision_name("1.2.3+" + "x" * 200, DIGEST, variant="f123456", taken=taken)
    assert len(again) <= 63 and again.endswith("-ab12cd34-f123456-2")


@pytest.mark.parametrize("digest", ["", "ABCDEF12" + "0" * 56, "sha256:ab12cd34"])
def test_bad_digest_is_refused(digest: str) -> None:
    with pytest.raises(ValueError, match="digest"):
        revision_name("1.0.0", digest)


def test_bad_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="variant"):
        revision_name("1.0.0", DIGEST, variant="Bad-Variant")


@given(
    version=st.text(min_size=0, max_size=120),
    variant=st.from_regex(r"\A[a-z0-9]{0,16}\Z"),
    taken_count=st.integers(min_value=0, max_value=3),
)
def test_any_version_gives_a_dns_1123_label(version: str, variant: str, taken_count: int) -> None:
    taken: set[str] = set()
    for _ in range(taken_count + 1):
        name = revision_name(version, DIGEST, variant=variant, taken=taken)
        assert len(name) <= 63
        assert DNS_1123_LABEL.match(name), name
        assert DIGEST[:8] in name
        assert name not in taken
        taken.add(name)
