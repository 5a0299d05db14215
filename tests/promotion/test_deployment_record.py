"""The typed record of a deployment materialization: the layouts it writes, what it reads back."""

from __future__ import annotations

import pytest

from llm_platform.promotion.deployment_record import DeploymentRecord, Link, Timestamp
from llm_platform.promotion.tables import Markdown
from llm_platform.serving.engines.selection import ServingChoice
from tests.helpers.deploy_fakes import suite_report

DIGEST = "a" * 64
SERVING = ServingChoice(engine="builtin", context_size=2048, max_batch_size=8)


def test_staging_layout_and_read_back() -> None:
    record = DeploymentRecord(
        environment="staging",
        namespace="staging",
        endpoint="http://gw/alpha",
        revision="v1-0-0-aaaaaaaa",
        version="1.0.0",
        digest=DIGEST,
        commit_sha="c0ffee",
        commit_url=None,
        artifact_uri="file:///store/alpha",
        replicas=1,
        capacity_warnings="none",
        deployed_at=1700000000.0,
        injected_latency_ms=0.0,
        injected_error_rate=0.0,
        serving=SERVING,
        metric_profile="default",
        suite=suite_report(),
    )
    meta = record.to_metadata()
    assert list(meta)[:14] == [
        "environment",
        "namespace",
        "endpoint",
        "revision",
        "version",
        "digest",
        "commit_sha",
        "artifact_uri",
        "replicas",
        "capacity_warnings",
        "deployed_at_unix",
        "injected_latency_ms",
        "injected_error_rate",
        "engine",
    ]
    assert list(meta)[14:] == [
        "context_size",
        "max_batch_size",
        "metric_profile",
        "tests_passed",
        "tests_total",
        "tests",
        "load_requests",
        "load_success_rate",
        "load_p50_ms",
        "load_p95_ms",
        "load_rps",
    ]
    assert isinstance(meta["endpoint"], Link) and isinstance(meta["tests"], Markdown)
    assert isinstance(meta["deployed_at_unix"], Timestamp)
    assert meta["load_p95_ms"] == -1.0 and meta["tests_passed"] == 2
    back = DeploymentRecord.from_metadata(meta)
    assert (back.version, back.digest, back.revision) == ("1.0.0", DIGEST, record.revision)
    assert back.serving == SERVING and back.metric_profile == "default"
    assert back.commit_sha == "c0ffee" and back.artifact_uri == "file:///store/alpha"
    assert back.action is None and back.deployed_at == 1700000000.0
    assert record.data_version == f"{DIGEST}:v1-0-0-aaaaaaaa"


def test_production_layout_leaves_out_what_it_does_not_report() -> None:
    record = DeploymentRecord(
        action="rollback",
        reason="slo burn",
        version="1.0.0",
        digest=DIGEST,
        revision="v1-0-0-aaaaaaaa",
        previous_revision="",
        rolled_back_from="b" * 64,
        metric_profile="default",
        serving=ServingChoice(engine="builtin"),
        endpoint="",
        deployed_at=1.0,
    )
    meta = record.to_metadata()
    assert list(meta) == [
        "action",
        "reason",
        "version",
        "digest",
        "revision",
        "previous_revision",
        "rolled_back_from",
        "metric_profile",
        "engine",
        "endpoint",
        "deployed_at_unix",
    ]
    assert meta["endpoint"] == "" and not isinstance(meta["endpoint"], Link)
    assert DeploymentRecord.from_metadata(meta).action == "rollback"


def test_read_back_refuses_what_it_cannot_serve() -> None:
    base = {"version": "1.0.0", "digest": DIGEST, "revision": "r1"}
    legacy = DeploymentRecord.from_metadata(base)  # recorded before engines and profiles
    assert legacy.serving == ServingChoice(engine="builtin") and legacy.metric_profile == "default"
    with pytest.raises(ValueError, match="metric profile"):
        DeploymentRecord.from_metadata({**base, "metric_profile": "nope"})
    with pytest.raises(ValueError):
        DeploymentRecord.from_metadata({**base, "engine": "no-such-engine"})
    with pytest.raises(ValueError, match="'revision'"):
        DeploymentRecord.from_metadata({"version": "1.0.0", "digest": DIGEST})
