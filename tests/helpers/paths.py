"""Where the repository and the tests' vendored files are."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).resolve().parent
