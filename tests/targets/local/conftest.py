"""Fixtures of the local-runtime tests: a platform home checked for leftover processes, and
one tiny model artifact per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.runtime_fixtures import teardown_home
from tests.helpers.serving_fixtures import build_artifact


@pytest.fixture()
def home(tmp_path: Path) -> Iterator[Path]:
    """A platform home below ``tmp_path``; the test fails when anything it started under that
    home is still running after ``stack down``."""
    root = tmp_path / "home"
    yield root
    assert teardown_home(root) == [], "processes were left behind"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny model's artifact directory and its digest, built once per module."""
    out = tmp_path_factory.mktemp("artifact") / "tiny"
    return out, build_artifact(out)
