"""Where the repository and the tests' vendored files are."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).resolve().parent
#: The example models repo's weights: ``tiny-shakespeare`` is the demo model (builtin engine).
DEMO_WEIGHTS = REPO_ROOT / "examples/models-repo/weights"
