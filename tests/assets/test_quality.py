"""``output_quality`` on ``staging_deployment``, materialized on a temporary instance against the
embedded stack: real llama.cpp revisions behind the staging and production gateways."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets.gate import staging_check_evidence
from assets.model_config import model_config
from assets.names import (
    CHECK_INTEGRATION_TESTS,
    CHECK_OUTPUT_QUALITY,
    STAGING_DEPLOYMENT,
    TAG_PARTITION,
)
from assets.quality import output_quality
from assets.registered_model import registered_model
from assets.staging import staging_deployment
from llm_platform.artifact_store import open_store
from llm_platform.demo.gemma import EXAMPLE_SUITE, GEMMA_MODEL, render_gemma_model_yaml
from llm_platform.evals.baseline_cache import baseline_cache_root
from llm_platform.promotion import AliasTarget, Ledger, LedgerEvent
from llm_platform.promotion.gate import checks_item
from llm_platform.targets.base import DeploymentSpec
from llm_platform.targets.local.local import LocalRuntime
from resources.artifact_store import LocalArtifactStore
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource
from resources.registrar import LocalKfpRegistrarResource
from resources.runtime import LocalRuntimeResource
from tests.helpers.eval_build_fixtures import CHATML_TEMPLATE
from tests.helpers.models_repo import ModelsRepo
from tests.helpers.paths import DEMO_WEIGHTS

pytestmark = pytest.mark.long(300)

ASSETS = [model_config, registered_model, staging_deployment, output_quality]
GEMMA_STAGING = {
    "ops": {
        STAGING_DEPLOYMENT: {
            "config": {
                "load_requests": 4,
                "load_concurrency": 1,
                "ready_timeout_s": 180.0,
                "settle_before_load_s": 0.5,
            }
        }
    }
}


def _resources(repo: ModelsRepo, tmp_path: Path, home: Path, allowed: list[Path]) -> dict:
    return {
        "models_repo": ModelsRepoResource(location=str(repo.path)),
        "artifact_store": LocalArtifactStore(root=str(tmp_path / "store")),
        "registrar": LocalKfpRegistrarResource(
            pipeline_root=str(tmp_path / "kfp"), allowed_source_paths=[str(p) for p in allowed]
        ),
        "runtime": LocalRuntimeResource(home=str(home)),
        "prometheus": PrometheusResource(home=str(home)),
        "notifier": NotifierResource(),
        "github": CommitStatusResource(),
    }


def _quality(result) -> dg.AssetCheckEvaluation:
    [ev] = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_OUTPUT_QUALITY]
    return ev


def _meta(ev: dg.AssetCheckEvaluation) -> dict:
    return {k: v.value for k, v in ev.metadata.items()}


def test_model_without_a_suite_passes_unless_an_environment_requires_one(
    models_repo: ModelsRepo, tmp_path: Path, stack_home: Path
) -> None:
    shutil.copytree(DEMO_WEIGHTS / "tiny-shakespeare", models_repo.path / "weights" / "alpha")
    models_repo.commit("alpha weights")
    resources = _resources(models_repo, tmp_path, stack_home, [])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        run = dg.materialize(ASSETS, instance=instance, partition_key="alpha", resources=resources)
        free = _quality(run)
        assert free.passed and _meta(free)["status"] == "no_suite"
        assert (free.description or "").startswith("no suite: evals/alpha.yaml does not exist")
        text = (models_repo.path / "config/staging.yaml").read_text()
        models_repo.write("config/staging.yaml", text + "quality:\n  required: true\n")
        models_repo.commit("staging requires output-quality suites")
        run = dg.materialize(
            ASSETS,
            instance=instance,
            partition_key="alpha",
            resources=resources,
            raise_on_error=False,
        )
        held = _quality(run)
        assert not held.passed and not run.success
        assert "staging requires one (quality.required: true)" in (held.description or "")


def test_broken_build_is_held_with_lost_cases_and_template_drift_and_refused_by_the_gate(
    models_repo: ModelsRepo,
    tmp_path: Path,
    stack_home: Path,
    gemma_home: Path,
    gemma_q2k_chatml: Path,
) -> None:
    models_repo.write(f"models/{GEMMA_MODEL}/model.yaml", render_gemma_model_yaml(gemma_home))
    models_repo.write(f"evals/{GEMMA_MODEL}.yaml", EXAMPLE_SUITE.read_text())
    models_repo.commit("gemma 1.0.0 with its suite")
    allowed = [gemma_home / "models", gemma_q2k_chatml.parent]
    resources = _resources(models_repo, tmp_path, stack_home, allowed)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", [GEMMA_MODEL])
        first = dg.materialize(
            ASSETS,
            instance=instance,
            partition_key=GEMMA_MODEL,
            resources=resources,
            run_config=GEMMA_STAGING,
        )
        good = _quality(first)
        meta = _meta(good)
        assert good.passed and meta["status"] == "pass", good.description
        assert meta["case_count"] == 40 and "baseline_cached" not in meta  # nothing in production
        assert "without a baseline" in (good.description or "")
        # Production serves 1.0.0 (what a promotion leaves behind: revision + ledger alias).
        staged = first.asset_materializations_for_node(STAGING_DEPLOYMENT)[0].metadata
        revision, digest = staged["revision"].value, staged["digest"].value
        rt = LocalRuntime(stack_home)
        spec = rt.desired_spec("staging", GEMMA_MODEL)
        assert spec is not None
        rt.apply(DeploymentSpec(env="production", model=GEMMA_MODEL, revisions=spec.revisions))
        rt.wait_ready("production", GEMMA_MODEL, timeout_s=180)
        Ledger(open_store(str(tmp_path / "store"))).promote(
            LedgerEvent(
                kind="promoted", model=GEMMA_MODEL, env="production", version="1.0.0", digest=digest
            ),
            AliasTarget(version="1.0.0", digest=digest, revision=revision),
        )
        # Production must really be asked (not the staging run of the same digest).
        shutil.rmtree(baseline_cache_root(stack_home), ignore_errors=True)
        text = render_gemma_model_yaml(gemma_home).replace("version: 1.0.0", "version: 1.1.0")
        text = text.replace(
            json.dumps(str((gemma_home / "models" / GEMMA_MODEL).resolve())),
            json.dumps(str(gemma_q2k_chatml.resolve())),
        )
        models_repo.write(f"models/{GEMMA_MODEL}/model.yaml", text)
        models_repo.commit("gemma 1.1.0: Q2_K, ChatML template")
        second = dg.materialize(
            ASSETS,
            instance=instance,
            partition_key=GEMMA_MODEL,
            resources=resources,
            run_config=GEMMA_STAGING,
            raise_on_error=False,
        )
        assert not second.success
        held = _quality(second)
        meta = _meta(held)
        assert not held.passed and meta["status"] == "fail", held.description
        assert meta["lost"] >= 10 and meta["baseline_cached"] is False
        assert meta["baseline_revision"] == revision and meta["baseline_version"] == "1.0.0"
        assert meta["candidate_score"] < meta["baseline_score"]
        assert "lost: " in (held.description or "")
        assert "| case | candidate answered | production answered |" in meta["lost_cases"]
        assert meta["template_changed"] is True
        assert meta["production_template_sha256"] == "none"  # the packaged Gemma has none
        assert len(meta["candidate_template_sha256"]) == 64
        assert "+" + CHATML_TEMPLATE[:40] in meta["template_drift"]
        # The production gate reads the same check history and refuses this digest.
        evidence = staging_check_evidence(
            instance, GEMMA_MODEL, (CHECK_INTEGRATION_TESTS, CHECK_OUTPUT_QUALITY)
        )
        item = checks_item(evidence, digest=str(meta.get("baseline_digest")))
        assert not item.ok and "output_quality failed (fail against production 1.0.0" in item.reason
        # A checks-only re-check (as the SLO checks job runs them) against the unchanged
        # production answers from the cache.
        defs = dg.Definitions(
            assets=[staging_deployment],
            asset_checks=[output_quality],
            jobs=[
                dg.define_asset_job("quality", selection=dg.AssetSelection.checks(output_quality))
            ],
            resources=resources,
        )
        again = defs.resolve_job_def("quality").execute_in_process(
            instance=instance, tags={TAG_PARTITION: GEMMA_MODEL}, raise_on_error=False
        )
        assert _meta(_quality(again))["baseline_cached"] is True
