"""Delivery (DORA) metrics: the maths on hand-built ledger histories, the inputs read from a real
ledger, registry and git repo, and the table both the CLI and the asset print."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llm_platform.artifact_store import ModelRegistry
from llm_platform.artifact_store.local_store import LocalDirStore
from llm_platform.dora.format import (
    format_hours,
    markdown_table,
    numeric_metrics,
    table_rows,
)
from llm_platform.dora.metrics import (
    FLEET,
    delivery_report,
    incident_event_kind,
    incident_open,
)
from llm_platform.dora.sources import delivery_inputs
from llm_platform.gitops import GitRepo
from llm_platform.promotion import Ledger, LedgerEvent
from tests.helpers.gitops_fixtures import WorkRepo, git
from tests.helpers.registry_fixtures import record_meta

T0 = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = T0 + timedelta(days=30)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ev(kind: str, at: datetime, digest: str, *, model: str = "llama", **kw: Any) -> LedgerEvent:
    return LedgerEvent.model_validate(
        {"kind": kind, "model": model, "env": "production", "digest": digest, "time": at, **kw}
    )


# --- the report ------------------------------------------------------------------------------


def _history() -> dict[str, list[LedgerEvent]]:
    """llama: 3 promotions, a failed rollout, an incident restored by a rollback.
    gemma: one promotion, an incident that recovered by itself, then one still open."""
    llama = [
        ev("promoted", h(10), "a"),  # lead time 10 h (commit at T0)
        ev("promoted", h(30), "b"),  # lead time 6 h (commit at h24)
        ev("check_failed", h(31), "b"),
        ev("check_failed", h(31.5), "b"),  # same incident: only the first opens it
        ev("rolled_back", h(33), "a"),  # restores a: failed change, incident 2 h
        ev("rolled_back", h(40), "c"),  # canary of c rolled back: a change and a failure
        ev("promoted", h(50), "d"),  # lead time 2 h (commit at h48)
        ev("refused", h(51), "e"),  # a refusal is no change
        LedgerEvent(kind="deployed", model="llama", env="staging", digest="z", time=h(52)),
    ]
    gemma = [
        ev("promoted", h(5), "g1", model="gemma"),  # commit unknown: no lead time sample
        ev("check_failed", h(6), "g1", model="gemma"),
        ev("recovered", h(6.5), "g1", model="gemma"),  # incident 0.5 h
        ev("check_failed", h(100), "g1", model="gemma"),  # still open
    ]
    mistral = [LedgerEvent(kind="deployed", model="mistral", env="staging", digest="m", time=h(1))]
    return {"llama": llama, "gemma": gemma, "mistral": mistral}


COMMITS = {"llama": {"a": T0, "b": h(24), "d": h(48)}, "gemma": {}}


def test_report_per_model_and_fleet() -> None:
    report = delivery_report(_history(), COMMITS, until=UNTIL, window_days=30)
    by_model = {m.model: m for m in report.models}
    assert list(by_model) == ["gemma", "llama"]  # mistral only has staging events
    llama, gemma, fleet = by_model["llama"], by_model["gemma"], report.fleet
    assert llama.deployments == 3
    assert llama.deployment_frequency_per_day == pytest.approx(3 / 30)
    assert llama.lead_time_samples == 3
    assert llama.lead_time_p50_h == pytest.approx(6.0)  # nearest rank 2 of 2, 6, 10
    assert llama.lead_time_p90_h == pytest.approx(10.0)  # nearest rank ceil(2.7) = 3
    assert (llama.changes, llama.failed_changes) == (4, 2)  # 3 promotions + the failed canary
    assert llama.change_failure_rate == pytest.approx(0.5)
    assert (llama.incidents_restored, llama.open_incidents) == (1, 0)
    assert llama.time_to_restore_p50_h == pytest.approx(2.0)
    assert gemma.deployments == 1 and gemma.lead_time_samples == 0
    assert gemma.lead_time_p50_h is None and gemma.change_failure_rate == 0.0
    assert (gemma.incidents_restored, gemma.open_incidents) == (1, 1)
    assert gemma.time_to_restore_p50_h == pytest.approx(0.5)
    assert fleet.model == FLEET
    assert fleet.deployments == 4 and fleet.deployment_frequency_per_day == pytest.approx(4 / 30)
    assert fleet.lead_time_p50_h == pytest.approx(6.0)  # pooled samples 10, 6, 2
    assert (fleet.changes, fleet.failed_changes) == (5, 2)
    assert fleet.change_failure_rate == pytest.approx(0.4)
    assert fleet.time_to_restore_p50_h == pytest.approx(0.5)  # nearest rank 1 of 0.5 h, 2 h
    assert fleet.open_incidents == 1


def test_window_excludes_old_events_but_keeps_their_state() -> None:
    """Promotions before the window are not counted, but they still decide that a later
    rollback restores (a failed change) rather than being a failed rollout (two changes)."""
    report = delivery_report(_history(), COMMITS, until=h(60), window_days=1.0)
    llama = next(m for m in report.models if m.model == "llama")
    # window = [h36, h60]: the canary rollback (h40) and the promotion of d (h50).
    assert llama.deployments == 1 and llama.lead_time_p50_h == pytest.approx(2.0)
    assert (llama.changes, llama.failed_changes) == (2, 1)
    assert llama.incidents_restored == 0  # restored at h33, outside the window


def test_rollback_of_a_rollout_is_not_mistaken_for_a_restore() -> None:
    history = {"m": [ev("promoted", h(1), "a", model="m"), ev("rolled_back", h(2), "b", model="m")]}
    m = delivery_report(history, {}, until=UNTIL).models[0]
    assert (m.changes, m.failed_changes) == (2, 1)
    # the same rollback restoring the previous digest after a promotion of b:
    history["m"].insert(1, ev("promoted", h(1.5), "b", model="m"))
    history["m"][-1] = ev("rolled_back", h(2), "a", model="m")
    m = delivery_report(history, {}, until=UNTIL).models[0]
    assert (m.changes, m.failed_changes) == (2, 1)
    assert m.change_failure_rate == pytest.approx(0.5)


def test_no_history_is_no_data_not_zero() -> None:
    report = delivery_report({}, {}, until=UNTIL)
    assert report.models == []
    assert report.fleet.deployments == 0 and report.fleet.change_failure_rate is None
    assert report.fleet.lead_time_p50_h is None and report.fleet.time_to_restore_p50_h is None
    values = numeric_metrics(report)
    assert values == {
        "fleet/deployments": 0,
        "fleet/deployment_frequency_per_day": 0.0,
        "fleet/open_incidents": 0,
    }
    with pytest.raises(ValueError, match="positive"):
        delivery_report({}, {}, until=UNTIL, window_days=0)


# --- incidents -------------------------------------------------------------------------------


def test_incident_events_from_verdicts() -> None:
    promoted = [ev("promoted", h(1), "a")]
    failing = [*promoted, ev("check_failed", h(2), "a")]
    assert incident_event_kind(promoted, "fail") == "check_failed"
    assert incident_event_kind(promoted, "pass") is None  # nothing to recover from
    assert incident_event_kind(failing, "pass") == "recovered"
    assert incident_event_kind(failing, "inconclusive") is None
    assert incident_open(failing)
    assert not incident_open([*failing, ev("recovered", h(3), "a")])
    assert not incident_open([*failing, ev("promoted", h(3), "b")])  # fixed forward
    staging = [e.model_copy(update={"env": "staging"}) for e in failing]
    assert not incident_open(staging)


# --- table -----------------------------------------------------------------------------------


def test_table_and_plottable_metrics() -> None:
    report = delivery_report(_history(), COMMITS, until=UNTIL, window_days=30)
    rows = table_rows(report)
    assert [r[0] for r in rows] == ["gemma", "llama", FLEET]
    llama = rows[1]
    assert llama[1:5] == ["3", "0.10", "6.0 h", "10.0 h"]
    assert llama[5] == "50% (2/4)" and llama[6] == "2.0 h" and llama[7] == "0"
    assert rows[0][3] == "-"  # gemma: no lead time sample
    md = markdown_table(report)
    assert md.splitlines()[0].startswith("| model | deploys |") and "| fleet |" in md
    values = numeric_metrics(report)
    assert values["llama/lead_time_p90_hours"] == pytest.approx(10.0)
    assert values["fleet/change_failure_rate"] == pytest.approx(0.4)
    assert isinstance(values["fleet/deployments"], int)
    assert "gemma/lead_time_p50_hours" not in values


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (None, "-"),
        (30 / 3600, "30 s"),
        (0.5, "30 min"),
        (0.7, "42 min"),
        (59.8 / 60, "1.0 h"),
        (5.25, "5.2 h"),
        (72.0, "3.0 d"),
    ],
)
def test_format_hours(hours: float | None, text: str) -> None:
    assert format_hours(hours) == text


# --- inputs from a real ledger, registry and git repo ----------------------------------------


def test_inputs_from_ledger_registry_and_git(tmp_path: Path) -> None:
    work = WorkRepo(tmp_path / "repo")
    work.add_model("llama")
    sha = work.commit("llama 1.0.0")
    committed = datetime.fromtimestamp(int(git(work.path, "log", "-1", "--format=%ct")), UTC)
    store = LocalDirStore(tmp_path / "store")
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "w.bin").write_bytes(b"weights")
    record = (
        ModelRegistry(store)
        .register(
            weights,
            name="llama",
            version="1.0.0",
            **(record_meta("local:weights") | {"commit_sha": sha}),
        )
        .record
    )
    ledger = Ledger(store)
    ledger.record(ev("promoted", committed + timedelta(hours=2), record.digest, version="1.0.0"))
    ledger.record(ev("promoted", committed + timedelta(hours=3), "f" * 64, version="2.0.0"))
    ledger.record(ev("deployed", committed, "0" * 64, model="gemma", version="1.0.0"))
    inputs = delivery_inputs(
        ledger, ModelRegistry(store), GitRepo(str(work.path)), env="production"
    )
    assert sorted(inputs.history) == ["gemma", "llama"]
    assert inputs.commit_times["llama"] == {record.digest: committed}
    assert inputs.notes == ["llama 2.0.0: no registry record, no lead time"]
    report = delivery_report(
        inputs.history, inputs.commit_times, until=committed + timedelta(days=1)
    )
    llama = next(m for m in report.models if m.model == "llama")
    assert llama.deployments == 2 and llama.lead_time_samples == 1
    assert llama.lead_time_p50_h == pytest.approx(2.0)


def test_a_corrupt_event_leaves_out_its_model_only(tmp_path: Path) -> None:
    store = LedgerStoreWithTwoModels(tmp_path)
    events = sorted((tmp_path / "store" / "_ledger" / "gemma" / "events").iterdir())
    events[0].write_text("{not json")
    inputs = delivery_inputs(store.ledger, store.registry, None, env="production")
    assert sorted(inputs.history) == ["llama"]
    (note,) = [n for n in inputs.notes if n.startswith("gemma")]
    assert note.startswith("gemma: left out, its ledger cannot be read: ")
    assert events[0].name in note and "corrupt ledger event" in note
    report = delivery_report(inputs.history, inputs.commit_times, until=UNTIL, env="production")
    assert [m.model for m in report.models if m.model != FLEET] == ["llama"]


class LedgerStoreWithTwoModels:
    """A ledger where llama and gemma were each promoted twice."""

    def __init__(self, root: Path) -> None:
        store = LocalDirStore(root / "store")
        self.ledger, self.registry = Ledger(store), ModelRegistry(store)
        for model in ("llama", "gemma"):
            for hours, digest in ((1, "a" * 64), (5, "b" * 64)):
                self.ledger.record(ev("promoted", h(hours), digest, model=model, version="1.0.0"))
