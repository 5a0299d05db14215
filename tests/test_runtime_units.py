"""Pure parts of the runtime: specs, routing rules, back-off, state files, Prometheus config."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from llm_platform.errors import ConfigurationError
from llm_platform.runtime import prometheus
from llm_platform.runtime.base import DeploymentSpec, RevisionSpec
from llm_platform.runtime.local import read_meminfo
from llm_platform.runtime.prometheus import (
    PrometheusNotInstalled,
    PrometheusPaths,
    TargetGroup,
    find_prometheus_binary,
    render_config,
    write_targets,
)
from llm_platform.runtime.reconciler import restart_backoff
from llm_platform.runtime.routing import normalize_weights, serving_revisions
from llm_platform.runtime.state import DesiredDeployment, StateStore, atomic_write_json

DIGEST = "a" * 64


def rev(name: str, weight: int, color: str = "stable") -> RevisionSpec:
    return RevisionSpec(
        revision=name, version="1.0.0", digest=DIGEST, artifact_uri="/x", color=color, weight=weight
    )  # type: ignore[arg-type]


def dep(revisions: list[RevisionSpec], retiring: list[RevisionSpec] | None = None):  # type: ignore[no-untyped-def]
    return DesiredDeployment(
        spec=DeploymentSpec(env="staging", model="m", revisions=revisions), retiring=retiring or []
    )


def test_spec_rejects_bad_weights_duplicates_and_names() -> None:
    with pytest.raises(ValidationError, match="weights must sum to 100, got 90"):
        DeploymentSpec(env="staging", model="m", revisions=[rev("a", 90)])
    with pytest.raises(ValidationError, match="duplicate revision names"):
        DeploymentSpec(env="staging", model="m", revisions=[rev("a", 50), rev("a", 50)])
    with pytest.raises(ValidationError, match="model"):
        DeploymentSpec(env="staging", model="Bad_Name", revisions=[rev("a", 100)])
    with pytest.raises(ValidationError, match="digest"):
        RevisionSpec(
            revision="a", version="1", digest="abc", artifact_uri="/x", color="blue", weight=1
        )


@given(st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=6))
def test_normalize_weights_sums_to_100_and_stays_proportional(weights: list[int]) -> None:
    result = normalize_weights(weights)
    if sum(weights) == 0:
        assert result == [0] * len(weights)
        return
    assert sum(result) == 100
    for w, r in zip(weights, result, strict=True):
        assert abs(r - w * 100 / sum(weights)) < 1
        assert (w == 0) <= (r == 0)


def test_routing_keeps_traffic_on_retiring_until_rollout_complete() -> None:
    d = dep([rev("new", 100)], retiring=[rev("old", 100)])
    only_old = serving_revisions(d, lambda name: name == "old")
    assert [(r.revision, w) for r, w in only_old] == [("old", 100)]
    both = serving_revisions(d, lambda name: True)
    assert [(r.revision, w) for r, w in both] == [("new", 100)]
    nothing = serving_revisions(d, lambda name: False)
    assert nothing == []


def test_routing_only_healthy_and_renormalised() -> None:
    d = dep([rev("stable", 90), rev("canary", 10, "canary")])
    assert [(r.revision, w) for r, w in serving_revisions(d, lambda n: n == "stable")] == [
        ("stable", 100)
    ]
    assert [(r.revision, w) for r, w in serving_revisions(d, lambda n: True)] == [
        ("stable", 90),
        ("canary", 10),
    ]
    green_idle = dep([rev("blue", 100, "blue"), rev("green", 0, "green")])
    assert [r.revision for r, _ in serving_revisions(green_idle, lambda n: True)] == ["blue"]


def test_restart_backoff_grows_and_caps() -> None:
    assert [restart_backoff(n) for n in range(1, 8)] == [0, 1, 2, 4, 8, 16, 30]
    assert restart_backoff(50) == 30


def test_state_store_atomic_write_and_corrupt_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    desired = store.load_desired()
    desired.deployments["staging/m"] = dep([rev("a", 100)])
    with store.locked():
        store.save_desired(desired)
    assert store.load_desired() == desired
    assert [p.name for p in store.dir.iterdir() if p.name.endswith(".tmp")] == []
    store.desired_path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="desired.json: corrupt runtime state"):
        store.load_desired()


def test_state_lock_serialises_writers(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    events: list[str] = []

    def holder() -> None:
        with store.locked():
            events.append("a-in")
            time.sleep(0.3)
            events.append("a-out")

    t = threading.Thread(target=holder)
    t.start()
    time.sleep(0.1)
    with store.locked():
        events.append("b-in")
    t.join()
    assert events == ["a-in", "a-out", "b-in"]


def test_atomic_write_json_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"b": 2})
    assert path.read_text() == '{\n  "b": 2\n}\n'


def test_prometheus_config_jobs_and_targets(tmp_path: Path) -> None:
    paths = PrometheusPaths(tmp_path)
    config = yaml.safe_load(render_config(paths, scrape_interval="2s"))
    assert config["global"]["scrape_interval"] == "2s"
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"llm-model", "llm-gateway"}
    assert jobs["llm-model"]["file_sd_configs"][0]["files"] == [str(paths.model_targets)]
    assert jobs["llm-model"]["file_sd_configs"][0]["refresh_interval"] == "1s"
    group = TargetGroup(targets=["127.0.0.1:1"], labels={"model": "m", "namespace": "staging"})
    write_targets(paths.model_targets, [group])
    before = paths.model_targets.stat().st_mtime_ns
    time.sleep(0.01)
    write_targets(paths.model_targets, [group])  # unchanged content is not rewritten
    assert paths.model_targets.stat().st_mtime_ns == before


def test_missing_prometheus_binary_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(prometheus, "DEFAULT_BINARY_LOCATIONS", (tmp_path / "nope",))
    with pytest.raises(PrometheusNotInstalled, match="install the Debian package prometheus"):
        find_prometheus_binary()


def test_meminfo_is_parsed_in_bytes(tmp_path: Path) -> None:
    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal:       1000 kB\nMemAvailable:    250 kB\nHugePages_Total:  0\n")
    assert read_meminfo(fake) == {"MemTotal": 1024000, "MemAvailable": 256000}
    real = read_meminfo()
    assert 0 < real["MemAvailable"] <= real["MemTotal"]


def test_route_entries_list_idle_healthy_revisions_at_weight_zero() -> None:
    from llm_platform.runtime.routing import route_entries

    d = dep([rev("blue", 100, "blue"), rev("green", 0, "green"), rev("down", 0, "green")])
    entries = route_entries(d, lambda n: n != "down", lambda n: "http://127.0.0.1:1")
    assert [(e.revision, e.weight) for e in entries] == [("blue", 100), ("green", 0)]


def test_targets_wait_for_readiness_but_keep_crashed_servers() -> None:
    from llm_platform.runtime.state import DesiredState, ObservedState, ProcessRecord, revision_key

    desired = DesiredState()
    d = dep([rev("ready", 50), rev("loading", 25), rev("crashed", 25)])
    desired.deployments["staging/m"] = d
    observed = ObservedState()
    for i, (name, kw) in enumerate(
        {
            "ready": {"ever_healthy": True, "healthy": True},
            "loading": {},
            "crashed": {"consecutive_crashes": 1},
        }.items()
    ):
        observed.revisions[revision_key("staging", "m", name)] = ProcessRecord(
            port=9000 + i, starts=1, **kw
        )
    models, _ = prometheus.target_groups(desired, observed)
    assert sorted(g.labels["revision"] for g in models) == ["crashed", "ready"]
