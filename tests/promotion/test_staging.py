"""The staging use case without Dagster: deploy, restore when never ready, test, record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from llm_platform.promotion.revisions import revision_name
from llm_platform.promotion.staging import (
    Registered,
    deploy_to_staging,
    fault_variant,
    revision_requests_selector,
)
from tests.helpers.deploy_fakes import READERS, FakePrometheus, World, make_world, suite_report
from tests.helpers.models_repo import ModelsRepo

DIGEST = "d" * 64


@dataclass(frozen=True)
class Options:
    ready_timeout_s: float = 5.0
    load_requests: int = 60
    load_concurrency: int = 8
    min_success_rate: float = 0.8
    inject_latency_ms: float = 0.0
    inject_error_rate: float = 0.0
    settle_before_load_s: float = 0.0


class Suite:
    """The integration suite: records where it ran and answers with a canned report."""

    def __init__(self, *, passed: bool = True) -> None:
        self.passed, self.calls = passed, []

    def __call__(self, base_url: str, **kw: object):  # type: ignore[no-untyped-def]
        self.calls.append((base_url, kw))
        return suite_report(passed=self.passed)


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.registry.add("alpha", "1.0.0", DIGEST, commit_sha="c" * 40)
    return w


def deploy(world: World, repo: ModelsRepo, *, suite=None, prometheus=None, **options):  # type: ignore[no-untyped-def]
    from llm_platform.gitops import GitRepo

    return deploy_to_staging(
        "alpha",
        Registered(version="1.0.0", digest=DIGEST, commit_sha="c" * 40),
        Options(**options),
        repo=GitRepo(str(repo.path)),
        config_sha=repo.head(),
        readers=READERS,
        prometheus=prometheus or FakePrometheus("http://prom.invalid"),
        c=world.c,
        suite=suite or Suite(),
    )


def test_deploys_the_digest_with_its_serving_settings_and_records_it(world, models_repo):
    prometheus, suite = FakePrometheus("http://prom.invalid"), Suite()
    outcome = deploy(world, models_repo, prometheus=prometheus, suite=suite)
    assert outcome.kind == "deployed" and outcome.record is not None
    (rev,) = world.runtime.desired_spec("staging", "alpha").revisions  # type: ignore[union-attr]
    assert (rev.engine, rev.context_size, rev.max_batch_size) == ("builtin", 2048, 8)
    assert (rev.color, rev.weight, rev.digest) == ("blue", 100, DIGEST)
    assert prometheus.queries == [
        f'llm_requests_total{{namespace="staging",model="alpha",revision="{rev.revision}"}}'
    ]
    assert suite.calls[0][0] == "http://gateway.invalid/staging/alpha"
    record = outcome.record
    assert (record.revision, record.commit_sha, record.environment) == (
        rev.revision,
        "c" * 40,
        "staging",
    )
    assert record.serving.context_size == 2048 and record.metric_profile == "default"
    assert record.commit_url == "https://github.invalid/commit/" + "c" * 40
    assert world.ledger.serving("alpha", "staging").revision == rev.revision  # type: ignore[union-attr]
    (event,) = world.recorder.events
    assert event.kind == "deployed" and event.reason == "integration tests passed"
    assert event.evidence["passed"] is True and "tests" not in event.evidence
    assert [s.state for s in world.recorder.statuses] == ["pending"]  # SLO checks next
    assert world.recorder.warnings == []


def test_a_failing_suite_is_a_deployment_with_a_failing_check(world, models_repo):
    outcome = deploy(world, models_repo, suite=Suite(passed=False))
    assert outcome.kind == "deployed" and outcome.record and outcome.record.suite
    assert not outcome.record.suite.passed
    assert world.recorder.events[0].reason == "integration tests failed"


def test_unscraped_series_is_a_warning_not_a_failure(world, models_repo):
    outcome = deploy(world, models_repo, prometheus=FakePrometheus(None))
    assert outcome.kind == "deployed"
    assert "Prometheus has not scraped" in world.recorder.warnings[0]


def test_never_ready_restores_the_previous_revision(world, models_repo):
    previous = deploy(world, models_repo).record
    assert previous is not None
    kept = world.runtime.desired_spec("staging", "alpha")
    faulty = fault_variant(Options(inject_latency_ms=500))
    world.runtime.failing.add(f"{previous.revision}-{faulty}")
    outcome = deploy(world, models_repo, inject_latency_ms=500)
    assert outcome.kind == "failed" and not outcome.succeeded
    assert "did not become ready in staging; the previous revision keeps serving" in (
        outcome.description
    )
    assert "tokenizer.json is unreadable" in outcome.tables["server_log_tail"]
    assert world.runtime.desired_spec("staging", "alpha") == kept
    assert len(world.recorder.events) == 1  # only the first deployment was announced


def test_never_ready_first_deployment_is_removed(world, models_repo):
    world.runtime.failing.add(revision_name("1.0.0", DIGEST))
    outcome = deploy(world, models_repo)
    assert "nothing was serving" in outcome.description
    assert world.runtime.deleted == [("staging", "alpha")]


def test_unregistered_digest_fails_before_deploying(tmp_path, models_repo):
    world = make_world(tmp_path)
    outcome = deploy(world, models_repo)
    assert outcome.kind == "failed" and outcome.description.startswith("no registry record")
    assert world.runtime.applied == []


def test_revision_selector_escapes_label_values():
    assert revision_requests_selector(namespace="ns", model="m", revision='r"1') == (
        'llm_requests_total{namespace="ns",model="m",revision="r\\"1"}'
    )
