"""The promotion use case without Dagster: the gate, a refusal, a rollout's outcome, the record."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

from llm_platform.common.gate_item import GateItem
from llm_platform.gitops import GitRepo
from llm_platform.promotion import exclusive
from llm_platform.promotion.deployment_record import DeploymentRecord
from llm_platform.promotion.gate import CheckEvidence
from llm_platform.promotion.promote import promote
from llm_platform.promotion.rollout import execute_rollout
from llm_platform.serving.engines.selection import ServingChoice
from tests.helpers.deploy_fakes import READERS, FakePrometheus, World, make_world, suite_report
from tests.helpers.models_repo import ENV_YAML

DIGEST = "e" * 64
STAGED = DeploymentRecord(
    version="1.0.0",
    digest=DIGEST,
    revision="v1-0-0-eeeeeeee",
    serving=ServingChoice(engine="builtin", context_size=2048, max_batch_size=8),
    metric_profile="default",
)


@dataclass(frozen=True)
class Options:
    approver: str | None = None
    comment: str = ""
    smoke_requests: int = 4
    analysis_window_s: float | None = None
    rollback_window_s: float = 60.0


class Capacity:
    def __init__(self, ok: bool = True) -> None:
        self.ok = ok

    def gate_item(self, runtime, *, env, model, artifact_bytes) -> GateItem:  # type: ignore[no-untyped-def]
        return GateItem(name="capacity", ok=self.ok, reason=f"{artifact_bytes} bytes")


def evidence(passed: bool):  # type: ignore[no-untyped-def]
    def read(objectives) -> list[CheckEvidence]:  # type: ignore[no-untyped-def]
        return [CheckEvidence(name="integration_tests", executed=True, passed=passed, current=True)]

    return read


@pytest.fixture
def world(tmp_path: Path, models_repo) -> World:  # type: ignore[no-untyped-def]
    models_repo.write("config/production.yaml", ENV_YAML.format(env="production"))
    models_repo.commit("production environment")
    w = make_world(tmp_path)
    w.registry.add("alpha", "1.0.0", DIGEST, commit_sha=models_repo.head())
    return w


@pytest.fixture
def smoke(monkeypatch):  # type: ignore[no-untyped-def]
    """The rollout's smoke test, answering with a canned report (``passed`` switchable)."""
    state = {"passed": True}

    def run(url: str, **kw: object):  # type: ignore[no-untyped-def]
        return suite_report(passed=state["passed"])

    monkeypatch.setattr(exclusive, "execute_rollout", functools.partial(execute_rollout, smoke=run))
    return state


def run(world: World, repo, *, staged=STAGED, passed=True, capacity=True):  # type: ignore[no-untyped-def]
    return promote(
        "alpha",
        Options(),
        staged=staged,
        repo=GitRepo(str(repo.path)),
        trust_root=None,
        readers=READERS,
        staging_evidence=evidence(passed),
        capacity=Capacity(capacity),
        prometheus=FakePrometheus(None),
        c=world.c,
    )


def test_never_staged_is_a_failure_that_touches_nothing(world, models_repo):
    outcome = run(world, models_repo, staged=None)
    assert outcome.kind == "failed" and "never deployed to staging" in outcome.description
    assert world.recorder.events == [] and world.recorder.started == []


def test_gate_refusal_is_recorded_reported_and_announced(world, models_repo):
    outcome = run(world, models_repo, passed=False, capacity=False)
    assert outcome.kind == "refused" and outcome.announced and not outcome.succeeded
    assert "staging checks: integration_tests failed" in outcome.description
    assert "capacity: 1024 bytes" in outcome.description
    assert "| capacity | HELD |" in outcome.tables["gate"]
    (refused,) = world.ledger.history("alpha", env="production")
    assert refused.kind == "refused" and refused.actor == "automation"
    assert [g["name"] for g in refused.evidence["gate"]] == [
        "staging checks",
        "approval",
        "rolled back",
        "capacity",
    ]
    assert world.recorder.events == [refused]
    assert world.recorder.started == [("alpha", models_repo.head())]
    assert [s.state for s in world.recorder.statuses] == ["failure"]
    assert world.runtime.applied == []


def test_promotes_what_staging_served_and_records_it(world, models_repo, smoke):
    outcome = run(world, models_repo)
    assert outcome.kind == "promoted", outcome.description
    (rev,) = world.runtime.desired_spec("production", "alpha").revisions
    assert (rev.digest, rev.context_size, rev.max_batch_size) == (DIGEST, 2048, 8)
    record = outcome.record
    assert (record.action, record.strategy, record.revision) == (
        "promote",
        "first-deployment",
        rev.revision,
    )
    assert record.serving == STAGED.serving and record.approver == "(not required)"
    assert record.endpoint == "http://gateway.invalid/production/alpha"
    assert "| deploy | ok |" in record.rollout_steps and "| approval | ok |" in record.gate
    (event,) = world.recorder.events
    assert event.kind == "promoted" and record.ledger_event == event.event_id
    assert world.ledger.serving("alpha", "production").digest == DIGEST
    assert record.to_metadata()["context_size"] == 2048


def test_failed_smoke_test_rolls_back_and_announces_it(world, models_repo, smoke):
    smoke["passed"] = False
    outcome = run(world, models_repo)
    assert outcome.kind == "rolled_back" and outcome.announced
    assert outcome.description.startswith("first-deployment rollout of alpha 1.0.0 was rolled back")
    assert "| smoke | FAILED |" in outcome.tables["steps"]
    assert [e.kind for e in world.recorder.events] == ["rolled_back"]
    assert world.runtime.desired_spec("production", "alpha") is None
    assert world.ledger.serving("alpha", "production") is None
