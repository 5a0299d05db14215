"""In-memory collaborators for the deployment use cases (``llm_platform.promotion.staging`` /
``promote`` / ``rollback``): a runtime, a serving target, a registry, an announcer, commit
statuses and a log that record what the use case did, with a real ledger on a local store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from llm_platform.artifact_store.local_store import LocalDirStore
from llm_platform.artifact_store.records import RegistryRecord
from llm_platform.config import model_config_path, parse_environment_config, parse_model_config
from llm_platform.endpoint_tests import SuiteReport
from llm_platform.endpoint_tests.models import LoadResult, TestResult
from llm_platform.gitops import GitRepo
from llm_platform.promotion.ledger import Ledger, LedgerEvent
from llm_platform.promotion.ports import Collaborators, RepoReaders
from llm_platform.reporting.commit_status import CommitStatus
from llm_platform.slo.endpoint import PrometheusNotConfigured
from llm_platform.targets.base import (
    CapacityReport,
    DeploymentNotReady,
    DeploymentSpec,
    DeploymentStatus,
    RevisionStatus,
    Runtime,
)
from tests.helpers.paths import REPO_ROOT

#: The demo model's weights (the builtin engine's format).
DEMO_ARTIFACT = REPO_ROOT / "examples/models-repo/weights/tiny-shakespeare"
GATEWAY = "http://gateway.invalid"


class FakeRuntime(Runtime):
    """Desired specs in memory; every revision is ready at once unless named in ``failing``."""

    def __init__(self) -> None:
        self.specs: dict[tuple[str, str], DeploymentSpec] = {}
        self.applied: list[DeploymentSpec] = []
        self.deleted: list[tuple[str, str]] = []
        self.failing: set[str] = set()

    def apply(self, spec: DeploymentSpec) -> DeploymentStatus:
        self.specs[(spec.env, spec.model)] = spec
        self.applied.append(spec)
        return self._status(spec)

    def status(self, env: str, model: str) -> DeploymentStatus | None:
        spec = self.specs.get((env, model))
        return self._status(spec) if spec else None

    def desired_spec(self, env: str, model: str) -> DeploymentSpec | None:
        return self.specs.get((env, model))

    def list_deployments(self, env: str | None = None) -> list[DeploymentStatus]:
        return [self._status(s) for (e, _), s in self.specs.items() if env in (None, e)]

    def wait_ready(self, env: str, model: str, *, timeout_s: float) -> DeploymentStatus:
        spec = self.specs[(env, model)]
        broken = [r.revision for r in spec.revisions if r.revision in self.failing]
        if broken:
            raise DeploymentNotReady(f"{broken[0]} exited: tokenizer.json is unreadable")
        return self._status(spec)

    def set_weights(self, env: str, model: str, weights: dict[str, int]) -> DeploymentStatus:
        spec = self.specs[(env, model)]
        revisions = [
            r.model_copy(update={"weight": weights.get(r.revision, 0)}) for r in spec.revisions
        ]
        return self.apply(DeploymentSpec(env=env, model=model, revisions=revisions))

    def delete(self, env: str, model: str) -> None:
        self.specs.pop((env, model), None)
        self.deleted.append((env, model))

    def capacity(self) -> CapacityReport:
        return CapacityReport(memory_total_bytes=2**34, memory_available_bytes=2**33, detail="")

    def _status(self, spec: DeploymentSpec) -> DeploymentStatus:
        return DeploymentStatus(
            env=spec.env,
            model=spec.model,
            revisions=[
                RevisionStatus(
                    revision=r.revision,
                    version=r.version,
                    digest=r.digest,
                    color=r.color,
                    weight=r.weight,
                    url=f"{GATEWAY}/{spec.env}/{r.revision}",
                    pid=None,
                    healthy=True,
                    restarts=0,
                    last_error=None,
                    replicas=r.replicas,
                    ready_replicas=r.replicas,
                )
                for r in spec.revisions
            ],
            endpoint=f"{GATEWAY}/{spec.env}/{spec.model}",
            ready=True,
        )


@dataclass
class FakeTarget:
    """A serving target whose artifacts are all the demo model."""

    runtime_: FakeRuntime
    home: Path

    def runtime(self) -> Runtime:
        return self.runtime_

    def home_path(self) -> Path:
        return self.home

    def local_artifact(self, model: str, uri: str, digest: str) -> Path:
        return DEMO_ARTIFACT


@dataclass
class FakeRegistry:
    """Registry records by (model, version, digest)."""

    records: dict[tuple[str, str, str], RegistryRecord] = field(default_factory=dict)

    def add(self, model: str, version: str, digest: str, *, commit_sha: str) -> RegistryRecord:
        record = RegistryRecord(
            name=model,
            version=version,
            digest=digest,
            files=[],
            total_size=1024,
            source_uri=f"weights/{model}",
            commit_sha=commit_sha,
            config_hash="0" * 64,
            kfp_run_id="run-1",
            scan_safe=True,
            artifact_uri=f"file:///store/{model}/{version}/{digest}/files/",
        )
        self.records[(model, version, digest)] = record
        return record

    def get_record(
        self, name: str, version: str, digest: str | None = None
    ) -> RegistryRecord | None:
        return self.records.get((name, version, digest or ""))


@dataclass
class Recorder:
    """Announcements, commit statuses and log lines, in order."""

    events: list[LedgerEvent] = field(default_factory=list)
    started: list[tuple[str, str]] = field(default_factory=list)
    statuses: list[CommitStatus] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def notify(self, event: LedgerEvent) -> bool:
        self.events.append(event)
        return True

    def start(self, model: str, sha: str) -> None:
        self.started.append((model, sha))

    def report(self, status: CommitStatus) -> None:
        self.statuses.append(status)

    def commit_url(self, sha: str) -> str | None:
        return f"https://github.invalid/commit/{sha}"

    def info(self, msg: str) -> None:
        self.infos.append(msg)

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)


@dataclass
class World:
    """Everything a use case works with, for one test."""

    runtime: FakeRuntime
    registry: FakeRegistry
    ledger: Ledger
    recorder: Recorder
    c: Collaborators


def make_world(tmp_path: Path, *, run_id: str = "run-1") -> World:
    """Fresh fakes over ``tmp_path`` (the ledger's store and the promotion locks live there)."""
    runtime, registry, recorder = FakeRuntime(), FakeRegistry(), Recorder()
    ledger = Ledger(LocalDirStore(tmp_path / "store"))
    c = Collaborators(
        run_id=run_id,
        target=FakeTarget(runtime, tmp_path / "home"),
        registry=registry,
        ledger=ledger,
        notifier=recorder,
        statuses=recorder,
        log=recorder,
    )
    return World(runtime, registry, ledger, recorder, c)


def _environment(repo: GitRepo, sha: str, env: str):  # type: ignore[no-untyped-def]
    rel = f"config/{env}.yaml"
    return parse_environment_config(repo.read_file(sha, rel), source=rel, expected_environment=env)


def _model(repo: GitRepo, sha: str, name: str):  # type: ignore[no-untyped-def]
    rel = model_config_path(name)
    return parse_model_config(repo.read_file(sha, rel), source=rel, expected_name=name)


#: The models repo read straight through the core's parsers (no synthetic canary prompts).
READERS = RepoReaders(
    environment=_environment, model=_model, analysis_prompts=lambda repo, sha, model: []
)


class FakePrometheus:
    """A Prometheus that is absent (``url`` None) or has (``seen``) the queried series."""

    def __init__(self, url: str | None = None, *, seen: bool = True) -> None:
        self.url, self.seen = url, seen
        self.queries: list[str] = []

    def resolved_url(self, *, monitoring_namespace: str, env: str | None = None) -> str:
        if self.url is None:
            raise PrometheusNotConfigured("no Prometheus in this test")
        return self.url

    def client(self, *, monitoring_namespace: str, env: str | None = None) -> FakePrometheus:
        self.resolved_url(monitoring_namespace=monitoring_namespace, env=env)
        return self

    def __enter__(self) -> FakePrometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def query(self, promql: str, *, at: datetime) -> list[Any]:
        self.queries.append(promql)
        return [{"value": [at.timestamp(), "0"]}] if self.seen else []


def suite_report(*, passed: bool = True) -> SuiteReport:
    """What the integration suite reports: health, inference and a load test."""
    return SuiteReport(
        base_url=f"{GATEWAY}/staging/alpha",
        model="alpha",
        passed=passed,
        tests=[
            TestResult(name="health", passed=True, detail="200", duration_s=0.01),
            TestResult(
                name="inference", passed=passed, detail="ok" if passed else "500", duration_s=0.1
            ),
        ],
        load=LoadResult(
            requests=60,
            succeeded=60 if passed else 30,
            failed=0 if passed else 30,
            success_rate=1.0 if passed else 0.5,
            p50_ms=12.345,
            p95_ms=None,
            rps=30.0,
            concurrency=8,
        ),
    )
