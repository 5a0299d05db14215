"""Shadow traffic's pieces without processes: spec rules, routes, the share, the pair judge."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from llm_platform.config import EnvironmentConfig
from llm_platform.promotion.analysis import CanaryThresholds
from llm_platform.promotion.rollout import plan_from_environment
from llm_platform.promotion.shadow_analysis import judge_pairs
from llm_platform.serving.routes import ModelRouter, ModelRoutes, RevisionRoute
from llm_platform.serving.shadow import ShadowPair, ShadowRecorder, _output
from llm_platform.targets.base import DeploymentSpec, RevisionSpec

DIGEST = "b" * 64


def rev(name: str, weight: int, shadow: int = 0) -> RevisionSpec:
    return RevisionSpec(
        revision=name,
        version="1",
        digest=DIGEST,
        artifact_uri="/x",
        color="blue",
        weight=weight,
        shadow_percent=shadow,
    )


def test_a_shadow_revision_has_no_traffic_and_is_alone():
    DeploymentSpec(env="p", model="m", revisions=[rev("a", 100), rev("b", 0, 50)])
    with pytest.raises(ValidationError, match="shadow revision b must have weight 0"):
        DeploymentSpec(env="p", model="m", revisions=[rev("a", 50), rev("b", 50, 50)])
    with pytest.raises(ValidationError, match="at most one shadow revision"):
        DeploymentSpec(
            env="p", model="m", revisions=[rev("a", 100), rev("b", 0, 5), rev("c", 0, 5)]
        )
    with pytest.raises(ValidationError, match="shadow_percent"):
        rev("a", 0, 101)


def test_the_router_copies_its_share_to_the_shadow_only():
    url = "http://127.0.0.1:1"
    routes = ModelRoutes(
        revisions=[
            RevisionRoute(revision="a", version="1", url=url, weight=100),
            RevisionRoute(revision="b", version="2", url="http://127.0.0.1:2", weight=0, shadow=30),
        ]
    )
    router = ModelRouter("m", routes)
    rng = random.Random(5)
    picks = [router.pick(rng) for _ in range(2000)]
    assert {p.revision for p in picks if p} == {"a"}  # the shadow never serves a client
    copies = [router.shadow(rng) for _ in range(2000)]
    share = sum(c is not None for c in copies) / 2000
    assert 0.26 < share < 0.34
    assert {c.revision for c in copies if c} == {"b"}
    plain = ModelRouter("m", ModelRoutes(revisions=routes.revisions[:1]))
    assert plain.shadow(rng) is None


def test_shadow_recorder_reports_pairs_after_a_sequence_number():
    rec = ShadowRecorder(client=None, faults=None, timeout_s=1)  # type: ignore[arg-type]
    for i in range(3):
        rec.add("m", "a", "b", 0.1, 0.2 * i, False, i == 2, i == 0)
    rec.add("other", "a", "b", 0.1, 0.1, False, False, None)
    report = rec.report("m", b"after=1")
    assert report["last"] == 4 and [p["seq"] for p in report["pairs"]] == [2, 3]
    assert rec.report("m", b"after=x")["pairs"][0]["outputs_match"] is True
    assert rec.report("none", b"")["pairs"] == []
    assert _output(b'{"choices":[{"text":"hi"}]}') == "hi"
    assert _output(b'{"choices":[{"message":{"content":"yo"}}]}') == "yo"
    assert _output(b"not json") is None


def pairs(n: int, slow: float, *, errors: int = 0) -> list[ShadowPair]:
    return [
        ShadowPair(
            seq=i,
            production_revision="a",
            shadow_revision="b",
            production_latency_s=0.2 + 0.01 * (i % 7),
            shadow_latency_s=(0.2 + 0.01 * ((i * 3) % 7)) * slow,
            production_error=False,
            shadow_error=i < errors,
            outputs_match=True,
        )
        for i in range(n)
    ]


def test_the_pair_judge_fails_slow_or_failing_candidates_and_passes_equal_ones():
    t = CanaryThresholds()
    verdict, reason, _, judged = judge_pairs(pairs(60, 2.0), t)
    assert verdict == "fail" and reason.startswith("latency_vs_production")
    verdict, _, _, judged = judge_pairs(pairs(100, 1.0, errors=30), t)
    assert verdict == "fail" and judged["error_rate_vs_production"].verdict == "fail"
    verdict, _, _, _ = judge_pairs(pairs(40, 1.0), t)
    assert verdict == "inconclusive"  # too few pairs to show the error rate is fine
    verdict, _, _, judged = judge_pairs(pairs(800, 1.0), t)
    assert verdict == "pass", judged
    assert judge_pairs([], t)[0] == "inconclusive"


def test_shadow_percentage_in_the_environment_reaches_the_plan():
    config = EnvironmentConfig.model_validate(
        {
            "environment": "production",
            "namespace": "production",
            "deployment": {"strategy": "shadow", "shadow_percentage": 25},
        }
    )
    p = plan_from_environment(
        config, env="production", model="m", version="1", digest="a" * 64, artifact_uri="/x"
    )
    assert (p.strategy, p.shadow_percentage) == ("shadow", 25)
    with pytest.raises(ValidationError, match="shadow_percentage"):
        EnvironmentConfig.model_validate(
            {
                "environment": "p",
                "namespace": "p",
                "deployment": {"strategy": "shadow", "shadow_percentage": 0},
            }
        )
    with pytest.raises(ValidationError, match="kubernetes.workload deployment cannot"):
        EnvironmentConfig.model_validate(
            {
                "environment": "p",
                "namespace": "p",
                "deployment": {"strategy": "shadow"},
                "kubernetes": {"workload": "deployment"},
            }
        )
