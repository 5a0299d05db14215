"""What the CLI falls back to when the operator's variables are unset: this home's files.

``make`` exports the demo's trust root and allowed source paths; a plain shell after
``make demo`` does not. The CLI then uses the ones the embedded stack's home holds (they are
the operator's files, outside the models repo) and says so on stderr, so that ``approvals
check`` and ``validate`` judge as the running platform does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from llm_platform.demo.gemma import gemma_models_root
from llm_platform.demo.signing import ALLOWED_SIGNERS_FILENAME, SIGNING_DIRNAME
from llm_platform.settings import (
    ALLOWED_SOURCE_PATHS_ENV,
    TRUSTED_SIGNERS_ENV,
    allowed_source_paths_from_env,
    home_from_env,
    trusted_signers_from_env,
)


def _note(text: str) -> None:
    Console(stderr=True).print(f"note: {text}", highlight=False, markup=False, soft_wrap=True)


def cli_trust_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """``$LLM_PLATFORM_TRUSTED_SIGNERS``, else this home's trust root when it exists.

    Raises:
        ConfigurationError: the variable is set to something other than an absolute path.
    """
    env = os.environ if environ is None else environ
    configured = trusted_signers_from_env(env)
    if configured is not None or env.get(TRUSTED_SIGNERS_ENV, "").strip():
        return configured
    candidate = home_from_env(env) / SIGNING_DIRNAME / ALLOWED_SIGNERS_FILENAME
    if not candidate.is_file():
        return None
    _note(f"{TRUSTED_SIGNERS_ENV} is not set: using this home's trust root {candidate}")
    return candidate


def cli_allowed_source_paths(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """``$LLM_PLATFORM_ALLOWED_SOURCE_PATHS``, else this home's model directory when it exists.

    Raises:
        ConfigurationError: an entry of the variable is not an absolute path.
    """
    env = os.environ if environ is None else environ
    if env.get(ALLOWED_SOURCE_PATHS_ENV, "").strip():
        return allowed_source_paths_from_env(env)
    candidate = gemma_models_root(home_from_env(env))
    if not candidate.is_dir():
        return ()
    _note(f"{ALLOWED_SOURCE_PATHS_ENV} is not set: allowing this home's models {candidate}")
    return (candidate,)
