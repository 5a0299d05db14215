"""The rollback use case without Dagster: restore production-previous, record and announce."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_platform.gitops import GitRepo
from llm_platform.promotion.exclusive import promotion_lock
from llm_platform.promotion.ledger import AliasTarget, LedgerEvent
from llm_platform.promotion.revisions import revision_name
from llm_platform.promotion.rollback import rollback_production
from llm_platform.targets.base import DeploymentSpec
from tests.helpers.deploy_fakes import World, make_world

OLD, NEW = "0" * 63 + "1", "0" * 63 + "2"


@pytest.fixture
def world(tmp_path: Path, models_repo) -> World:  # type: ignore[no-untyped-def]
    """Production served OLD (1.0.0), then NEW (1.1.0); OLD's revision has been retired."""
    w = make_world(tmp_path)
    sha = models_repo.head()
    w.registry.add("alpha", "1.0.0", OLD, commit_sha=sha)
    w.registry.add("alpha", "1.1.0", NEW, commit_sha=sha)
    for version, digest in (("1.0.0", OLD), ("1.1.0", NEW)):
        event = LedgerEvent(kind="promoted", model="alpha", env="production", version=version)
        target = AliasTarget(
            version=version, digest=digest, revision=revision_name(version, digest)
        )
        w.ledger.promote(event, target)
    new = w.registry.records[("alpha", "1.1.0", NEW)]
    spec = DeploymentSpec.model_validate(
        {
            "env": "production",
            "model": "alpha",
            "revisions": [
                {
                    "revision": revision_name("1.1.0", NEW),
                    "version": "1.1.0",
                    "digest": NEW,
                    "artifact_uri": new.artifact_uri,
                    "color": "green",
                    "weight": 100,
                }
            ],
        }
    )
    w.runtime.apply(spec)
    return w


def roll_back(world: World, repo) -> object:  # type: ignore[no-untyped-def]
    return rollback_production(
        "alpha", reason="slo burn", actor="sensor", repo=GitRepo(str(repo.path)), c=world.c
    )


def test_restored_revision_keeps_the_serving_settings_it_was_staged_with(world, models_repo):
    """The retired revision is rebuilt with the engine and the launch settings of the model
    config it was registered from (``max_sequence_length: 2048``, ``max_batch_size: 8``), as
    staging and every rollout build it; they used to be dropped here."""
    outcome = roll_back(world, models_repo)
    assert outcome.kind == "restored", outcome.description
    (rev,) = world.runtime.desired_spec("production", "alpha").revisions
    assert (rev.digest, rev.weight, rev.color) == (OLD, 100, "blue")
    assert (rev.engine, rev.context_size, rev.max_batch_size) == ("builtin", 2048, 8)
    record = outcome.record
    assert record.action == "rollback" and record.rolled_back_from == NEW
    assert record.serving.context_size == 2048 and record.serving.max_batch_size == 8
    assert record.to_metadata()["max_batch_size"] == 8


def test_rollback_is_recorded_and_announced(world, models_repo):
    outcome = roll_back(world, models_repo)
    assert world.ledger.serving("alpha", "production").digest == OLD
    assert world.ledger.previous("alpha", "production") is None
    (event,) = world.recorder.events
    assert (event.kind, event.actor, event.reason, event.digest) == (
        "rolled_back",
        "sensor",
        "slo burn",
        OLD,
    )
    assert event.evidence["from"]["digest"] == NEW
    assert outcome.record.revision == revision_name("1.0.0", OLD)
    assert "rolled alpha back to 1.0.0" in world.recorder.warnings[0]


def test_unreadable_model_config_falls_back_to_engine_defaults(world, models_repo):
    world.registry.add("alpha", "1.0.0", OLD, commit_sha="f" * 40)
    outcome = roll_back(world, models_repo)
    assert outcome.kind == "restored"
    (rev,) = world.runtime.desired_spec("production", "alpha").revisions
    assert (rev.context_size, rev.max_batch_size) == (None, None)
    assert "restoring with the engine's default settings" in world.recorder.warnings[0]


def test_nothing_to_roll_back_to(tmp_path, models_repo):
    world = make_world(tmp_path)
    outcome = roll_back(world, models_repo)
    assert outcome.kind == "failed" and "nothing to roll back to" in outcome.description
    assert world.recorder.events == []


def test_refused_while_a_promotion_of_the_model_runs(world, models_repo):
    with promotion_lock(world.c.home, env="production", model="alpha", run_id="other-run"):
        outcome = roll_back(world, models_repo)
    assert outcome.kind == "failed" and "run other-run" in outcome.description
    assert world.ledger.serving("alpha", "production").digest == NEW
