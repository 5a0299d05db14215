"""registered_model: model_config → kfp.local registration → store, with blocking checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets.model_config import model_config
from assets.names import (
    CHECK_ARTIFACT_INTEGRITY,
    CHECK_REPOSITORY_SCAN,
    CHECK_SECURITY_SCAN,
    REGISTERED_MODEL,
)
from assets.registered_model import registered_model
from llm_platform.common.digest import digest_directory
from resources.artifact_store import LocalArtifactStore
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.registrar import LocalKfpRegistrarResource
from tests.helpers.paths import DEMO_WEIGHTS
from tests.helpers.repo_scan_fixtures import plant_secrets
from tests.helpers.security_fixtures import malicious_pickle


@pytest.fixture
def repo_with_weights(models_repo):
    shutil.copytree(DEMO_WEIGHTS / "tiny-shakespeare", models_repo.path / "weights" / "alpha")
    models_repo.commit("alpha weights")
    return models_repo


def _resources(repo, tmp_path: Path) -> dict[str, object]:
    return {
        "models_repo": ModelsRepoResource(location=str(repo.path)),
        "artifact_store": LocalArtifactStore(root=str(tmp_path / "store")),
        "registrar": LocalKfpRegistrarResource(pipeline_root=str(tmp_path / "kfp")),
        "github": CommitStatusResource(),
    }


def _run(repo, tmp_path, instance, key="alpha"):
    return dg.materialize(
        [model_config, registered_model],
        instance=instance,
        partition_key=key,
        resources=_resources(repo, tmp_path),
        raise_on_error=False,
    )


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_register_demo_model_end_to_end(repo_with_weights, tmp_path):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = _run(repo_with_weights, tmp_path, instance)
        assert result.success
        mat = result.asset_materializations_for_node(REGISTERED_MODEL)[0]
        meta = {k: v.value for k, v in mat.metadata.items()}
        expected = digest_directory(repo_with_weights.path / "weights" / "alpha").digest
        assert meta["digest"] == expected
        assert meta["commit_sha"] == repo_with_weights.head()
        assert meta["file_count"] == 3 and meta["scan_safe"] is True
        assert meta["reused"] is False
        assert _checks(result) == {
            "config_valid": True,
            CHECK_SECURITY_SCAN: True,
            CHECK_REPOSITORY_SCAN: True,
            CHECK_ARTIFACT_INTEGRITY: True,
        }
        store_files = list((tmp_path / "store").rglob("model.safetensors"))
        assert len(store_files) == 1 and expected in str(store_files[0])
        # Same bytes again: nothing uploaded, same digest.
        again = _run(repo_with_weights, tmp_path, instance)
        meta2 = again.asset_materializations_for_node(REGISTERED_MODEL)[0].metadata
        assert meta2["digest"].value == expected and meta2["reused"].value is True
        # The only copy of the bytes is the store's: no export or run output is left behind.
        assert not list((tmp_path / "kfp").rglob("*.safetensors"))


def test_unsafe_artifact_fails_scan_check_and_stores_nothing(repo_with_weights, tmp_path):
    marker = tmp_path / "pwned"
    (repo_with_weights.path / "weights/alpha/pytorch_model.bin").write_bytes(
        malicious_pickle(marker)
    )
    repo_with_weights.commit("smuggle a pickle")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = _run(repo_with_weights, tmp_path, instance)
        assert not result.success
        assert _checks(result)[CHECK_SECURITY_SCAN] is False
        assert not result.asset_materializations_for_node(REGISTERED_MODEL)
        assert not list((tmp_path / "store").rglob("record.json"))
        assert not marker.exists()


def test_invalid_config_never_registers(repo_with_weights, tmp_path):
    repo_with_weights.write("models/alpha/model.yaml", "name: alpha\nversion: 1\n")
    repo_with_weights.commit("break alpha")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = _run(repo_with_weights, tmp_path, instance)
        assert not result.success
        assert not result.asset_materializations_for_node(REGISTERED_MODEL)
        # A later run of registration alone is refused too: the latest config is invalid.
        alone = dg.materialize(
            [registered_model],
            instance=instance,
            partition_key="alpha",
            resources=_resources(repo_with_weights, tmp_path),
            raise_on_error=False,
        )
        assert not alone.success
        failure = [e for e in alone.all_events if e.event_type_value == "STEP_FAILURE"][0]
        assert "invalid" in str(failure.event_specific_data.error)


def _check(result, name: str) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == name)


def test_leaked_secret_blocks_registration_without_showing_it(repo_with_weights, tmp_path):
    planted = plant_secrets(repo_with_weights, "alpha")
    shutil.copytree(DEMO_WEIGHTS / "tiny-shakespeare", repo_with_weights.path / "weights" / "beta")
    repo_with_weights.commit("leak a key")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha", "beta"])
        result = _run(repo_with_weights, tmp_path, instance)
        assert not result.success
        check = _check(result, CHECK_REPOSITORY_SCAN)
        assert check.passed is False
        meta = {k: v.value for k, v in check.metadata.items()}
        assert meta["blocking"] == 3 and meta["suppressed_by_baseline"] == 0
        assert "`models/alpha/serving.env` | 2 |" in meta["findings"]
        failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
        shown = str(meta) + str(failure.event_specific_data.error)
        assert "3 secret(s)" in shown
        logged = "".join(str(entry) for entry in instance.all_logs(result.run_id))
        for value in planted.values:
            assert value not in shown and value not in logged
        # Nothing was registered, not even the bytes.
        assert not result.asset_materializations_for_node(REGISTERED_MODEL)
        assert not list((tmp_path / "store").rglob("record.json"))
        # Another model of the same commit is not blocked by alpha's leak.
        beta = _run(repo_with_weights, tmp_path, instance, key="beta")
        assert beta.success and _check(beta, CHECK_REPOSITORY_SCAN).passed is True
