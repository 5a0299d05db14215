"""A secured Prometheus: bearer token and extra headers from environment variables, never logged.

Two real servers: Prometheus 2.42 itself enforcing basic auth (``--web.config.file``), and, since
Prometheus cannot demand a bearer token, a loopback reverse proxy in front of a real Prometheus
that answers 401 unless the request carries ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import base64
import crypt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from llm_platform.config import SLOObjectives
from llm_platform.settings import PROMETHEUS_BEARER_TOKEN_ENV, PROMETHEUS_HEADERS_ENV
from llm_platform.slo import PrometheusError, evaluate
from llm_platform.slo.endpoint import PrometheusAuthConfigError, auth_headers, connect
from resources.prometheus import PrometheusResource
from tests.helpers.config_fixtures import env_dict, model_dict, to_yaml
from tests.helpers.loopback_http import LoopbackServer, QuietHandler
from tests.helpers.prom_fixtures import PrometheusProcess, Scenario, aligned_now, start_with_history

pytestmark = pytest.mark.integration

TOKEN = "tok-3f9a1c77e2"
USER, PASSWORD = "slo-reader", "pw-8c1d0e"
MODEL, NS = "llama-3-1-8b", "staging"
OBJ = SLOObjectives(window="30m", availability=0.99, min_requests=100)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, int]]:
    """A real Prometheus with one healthy model's history, open (the proxy secures it)."""
    end = aligned_now()
    prom = start_with_history(
        tmp_path_factory.mktemp("open"), [Scenario(MODEL, NS)], end=end, steps=240
    )
    yield prom, end
    prom.stop()


class _BearerProxy(QuietHandler):
    """401 without the right bearer token; otherwise forwards the GET to Prometheus."""

    def do_GET(self) -> None:  # noqa: N802
        server = self.server
        server.seen.append(dict(self.headers))  # type: ignore[attr-defined]
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            status, body = 401, b'{"status":"error","error":"unauthorized"}'
        else:
            with httpx.Client(trust_env=False, timeout=10) as client:
                upstream = client.get(server.upstream + self.path)  # type: ignore[attr-defined]
            status, body = upstream.status_code, upstream.content
        self.reply(status, body, {"Content-Type": "application/json"})


@pytest.fixture()
def proxy(history: tuple[PrometheusProcess, int]) -> Iterator[tuple[str, list[dict[str, str]]]]:
    with LoopbackServer(_BearerProxy) as loopback:
        loopback.server.upstream = history[0].url  # type: ignore[attr-defined]
        loopback.server.seen = []  # type: ignore[attr-defined]
        yield loopback.url, loopback.server.seen  # type: ignore[attr-defined]


def _at(history: tuple[PrometheusProcess, int]) -> datetime:
    return datetime.fromtimestamp(history[1], tz=UTC)


def test_bearer_token_from_the_environment_reaches_prometheus(
    proxy: tuple[str, list[dict[str, str]]], history: tuple[PrometheusProcess, int]
) -> None:
    url, seen = proxy
    env = {PROMETHEUS_BEARER_TOKEN_ENV: TOKEN, PROMETHEUS_HEADERS_ENV: '{"X-Scope-OrgID": "a"}'}
    with connect(url, timeout=10, environ=env) as client:
        verdict = evaluate(client, model=MODEL, namespace=NS, objectives=OBJ, at=_at(history))
    assert verdict.verdict == "pass", verdict.reason
    assert len(seen) == 5
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for h in seen)
    assert all(h["X-Scope-OrgID"] == "a" for h in seen)


def test_missing_or_wrong_token_is_a_typed_error_without_the_token(
    proxy: tuple[str, list[dict[str, str]]], history: tuple[PrometheusProcess, int]
) -> None:
    url, _ = proxy
    for env in ({}, {PROMETHEUS_BEARER_TOKEN_ENV: TOKEN + "x"}):
        with connect(url, timeout=10, environ=env) as client, pytest.raises(PrometheusError) as e:
            evaluate(client, model=MODEL, namespace=NS, objectives=OBJ, at=_at(history))
        assert "401" in str(e.value) and url in str(e.value)
        assert TOKEN not in str(e.value)


def test_resource_sends_its_token(
    proxy: tuple[str, list[dict[str, str]]], history: tuple[PrometheusProcess, int]
) -> None:
    url, seen = proxy
    resource = PrometheusResource(url=url, bearer_token=TOKEN, timeout_s=10)
    with resource.client(monitoring_namespace="monitoring") as client:
        verdict = evaluate(client, model=MODEL, namespace=NS, objectives=OBJ, at=_at(history))
    assert verdict.verdict == "pass" and seen[-1]["Authorization"] == f"Bearer {TOKEN}"


def test_real_prometheus_basic_auth_through_headers(tmp_path: Path) -> None:
    """Prometheus' own web config demands basic auth; the header comes from PROMETHEUS_HEADERS."""
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  {USER}: '{hashed}'\n")
    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    end = aligned_now()
    prom = start_with_history(
        tmp_path / "secured",
        [Scenario(MODEL, NS)],
        end=end,
        steps=240,
        web_config=web,
        probe_headers={"Authorization": basic},
    )
    try:
        assert httpx.get(f"{prom.url}/api/v1/query?query=up", timeout=5).status_code == 401
        at = datetime.fromtimestamp(end, tz=UTC)
        good = {PROMETHEUS_HEADERS_ENV: json.dumps({"Authorization": basic})}
        with connect(prom.url, timeout=10, environ=good) as client:
            verdict = evaluate(client, model=MODEL, namespace=NS, objectives=OBJ, at=at)
        assert verdict.verdict == "pass", verdict.reason
        with connect(prom.url, timeout=10, environ={}) as client, pytest.raises(PrometheusError):
            evaluate(client, model=MODEL, namespace=NS, objectives=OBJ, at=at)
    finally:
        prom.stop()


@pytest.mark.parametrize(
    ("token", "headers", "needle"),
    [
        (None, "not json", PROMETHEUS_HEADERS_ENV),
        (None, '["a"]', PROMETHEUS_HEADERS_ENV),
        (None, '{"Bad Name": "v"}', PROMETHEUS_HEADERS_ENV),
        (None, '{"X-A": "v\\r\\nX-Injected: 1"}', PROMETHEUS_HEADERS_ENV),
        (None, '{"X-A": 1}', PROMETHEUS_HEADERS_ENV),
        ("two words", None, PROMETHEUS_BEARER_TOKEN_ENV),
        ("t\nInjected: 1", None, PROMETHEUS_BEARER_TOKEN_ENV),
        ("tok", '{"authorization": "Basic x"}', "keep one"),
    ],
)
def test_malformed_auth_settings_are_refused_by_name(
    token: str | None, headers: str | None, needle: str
) -> None:
    with pytest.raises(PrometheusAuthConfigError) as err:
        auth_headers(bearer_token=token, headers_json=headers)
    assert needle in str(err.value)
    for secret in (token, headers):
        if secret:
            assert secret not in str(err.value)


def test_no_auth_settings_no_headers() -> None:
    assert auth_headers(bearer_token=None, headers_json=None) == {}
    assert auth_headers(bearer_token=" t0k ", headers_json="{}") == {"Authorization": "Bearer t0k"}


def _slo_check(url: str, repo: Path, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PROMETHEUS_URL", PROMETHEUS_BEARER_TOKEN_ENV, PROMETHEUS_HEADERS_ENV)
    }
    cli = Path(sys.executable).parent / "llm-platform"
    return subprocess.run(
        [str(cli), "slo", "check", "--env", "staging", "--model", MODEL, "--repo", str(repo)]
        + ["--prometheus", url, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env | extra_env,
    )


def test_cli_uses_the_token_and_never_prints_it(
    tmp_path: Path, proxy: tuple[str, list[dict[str, str]]]
) -> None:
    url, seen = proxy
    (tmp_path / "config").mkdir()
    slo = {"window": "30m", "availability": 0.99, "min_requests": 100}
    (tmp_path / "config" / "staging.yaml").write_bytes(to_yaml(env_dict(slo=slo)))
    (tmp_path / "models" / MODEL).mkdir(parents=True)
    (tmp_path / "models" / MODEL / "model.yaml").write_bytes(to_yaml(model_dict(slo=None)))
    ok = _slo_check(url, tmp_path, {PROMETHEUS_BEARER_TOKEN_ENV: TOKEN})
    # History ends at the module's start; "now" may see a few minutes without samples, so the
    # verdict itself is not the point here: the request was authorised and answered.
    assert ok.returncode in (0, 3), ok.stderr
    assert json.loads(ok.stdout)["model"] == MODEL
    assert seen and seen[-1]["Authorization"] == f"Bearer {TOKEN}"
    wrong = _slo_check(url, tmp_path, {PROMETHEUS_BEARER_TOKEN_ENV: "wrong-" + TOKEN})
    assert wrong.returncode == 2 and "401" in wrong.stderr
    bad = _slo_check(url, tmp_path, {PROMETHEUS_HEADERS_ENV: '{"X": "' + TOKEN + '\\n"}'})
    assert bad.returncode == 2 and PROMETHEUS_HEADERS_ENV in bad.stderr
    for result in (ok, wrong, bad):
        assert TOKEN not in result.stdout + result.stderr
