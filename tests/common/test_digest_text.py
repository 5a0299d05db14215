"""How a digest given by a person or another tool is read: ``sha256:`` prefix, case, blanks."""

from __future__ import annotations

import hashlib
import re

import pytest
from pydantic import BaseModel, ValidationError

from llm_platform.common.digest import (
    SHA256_HEX_LENGTH,
    SHA256_HEX_PATTERN,
    Sha256Hex,
    bare_digest,
)

HEX = hashlib.sha256(b"llm-platform").hexdigest()


class _Pinned(BaseModel):
    digest: Sha256Hex


@pytest.mark.parametrize("given", [HEX, f"sha256:{HEX}", f"  SHA256:{HEX.upper()}\n"])
def test_bare_digest_reads_every_spelling(given: str) -> None:
    assert bare_digest(given) == HEX


def test_a_prefix_stays_a_prefix() -> None:
    assert bare_digest(f"sha256:{HEX[:12]}") == HEX[:12]


def test_full_digest_field() -> None:
    assert len(HEX) == SHA256_HEX_LENGTH and re.match(SHA256_HEX_PATTERN, HEX)
    assert _Pinned(digest=HEX).digest == HEX
    for wrong in (HEX[:63], HEX.upper(), f"sha256:{HEX}", HEX + "0"):
        with pytest.raises(ValidationError):
            _Pinned(digest=wrong)
