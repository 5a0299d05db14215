"""Composition root: the one ``dagster.Definitions`` of llm-platform.

Settings come from environment variables when the code location loads (never at import of any
other module); the resource set for the target is chosen here, once.
"""

from __future__ import annotations

import dagster as dg

from assets.jobs import model_job
from assets.model_config import model_config
from llm_platform.settings import Settings
from resources.git_repo import ModelsRepoResource
from sensors.git_push import git_push_sensor


def build_resources(settings: Settings) -> dict[str, object]:
    """The resources for the configured target."""
    return {
        "models_repo": ModelsRepoResource(
            location=settings.models_repo,
            branch=settings.models_branch,
            cache_dir=str(settings.home / "git-cache"),
        ),
    }


def build_defs(settings: Settings) -> dg.Definitions:
    """All assets, checks, jobs, sensors and resources for ``settings``."""
    return dg.Definitions(
        assets=[model_config],
        jobs=[model_job],
        sensors=[git_push_sensor],
        resources=build_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by ``dagster dev`` / ``dg``: settings from the environment (DESIGN.md)."""
    return build_defs(Settings.from_env())
