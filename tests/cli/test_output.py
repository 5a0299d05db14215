"""CLI tables printed to a pipe keep their rows whole (rich wraps at 80 columns by default)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_stack_status_through_a_pipe_is_not_wrapped_at_80_columns(tmp_path: Path) -> None:
    home = tmp_path / ("a-platform-home-with-a-long-name-" * 3)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["LLM_PLATFORM_HOME"] = str(home)
    cli = Path(sys.executable).parent / "llm-platform"
    result = subprocess.run(
        [str(cli), "stack", "status"], capture_output=True, text=True, env=env, timeout=60
    )
    assert len(str(home)) > 80
    assert str(home) in result.stdout, result.stdout  # on one line, not cut into cells
    assert max(len(line) for line in result.stdout.splitlines()) > 80
