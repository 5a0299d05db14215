"""Commit statuses posted through githubkit to a local server that answers like the GitHub API,
from the client up to a materialized ``model_config`` (no network: 127.0.0.1 only)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets.model_config import model_config
from assets.names import MODEL_CONFIG, STAGING_DEPLOYMENT, TAG_COMMIT, TAG_PARTITION
from assets.slo_checks import staging_slo_checks
from assets.staging import staging_deployment
from definitions import build_resources
from llm_platform.reporting.commit_status import Stage, config_valid, pending
from llm_platform.reporting.github_client import (
    CommitStatusPoster,
    repository_for_models_repo,
    repository_from_remote,
)
from llm_platform.settings import Settings
from resources.artifact_store import LocalArtifactStore
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource
from resources.runtime import LocalRuntimeResource
from tests.conftest import ModelsRepo
from tests.helpers.github_fixtures import FakeGitHub
from tests.helpers.loopback_http import closed_port_url
from tests.helpers.prom_fixtures import Scenario, aligned_now, p95_from, start_with_history

TOKEN = "ghp_test0123456789abcdefSECRET"
SHA = "a" * 40


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token=TOKEN).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def enterprise() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token=TOKEN, prefix="/api/v3").start()
    try:
        yield fake
    finally:
        fake.stop()


def poster(api_url: str, sleeps: list[float], **kwargs: object) -> CommitStatusPoster:
    return CommitStatusPoster(
        token=TOKEN,
        repository="acme/models",
        api_url=api_url,
        sleep=sleeps.append,
        **kwargs,  # type: ignore[arg-type]
    )


# --- the client ---------------------------------------------------------------------------------


def test_posts_state_context_description_and_run_link(github: FakeGitHub) -> None:
    sleeps: list[float] = []
    outcome = poster(github.api_url, sleeps).post(
        config_valid("mistral-7b", version="0.3.1"), sha=SHA, target_url="http://ui/runs/r1"
    )
    assert outcome.posted and outcome.attempts == 1 and sleeps == []
    (request,) = github.requests
    assert request.path == f"/repos/acme/models/statuses/{SHA}"
    assert request.headers["authorization"] == f"token {TOKEN}"
    assert request.body == {
        "state": "success",
        "context": "llm-platform/config/mistral-7b",
        "description": "valid: mistral-7b 0.3.1",
        "target_url": "http://ui/runs/r1",
    }


def test_enterprise_base_url_is_used(enterprise: FakeGitHub) -> None:
    outcome = poster(enterprise.api_url, []).post(
        pending(Stage.production, "m"), sha=SHA, target_url=None
    )
    assert outcome.posted
    assert enterprise.requests[0].path == f"/api/v3/repos/acme/models/statuses/{SHA}"


def test_server_error_then_success_is_retried_with_backoff(github: FakeGitHub) -> None:
    github.fail_next = [502, 500]
    sleeps: list[float] = []
    outcome = poster(github.api_url, sleeps, backoff_s=0.5).post(
        pending(Stage.staging, "m"), sha=SHA, target_url=None
    )
    assert outcome.posted and outcome.attempts == 3
    assert sleeps == [0.5, 1.0]
    assert [r.answered for r in github.requests] == [502, 500, 201]


def test_persistent_server_error_gives_up_after_the_bound(
    github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    github.fail_next = [503] * 10
    sleeps: list[float] = []
    with caplog.at_level(logging.DEBUG):
        outcome = poster(github.api_url, sleeps, attempts=4).post(
            pending(Stage.staging, "m"), sha=SHA, target_url=None
        )
    assert not outcome.posted and outcome.attempts == 4 and outcome.status_code == 503
    assert len(github.requests) == 4 and len(sleeps) == 3
    assert "HTTP 503" in (outcome.error or "")
    assert TOKEN not in caplog.text and TOKEN not in (outcome.error or "")


def test_client_errors_are_not_retried(github: FakeGitHub) -> None:
    sleeps: list[float] = []
    bad_token = CommitStatusPoster(
        token="wrong", repository="acme/models", api_url=github.api_url, sleep=sleeps.append
    )
    outcome = bad_token.post(pending(Stage.config, "m"), sha=SHA, target_url=None)
    assert not outcome.posted and outcome.status_code == 401 and outcome.attempts == 1
    assert sleeps == [] and "Bad credentials" in (outcome.error or "")


def test_unreachable_server_is_bounded_and_quiet_about_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleeps: list[float] = []
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        outcome = poster(closed_port_url(), sleeps, timeout_s=2.0).post(
            pending(Stage.config, "m"), sha=SHA, target_url=None
        )
    assert not outcome.posted and outcome.attempts == 3 and outcome.status_code is None
    assert "Connect" in (outcome.error or "")
    assert time.monotonic() - started < 10
    assert TOKEN not in caplog.text


def test_token_never_in_repr() -> None:
    client = CommitStatusPoster(token=TOKEN, repository="acme/models")
    assert TOKEN not in repr(client) and TOKEN not in str(client)
    resource = CommitStatusResource(token=TOKEN)
    assert TOKEN not in repr(resource) and TOKEN not in str(resource)


@pytest.mark.parametrize(
    ("remote", "api_url", "expected"),
    [
        ("https://github.com/acme/models.git", "https://api.github.com", "acme/models"),
        ("git@github.com:acme/models.git", "https://api.github.com", "acme/models"),
        ("ssh://git@github.com/acme/models", "https://api.github.com", "acme/models"),
        ("https://ghe.corp.example/ml/models.git", "https://ghe.corp.example/api/v3", "ml/models"),
        ("https://gitlab.com/acme/models.git", "https://api.github.com", None),
        ("https://github.com/acme/models/extra", "https://api.github.com", None),
        ("/srv/git/models", "https://api.github.com", None),
    ],
)
def test_repository_from_remote(remote: str, api_url: str, expected: str | None) -> None:
    assert repository_from_remote(remote, api_url=api_url) == expected


def test_repository_of_a_local_models_repo_comes_from_its_origin(models_repo: ModelsRepo) -> None:
    assert repository_for_models_repo(str(models_repo.path)) is None  # no origin yet
    models_repo.git("remote", "add", "origin", "git@github.com:acme/models.git")
    assert repository_for_models_repo(str(models_repo.path)) == "acme/models"


# --- the resource in Dagster runs ---------------------------------------------------------------


def materialize(repo: ModelsRepo, instance: dg.DagsterInstance, key: str, github_resource):  # noqa: ANN001, ANN201
    return dg.materialize(
        [model_config],
        instance=instance,
        partition_key=key,
        resources={
            "models_repo": ModelsRepoResource(location=str(repo.path)),
            "github": github_resource,
        },
        tags={TAG_COMMIT: repo.head()},
        raise_on_error=False,
    )


def resource_for(api_url: str, **kwargs: object) -> CommitStatusResource:
    return CommitStatusResource(
        token=TOKEN,
        api_url=api_url,
        repository="acme/models",
        dagster_url="http://127.0.0.1:3000/",
        backoff_seconds=0.0,
        **kwargs,  # type: ignore[arg-type]
    )


def test_model_config_reports_pending_then_success_with_the_run_url(
    models_repo: ModelsRepo, github: FakeGitHub
) -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = materialize(models_repo, instance, "alpha", resource_for(github.api_url))
        assert result.success
    head = models_repo.head()
    statuses = github.statuses()
    assert [(s["state"], s["context"]) for s in statuses] == [
        ("pending", "llm-platform/config/alpha"),
        ("success", "llm-platform/config/alpha"),
    ]
    assert all(s["path"] == f"/repos/acme/models/statuses/{head}" for s in statuses)
    assert statuses[1]["target_url"] == f"http://127.0.0.1:3000/runs/{result.run_id}"
    assert statuses[1]["description"] == "valid: alpha 1.0.0"


def test_invalid_config_is_a_failure_status_naming_the_line(
    models_repo: ModelsRepo, github: FakeGitHub
) -> None:
    text = (models_repo.path / "models/beta/model.yaml").read_text()
    models_repo.write("models/beta/model.yaml", text.replace("memory_gb: 16", "memory_gb: 4"))
    models_repo.commit("too little memory")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["beta"])
        materialize(models_repo, instance, "beta", resource_for(github.api_url))
    final = github.statuses()[-1]
    line = next(
        n
        for n, t in enumerate(
            (models_repo.path / "models/beta/model.yaml").read_text().splitlines(), 1
        )
        if "memory_gb" in t
    )
    assert final["state"] == "failure"
    assert final["description"].startswith(f"invalid: line {line}: resources.memory_gb: ")


def test_a_crash_after_the_commit_is_known_reports_error(
    models_repo: ModelsRepo, github: FakeGitHub
) -> None:
    models_repo.git("rm", "-q", "models/beta/model.yaml")
    models_repo.commit("delete beta's config")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["beta"])
        result = materialize(models_repo, instance, "beta", resource_for(github.api_url))
        assert not result.success
    states = [(s["state"], s["description"]) for s in github.statuses()]
    assert states[0] == ("pending", "validating model.yaml")
    assert states[1][0] == "error" and states[1][1].startswith("error: models/beta/model.yaml")


def test_a_5xx_then_success_still_lands_and_the_run_succeeds(
    models_repo: ModelsRepo, github: FakeGitHub
) -> None:
    github.fail_next = [500]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = materialize(models_repo, instance, "alpha", resource_for(github.api_url))
        assert result.success
    assert [r.answered for r in github.requests] == [500, 201, 201]
    assert [s["state"] for s in github.statuses()] == ["pending", "success"]


def test_an_unreachable_github_never_fails_the_run(models_repo: ModelsRepo) -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        resource = resource_for(closed_port_url(), attempts=2, timeout_seconds=2.0)
        result = materialize(models_repo, instance, "alpha", resource)
        assert result.success
        mat = result.asset_materializations_for_node(MODEL_CONFIG)[0]
        assert mat.metadata["valid"].value is True
        logs = "\n".join(
            e.message or "" for e in instance.all_logs(result.run_id) if e.message is not None
        )
    assert "not posted after 2 attempt(s)" in logs
    assert TOKEN not in logs


def test_off_without_a_token(models_repo: ModelsRepo, github: FakeGitHub) -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        off = CommitStatusResource(api_url=github.api_url, repository="acme/models")
        assert materialize(models_repo, instance, "alpha", off).success
    assert github.requests == []


def test_composition_root_reads_the_token_through_envvar(tmp_path: Path) -> None:
    env = {
        "LLM_PLATFORM_HOME": str(tmp_path / "home"),
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": "https://ghe.corp.example/api/v3",
        "LLM_PLATFORM_GITHUB_REPOSITORY": "ml/models",
        "LLM_PLATFORM_DAGSTER_URL": "https://dagster.corp.example/",
    }
    resource = build_resources(Settings.from_env(env, cwd=tmp_path))["github"]
    assert isinstance(resource, CommitStatusResource)
    assert isinstance(resource.token, dg.EnvVar) and resource.token.env_var_name == "GITHUB_TOKEN"
    assert resource.api_url == "https://ghe.corp.example/api/v3"
    assert resource.repository == "ml/models"
    assert resource.dagster_url == "https://dagster.corp.example"
    off = build_resources(Settings.from_env({"LLM_PLATFORM_HOME": str(tmp_path)}, cwd=tmp_path))
    assert off["github"].token is None  # type: ignore[attr-defined]


@pytest.mark.integration
def test_staging_slo_checks_report_held_with_value_and_threshold(
    models_repo: ModelsRepo, github: FakeGitHub, tmp_path: Path
) -> None:
    """The staging SLO verdict from a real Prometheus reaches the deployed commit."""
    text = (models_repo.path / "models/alpha/model.yaml").read_text()
    models_repo.write("models/alpha/model.yaml", text + "slo:\n  latency_p95_ms: 1500\n")
    head = models_repo.commit("alpha: tighter latency objective")
    slow = {1.0: 0.5, 2.5: 0.8, 5.0: 0.99}
    scenario = Scenario("alpha", "staging", cumulative=slow, labels={"revision": "r1"})
    prometheus = start_with_history(tmp_path / "prom", [scenario], end=aligned_now(), steps=40)
    checks_job = dg.define_asset_job(
        "staging_checks", selection=dg.AssetSelection.checks(staging_slo_checks)
    )
    home = tmp_path / "home"
    try:
        defs = dg.Definitions(
            assets=[model_config, staging_deployment],
            asset_checks=[staging_slo_checks],
            jobs=[checks_job],
            resources={
                "models_repo": ModelsRepoResource(location=str(models_repo.path)),
                "github": resource_for(github.api_url),
                "prometheus": PrometheusResource(url=prometheus.url, home=str(home)),
                "notifier": NotifierResource(),
                "artifact_store": LocalArtifactStore(root=str(tmp_path / "store")),
                "runtime": LocalRuntimeResource(home=str(home)),
            },
        )
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("models", ["alpha"])
            assert materialize(models_repo, instance, "alpha", resource_for(github.api_url)).success
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=STAGING_DEPLOYMENT,
                    partition="alpha",
                    metadata={
                        "revision": "r1",
                        "version": "1.0.0",
                        "digest": "d" * 64,
                        "commit_sha": head,
                        "deployed_at_unix": 0.0,
                    },
                )
            )
            result = defs.resolve_job_def("staging_checks").execute_in_process(
                instance=instance, tags={TAG_PARTITION: "alpha"}, raise_on_error=False
            )
            run_id = result.run_id
    finally:
        prometheus.stop()
    staging = [s for s in github.statuses() if s["context"] == "llm-platform/staging/alpha"]
    assert len(staging) == 1, github.statuses()
    (status,) = staging
    assert status["path"] == f"/repos/acme/models/statuses/{head}"
    assert status["state"] == "failure"
    match = re.fullmatch(r"held: slo_latency_p95 ([0-9.]+) ms > 1500 ms", status["description"])
    assert match, status["description"]
    assert float(match.group(1)) == pytest.approx(p95_from(slow) * 1000, rel=0.02)
    assert status["target_url"] == f"http://127.0.0.1:3000/runs/{run_id}"


def test_unknown_repository_is_logged_and_the_run_succeeds(models_repo: ModelsRepo) -> None:
    resource = CommitStatusResource(token=TOKEN, models_repo=str(models_repo.path))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", ["alpha"])
        result = materialize(models_repo, instance, "alpha", resource)
        assert result.success
        logs = "\n".join(e.message or "" for e in instance.all_logs(result.run_id))
    assert "no GitHub repository: set LLM_PLATFORM_GITHUB_REPOSITORY" in logs
    assert TOKEN not in logs
