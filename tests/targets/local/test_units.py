"""Pure parts of the runtime: specs, routing rules, back-off, state files, Prometheus config."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from llm_platform.common.errors import ConfigurationError
from llm_platform.targets.base import DeploymentSpec, RevisionSpec
from llm_platform.targets.local import prometheus
from llm_platform.targets.local.local import read_meminfo
from llm_platform.targets.local.prometheus import (
    PrometheusNotInstalled,
    PrometheusPaths,
    TargetGroup,
    find_prometheus_binary,
    render_config,
    write_targets,
)
from llm_platform.targets.local.routing import normalize_weights, serving_revisions
from llm_platform.targets.local.state import DesiredDeployment, StateStore, atomic_write_json
from llm_platform.targets.local.supervision import restart_backoff

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
    from llm_platform.targets.local.routing import route_entries

    d = dep([rev("blue", 100, "blue"), rev("green", 0, "green"), rev("down", 0, "green")])
    entries = route_entries(d, lambda r: [] if r.revision == "down" else ["http://127.0.0.1:1"])
    assert [(e.revision, e.weight) for e in entries] == [("blue", 100), ("green", 0)]


def test_targets_wait_for_readiness_but_keep_crashed_servers() -> None:
    from llm_platform.targets.local.state import (
        DesiredState,
        ObservedState,
        ProcessRecord,
        revision_key,
    )

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


def test_routes_list_only_healthy_replicas_and_wait_for_all_before_switching() -> None:
    from llm_platform.targets.local.routing import route_entries

    new = rev("new", 100).model_copy(update={"replicas": 3})
    old = rev("old", 100).model_copy(update={"replicas": 2})
    d = dep([new], retiring=[old])
    up = {"new": ["http://127.0.0.1:1", "http://127.0.0.1:2"], "old": ["http://127.0.0.1:9"]}
    entries = route_entries(d, lambda r: up[r.revision])
    # 2 of 3 new replicas healthy: the rollout is not complete, traffic stays on the old one
    # (the new one is listed at 0 so that its metric series exist before it gets traffic).
    assert [(e.revision, e.weight, len(e.urls)) for e in entries] == [
        ("old", 100, 1),
        ("new", 0, 2),
    ]
    up["new"].append("http://127.0.0.1:3")
    (entry,) = route_entries(d, lambda r: up[r.revision])
    assert (entry.revision, entry.weight, len(entry.urls)) == ("new", 100, 3)


def test_gateway_router_spreads_a_revision_over_its_replicas() -> None:
    import random
    from collections import Counter

    from llm_platform.serving.routes import ModelRouter, ModelRoutes

    routes = ModelRoutes.model_validate(
        {
            "revisions": [
                {
                    "revision": "a",
                    "version": "1",
                    "url": "http://127.0.0.1:1",
                    "urls": ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"],
                    "weight": 75,
                },
                {"revision": "b", "version": "1", "url": "http://127.0.0.1:9", "weight": 25},
            ]
        }
    )
    router, rng = ModelRouter("m", routes), random.Random(7)
    seen = Counter(b.origin for b in (router.pick(rng) for _ in range(4000)) if b)
    assert set(seen) == {f"http://127.0.0.1:{p}" for p in (1, 2, 3, 9)}
    for port in (1, 2, 3):  # 75% spread evenly over three replicas
        assert 850 < seen[f"http://127.0.0.1:{port}"] < 1150, seen
    assert 850 < seen["http://127.0.0.1:9"] < 1150, seen


def test_replicas_are_capped_by_available_memory_with_a_warning() -> None:
    from llm_platform.targets.local.replicas import MIB, cap_replicas, cap_spec, local_server_bytes
    from llm_platform.targets.local.state import ObservedState, ProcessRecord

    per = local_server_bytes(100 * MIB)
    assert per == 456 * MIB
    assert cap_replicas(5, running=0, artifact_bytes=100 * MIB, available=2 * per) == 2
    assert cap_replicas(5, running=1, artifact_bytes=100 * MIB, available=2 * per) == 3
    assert cap_replicas(3, running=0, artifact_bytes=100 * MIB, available=0) == 1
    assert cap_replicas(2, running=0, artifact_bytes=100 * MIB, available=10 * per) == 2
    spec = DeploymentSpec(
        env="staging", model="m", revisions=[rev("a", 100).model_copy(update={"replicas": 4})]
    )
    observed = ObservedState(revisions={"staging/m/a": ProcessRecord(pid=1, port=5)})
    capped, warnings = cap_spec(spec, observed, {"a": 100 * MIB}, available=per)
    assert capped.revisions[0].replicas == 2
    assert warnings == [
        "a: 4 replicas requested, 2 run: each needs 456 MiB and local memory bounds the count"
    ]
    same, none = cap_spec(spec, observed, {"a": 100 * MIB}, available=10 * per)
    assert same.revisions[0].replicas == 4 and none == []


def test_retire_expired_drops_only_idle_revisions_past_their_window() -> None:
    from llm_platform.targets.local.reconciler import retire_expired
    from llm_platform.targets.local.state import DesiredState

    desired = DesiredState()
    desired.deployments["staging/m"] = dep(
        [rev("new", 100), rev("old", 0).model_copy(update={"retire_at": 1000.0})]
    )
    retire_expired(desired, now=999.0)
    assert [r.revision for r in desired.deployments["staging/m"].spec.revisions] == ["new", "old"]
    retire_expired(desired, now=1000.0)
    assert [r.revision for r in desired.deployments["staging/m"].spec.revisions] == ["new"]
    # A revision that got traffic back is never retired by its old window.
    desired.deployments["staging/m"] = dep(
        [rev("new", 0), rev("old", 100).model_copy(update={"retire_at": 1.0})]
    )
    retire_expired(desired, now=1000.0)
    assert len(desired.deployments["staging/m"].spec.revisions) == 2


@settings(deadline=None)  # the first example imports the module on a busy machine
@given(
    old=st.integers(min_value=1, max_value=6),
    target=st.integers(min_value=1, max_value=6),
    surge=st.integers(min_value=0, max_value=3),
    unavailable=st.integers(min_value=0, max_value=3),
)
def test_rolling_steps_respect_surge_and_unavailable(
    old: int, target: int, surge: int, unavailable: int
) -> None:
    from llm_platform.promotion.rolling import rolling_steps

    if surge == 0 and unavailable == 0:
        with pytest.raises(ValueError):
            rolling_steps(old, target, surge, unavailable)
        return
    unavailable = min(unavailable, target)
    steps = rolling_steps(old, target, surge, unavailable)
    assert steps[-1] == (0, target)
    prev_old, prev_new = old, 0
    for o, n in steps:
        assert (o == prev_old) != (n == prev_new), "each step changes exactly one side"
        # at most target + surge servers (one extra new replica allowed to smoke-test)
        assert o + n <= max(target + surge, old + 1)
        if o < prev_old:  # removing old replicas keeps enough serving
            assert o + n >= min(target - unavailable, prev_old + n)
        prev_old, prev_new = o, n


def test_surge_and_unavailable_resolve_percentages() -> None:
    from llm_platform.promotion.rolling import rolling_steps, surge_and_unavailable, traffic_share

    assert surge_and_unavailable("25%", "25%", 3) == (1, 0)
    assert surge_and_unavailable(0, 0, 3) == (1, 0)
    assert surge_and_unavailable("50%", 1, 4) == (2, 1)
    assert rolling_steps(3, 3, 1, 0) == [(3, 1), (2, 1), (2, 2), (1, 2), (1, 3), (0, 3)]
    assert [traffic_share(n, o) for o, n in [(3, 1), (2, 1), (0, 3)]] == [25, 33, 100]


def test_liveness_kills_only_after_the_timeout_and_never_a_healthy_veteran(
    tmp_path: Path,
) -> None:
    import subprocess
    import time

    from llm_platform.targets.local.processes import free_port, is_our_process
    from llm_platform.targets.local.state import ObservedState, ProcessRecord
    from llm_platform.targets.local.supervision import Supervisor

    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        argv = ["sleep", "60"]
        # Long-running, once healthy, now failing its first probe (nothing listens on the port).
        rec = ProcessRecord(
            pid=proc.pid, port=free_port(), argv=argv, starts=1, ever_healthy=True, healthy=True
        )
        rec.started_at = time.time() - 10_000
        observed = ObservedState(revisions={"staging/m/r": rec})
        supervisor = Supervisor(tmp_path, liveness_timeout_s=5.0)
        supervisor.check_health(observed)
        assert is_our_process(proc.pid, argv), "one failed probe must not kill a serving process"
        assert rec.health_failures == 1 and rec.healthy and rec.unhealthy_since is not None
        rec.unhealthy_since -= 6.0  # silent for longer than the liveness timeout
        supervisor.check_health(observed)
        assert not is_our_process(proc.pid, argv), "killed (and reaped) once the timeout passed"
        assert rec.pid is None and not rec.healthy and rec.consecutive_crashes == 1
        assert rec.last_error is not None and "did not answer health checks" in rec.last_error
    finally:
        proc.kill()
        proc.wait()


def test_a_spawned_process_is_ours_as_soon_as_spawn_returns(tmp_path: Path) -> None:
    """Popen returns before the kernel shows the new argv (an empty cmdline for a moment);
    spawn_detached waits for it, so a start-up check never mistakes the process for gone."""
    from llm_platform.targets.local.processes import is_our_process, spawn_detached, stop_process

    argv = ["/bin/sleep", "30"]
    pids, ours = [], []
    try:
        for _ in range(100):  # without the wait, about one in six fails on a 2-core machine
            pids.append(spawn_detached(argv, tmp_path / "sleep.log"))
            ours.append(is_our_process(pids[-1], argv))
        assert all(ours), f"{ours.count(False)} of {len(ours)} looked gone right after spawning"
    finally:
        for pid in pids:
            stop_process(pid, argv)
