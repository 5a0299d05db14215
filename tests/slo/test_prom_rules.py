"""SLOs as Prometheus rules: generation, ``llm-platform rules``, ``promtool check/test rules``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from llm_platform.cli import rules_cmd
from llm_platform.slo.budgets import BURN_ALERTS
from llm_platform.slo.rules import TIERS, WINDOWS
from tests.helpers.config_fixtures import env_dict, model_dict, to_yaml
from tests.helpers.prom_fixtures import PROMTOOL

ENV = "production"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """A group, like the real app."""

    rules_cmd.register(app)
    return app


def _repo(root: Path, models: dict[str, dict[str, Any]], slo: dict[str, Any]) -> Path:
    for name, data in models.items():
        (root / "models" / name).mkdir(parents=True)
        (root / "models" / name / "model.yaml").write_bytes(to_yaml(data))
    (root / "config").mkdir(parents=True)
    env = env_dict(environment=ENV, namespace="prod-ns", slo=slo)
    (root / "config" / f"{ENV}.yaml").write_bytes(to_yaml(env))
    return root


def _model(name: str, slo: dict[str, Any] | None = None, engine: str | None = None) -> dict:
    serving = {"max_batch_size": 8, "max_sequence_length": 2048, "protocol": "http"}
    if engine:
        serving["engine"] = engine
    return model_dict(name=name, slo=slo, serving=serving)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """Two plain models, one with stricter error rate and latency, one served by vLLM."""
    models = {
        "plain-a": _model("plain-a"),
        "plain-b": _model("plain-b"),
        "strict": _model("strict", {"error_rate": 0.001, "latency_p95_ms": 1000}),
        "big-vllm": _model("big-vllm", engine="vllm"),
    }
    slo = {"window": "1h", "availability": 0.999, "latency_p95_ms": 2000, "error_rate": 0.01}
    return _repo(tmp_path / "repo", models, slo)


def _rules(repo: Path) -> tuple[str, dict[str, Any]]:
    result = CliRunner().invoke(_app(), ["rules", "--env", ENV, "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    return result.stdout, yaml.safe_load(result.stdout)


def _alerts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_accepts_the_rules_of_an_environment_with_overrides(
    repo: Path, tmp_path: Path
) -> None:
    text, _ = _rules(repo)
    path = tmp_path / "rules.yml"
    path.write_text(text)
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_overridden_models_get_their_own_thresholds_and_the_rest_the_default(repo: Path) -> None:
    _, doc = _rules(repo)
    alerts = _alerts(doc)
    errors = [a for a in alerts if a["labels"]["objective"] == "error_rate"]
    strict = [a for a in errors if a["labels"].get("model") == "strict"]
    default = [a for a in errors if "model" not in a["labels"]]
    # one alert per tier for the strict model; per tier and profile (default, vllm) for the rest
    assert len(strict) == len(TIERS) and len(default) == 2 * len(TIERS)
    fast = BURN_ALERTS[0]
    page = next(a for a in strict if a["labels"]["long_window"] == fast.long)
    assert f"> ({fast.factor:g} * 0.001)" in page["expr"] and 'model="strict"' in page["expr"]
    assert page["labels"]["severity"] == "page" and page["labels"]["action"] == fast.action
    for alert in default:
        assert 'model!~"strict"' in alert["expr"] and "* 0.01)" in alert["expr"]
    # the vLLM model's series are recorded from its own metric names, labelled model
    vllm = [
        r for g in doc["groups"] for r in g["rules"] if r.get("labels", {}).get("profile") == "vllm"
    ]
    assert vllm and all("vllm:" in r["expr"] or "up{" in r["expr"] for r in vllm if "record" in r)
    errors_vllm = next(r for r in vllm if r.get("labels", {}).get("objective") == "error_rate")
    assert "label_replace(" in errors_vllm["expr"] and '"model_name"' in errors_vllm["expr"]


def test_tiers_are_the_budget_alerts_plus_slow_burn_tickets() -> None:
    pages = [(t.factor, t.long, t.short) for t in TIERS if t.severity == "page"]
    assert pages == [(a.factor, a.long, a.short) for a in BURN_ALERTS]
    assert {(t.factor, t.long, t.short) for t in TIERS if t.severity == "ticket"} == {
        (3.0, "1d", "2h"),
        (1.0, "3d", "6h"),
    }
    assert WINDOWS == ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def test_latency_rules_only_where_the_threshold_is_a_bucket_edge(tmp_path: Path) -> None:
    models = {"odd": _model("odd", {"latency_p95_ms": 1234}), "fine": _model("fine")}
    slo = {"latency_p95_ms": 2500, "error_rate": 0.01}
    _, doc = _rules(_repo(tmp_path / "r", models, slo))
    latency = [a for a in _alerts(doc) if a["labels"]["objective"] == "latency_p95"]
    assert latency and all("model" not in a["labels"] for a in latency)
    assert all('threshold="2500"' in a["expr"] for a in latency)
    assert {a["expr"].count("* 0.05)") for a in latency} == {2}
    records = [r for g in doc["groups"] for r in g["rules"] if "record" in r]
    assert any(r'le=~"2\\.5"' in r["expr"] for r in records)
    assert not any("1.234" in r["expr"] for r in records)


def test_bad_configuration_exits_2_naming_the_file(tmp_path: Path) -> None:
    root = _repo(tmp_path / "r", {"a": _model("a")}, {"error_rate": 0.01})
    (root / "models" / "a" / "model.yaml").write_text("name: a\nversion: nope\n")
    result = CliRunner().invoke(_app(), ["rules", "--env", ENV, "--repo", str(root)])
    assert result.exit_code == 2
    assert "models/a/model.yaml" in result.stderr
    missing = CliRunner().invoke(_app(), ["rules", "--env", "qa", "--repo", str(root)])
    assert missing.exit_code == 2 and "qa.yaml" in missing.stderr


def _expected(alert: dict[str, Any], model: str, value: str) -> dict[str, Any]:
    labels = {
        **alert["labels"],
        "model": model,
        "revision": "r1",
        "profile": "default",
    }
    ann = {
        k: v.replace("{{ $labels.model }}", model)
        .replace("{{ $labels.revision }}", "r1")
        .replace("{{ $value | humanizePercentage }}", value)
        for k, v in alert["annotations"].items()
    }
    return {"exp_labels": labels, "exp_annotations": ann}


def test_promtool_unit_tests_fire_on_a_20x_burn_and_not_on_2x(repo: Path, tmp_path: Path) -> None:
    """Real Prometheus rule evaluation (promtool test rules) over 70 minutes of history.

    plain-a fails 20 % of requests (20x its 1 % budget): both page tiers and both tickets fire.
    plain-b fails 2 %: only the 1x-over-3d ticket fires (no page). strict fails 2 % too, which
    is 20x its own 0.1 % budget: its pages fire.
    """
    text, doc = _rules(repo)
    (tmp_path / "rules.yml").write_text(text)
    alerts = {
        (a["labels"].get("model"), a["labels"]["long_window"]): a
        for a in _alerts(doc)
        if a["labels"]["objective"] == "error_rate"
        and "vllm" not in a["expr"]
        and 'profile="default"' in a["expr"]
    }

    def series(model: str, failed_per_min: int) -> list[dict[str, str]]:
        labels = f'model="{model}",namespace="prod-ns",revision="r1"'
        return [
            {"series": f"llm_requests_total{{{labels}}}", "values": "0+100x80"},
            {
                "series": f"llm_requests_failed_total{{{labels}}}",
                "values": f"0+{failed_per_min}x80",
            },
        ]

    def want(model: str, key: str | None, windows: list[str], value: str) -> list[dict]:
        return [_expected(alerts[(key, w)], model, value) for w in windows]

    name = "LLMErrorRateBudgetBurn"
    every = ["1h", "6h", "1d", "3d"]
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    *series("plain-a", 20),
                    *series("plain-b", 2),
                    *series("strict", 2),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "70m",
                        "alertname": name,
                        "exp_alerts": [
                            *want("plain-a", None, every, "20%"),
                            *want("plain-b", None, ["3d"], "2%"),
                            *want("strict", "strict", every, "2%"),
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "tests.yml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
