"""Loading the Definitions prints no warning a user cannot act on (``make dev`` loads them in
several processes, each once)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.paths import REPO_ROOT

REPO = REPO_ROOT


def test_loading_definitions_prints_no_preview_warnings() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import definitions"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "PreviewWarning" not in result.stderr, result.stderr
