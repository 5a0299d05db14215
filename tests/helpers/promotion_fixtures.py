"""A models repo, a real embedded stack and the full Definitions, for promotion tests."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from definitions import build_defs
from llm_platform.config.environments import PRODUCTION
from llm_platform.promotion import AliasTarget, Ledger, LedgerEvent
from llm_platform.settings import TRUSTED_SIGNERS_ENV, Settings
from tests.helpers.models_repo import ENV_YAML, ModelsRepo
from tests.helpers.paths import DEMO_WEIGHTS
from tests.helpers.signing_fixtures import Signers, approval_entry, commit_as

PRODUCTION_YAML = """\
environment: production
namespace: production
deployment:
  strategy: {strategy}
  approval_required: true
  canary_percentage: 20
slo:
  window: 5m
  min_requests: 10
  latency_p95_ms: {latency}
approvers: [alice, bob]
"""


def prepare_repo(repo: ModelsRepo, signers: Signers, *, strategy: str = "blue-green") -> None:
    """alpha with the demo weights, staging + production environments; from here on every
    commit is signed by dave (trusted, not an approver), so alice and bob may approve."""
    repo.signing_key = signers.keys["dave"]
    shutil.copytree(DEMO_WEIGHTS / "tiny-shakespeare", repo.path / "weights" / "alpha")
    repo.write("config/staging.yaml", ENV_YAML.format(env="staging"))
    set_production(repo, strategy=strategy, latency=2000)
    repo.commit("alpha weights, production environment")


def set_production(repo: ModelsRepo, *, strategy: str = "blue-green", latency: float) -> None:
    repo.write("config/production.yaml", PRODUCTION_YAML.format(strategy=strategy, latency=latency))


def set_model_latency_objective(repo: ModelsRepo, latency_ms: float | None) -> None:
    text = (repo.path / "models/alpha/model.yaml").read_text().split("slo:")[0]
    if latency_ms is not None:
        text += f"slo:\n  latency_p95_ms: {latency_ms}\n"
    repo.write("models/alpha/model.yaml", text)


@dataclass
class Platform:
    """The real Definitions over a test repo and an embedded stack home."""

    repo: ModelsRepo
    home: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance

    def run(
        self,
        job: str,
        *,
        config: dict | None = None,
        tags: dict | None = None,
        partition: str | None = "alpha",
        selection=None,
    ):
        job_def = self.defs.resolve_job_def(job)
        return job_def.execute_in_process(
            instance=self.instance,
            partition_key=partition,
            run_config=config,
            tags=tags,
            raise_on_error=False,
            asset_selection=selection,
        )

    def checks(self, result) -> dict[str, dg.AssetCheckEvaluation]:
        return {
            f"{e.asset_key.to_user_string()}:{e.check_name}": e
            for e in result.get_asset_check_evaluations()
        }

    def failure(self, result) -> str:
        return "\n".join(
            str(e.event_specific_data.error)
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
        )


def approve(repo: ModelsRepo, signers: Signers, *, digest: str, version: str, approver: str) -> str:
    """Add an approval of alpha to ``approvals/alpha.yaml``, committed and SSH-signed by
    ``approver``'s key in the trust root."""
    path = repo.path / "approvals/alpha.yaml"
    existing = path.read_text() if path.exists() else "approvals:\n"
    repo.write(
        "approvals/alpha.yaml",
        existing + approval_entry(digest=digest, version=version, approver=approver),
    )
    return commit_as(repo.path, approver, f"approve alpha {version}", key=signers.keys[approver])


def make_platform(
    repo: ModelsRepo,
    home: Path,
    instance: dg.DagsterInstance,
    *,
    trusted_signers: Path | None = None,
) -> Platform:
    settings = Settings.from_env(
        {
            "LLM_PLATFORM_MODELS_REPO": str(repo.path),
            "LLM_PLATFORM_HOME": str(home),
            "ARTIFACT_STORE_URI": str(home / ("store-" + repo.path.parent.name)),
            TRUSTED_SIGNERS_ENV: str(trusted_signers or ""),
        }
    )
    return Platform(repo=repo, home=home, defs=build_defs(settings), instance=instance)


def promote_twice(ledger: Ledger, *, model: str, revision: str, digest: str) -> None:
    """Record two promotions of ``model`` into production, 0.9.0 then 1.0.0 (``digest``) served
    by ``revision``: production has a previous digest to roll back to."""
    for version, version_digest in (("0.9.0", "0" * 64), ("1.0.0", digest)):
        ledger.promote(
            LedgerEvent(
                kind="promoted",
                model=model,
                env=PRODUCTION,
                version=version,
                digest=version_digest,
                reason="test",
            ),
            AliasTarget(version=version, digest=version_digest, revision=revision),
        )
