"""Schema and business rules of model.yaml and config/<env>.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from llm_platform.config import (
    ConfigError,
    EnvironmentConfig,
    ModelConfig,
    Problem,
    SLOObjectives,
    effective_slo,
    parse_environment_config,
    parse_model_config,
)
from tests.helpers.config_fixtures import env_dict, model_dict, to_yaml


def model_problems(data: dict[str, Any], expected_name: str | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse_model_config(to_yaml(data), source="m.yaml", expected_name=expected_name)
    return info.value.problems


def env_problems(data: dict[str, Any]) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse_environment_config(to_yaml(data), source="staging.yaml")
    return info.value.problems


def fields(problems: list[Problem]) -> list[str | None]:
    return [p.field for p in problems]


def test_valid_model_parses_with_all_fields() -> None:
    config = parse_model_config(to_yaml(model_dict()), source="m.yaml", expected_name=None)
    assert isinstance(config, ModelConfig)
    assert config.resources.memory_gb == 16.0
    assert config.serving is not None and config.serving.protocol == "http"
    assert config.source is not None and config.source.type == "local"
    assert config.slo is not None and config.slo.latency_p95_ms == 1500


def test_minimal_model_only_needs_required_keys() -> None:
    data = model_dict(description=None, serving=None, source=None, slo=None)
    config = parse_model_config(to_yaml(data), source="m.yaml")
    assert config.serving is None and config.source is None and config.slo is None


@pytest.mark.parametrize("missing", ["name", "version", "architecture", "resources"])
def test_required_model_keys(missing: str) -> None:
    problems = model_problems(model_dict(**{missing: None}))
    assert fields(problems) == [missing]
    assert "required" in problems[0].message


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (model_dict(nmae="x"), "nmae"),
        (model_dict(resources={"memory_gb": 16, "gpu_count": 1, "gpus": 2}), "resources.gpus"),
        (model_dict(serving={"protocol": "http", "batch": 1}), "serving.batch"),
        (model_dict(source={"type": "local", "uri": "x", "sha": "y"}), "source.sha"),
        (model_dict(slo={"latency_p95": 10}), "slo.latency_p95"),
    ],
)
def test_unknown_keys_are_errors_at_every_model_level(data: dict[str, Any], field: str) -> None:
    problems = model_problems(data)
    assert fields(problems) == [field]
    assert problems[0].message.startswith("unknown key")


def test_unknown_key_suggests_the_closest_allowed_key() -> None:
    problems = model_problems(
        model_dict(resources={"memory_gb": 16, "gpu_count": 1, "memroy_gb": 3})
    )
    assert "did you mean 'memory_gb'" in problems[0].message


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"memory_gb": 16, "gpu_count": True}, "resources.gpu_count"),
        ({"memory_gb": True, "gpu_count": 1}, "resources.memory_gb"),
        ({"memory_gb": "16", "gpu_count": 1}, "resources.memory_gb"),
        ({"memory_gb": 16, "gpu_count": "1"}, "resources.gpu_count"),
        ({"memory_gb": 16, "gpu_count": 1.5}, "resources.gpu_count"),
        ({"memory_gb": 16, "gpu_count": 1, "gpu_type": 100}, "resources.gpu_type"),
        ({"memory_gb": 0.5, "gpu_count": 1}, "resources.memory_gb"),
        ({"memory_gb": 16, "gpu_count": 0}, "resources.gpu_count"),
        ({"memory_gb": float("inf"), "gpu_count": 1}, "resources.memory_gb"),
        ([16, 1], "resources"),
    ],
)
def test_resource_types_are_strict(resources: Any, field: str) -> None:
    assert fields(model_problems(model_dict(resources=resources))) == [field]


def test_bool_as_int_names_the_boolean() -> None:
    data = model_dict(serving={"max_batch_size": True})
    problems = model_problems(data)
    assert fields(problems) == ["serving.max_batch_size"]
    assert "boolean" in problems[0].message


@pytest.mark.parametrize(
    ("serving", "field"),
    [
        ({"protocol": "websocket"}, "serving.protocol"),
        ({"max_batch_size": 0}, "serving.max_batch_size"),
        ({"max_sequence_length": -1}, "serving.max_sequence_length"),
    ],
)
def test_serving_rules(serving: dict[str, Any], field: str) -> None:
    assert fields(model_problems(model_dict(serving=serving))) == [field]


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"type": "ftp", "uri": "x"}, "source.type"),
        ({"type": "s3"}, "source.uri"),
        ({"uri": "x"}, "source.type"),
    ],
)
def test_source_rules(source: dict[str, Any], field: str) -> None:
    assert fields(model_problems(model_dict(source=source))) == [field]


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0-rc1", "1.0.0.0", "latest", " 1.0.0"])
def test_version_must_be_semver(version: str) -> None:
    problems = model_problems(model_dict(version=version))
    assert fields(problems) == ["version"]
    assert "semantic version" in problems[0].message


def test_unquoted_float_version_is_a_type_error() -> None:
    problems = model_problems(model_dict(version=1.0))
    assert fields(problems) == ["version"]
    assert "string" in problems[0].message


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("a" * 64, "at most 63"),
        ("-llama", "start and end"),
        ("llama-", "start and end"),
        ("Llama", "lowercase"),
        ("llama_7b", "lowercase"),
        ("llama.7b", "lowercase"),
        ("", "empty"),
    ],
)
def test_name_is_a_dns_1123_label(name: str, needle: str) -> None:
    problems = model_problems(model_dict(name=name))
    assert fields(problems) == ["name"]
    assert needle in problems[0].message


def test_name_of_63_characters_is_fine() -> None:
    name = "a" * 63
    config = parse_model_config(to_yaml(model_dict(name=name)), source="m", expected_name=name)
    assert config.name == name


def test_name_must_match_directory() -> None:
    problems = model_problems(model_dict(), expected_name="mistral-7b")
    assert fields(problems) == ["name"]
    assert "mistral-7b" in problems[0].message and "directory" in problems[0].message


@pytest.mark.parametrize(("memory", "gpus"), [(15, 2), (7.9, 1), (63, 8)])
def test_memory_must_cover_eight_gib_per_gpu(memory: float, gpus: int) -> None:
    problems = model_problems(model_dict(resources={"memory_gb": memory, "gpu_count": gpus}))
    assert fields(problems) == ["resources.memory_gb"]
    assert f"{8 * gpus}" in problems[0].message


@pytest.mark.parametrize(("memory", "gpus"), [(16, 2), (8, 1), (64.0, 8)])
def test_memory_rule_boundary_passes(memory: float, gpus: int) -> None:
    data = model_dict(resources={"memory_gb": memory, "gpu_count": gpus})
    assert parse_model_config(to_yaml(data), source="m").resources.gpu_count == gpus


def test_all_problems_are_reported_together_with_lines() -> None:
    text = (
        b"name: Bad_Name\n"
        b"version: one\n"
        b"architecture: llama\n"
        b"resources:\n"
        b"  memory_gb: 8\n"
        b"  gpu_count: 2\n"
        b"serving:\n"
        b"  protocol: smtp\n"
        b"extra: 1\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_model_config(text, source="models/x/model.yaml", expected_name="x")
    by_field = {p.field: p for p in info.value.problems}
    assert set(by_field) == {"name", "version", "resources.memory_gb", "serving.protocol", "extra"}
    assert [by_field[f].line for f in ("name", "version", "serving.protocol", "extra")] == [
        1,
        2,
        8,
        9,
    ]
    assert by_field["resources.memory_gb"].line == 5
    assert str(by_field["extra"]).startswith("models/x/model.yaml:9: extra: unknown key")


def test_missing_nested_key_points_at_its_parent_line() -> None:
    text = b"name: a\nversion: 1.0.0\narchitecture: x\nresources:\n  gpu_count: 1\n"
    with pytest.raises(ConfigError) as info:
        parse_model_config(text, source="m")
    (problem,) = info.value.problems
    assert (problem.field, problem.line) == ("resources.memory_gb", 4)


def test_config_hash_ignores_formatting_and_key_order() -> None:
    a = parse_model_config(to_yaml(model_dict()), source="a")
    reordered = dict(reversed(list(model_dict().items())))
    flow = b"# comment\n" + to_yaml(reordered).replace(b"memory_gb: 16", b"memory_gb: 16.0")
    b = parse_model_config(flow, source="b")
    assert a.config_hash() == b.config_hash()
    assert len(a.config_hash()) == 64
    c = parse_model_config(to_yaml(model_dict(version="1.0.1")), source="c")
    assert c.config_hash() != a.config_hash()


def test_problem_str_formats() -> None:
    assert str(Problem(path="p", line=3, field="f", message="m")) == "p:3: f: m"
    assert str(Problem(path="p", line=None, field="f", message="m")) == "p: f: m"
    assert str(Problem(path="p", line=2, field=None, message="m")) == "p:2: m"
    assert str(Problem(path="p", message="m")) == "p: m"


# --- environment config ---------------------------------------------------------------------


def test_valid_environment_with_defaults() -> None:
    data = env_dict(slo={"window": "5m", "min_requests": 50})
    env = parse_environment_config(to_yaml(data), source="staging.yaml")
    assert isinstance(env, EnvironmentConfig)
    assert env.slo == SLOObjectives(
        window="5m", availability=0.999, latency_p95_ms=2000, error_rate=0.01, min_requests=50
    )
    assert env.approvers == ["alice", "bob"]
    assert env.deployment.approval_required is False
    assert env.deployment.canary_percentage == 10
    assert env.slo.window_seconds == 300


def test_environment_without_slo_or_approvers_uses_seed_defaults() -> None:
    env = parse_environment_config(to_yaml(env_dict(slo=None, approvers=None)), source="e")
    assert env.slo == SLOObjectives()
    assert (env.slo.window, env.slo.availability, env.slo.min_requests) == ("24h", 0.999, 1000)
    assert env.approvers == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (env_dict(color="x"), "color"),
        (env_dict(cluster={"gpu_node_selector": {}, "zone": "a"}), "cluster.zone"),
        (
            env_dict(resources={"default_limits": {"cpu_multiplier": 1}}),
            "resources.default_limits.cpu_multiplier",
        ),
        (env_dict(resources={"limits": {}}), "resources.limits"),
        (env_dict(autoscaling={"enabled": True, "target_cpu": 3}), "autoscaling.target_cpu"),
        (env_dict(monitoring={"grafana": "x"}), "monitoring.grafana"),
        (env_dict(deployment={"strategy": "canary", "pause": 1}), "deployment.pause"),
        (env_dict(slo={"p99": 1}), "slo.p99"),
    ],
)
def test_unknown_keys_are_errors_at_every_env_level(data: dict[str, Any], field: str) -> None:
    problems = env_problems(data)
    assert fields(problems) == [field]
    assert problems[0].message.startswith("unknown key")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (env_dict(namespace="Staging"), "namespace"),
        (env_dict(namespace="s" * 64), "namespace"),
        (env_dict(namespace="-staging"), "namespace"),
        (
            env_dict(cluster={"gpu_node_selector": {"node-type": True}}),
            "cluster.gpu_node_selector.node-type",
        ),
        (env_dict(autoscaling={"enabled": "yes-please"}), "autoscaling.enabled"),
        (env_dict(autoscaling={"enabled": 1}), "autoscaling.enabled"),
        (env_dict(autoscaling={"min_replicas": 5, "max_replicas": 2}), "autoscaling.min_replicas"),
        (env_dict(autoscaling={"min_replicas": True}), "autoscaling.min_replicas"),
        (env_dict(deployment={"strategy": "big-bang"}), "deployment.strategy"),
        (env_dict(deployment={"max_unavailable": 1}), "deployment.strategy"),
        (
            env_dict(deployment={"strategy": "canary", "canary_percentage": 0}),
            "deployment.canary_percentage",
        ),
        (
            env_dict(deployment={"strategy": "canary", "canary_percentage": 101}),
            "deployment.canary_percentage",
        ),
        (env_dict(deployment={"strategy": "canary", "max_surge": "lots"}), "deployment.max_surge"),
        (env_dict(deployment={"strategy": "canary", "max_surge": True}), "deployment.max_surge"),
        (
            env_dict(deployment={"strategy": "canary", "approval_required": "true"}),
            "deployment.approval_required",
        ),
        (env_dict(slo={"window": "24 hours"}), "slo.window"),
        (env_dict(slo={"window": "0m"}), "slo.window"),
        (env_dict(slo={"window": 24}), "slo.window"),
        (env_dict(slo={"availability": 0}), "slo.availability"),
        (env_dict(slo={"availability": 1.5}), "slo.availability"),
        (env_dict(slo={"latency_p95_ms": 0}), "slo.latency_p95_ms"),
        (env_dict(slo={"error_rate": -0.1}), "slo.error_rate"),
        (env_dict(slo={"error_rate": 2}), "slo.error_rate"),
        (env_dict(slo={"min_requests": -1}), "slo.min_requests"),
        (env_dict(slo={"min_requests": 10.5}), "slo.min_requests"),
        (env_dict(approvers="alice"), "approvers"),
        (env_dict(approvers=["alice", 7]), "approvers[1]"),
        (
            env_dict(resources={"default_limits": {"memory_multiplier": 0}}),
            "resources.default_limits.memory_multiplier",
        ),
        (env_dict(environment=None), "environment"),
        (env_dict(deployment=None), "deployment"),
    ],
)
def test_environment_rules(data: dict[str, Any], field: str) -> None:
    assert fields(env_problems(data)) == [field]


@pytest.mark.parametrize("window", ["30s", "5m", "24h", "7d", "1h30m", "500ms", "2w"])
def test_prometheus_durations_accepted(window: str) -> None:
    env = parse_environment_config(to_yaml(env_dict(slo={"window": window})), source="e")
    assert env.slo.window == window
    assert env.slo.window_seconds > 0


def test_percentage_surge_is_accepted() -> None:
    data = env_dict(deployment={"strategy": "rolling-update", "max_surge": "25%"})
    assert parse_environment_config(to_yaml(data), source="e").deployment.max_surge == "25%"


def test_environment_must_match_its_file_name() -> None:
    with pytest.raises(ConfigError) as info:
        parse_environment_config(
            to_yaml(env_dict()), source="config/prod.yaml", expected_environment="prod"
        )
    assert fields(info.value.problems) == ["environment"]


def test_effective_slo_model_overrides_win() -> None:
    env = parse_environment_config(to_yaml(env_dict()), source="e")
    model = parse_model_config(to_yaml(model_dict(slo={"latency_p95_ms": 900})), source="m")
    slo = effective_slo(env, model)
    assert slo.latency_p95_ms == 900
    assert (slo.window, slo.availability, slo.min_requests) == ("5m", 0.99, 50)
    plain = parse_model_config(to_yaml(model_dict(slo=None)), source="m")
    assert effective_slo(env, plain) == env.slo


def test_model_slo_override_rules() -> None:
    problems = model_problems(model_dict(slo={"availability": 2, "window": "1 day"}))
    assert sorted(fields(problems)) == ["slo.availability", "slo.window"]


@pytest.mark.parametrize(
    ("engine", "named"), [(None, "any engine (llama-cpp, vllm, builtin)"), ("vllm", "engine vllm")]
)
def test_grpc_is_refused_naming_the_engine_not_served_as_http(
    engine: str | None, named: str
) -> None:
    """The seed's schema allows ``protocol: grpc``; no engine serves it, so it is refused
    instead of being served as HTTP without a word."""
    serving = {**model_dict()["serving"], "protocol": "grpc"}
    if engine:
        serving["engine"] = engine
    (problem,) = model_problems(model_dict(serving=serving))
    assert problem.field == "serving.protocol"
    assert problem.message.startswith(f"protocol grpc is not served by {named}")
    assert problem.message.endswith("use protocol: http")
    serving["protocol"] = "http"
    assert parse_model_config(to_yaml(model_dict(serving=serving)), source="m.yaml")
