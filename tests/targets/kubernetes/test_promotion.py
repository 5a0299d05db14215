"""One model from git config to production on the Kubernetes target, through the real
Definitions built with ``LLM_PLATFORM_TARGET=kubernetes``.

kmock's API server is the cluster; :class:`tests.helpers.fake_kserve.FakeKServe` plays KServe for
every InferenceService (engine + gateway sidecar per revision, the canary split, status) and
feeds a real Prometheus, which the staging SLO checks query. alpha 1.0.0 is staged, SLO-checked,
approved by a signed commit and deployed to production (first deployment); alpha 2.0.0 then
goes the same way and is promoted as a canary under live traffic: every traffic change is an
apply of ``canaryTrafficPercent`` that the fake observes and routes, and the canary analysis
compares both revisions' series in the real Prometheus.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from kubernetes import client

from assets.names import PRODUCTION_DEPLOYMENT, STAGING_DEPLOYMENT, TAG_PARTITION
from definitions import build_defs
from llm_platform.artifact_store import open_store
from llm_platform.promotion import Ledger
from llm_platform.settings import PROMETHEUS_URL_ENV, TRUSTED_SIGNERS_ENV, Settings
from llm_platform.slo import PrometheusClient
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY
from llm_platform.targets.kubernetes import names
from tests.helpers.fake_kserve import FakeKServe, cluster_prometheus
from tests.helpers.kmock_fixtures import kube_server
from tests.helpers.kube_emulator_fixtures import CORE_KINDS, node
from tests.helpers.models_repo import ENV_YAML, ModelsRepo
from tests.helpers.paths import DEMO_WEIGHTS
from tests.helpers.promotion_fixtures import Platform, approve
from tests.helpers.signing_fixtures import make_signers

pytestmark = [pytest.mark.long, pytest.mark.integration, pytest.mark.timeout(300)]

#: Production lives in a namespace named differently from the environment.
PRODUCTION_NS = "llm-prod"
PRODUCTION_YAML = f"""\
environment: production
namespace: {PRODUCTION_NS}
deployment:
  strategy: canary
  canary_percentage: 50
  approval_required: true
analysis:
  deadline: 2m
slo:
  window: 5m
  min_requests: 10
  latency_p95_ms: 5000
approvers: [alice, bob]
"""
STAGING = {"ops": {STAGING_DEPLOYMENT: {"config": {"load_requests": 24}}}}
PROMOTE = {
    "ops": {PRODUCTION_DEPLOYMENT: {"config": {"smoke_requests": 6, "analysis_window_s": 6.0}}}
}
#: Upper bound of the live traffic's requests (loopback, sequential).
MAX_LIVE_REQUESTS = 2000


def prepare(repo: ModelsRepo, signing_key: Path) -> None:
    """alpha with the demo weights, a short staging soak and the production environment; every
    commit from here on signed with ``signing_key`` (the model changes' verified author)."""
    repo.signing_key = signing_key
    shutil.copytree(DEMO_WEIGHTS / "tiny-shakespeare", repo.path / "weights" / "alpha")
    staging = ENV_YAML.format(env="staging")
    assert "min_soak: 10s" in staging
    repo.write("config/staging.yaml", staging.replace("min_soak: 10s", "min_soak: 2s"))
    repo.write("config/production.yaml", PRODUCTION_YAML)
    repo.commit("alpha weights, production environment")


class LiveTraffic:
    """Sequential completions to ``endpoint`` in a thread until exit (bounded); counts the
    revision that answered each one (``x-llm-revision``) and the failures."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.revisions: Counter[str] = Counter()
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LiveTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        body = {"model": "alpha", "prompt": "Shall", "max_tokens": 3}
        with httpx.Client(trust_env=False, timeout=10) as http:
            for _ in range(MAX_LIVE_REQUESTS):
                if self._stop.is_set():
                    return
                try:
                    r = http.post(f"{self.endpoint}/v1/completions", json=body)
                    r.raise_for_status()
                    self.revisions[r.headers["x-llm-revision"]] += 1
                except httpx.HTTPError:
                    self.errors += 1
                time.sleep(0.02)


def wait_for_sample(prom_url: str, selector: str, *, timeout_s: float = 20.0) -> bool:
    """Whether Prometheus holds a sample of ``selector`` within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    with PrometheusClient(prom_url) as prom:
        while not prom.query(selector, at=datetime.now(UTC)):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.3)
    return True


def staged(p: Platform) -> dict[str, Any]:
    """Stage alpha at the repo's head; every staging check (integration + SLOs) must pass."""
    result = p.run("model_job", config=STAGING)
    assert result.success, p.failure(result)
    checks = p.checks(result)
    slo = [k for k in checks if k.startswith("staging_deployment:slo_")]
    assert slo, checks  # the SLO objectives were evaluated, on the real Prometheus
    for key, check in checks.items():
        assert check.passed, (key, check.metadata)
    meta = result.asset_materializations_for_node(STAGING_DEPLOYMENT)[0].metadata
    return {k: v.value for k, v in meta.items()}


def revisions_serving(url: str, requests: int) -> set[str]:
    """The revisions answering ``requests`` completions sent to the model's URL."""
    with httpx.Client(trust_env=False, timeout=10) as http:
        return {
            http.post(
                f"{url}/v1/completions",
                json={"model": "alpha", "prompt": "Shall", "max_tokens": 3},
            ).headers["x-llm-revision"]
            for _ in range(requests)
        }


def promoted(p: Platform) -> dict[str, Any]:
    result = p.run("production_job", config=PROMOTE)
    assert result.success, p.failure(result)
    meta = result.asset_materializations_for_node(PRODUCTION_DEPLOYMENT)[0].metadata
    return {k: v.value for k, v in meta.items()}


def test_one_model_from_git_to_production_on_kserve(
    models_repo: ModelsRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signers = make_signers(tmp_path / "keys")
    prepare(models_repo, signers.keys["dave"])
    home = tmp_path / "home"
    with (
        kube_server() as server,
        cluster_prometheus(tmp_path / "prometheus") as (prom_url, targets),
        FakeKServe(server, tmp_path / "cluster", targets) as kserve,
        dg.instance_for_test() as instance,
    ):
        monkeypatch.setenv("KUBECONFIG", str(server.write_kubeconfig(tmp_path / "kubeconfig")))
        monkeypatch.setenv(PROMETHEUS_URL_ENV, prom_url)
        server.emulator.resources.update(CORE_KINDS)  # nodes and pods, listed by the gate
        with server.api() as api:  # the production gate places the replica on this node
            client.CoreV1Api(api).create_node(node("gpu-1", memory="64Gi", gpus=2))
        settings = Settings.from_env(
            {
                "LLM_PLATFORM_TARGET": "kubernetes",
                "LLM_PLATFORM_MODELS_REPO": str(models_repo.path),
                "LLM_PLATFORM_HOME": str(home),
                "ARTIFACT_STORE_URI": str(tmp_path / "store"),
                PROMETHEUS_URL_ENV: prom_url,
                TRUSTED_SIGNERS_ENV: str(signers.trust_root),
            }
        )
        instance.add_dynamic_partitions("models", ["alpha"])
        p = Platform(models_repo, home, build_defs(settings), instance)

        # 1.0.0: staged on the cluster, approved (signed), first production deployment.
        v1 = staged(p)
        assert v1["namespace"] == "staging"
        approve(p.repo, signers, digest=v1["digest"], version="1.0.0", approver="bob")
        first = promoted(p)
        assert first["strategy"] == "first-deployment"

        # 2.0.0: new bytes, staged, approved by alice, promoted as a canary while users send
        # requests to the production URL (the canary analysis needs traffic on both revisions).
        (p.repo.path / "weights/alpha/NOTES.txt").write_text("v2\n")
        model_yaml = (p.repo.path / "models/alpha/model.yaml").read_text()
        p.repo.write("models/alpha/model.yaml", model_yaml.replace("1.0.0", "2.0.0"))
        commit = p.repo.commit("alpha 2.0.0")
        v2 = staged(p)
        assert v2["digest"] != v1["digest"] and v2["commit_sha"] == commit
        approve(p.repo, signers, digest=v2["digest"], version="2.0.0", approver="alice")
        with LiveTraffic(first["endpoint"]) as users:
            second = promoted(p)
        assert second["strategy"] == "canary"
        assert users.errors == 0
        # The split reached both revisions through the service URL while the canary ran.
        assert {first["revision"], second["revision"]} <= set(users.revisions)
        assert "| analysis | ok |" in second["rollout_steps"], second["rollout_steps"]
        assert second["previous_revision"] == first["revision"]
        assert second["digest"] == v2["digest"]

        isvc = kserve.settled(PRODUCTION_NS, "alpha")
        assert kserve.error is None, kserve.error
        # Every weight change went through the API: first deployment (no split), canary staged
        # at 0%, given 50%, promoted to 100% (then relabelled stable and the previous revision
        # kept at 0% for rollback, both still at 100%).
        assert kserve.percents[f"{PRODUCTION_NS}/alpha"] == [None, 0, 50, 100]
        # Live users come once Prometheus scrapes the new revision (increase() ignores a
        # series' first sample), as they would before the scheduled production checks.
        selector = (
            f'llm_requests_total{{namespace="{PRODUCTION_NS}",model="alpha",'
            f'revision="{second["revision"]}"}}'
        )
        assert wait_for_sample(prom_url, selector), selector
        served = revisions_serving(second["endpoint"], 12)
        # The production SLO checks find the promoted revision's series in its namespace.
        checks = p.run("slo_checks_job", partition=None, tags={TAG_PARTITION: "alpha"})
        production = {k: v for k, v in p.checks(checks).items() if k.startswith("production")}
        assert production, p.checks(checks)
        for key, check in production.items():
            assert check.passed, (key, check.metadata)
        assert (
            production["production_deployment:slo_latency_p95"].metadata["revision"].value
            == (second["revision"])
        )
        # The ledger as promoted (checked below with ``isvc``, after the rollback).
        promoted_entry = Ledger(open_store(str(tmp_path / "store"))).serving("alpha", "production")
        assert promoted_entry is not None

        # An operator rolls back: the previous revision serves all traffic again.
        rollback = {"ops": {PRODUCTION_DEPLOYMENT: {"config": {"action": "rollback"}}}}
        rolled = p.run("production_job", config=rollback)
        assert rolled.success, p.failure(rolled)
        back = {
            k: v.value
            for k, v in rolled.asset_materializations_for_node(PRODUCTION_DEPLOYMENT)[
                0
            ].metadata.items()
        }
        assert (back["action"], back["digest"]) == ("rollback", v1["digest"])
        # Recorded like a promotion: where it serves and how its metrics are read.
        assert back["endpoint"] == second["endpoint"]
        assert (back["engine"], back[METRIC_PROFILE_KEY]) == ("builtin", "default")
        restored = kserve.settled(PRODUCTION_NS, "alpha")
        assert restored["spec"]["predictor"]["labels"][names.REVISION] == first["revision"]
        assert kserve.percents[f"{PRODUCTION_NS}/alpha"][-1] is None  # one revision, no split
        after = revisions_serving(back["endpoint"], 6)
        assert after == {first["revision"]}
    labels, annotations = isvc["metadata"]["labels"], isvc["metadata"]["annotations"]
    assert labels[names.REVISION] == second["revision"]
    assert labels[names.VERSION] == "2.0.0"
    assert labels[names.COMMIT] == commit
    assert labels[names.DIGEST_PREFIX] == v2["digest"][: names.DIGEST_LABEL_CHARS]
    assert annotations[names.DIGEST] == v2["digest"]
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 100
    assert predictor["labels"][names.REVISION] == second["revision"]
    traffic = {t["tag"]: t for t in isvc["status"]["components"]["predictor"]["traffic"]}
    assert traffic["latest"]["percent"] == 100 and traffic["prev"]["percent"] == 0
    assert isvc["status"]["url"] == second["endpoint"]
    assert served == {second["revision"]}  # 100% of the traffic on the promoted revision
    assert (promoted_entry.digest, promoted_entry.revision) == (v2["digest"], second["revision"])
    ledger = Ledger(open_store(str(tmp_path / "store")))
    serving = ledger.serving("alpha", "production")
    assert serving is not None
    assert (serving.digest, serving.revision) == (v1["digest"], first["revision"])
    kinds = [e.kind for e in ledger.history("alpha", env="production")]
    assert kinds == ["rolled_back", "promoted", "promoted"]
