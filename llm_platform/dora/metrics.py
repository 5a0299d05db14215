"""Delivery (DORA) metrics: pure functions over the promotion ledger's production history.

Definitions (per model, and for the fleet by pooling every model's records):

* **deployments / deployment frequency** — successful promotions (``promoted`` events) in the
  window, and that count per day.
* **lead time** — from the commit that produced the promoted artifact (its committer time) to the
  promotion; p50 and p90 over the window's promotions with a known commit (nearest rank, as
  every percentile of the platform: a reported value is always one that was observed).
* **change failure rate** — failed changes per change. A *change* is a promotion, or a rollout
  that was rolled back before it took over (a ``rolled_back`` event whose digest is not the one
  production served before). A *failed change* is such a failed rollout, or a rollback that
  restored the previous digest after a promotion. Hence "rollbacks per promotion", with rollouts
  that never completed counted as attempts too.
* **time to restore** — an incident opens at the first ``check_failed`` (a production SLO check
  that failed) and closes when production is healthy again: a ``recovered`` event (a later check
  passed), a rollback that restored the previous digest, or a new promotion. p50 over incidents
  closed in the window; incidents still open are counted, never given a made-up duration.

No data is ``None`` (not zero): a model that was never promoted has no lead time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llm_platform.config.environments import PRODUCTION
from llm_platform.endpoint_tests.checks import percentile
from llm_platform.promotion.ledger import LedgerEvent

#: The row of the whole fleet in a report's table.
FLEET = "fleet"
DEFAULT_WINDOW_DAYS = 30.0
_HOUR_S = 3600.0


def _quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank ``q``-quantile (0..1), the platform's one percentile (load tests too)."""
    return percentile(sorted(values), q * 100)


class DeliveryMetrics(BaseModel):
    """The delivery metrics of one model (or of the fleet, ``model == "fleet"``).

    Attributes:
        deployments: Successful promotions in the window.
        deployment_frequency_per_day: ``deployments`` per day of the window.
        lead_time_p50_h: Median commit-to-production time, hours (``None``: no sample).
        lead_time_p90_h: 90th percentile of the same.
        lead_time_samples: Promotions whose commit time is known (<= ``deployments``).
        changes: Promotions plus rollouts rolled back before they took over.
        failed_changes: Failed rollouts plus rollbacks that restored the previous digest.
        change_failure_rate: ``failed_changes / changes`` (``None`` without changes).
        incidents_restored: Incidents (failed production check) closed in the window.
        open_incidents: Incidents not closed yet (at the end of the window).
        time_to_restore_p50_h: Median hours from failed check to healthy again.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    deployments: int = 0
    deployment_frequency_per_day: float = 0.0
    lead_time_p50_h: float | None = None
    lead_time_p90_h: float | None = None
    lead_time_samples: int = 0
    changes: int = 0
    failed_changes: int = 0
    change_failure_rate: float | None = None
    incidents_restored: int = 0
    open_incidents: int = 0
    time_to_restore_p50_h: float | None = None


class DeliveryReport(BaseModel):
    """Delivery metrics of every model with production history, and of the fleet."""

    model_config = ConfigDict(frozen=True)

    env: str
    since: datetime
    until: datetime
    window_days: float
    models: list[DeliveryMetrics]
    fleet: DeliveryMetrics
    notes: list[str] = []

    def rows(self) -> list[DeliveryMetrics]:
        """Every model's metrics, then the fleet's (the table's rows)."""
        return [*self.models, self.fleet]


class _Tally(BaseModel):
    """What one model's history contributes (raw samples, so the fleet can pool them)."""

    deployments: int = 0
    lead_times_h: list[float] = []
    changes: int = 0
    failed_changes: int = 0
    restore_times_h: list[float] = []
    open_incidents: int = 0


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / _HOUR_S


def _tally(
    events: Iterable[LedgerEvent],
    commit_times: Mapping[str, datetime],
    *,
    since: datetime,
    until: datetime,
) -> _Tally:
    """Walk one model's production events oldest first, tracking what production serves."""
    tally = _Tally()
    serving: str | None = None
    previous: str | None = None
    incident_start: datetime | None = None

    def close_incident(at: datetime) -> None:
        nonlocal incident_start
        if incident_start is not None and since <= at <= until:
            tally.restore_times_h.append(_hours(at - incident_start))
        incident_start = None

    for event in sorted(events, key=lambda e: (e.time, e.event_id)):
        if event.time > until:
            break
        in_window = event.time >= since
        if event.kind == "promoted":
            if serving is not None and serving != event.digest:
                previous = serving  # as Ledger.promote moves <env>-previous
            serving = event.digest
            close_incident(event.time)
            if in_window:
                tally.deployments += 1
                tally.changes += 1
                committed = commit_times.get(event.digest or "")
                if committed is not None:
                    tally.lead_times_h.append(_hours(event.time - committed))
        elif event.kind == "rolled_back":
            restored = previous is not None and event.digest == previous
            if restored:
                serving, previous = previous, None
                close_incident(event.time)
            if in_window:
                tally.failed_changes += 1
                tally.changes += 0 if restored else 1  # a failed rollout is a change too
        elif event.kind == "check_failed":
            if incident_start is None:
                incident_start = event.time
        elif event.kind == "recovered":
            close_incident(event.time)
    tally.open_incidents = int(incident_start is not None)
    return tally


def incident_open(events: Iterable[LedgerEvent], *, env: str = PRODUCTION) -> bool:
    """Whether ``env`` has an open incident: a failed check not yet followed by recovery,
    a restoring rollback or a promotion (the rule the time to restore is measured by)."""
    relevant = [e for e in events if e.env == env]
    if not relevant:
        return False
    latest = max(e.time for e in relevant)
    return _tally(relevant, {}, since=latest, until=latest).open_incidents > 0


def incident_event_kind(
    history: Iterable[LedgerEvent], verdict: str, *, env: str = PRODUCTION
) -> Literal["check_failed", "recovered"] | None:
    """What a production SLO verdict adds to the ledger: ``check_failed`` for a failure,
    ``recovered`` for a pass that ends an open incident, else nothing (inconclusive or error
    verdicts are not outages, and a pass outside an incident is not news)."""
    if verdict == "fail":
        return "check_failed"
    if verdict == "pass" and incident_open(history, env=env):
        return "recovered"
    return None


def _metrics(name: str, tally: _Tally, window_days: float) -> DeliveryMetrics:
    return DeliveryMetrics(
        model=name,
        deployments=tally.deployments,
        deployment_frequency_per_day=tally.deployments / window_days,
        lead_time_p50_h=_quantile(tally.lead_times_h, 0.5),
        lead_time_p90_h=_quantile(tally.lead_times_h, 0.9),
        lead_time_samples=len(tally.lead_times_h),
        changes=tally.changes,
        failed_changes=tally.failed_changes,
        change_failure_rate=tally.failed_changes / tally.changes if tally.changes else None,
        incidents_restored=len(tally.restore_times_h),
        open_incidents=tally.open_incidents,
        time_to_restore_p50_h=_quantile(tally.restore_times_h, 0.5),
    )


def delivery_report(
    history: Mapping[str, Iterable[LedgerEvent]],
    commit_times: Mapping[str, Mapping[str, datetime]],
    *,
    until: datetime,
    window_days: float = DEFAULT_WINDOW_DAYS,
    env: str = PRODUCTION,
    notes: Sequence[str] = (),
) -> DeliveryReport:
    """Delivery metrics per model and for the fleet over ``window_days`` ending at ``until``.

    Args:
        history: Ledger events per model (any order, any environment: only ``env`` counts).
            Events before the window still matter: they say what production served.
        commit_times: Per model, the commit time of each promoted digest.
        until: End of the window (aware datetime).
        window_days: Length of the window.
        env: The environment that counts as production.
        notes: Remarks carried into the report (e.g. promotions without a known commit).

    Raises:
        ValueError: ``window_days`` is not positive.
    """
    if window_days <= 0:
        raise ValueError(f"window_days must be positive, got {window_days}")
    since = until - timedelta(days=window_days)
    pooled = _Tally()
    rows = []
    for model in sorted(history):
        events = [e for e in history[model] if e.env == env]
        if not events:
            continue
        tally = _tally(events, commit_times.get(model, {}), since=since, until=until)
        rows.append(_metrics(model, tally, window_days))
        pooled.deployments += tally.deployments
        pooled.lead_times_h += tally.lead_times_h
        pooled.changes += tally.changes
        pooled.failed_changes += tally.failed_changes
        pooled.restore_times_h += tally.restore_times_h
        pooled.open_incidents += tally.open_incidents
    return DeliveryReport(
        env=env,
        since=since,
        until=until,
        window_days=window_days,
        models=rows,
        fleet=_metrics(FLEET, pooled, window_days),
        notes=list(notes),
    )
