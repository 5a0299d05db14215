"""The Dagster layer of the foundation: the model_config asset and the git-push sensor.

How the Definitions load and what they wire: ``test_definitions_wiring.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from assets.model_config import model_config
from assets.names import CHECK_CONFIG_VALID, MODEL_CONFIG, TAG_AUTHOR, TAG_COMMIT, TAG_SUBJECT
from definitions import build_defs
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from sensors.git_push import git_push_sensor
from tests.helpers.models_repo import ModelsRepo, repo_settings
from tests.helpers.sensor_fixtures import sensor_tick


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None):
    return sensor_tick(git_push_sensor, defs, instance, cursor)


def _partitions(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.get_dynamic_partitions("models"))


def _apply_partition_requests(instance: dg.DagsterInstance, result) -> None:
    for req in result.dynamic_partitions_requests or []:
        if isinstance(req, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        else:
            for key in req.partition_keys:
                instance.delete_dynamic_partition(req.partitions_def_name, key)


@contextmanager
def _after_first_tick(
    models_repo: ModelsRepo, tmp_path: Path
) -> Iterator[tuple[dg.Definitions, dg.DagsterInstance, str | None]]:
    """The Definitions on ``models_repo`` and an instance that has run the sensor's first tick
    (its partitions added); yields them and that tick's cursor."""
    defs = build_defs(repo_settings(models_repo, tmp_path / "h"))
    with dg.instance_for_test() as instance:
        first = _tick(defs, instance, None)
        _apply_partition_requests(instance, first)
        yield defs, instance, first.cursor


def test_first_tick_processes_all_models_and_adds_partitions(models_repo, tmp_path):
    defs = build_defs(repo_settings(models_repo, tmp_path / "h"))
    with dg.instance_for_test() as instance:
        result = _tick(defs, instance, None)
        head = models_repo.head()
        assert result.cursor == head
        keys = sorted(r.partition_key for r in result.run_requests)
        assert keys == ["alpha", "beta"]
        assert {r.run_key for r in result.run_requests} == {f"alpha:{head}", f"beta:{head}"}
        tags = result.run_requests[0].tags
        assert tags[TAG_COMMIT] == head
        assert tags[TAG_AUTHOR] == "Test Author"
        assert tags[TAG_SUBJECT] == "initial models"
        added = [
            k
            for r in result.dynamic_partitions_requests
            if isinstance(r, dg.AddDynamicPartitionsRequest)
            for k in r.partition_keys
        ]
        assert sorted(added) == ["alpha", "beta"]


def test_push_touching_one_model_requests_exactly_that_model(models_repo, tmp_path):
    with _after_first_tick(models_repo, tmp_path) as (defs, instance, cursor):
        models_repo.write_model("alpha", version="1.1.0")
        head = models_repo.commit("bump alpha")
        second = _tick(defs, instance, cursor)
        assert [r.partition_key for r in second.run_requests] == ["alpha"]
        assert second.run_requests[0].run_key == f"alpha:{head}"
        assert second.cursor == head
        assert not second.dynamic_partitions_requests
        # Nothing new: the sensor skips.
        third = _tick(defs, instance, second.cursor)
        assert not third.run_requests
        assert third.skip_message and "no new commits" in third.skip_message


def test_deleted_model_partition_removed_new_model_added_same_tick(models_repo, tmp_path):
    with _after_first_tick(models_repo, tmp_path) as (defs, instance, cursor):
        models_repo.git("rm", "-rq", "models/beta")
        models_repo.write_model("gamma")
        models_repo.commit("drop beta, add gamma")
        second = _tick(defs, instance, cursor)
        assert [r.partition_key for r in second.run_requests] == ["gamma"]
        reqs = second.dynamic_partitions_requests
        adds = [
            k
            for r in reqs
            if isinstance(r, dg.AddDynamicPartitionsRequest)
            for k in r.partition_keys
        ]
        dels = [
            k
            for r in reqs
            if isinstance(r, dg.DeleteDynamicPartitionsRequest)
            for k in r.partition_keys
        ]
        assert adds == ["gamma"] and dels == ["beta"]
        _apply_partition_requests(instance, second)
        assert _partitions(instance) == {"alpha", "gamma"}


def test_force_push_triggers_full_rescan_instead_of_failing(models_repo, tmp_path):
    with _after_first_tick(models_repo, tmp_path) as (defs, instance, cursor):
        models_repo.write_model("alpha", version="2.0.0")
        lost = models_repo.commit("to be rewritten")
        mid = _tick(defs, instance, cursor)
        assert mid.cursor == lost
        models_repo.git("reset", "-q", "--hard", "HEAD~1")
        models_repo.write_model("beta", version="3.0.0")
        head = models_repo.commit("rewritten history")
        models_repo.git("reflog", "expire", "--expire=now", "--all")
        models_repo.git("gc", "-q", "--prune=now")
        result = _tick(defs, instance, lost)
        assert result.cursor == head
        assert sorted(r.partition_key for r in result.run_requests) == ["alpha", "beta"]


def test_environment_config_change_runs_every_model(models_repo, tmp_path):
    with _after_first_tick(models_repo, tmp_path) as (defs, instance, cursor):
        text = (models_repo.path / "config/staging.yaml").read_text()
        models_repo.write("config/staging.yaml", text.replace("max_replicas: 5", "max_replicas: 6"))
        models_repo.commit("staging: more replicas")
        result = _tick(defs, instance, cursor)
        assert sorted(r.partition_key for r in result.run_requests) == ["alpha", "beta"]


def _materialize(repo: ModelsRepo, instance, key: str, tags: dict[str, str] | None = None):
    return dg.materialize(
        [model_config],
        instance=instance,
        partition_key=key,
        resources={
            "models_repo": ModelsRepoResource(location=str(repo.path)),
            "github": CommitStatusResource(),
        },
        tags=tags,
        raise_on_error=False,
    )


def _check_evaluation(result) -> dg.AssetCheckEvaluation:
    evals = result.get_asset_check_evaluations()
    assert len(evals) == 1 and evals[0].check_name == CHECK_CONFIG_VALID
    return evals[0]


def test_model_config_valid_partition_records_metadata(models_repo):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        head = models_repo.head()
        result = _materialize(models_repo, instance, "alpha", {TAG_COMMIT: head})
        assert result.success
        mat = result.asset_materializations_for_node(MODEL_CONFIG)[0]
        meta = {k: v.value for k, v in mat.metadata.items()}
        assert meta["valid"] is True
        assert meta["version"] == "1.0.0"
        assert meta["commit_sha"] == head
        assert meta["gpu_count"] == 1 and meta["memory_gb"] == 16.0
        assert len(meta["config_hash"]) == 64
        cluster_only = meta["cluster_only_settings"]
        assert "applies on the kubernetes target" in cluster_only, cluster_only
        assert "autoscaling.max_replicas" in cluster_only, cluster_only
        assert _check_evaluation(result).passed


def test_model_config_reads_the_commit_of_the_run_not_the_branch_head(models_repo):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        old = models_repo.head()
        models_repo.write_model("alpha", version="9.9.9")
        models_repo.commit("newer")
        result = _materialize(models_repo, instance, "alpha", {TAG_COMMIT: old})
        mat = result.asset_materializations_for_node(MODEL_CONFIG)[0]
        assert mat.metadata["version"].value == "1.0.0"
        # A manual launch (no commit tag) works on the branch head.
        result = _materialize(models_repo, instance, "alpha")
        mat = result.asset_materializations_for_node(MODEL_CONFIG)[0]
        assert mat.metadata["version"].value == "9.9.9"


def test_invalid_partition_fails_its_check_with_messages_others_unaffected(models_repo):
    models_repo.write(
        "models/beta/model.yaml",
        (models_repo.path / "models/beta/model.yaml")
        .read_text()
        .replace("memory_gb: 16", "memory_gb: 4")
        .replace("architecture: transformer", "architecture: transformer\nfoo: 1"),
    )
    models_repo.commit("break beta")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha", "beta"])
        bad = _materialize(models_repo, instance, "beta")
        check = _check_evaluation(bad)
        assert not check.passed
        problems = check.metadata["problems"].value
        assert "models/beta/model.yaml" in problems
        assert "foo" in problems and "memory" in problems
        good = _materialize(models_repo, instance, "alpha")
        assert good.success and _check_evaluation(good).passed


def test_blocking_config_check_stops_downstream_in_the_same_run(models_repo):
    @dg.asset(partitions_def=model_config.partitions_def, deps=[model_config])
    def downstream() -> None:
        raise AssertionError("must not run after a failed blocking config check")

    models_repo.write("models/beta/model.yaml", "name: beta\nversion: nope\n")
    models_repo.commit("break beta")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["beta"])
        result = dg.materialize(
            [model_config, downstream],
            instance=instance,
            partition_key="beta",
            resources={
                "models_repo": ModelsRepoResource(location=str(models_repo.path)),
                "github": CommitStatusResource(),
            },
            raise_on_error=False,
        )
        assert not result.success
        assert not result.asset_materializations_for_node("downstream")


def test_missing_model_file_fails_with_path(models_repo):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["ghost"])
        result = _materialize(models_repo, instance, "ghost")
        assert not result.success
        failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
        assert "models/ghost/model.yaml" in str(failure.event_specific_data.error)


def _run_requests_as_the_demo(defs: dg.Definitions, instance: dg.DagsterInstance, result) -> None:
    """Launch a tick's requests in process, as ``make demo`` does (model_config step only)."""
    job = defs.resolve_job_def("model_job").get_subset(asset_selection={dg.AssetKey(MODEL_CONFIG)})
    for req in result.run_requests or []:
        run = job.execute_in_process(
            instance=instance, partition_key=req.partition_key, tags=req.tags
        )
        assert run.success and run.dagster_run.job_name == "model_job"


def test_a_tick_without_cursor_resumes_where_the_runs_in_the_instance_stopped(
    models_repo, tmp_path
):
    """`make dev` after `make demo`: the daemon's sensor state starts empty, the instance holds
    the demo's runs; the first tick must not re-run every model."""
    defs = build_defs(repo_settings(models_repo, tmp_path / "h"))
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        first = _tick(defs, instance, None)
        _apply_partition_requests(instance, first)
        _run_requests_as_the_demo(defs, instance, first)
        models_repo.write("models/alpha/README.md", "alpha notes\n")
        models_repo.commit("alpha notes")
        second = _tick(defs, instance, first.cursor)
        assert [r.partition_key for r in second.run_requests] == ["alpha"]
        _run_requests_as_the_demo(defs, instance, second)
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the daemon, no cursor yet
        daemon = _tick(defs, instance, None)
        assert not daemon.run_requests and daemon.cursor == models_repo.head()
        models_repo.write("models/beta/README.md", "beta notes\n")
        models_repo.commit("beta notes")
        assert [r.partition_key for r in _tick(defs, instance, None).run_requests] == ["beta"]
        assert [r.partition_key for r in _tick(defs, instance, daemon.cursor).run_requests] == [
            "beta"
        ]
