"""What the composition root tells a target's factories (see
:data:`llm_platform.targets.registry.TARGETS`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llm_platform.common.repo_layout import DEFAULT_BRANCH


@dataclass(frozen=True)
class TargetOptions:
    """What the composition root knows about where the platform runs, for a target's
    factories (each reads the fields it needs)."""

    #: The platform home (``LLM_PLATFORM_HOME``): local state, verified artifact copies.
    home: Path | None = None
    models_repo: str | None = None
    models_branch: str = DEFAULT_BRANCH
    git_cache_dir: Path | None = None
    #: The default cluster's kubeconfig (None: the pod's service account, else ``KUBECONFIG``).
    kubeconfig: str | None = None
    #: ``LLM_PLATFORM_KUBECONFIG_<ENV>`` -> path: environments on clusters of their own.
    kubeconfigs: Mapping[str, str] = field(default_factory=dict)
    #: Server-side apply field manager (owner of the fields the platform sets).
    field_manager: str = "llm-platform"
