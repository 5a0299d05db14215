"""Process set-up of the headless demo (``make demo``): where its logs, Dagster home, approval
keys and allowed sources are. Environment variables are set for this process only."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from llm_platform.demo.gemma import gemma_models_root
from llm_platform.demo.signing import ensure_demo_signers
from llm_platform.settings import ALLOWED_SOURCE_PATHS_ENV, TRUSTED_SIGNERS_ENV


@contextlib.contextmanager
def quiet(log: Path) -> Iterator[None]:
    """Send file descriptors 1 and 2 (also of subprocesses, e.g. kfp.local tasks) to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def use_dagster_home(home: Path) -> None:
    """Use the platform home's DAGSTER_HOME (the one `make dev` uses) unless one is set."""
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or home / "dagster")
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(dagster_home)


def allow_gemma_source(home: Path) -> None:
    """Allow the assembled Gemma weights as a ``local`` source (the operator's allow-list)."""
    allowed = [p for p in os.environ.get(ALLOWED_SOURCE_PATHS_ENV, "").split(os.pathsep) if p]
    root = str(gemma_models_root(home).resolve())
    if root not in allowed:
        os.environ[ALLOWED_SOURCE_PATHS_ENV] = os.pathsep.join([*allowed, root])


def use_demo_trust_root(home: Path) -> tuple[dict[str, Path], str | None]:
    """SSH keys for the demo's approvers and the trust root listing them (the operator's
    ``LLM_PLATFORM_TRUSTED_SIGNERS``, outside the models repo).

    Returns:
        The private keys by approver, and the trust root that was configured and is now
        replaced (None when there was none or it was the demo's).
    """
    trust_root, keys = ensure_demo_signers(home)
    configured = os.environ.get(TRUSTED_SIGNERS_ENV)
    os.environ[TRUSTED_SIGNERS_ENV] = str(trust_root)
    return keys, configured if configured and Path(configured) != trust_root else None
