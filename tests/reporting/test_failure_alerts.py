"""Every failed run is announced, on its environment's webhook: real runs of the real Definitions
fail (invalid config, registration, staging, production, a crashed run), the run-failure sensor
is evaluated on each, and a local server on 127.0.0.1 plays Slack.

No ``from __future__ import annotations``: dagster reads the sensor's parameter annotations.
"""

import json
import logging
import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets.model_config import model_config
from assets.names import (
    MODEL_JOB,
    PRODUCTION_JOB,
    RUN_FAILURE_SENSOR,
    STAGING_DEPLOYMENT,
    TAG_AUTHOR,
    TAG_COMMIT,
    TAG_PARTITION,
)
from assets.registered_model import registered_model
from definitions import build_defs
from llm_platform.settings import Settings
from resources.artifact_store import LocalArtifactStore
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.registrar import LocalKfpRegistrarResource
from sensors.run_failure import run_failure_sensor
from tests.helpers.models_repo import ENV_YAML, ModelsRepo
from tests.helpers.promotion_fixtures import DEMO_WEIGHTS
from tests.helpers.security_fixtures import malicious_pickle
from tests.helpers.webhook_fixtures import SlackServer

GLOBAL, STAGING = "SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_STAGING"


def _env(name: str, webhook: str) -> str:
    return ENV_YAML.format(env=name).replace(
        "  prometheus_namespace: monitoring\n",
        f"  prometheus_namespace: monitoring\n  alert_manager_webhook: {webhook}\n",
    )


@pytest.fixture()
def platform(tmp_path: Path, slack_server: SlackServer, monkeypatch: pytest.MonkeyPatch):
    """A models repo (an invalid model, a model whose weights are missing), staging naming a
    webhook that is set, production naming one that is not; the full Definitions."""
    repo = ModelsRepo(tmp_path / "models-repo")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.write_model("bad", memory=4)  # 4 GiB for one GPU: invalid
    repo.write_model("nosrc")  # source weights/nosrc is not in the commit
    repo.write("config/staging.yaml", _env("staging", STAGING))
    repo.write("config/production.yaml", _env("production", "SLACK_WEBHOOK_PRODUCTION"))
    sha = repo.commit("two models")
    monkeypatch.setenv(GLOBAL, slack_server.url("global"))
    monkeypatch.setenv(STAGING, slack_server.url("staging"))
    monkeypatch.delenv("SLACK_WEBHOOK_PRODUCTION", raising=False)
    monkeypatch.setenv("LLM_PLATFORM_DAGSTER_URL", "http://dagster.example:3000")
    home = tmp_path / "home"
    settings = Settings.from_env(
        {
            "LLM_PLATFORM_MODELS_REPO": str(repo.path),
            "LLM_PLATFORM_HOME": str(home),
            "ARTIFACT_STORE_URI": str(home / "store"),
            GLOBAL: "set",
            STAGING: "set",
            "LLM_PLATFORM_DAGSTER_URL": "http://dagster.example:3000",
        }
    )
    assert settings.environment_webhook_vars == (STAGING,)
    defs = build_defs(settings)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["bad", "nosrc"])
        yield defs, instance, sha


def _announce(defs: dg.Definitions, instance: dg.DagsterInstance, run_id: str) -> None:
    """Evaluate the run-failure sensor on the run's failure event, as the daemon would."""
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    (record,) = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records
    with dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=record.event_log_entry.dagster_event,
        resources={"notifier": defs.resources["notifier"]},
    ) as context:
        run_failure_sensor(context.for_run_failure())


def _secrets_absent(instance: dg.DagsterInstance, server: SlackServer, *texts: str) -> None:
    dumped = list(texts)
    for run in instance.get_runs():
        dumped += [json.dumps(run.tags), str(run.run_config)]
        if run.job_snapshot_id:  # the resources' config as the UI shows it
            snapshot = dg.serialize_value(instance.get_job_snapshot(run.job_snapshot_id))
            assert f'{{\\"env\\": \\"{STAGING}\\"}}' in snapshot  # names, not values
            dumped.append(snapshot)
        dumped += [str(entry) for entry in instance.all_logs(run.run_id)]
    for name in ("global", "staging"):
        token = f"{name}SecretToken42"
        assert all(token not in text for text in dumped), f"{name} webhook URL leaked"
    assert server.received  # something was sent (the check above is not vacuous)


def test_every_failure_reaches_its_environment_webhook(
    platform,
    slack_server: SlackServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    defs, instance, sha = platform
    tags = {TAG_COMMIT: sha, TAG_AUTHOR: "alice"}

    # 1. invalid config: the blocking config_valid check stops the run at the config stage
    bad = defs.resolve_job_def(MODEL_JOB).execute_in_process(
        instance=instance, partition_key="bad", tags=tags, raise_on_error=False
    )
    _announce(defs, instance, bad.run_id)
    (text,) = slack_server.texts("global")
    assert text == (
        f":rotating_light: bad failed at config on {sha[:12]} by alice: "
        "check config_valid failed: 1 problem(s) in models/bad/model.yaml"
    )
    body = json.dumps(slack_server.received[-1][1])
    assert "memory_gb" in body  # the problem list reaches the channel
    assert f"http://dagster.example:3000/runs/{bad.run_id}" in body

    # 2. registration: the source is not in the commit
    nosrc = defs.resolve_job_def(MODEL_JOB).execute_in_process(
        instance=instance, partition_key="nosrc", tags=tags, raise_on_error=False
    )
    _announce(defs, instance, nosrc.run_id)
    text = slack_server.texts("global")[-1]
    assert text.startswith(f":rotating_light: nosrc failed at registration on {sha[:12]}")
    assert "weights/nosrc" in json.dumps(slack_server.received[-1][1])

    # 3. staging (nothing registered to deploy): the staging webhook, not the global one
    staging = defs.resolve_job_def(MODEL_JOB).execute_in_process(
        instance=instance,
        partition_key="bad",
        asset_selection=[dg.AssetKey(STAGING_DEPLOYMENT)],
        raise_on_error=False,
    )
    _announce(defs, instance, staging.run_id)
    (text,) = slack_server.texts("staging")
    assert text.startswith(":rotating_light: bad failed at staging")
    assert "registered_model was never materialized" in text
    # without a commit tag, the commit and author come from the model's latest config
    assert f"on {sha[:12]} by Test Author" in text

    # 4. production: config/production.yaml names a webhook that is not set -> global + warning
    before = len(slack_server.texts("global"))
    prod = defs.resolve_job_def(PRODUCTION_JOB).execute_in_process(
        instance=instance, partition_key="nosrc", raise_on_error=False
    )
    _announce(defs, instance, prod.run_id)
    assert len(slack_server.texts("global")) == before + 1
    assert "nosrc failed at production" in slack_server.texts("global")[-1]
    assert "never deployed to staging" in slack_server.texts("global")[-1]
    assert "names SLACK_WEBHOOK_PRODUCTION for alerts, but it is not set" in caplog.text

    # 5. a crashed run: failed from outside (run worker lost), no step failed
    run = instance.create_run_for_job(
        defs.resolve_job_def(PRODUCTION_JOB), tags={TAG_PARTITION: "nosrc"}
    )
    instance.report_run_failed(run, "run worker lost (exit code 137)")
    _announce(defs, instance, run.run_id)
    text = slack_server.texts("global")[-1]
    assert text.startswith(f":rotating_light: nosrc failed (production_job) on {sha[:12]}")
    assert "run worker lost (exit code 137)" in text

    assert len(slack_server.received) == 5
    _secrets_absent(instance, slack_server, caplog.text, repr(defs.resources["notifier"]))


def test_blocked_scan_is_announced_with_the_scan_verdict_once(
    models_repo: ModelsRepo,
    tmp_path: Path,
    slack_server: SlackServer,
) -> None:
    """A real kfp.local registration refuses a pickle that runs code: one message, the
    ``security_scan`` check's verdict as its reason (not repeated by the step's failure)."""
    shutil.copytree(DEMO_WEIGHTS / "tiny-shakespeare", models_repo.path / "weights" / "alpha")
    marker = tmp_path / "pwned"
    (models_repo.path / "weights/alpha/pytorch_model.bin").write_bytes(malicious_pickle(marker))
    sha = models_repo.commit("smuggle a pickle")
    notifier = NotifierResource(
        slack_webhook_url=slack_server.url("global"), models_repo=str(models_repo.path)
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = dg.materialize(
            [model_config, registered_model],
            instance=instance,
            partition_key="alpha",
            tags={TAG_COMMIT: sha, TAG_AUTHOR: "mallory"},
            resources={
                "models_repo": ModelsRepoResource(location=str(models_repo.path)),
                "artifact_store": LocalArtifactStore(root=str(tmp_path / "store")),
                "registrar": LocalKfpRegistrarResource(pipeline_root=str(tmp_path / "kfp")),
                "github": CommitStatusResource(),
            },
            raise_on_error=False,
        )
        _announce(dg.Definitions(resources={"notifier": notifier}), instance, result.run_id)
    assert not marker.exists()
    (text,) = slack_server.texts("global")
    assert text.startswith(
        f":rotating_light: alpha failed at registration on {sha[:12]} by mallory: "
        "check security_scan failed: "
    )
    reason = slack_server.received[0][1]["blocks"][2]["text"]["text"]
    assert "pytorch_model.bin" in reason
    first_line = reason.strip("`").splitlines()[0].removeprefix("check security_scan failed: ")
    assert reason.count(first_line) == 1  # the step's identical Failure is not repeated
