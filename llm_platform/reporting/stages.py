"""The stages of a model's journey through the pipeline: one definition for every report.

Commit statuses post one status per stage (``llm-platform/<stage>/<model>``), failure alerts say
at which stage a run failed and go to that stage's environment, and the run-failure sensor maps
each asset step to its stage.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from llm_platform.config.environments import PRODUCTION, STAGING


class Stage(StrEnum):
    """The stages that report to the commit, in pipeline order."""

    config = "config"
    registration = "registration"
    staging = "staging"
    production = "production"

    @property
    def environment(self) -> str | None:
        """The environment the stage deploys to (None: it belongs to no environment)."""
        return _ENVIRONMENT[self]


_ENVIRONMENT: dict[Stage, str | None] = {
    Stage.config: None,
    Stage.registration: None,
    Stage.staging: STAGING,
    Stage.production: PRODUCTION,
}

#: Where a failure happened outside every stage: the run itself (its worker died, or it was
#: failed from outside).
RUN: Final = "run"
