"""Firing SLO alerts -> rollbacks: what the rollback sensor reads from Prometheus.

Prometheus evaluates the burn-rate alerts of :mod:`llm_platform.slo.rules` continuously and
exposes the active ones as the ``ALERTS`` series. One constant query per environment
(:func:`rollback_alerts_query`) finds every firing page alert whose platform action is
``rollback``; :func:`rollbacks` keeps those that concern the revision a model serves now (an
alert about a revision that no longer serves -- e.g. the one just rolled back -- asks nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llm_platform.slo.fleet import REVISION_LABEL
from llm_platform.slo.profiles import selector
from llm_platform.slo.prom import PromSample
from llm_platform.slo.rules import (
    ACTION_LABEL,
    ENV_LABEL,
    MODEL_LABEL,
    OBJECTIVE_LABEL,
    SEVERITY_LABEL,
)

#: The ``for:``-satisfied state of an alert in the ``ALERTS`` series.
FIRING = "firing"


@dataclass(frozen=True)
class FiringAlert:
    """One firing rollback alert of one model revision."""

    alertname: str
    model: str
    revision: str
    objective: str
    burn_rate: str
    long_window: str
    short_window: str

    @property
    def reason(self) -> str:
        """One line for the rollback run and its logs."""
        return (
            f"{self.alertname} firing: {self.objective} of revision {self.revision} burns its "
            f"error budget faster than {self.burn_rate}x over {self.long_window} and "
            f"{self.short_window}"
        )


def rollback_alerts_query(env: str) -> str:
    """The fleet's firing page alerts that ask for a rollback in ``env`` (one query)."""
    return "ALERTS" + selector(
        {
            "alertstate": FIRING,
            SEVERITY_LABEL: "page",
            ACTION_LABEL: "rollback",
            ENV_LABEL: env,
        }
    )


def parse_alerts(samples: list[PromSample]) -> list[FiringAlert]:
    """The alerts of an ``ALERTS`` answer (series without a model or revision are skipped:
    they name nothing to roll back)."""
    out = []
    for s in samples:
        labels = s.labels
        model, revision = labels.get(MODEL_LABEL), labels.get(REVISION_LABEL)
        if not model or not revision:
            continue
        out.append(
            FiringAlert(
                alertname=labels.get("alertname", "alert"),
                model=model,
                revision=revision,
                objective=labels.get(OBJECTIVE_LABEL, "?"),
                burn_rate=labels.get("burn_rate", "?"),
                long_window=labels.get("long_window", "?"),
                short_window=labels.get("short_window", "?"),
            )
        )
    return out


def rollbacks(alerts: list[FiringAlert], serving: Mapping[str, str]) -> dict[str, str]:
    """Model -> reason, for models whose *serving* revision has a firing rollback alert.

    Args:
        alerts: Firing alerts (:func:`parse_alerts`).
        serving: Each production model's serving revision (a model missing here, or with an
            empty revision, is never rolled back from an alert: the alert cannot be tied to it).
    """
    out: dict[str, list[str]] = {}
    for alert in sorted(alerts, key=lambda a: (a.model, a.alertname, a.long_window)):
        if serving.get(alert.model) and serving[alert.model] == alert.revision:
            out.setdefault(alert.model, []).append(alert.reason)
    return {model: "; ".join(reasons) for model, reasons in out.items()}
