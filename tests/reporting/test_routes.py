"""Routing of notifications: the environment config names a webhook variable (never a URL), the
settings discover which are set, and each message follows its environment's route."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from llm_platform.config import ConfigError, parse_environment_config
from llm_platform.promotion import LedgerEvent
from llm_platform.reporting.announcements import build_message
from llm_platform.reporting.channels.slack import render_blocks
from llm_platform.reporting.failure_alerts import RunFailure, failure_message, run_url
from llm_platform.reporting.routes import (
    GLOBAL_WEBHOOK_ENV,
    LOG_ONLY,
    check_webhook_env_name,
    choose_route,
)
from llm_platform.settings import Settings, webhook_env_vars
from resources.notifier import NotifierResource
from tests.helpers.models_repo import ENV_YAML, ModelsRepo
from tests.helpers.webhook_fixtures import SlackServer

SECRET_URL = "https://hooks.slack.com/services/T000/B000/sEcReTtOkEn"


def _env_yaml(webhook: str) -> str:
    return ENV_YAML.format(env="production").replace(
        "  prometheus_namespace: monitoring\n",
        f"  prometheus_namespace: monitoring\n  alert_manager_webhook: {webhook}\n",
    )


def test_environment_config_names_a_variable() -> None:
    cfg = parse_environment_config(
        _env_yaml("SLACK_WEBHOOK_PRODUCTION"), source="config/production.yaml"
    )
    assert cfg.monitoring.alert_manager_webhook == "SLACK_WEBHOOK_PRODUCTION"


@pytest.mark.parametrize(
    "value", [f'"{SECRET_URL}"', "slack_webhook_production", "PAGERDUTY_KEY", "SLACK_WEBHOOK_"]
)
def test_a_url_or_other_variable_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_environment_config(_env_yaml(value), source="config/production.yaml")
    (problem,) = info.value.problems
    assert problem.field == "monitoring.alert_manager_webhook"
    assert problem.line is not None and problem.path == "config/production.yaml"
    assert "SLACK_WEBHOOK_<NAME>" in problem.message
    assert "sEcReTtOkEn" not in str(info.value) and "hooks.slack.com" not in str(info.value)
    if "://" in value:
        assert "got a URL" in problem.message


def test_check_name_accepts_only_the_prefix() -> None:
    assert check_webhook_env_name("SLACK_WEBHOOK_STAGING_EU") == "SLACK_WEBHOOK_STAGING_EU"
    with pytest.raises(ValueError, match="value not shown"):
        check_webhook_env_name(SECRET_URL)


def test_route_prefers_the_environment_then_global_then_log() -> None:
    both = {GLOBAL_WEBHOOK_ENV, "SLACK_WEBHOOK_PRODUCTION"}
    assert choose_route("SLACK_WEBHOOK_PRODUCTION", available=both).destination == (
        "SLACK_WEBHOOK_PRODUCTION"
    )
    assert choose_route(None, available=both).destination == GLOBAL_WEBHOOK_ENV
    assert choose_route(None, available=set()).destination == LOG_ONLY
    assert not choose_route(None, available=set()).is_slack
    typo = choose_route("SLACK_WEBHOOK_PRODUCTON", available=both, environment="production")
    assert typo.destination == GLOBAL_WEBHOOK_ENV and typo.is_slack
    assert typo.problem is not None
    assert "config/production.yaml names SLACK_WEBHOOK_PRODUCTON" in typo.problem
    unset = choose_route("SLACK_WEBHOOK_PRODUCTION", available=set(), environment="production")
    assert unset.destination == LOG_ONLY and unset.problem


def test_settings_discover_webhook_variable_names_only(tmp_path: Any) -> None:
    env = {
        "SLACK_WEBHOOK_URL": SECRET_URL,
        "SLACK_WEBHOOK_PRODUCTION": SECRET_URL + "p",
        "SLACK_WEBHOOK_STAGING": "",  # set but empty: not a webhook
        "SLACK_WEBHOOK_lower": "x",
        "LLM_PLATFORM_DAGSTER_URL": "https://dagster.example.com/",
    }
    assert webhook_env_vars(env) == ("SLACK_WEBHOOK_PRODUCTION",)
    settings = Settings.from_env(env, cwd=tmp_path)
    assert settings.slack_webhook_set
    assert settings.environment_webhook_vars == ("SLACK_WEBHOOK_PRODUCTION",)
    assert settings.dagster_url == "https://dagster.example.com"
    assert "sEcReTtOkEn" not in settings.model_dump_json()
    assert Settings.from_env({}, cwd=tmp_path).dagster_url == "http://127.0.0.1:3000"


def test_failure_message_carries_everything() -> None:
    failure = RunFailure(
        run_id="0123456789abcdef",
        job="model_job",
        model="llama",
        stage="registration",
        step="registered_model",
        commit_sha="c" * 40,
        author="alice",
        reason="security scan: weights/evil.pkl imports os.system\nsecond line",
        run_url=run_url("http://ui.example/", "0123456789abcdef"),
    )
    message = failure_message(failure)
    assert message.severity == "error" and message.kind == "run_failed"
    assert message.text == (
        ":rotating_light: llama failed at registration on cccccccccccc by alice: "
        "security scan: weights/evil.pkl imports os.system"
    )
    rendered = str(render_blocks(message))
    assert "<http://ui.example/runs/0123456789abcdef|01234567>" in rendered
    assert "second line" in rendered and "`registered_model`" in rendered
    assert failure.environment is None  # registration belongs to no environment
    staging = failure.model_copy(update={"stage": "staging"})
    assert staging.environment == "staging"
    crashed = RunFailure(run_id="r" * 16, job="production_job", reason="worker died", run_url="u")
    assert failure_message(crashed).text == (
        ":rotating_light: production_job failed (production_job): worker died"
    )


# --- the resource routes ledger events by config/<env>.yaml at the branch head ---------------


def test_resource_routes_each_environment(
    tmp_path: Any,
    slack_server: SlackServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    repo = ModelsRepo(tmp_path / "repo")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.write("config/production.yaml", _env_yaml("SLACK_WEBHOOK_PRODUCTION"))
    repo.write("config/staging.yaml", ENV_YAML.format(env="staging"))  # names none
    repo.commit("environments")
    notifier = NotifierResource(
        slack_webhook_url=slack_server.url("global"),
        environment_webhooks={"SLACK_WEBHOOK_PRODUCTION": slack_server.url("production")},
        models_repo=str(repo.path),
        dagster_url="http://ui.example",
    )
    promoted = LedgerEvent(kind="promoted", model="llama", env="production", run_id="abcdef12345")
    assert notifier.notify(promoted)
    assert notifier.notify(promoted.model_copy(update={"env": "staging", "kind": "deployed"}))
    assert slack_server.texts("production") == [build_message(promoted).text]
    assert len(slack_server.texts("global")) == 1
    assert "<http://ui.example/runs/abcdef12345|abcdef12>" in json.dumps(slack_server.received[0])
    # A merged change of the routing takes effect with the next message.
    repo.write("config/production.yaml", _env_yaml("SLACK_WEBHOOK_PRODUCTION_EU"))
    repo.commit("production alerts to the EU channel (not set here)")
    assert notifier.notify(promoted)
    assert len(slack_server.texts("global")) == 2 and len(slack_server.texts("production")) == 1
    assert "names SLACK_WEBHOOK_PRODUCTION_EU for alerts, but it is not set" in caplog.text
    # An unreadable environment config never loses the message either.
    assert notifier.notify(promoted.model_copy(update={"env": "canary"}))
    assert len(slack_server.texts("global")) == 3
    assert "alerts for canary go to the global webhook" in caplog.text
    for name in ("global", "production"):
        assert f"{name}SecretToken42" not in caplog.text + repr(notifier) + str(notifier)
    assert "environment_webhooks=SLACK_WEBHOOK_PRODUCTION" in repr(notifier)


def test_recovery_message() -> None:
    recovered = LedgerEvent(
        kind="recovered", model="llama", env="production", version="1.0.0", reason="SLOs pass"
    )
    message = build_message(recovered)
    assert message.severity == "success"
    assert message.text == (
        ":white_check_mark: llama 1.0.0 (-) passes its checks again in production: SLOs pass"
    )


def test_failure_stages_are_the_pipeline_stages_plus_run() -> None:
    from typing import get_args

    from llm_platform.reporting.commit_status import Stage as PipelineStage
    from llm_platform.reporting.failure_alerts import STAGE_ENVIRONMENT, Stage

    assert list(get_args(Stage)) == [*PipelineStage, "run"] == list(STAGE_ENVIRONMENT)
