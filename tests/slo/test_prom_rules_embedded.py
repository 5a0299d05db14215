"""The embedded Prometheus loads the generated SLO rules and picks up changes (real process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from llm_platform.config.slo_rules_source import load_checkout, rules_for
from llm_platform.targets.local.processes import free_port, stop_process
from llm_platform.targets.local.prometheus import start_prometheus
from llm_platform.targets.local.prometheus_rules import RulesRejected, install_rules, rule_file
from tests.helpers.config_fixtures import env_dict, model_dict, to_yaml
from tests.helpers.models_repo import ENV_YAML, ModelsRepo


def _write_repo(root: Path, strict_error_rate: float) -> Path:
    model = model_dict(name="strict", slo={"error_rate": strict_error_rate})
    (root / "models" / "strict").mkdir(parents=True, exist_ok=True)
    (root / "models" / "strict" / "model.yaml").write_bytes(to_yaml(model))
    (root / "models" / "plain").mkdir(parents=True, exist_ok=True)
    (root / "models" / "plain" / "model.yaml").write_bytes(to_yaml(model_dict(name="plain")))
    (root / "config").mkdir(parents=True, exist_ok=True)
    env = env_dict(environment="production", namespace="production", slo={"error_rate": 0.01})
    (root / "config" / "production.yaml").write_bytes(to_yaml(env))
    return root


def _rules(root: Path) -> dict:
    return {"production": rules_for(*load_checkout(root, "production"))}


@pytest.fixture()
def prometheus(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    home = tmp_path / "home"
    port = free_port()
    pid, argv = start_prometheus(home, port)
    try:
        yield home, f"http://127.0.0.1:{port}"
    finally:
        stop_process(pid, argv)


def _loaded(url: str) -> dict[str, list[str]]:
    """Group name -> the queries of its alerting rules, as Prometheus reports them."""
    data = httpx.get(f"{url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    return {g["name"]: [r["query"] for r in g["rules"] if r["type"] == "alerting"] for g in data}


def test_rules_are_loaded_and_a_config_change_reloads_new_thresholds(
    prometheus: tuple[Path, str], tmp_path: Path
) -> None:
    home, url = prometheus
    repo = _write_repo(tmp_path / "repo", strict_error_rate=0.001)
    first = install_rules(home, _rules(repo), prometheus_url=url)
    assert first.written == ["production"] and first.reloaded
    loaded = _loaded(url)
    assert "llm-slo-production-burn-alerts" in loaded
    assert "llm-slo-production-ratios" in loaded
    alerts = loaded["llm-slo-production-burn-alerts"]
    assert any('model="strict"' in q and "* 0.001)" in q for q in alerts)
    # the same repo again: nothing written, no reload
    again = install_rules(home, _rules(repo), prometheus_url=url)
    assert again.written == [] and again.unchanged == ["production"] and not again.reloaded
    # a config change: the new threshold is what Prometheus evaluates
    _write_repo(repo, strict_error_rate=0.005)
    changed = install_rules(home, _rules(repo), prometheus_url=url)
    assert changed.written == ["production"] and changed.reloaded
    alerts = _loaded(url)["llm-slo-production-burn-alerts"]
    assert any('model="strict"' in q and "0.005" in q for q in alerts)
    assert not any('model="strict"' in q and "* 0.001)" in q for q in alerts)


def test_a_rejected_rule_file_leaves_the_previous_one(
    prometheus: tuple[Path, str], tmp_path: Path
) -> None:
    home, url = prometheus
    repo = _write_repo(tmp_path / "repo", strict_error_rate=0.001)
    install_rules(home, _rules(repo), prometheus_url=url)
    before = rule_file(home, "production").read_text()
    bad = {"production": {"groups": [{"name": "x", "rules": [{"record": "a:b", "expr": "(("}]}]}}
    with pytest.raises(RulesRejected, match="promtool"):
        install_rules(home, bad, prometheus_url=url)
    assert rule_file(home, "production").read_text() == before
    assert "llm-slo-production-burn-alerts" in _loaded(url)
    assert yaml.safe_load(before)["groups"]


def test_the_embedded_config_loads_the_rule_files_and_the_cluster_gets_none(
    tmp_path: Path,
) -> None:
    from llm_platform.targets.local.prometheus import PrometheusPaths, render_config
    from resources.prometheus import PrometheusResource

    paths = PrometheusPaths(tmp_path)
    config = yaml.safe_load(render_config(paths))
    assert config["rule_files"] == [str(paths.rules / "*.rules.yml")]
    assert rule_file(tmp_path, "production").match(config["rule_files"][0])
    repo = _write_repo(tmp_path / "repo", strict_error_rate=0.001)
    in_cluster = PrometheusResource(target="kubernetes", home=str(tmp_path / "h"))
    assert in_cluster.install_rules(_rules(repo)) is None  # PrometheusRule objects instead
    embedded = PrometheusResource(home=str(tmp_path / "h"))
    done = embedded.install_rules(_rules(repo))
    assert done is not None and done.written == ["production"] and not done.reloaded
    assert rule_file(tmp_path / "h", "production").exists()


def test_the_rules_sensor_installs_the_heads_rules_and_follows_new_commits(
    prometheus: tuple[Path, str], models_repo: ModelsRepo
) -> None:
    """slo_rules_sensor on a real git repo and the real embedded Prometheus: the head's rules
    are loaded; the same head is skipped; a new threshold is reloaded; a broken config keeps
    the previous rules."""
    import dagster as dg

    from resources.git_repo import ModelsRepoResource
    from resources.prometheus import PrometheusResource
    from sensors.slo_rules import slo_rules_sensor

    home, url = prometheus
    (home / "stack.json").write_text(json.dumps({"prometheus_url": url}))
    models_repo.write("config/production.yaml", ENV_YAML.format(env="production"))
    text = (models_repo.path / "models/alpha/model.yaml").read_text()
    models_repo.write("models/alpha/model.yaml", text + "slo:\n  error_rate: 0.002\n")
    models_repo.commit("production and alpha's objective")
    resources = {
        "models_repo": ModelsRepoResource(location=str(models_repo.path)),
        "prometheus": PrometheusResource(home=str(home)),
    }
    cursor: str | None = None

    def tick() -> str:
        nonlocal cursor
        with dg.instance_for_test() as instance:
            ctx = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
            result = slo_rules_sensor.evaluate_tick(ctx)
        cursor = result.cursor
        return result.skip_message or ""

    def alpha_limits() -> list[str]:
        queries = _loaded(url)["llm-slo-production-burn-alerts"]
        return [q for q in queries if 'model="alpha"' in q and "error_rate" in q]

    assert "installed for production, staging (reloaded)" in tick()
    assert cursor == models_repo.head()
    assert "llm-slo-staging-burn-alerts" in _loaded(url)
    assert alpha_limits() and all("0.002" in q for q in alpha_limits())
    assert "are those of" in tick()  # same head: nothing read
    models_repo.write("models/alpha/model.yaml", text + "slo:\n  error_rate: 0.004\n")
    models_repo.commit("alpha stricter")
    assert "installed for production, staging" in tick()
    assert alpha_limits() and all("0.004" in q for q in alpha_limits())
    models_repo.write("models/alpha/model.yaml", text + "slo:\n  error_rate: lots\n")
    models_repo.commit("broken")
    broken = tick()
    assert "not updated" in broken and "models/alpha/model.yaml" in broken
    assert all("0.004" in q for q in alpha_limits())
    assert "are those of" in tick()  # the broken head is not re-read every tick
