"""Which environment keys take effect on which target: no key is silently dropped.

On every target each key of ``config/<env>.yaml`` either changes what runs (strategy,
surge/unavailable, canary percentage, ``autoscaling.min_replicas``/``enabled``, SLOs,
approvals) or is one the target declares it cannot honour
(:data:`llm_platform.common.target_names.IGNORED_KEYS`), listed here with the targets where it
does apply. The rollout keys that ``config/staging.yaml`` sets apply to production only
(staging replaces its revision in one step). ``llm-platform validate`` and the
``model_config`` asset report them with their values.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from llm_platform.common.target_names import IGNORED_KEYS
from llm_platform.config.environment import Autoscaling, EnvironmentConfig
from llm_platform.config.environments import PRODUCTION, STAGING


def _ignored_keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for ignored in IGNORED_KEYS.values():
        for key, reason in ignored.items():
            keys.setdefault(key, reason)
    return keys


#: Keys some target cannot honour (today: the local target, which has no cluster), with why.
CLUSTER_ONLY_KEYS: dict[str, str] = _ignored_keys()


def _honoured_on(key: str) -> str:
    """The targets that honour ``key``, e.g. ``kubernetes``."""
    return " / ".join(name for name, ignored in IGNORED_KEYS.items() if key not in ignored)


#: Keys of ``config/staging.yaml`` that only a promotion uses: staging replaces its revision
#: with the candidate in one step, on every target (production rolls out with them).
PRODUCTION_ONLY_KEYS: dict[str, str] = {
    "deployment.strategy": "staging replaces its revision with the candidate in one step",
    "deployment.max_surge": "staging replaces its revision with the candidate in one step",
    "deployment.max_unavailable": "staging replaces its revision with the candidate in one step",
    "deployment.canary_percentage": "staging sends the candidate all of its traffic",
    "deployment.approval_required": "every registered candidate is staged; approval gates "
    "promotion",
}


class KeyApplicability(BaseModel):
    """One configured key that does not take effect where it is written (on the local
    target, or in staging)."""

    env: str
    key: str
    value: object
    #: The targets where the key takes effect, or ``production`` for a production-only key.
    applies_on: str
    reason: str = Field(description="why it does not take effect")

    def __str__(self) -> str:
        if self.applies_on == PRODUCTION:
            where = "applies to production only"
        else:
            where = f"applies on the {self.applies_on} target"
        return f"{self.env}: {self.key} = {self.value!r} {where} ({self.reason})"


def _settings(
    config: EnvironmentConfig,
    keys: dict[str, str],
    applies_on: Callable[[str], str],
    *,
    only_set: bool = False,
) -> list[KeyApplicability]:
    data = config.model_dump(mode="json", exclude_unset=only_set)
    out = []
    for key, reason in keys.items():
        value: object = data
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if only_set and value is None:
            continue
        out.append(
            KeyApplicability(
                env=config.environment,
                key=key,
                value=value,
                applies_on=applies_on(key),
                reason=reason,
            )
        )
    return out


def cluster_only_settings(config: EnvironmentConfig) -> list[KeyApplicability]:
    """Every cluster-only key of ``config`` with its (possibly default) value; for staging,
    also the production-only keys it sets (:data:`PRODUCTION_ONLY_KEYS`)."""
    out = _settings(config, CLUSTER_ONLY_KEYS, _honoured_on)
    if config.environment == STAGING:
        out += _settings(config, PRODUCTION_ONLY_KEYS, lambda _: PRODUCTION, only_set=True)
    return out


def serving_replicas(autoscaling: Autoscaling) -> int:
    """Servers per revision the runtime keeps: ``min_replicas``, or 1 when autoscaling is off."""
    return autoscaling.min_replicas if autoscaling.enabled else 1
