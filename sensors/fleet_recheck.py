"""The scheduled re-check of every production model in one tick, with a constant query count.

One tick: read the latest production, staging and model_config materializations of every
partition (a few event-log queries in all), the models' effective ``slo:`` (one ``git cat-file
--batch``), evaluate them with :func:`llm_platform.slo.recheck.evaluate_production_fleet`
(constant PromQL queries per namespace and metric profile), and build each model's decision as
an ``slo_recheck`` evaluation on its partition, aimed at the materialization it judged; the
schedule records them in one checks-only run per tick (``assets/recheck_record.py``: run-less
evaluations of one partition cannot coexist). Further runs only where something must happen:

* ``rollback``: the rollback sensor acts on the recorded evaluation (one rollback per judged
  materialization, whoever recorded the failure);
* ``notify``: a checks-only run of the model's production checks, which notifies and records
  the per-objective evidence;
* staging deployments awaiting promotion (their digest is not serving in production): a
  checks-only run of their staging checks, which the promotion automation waits for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg

from assets.check_history import latest_materializations_by_partition, record_metadata
from assets.names import (
    CONFIG_VALID_KEY,
    MODEL_CONFIG,
    MODELS_PARTITIONS_NAME,
    PRODUCTION_DEPLOYMENT,
    SLO_CHECKS,
    STAGING_DEPLOYMENT,
)
from assets.slo_outcomes import recheck_evaluation
from assets.wiring import recorded_deployment
from llm_platform.common.repo_layout import environment_config_path
from llm_platform.config import (
    ConfigError,
    effective_slo,
    model_config_path,
    parse_environment_config,
    parse_model_config,
)
from llm_platform.config.environments import PRODUCTION
from llm_platform.gitops import GitError, GitRepo
from llm_platform.gitops.batch import read_files
from llm_platform.promotion.deployment_record import (
    COMMIT_SHA_KEY,
    DIGEST_KEY,
    REVISION_KEY,
    DeploymentRecord,
)
from llm_platform.slo import PrometheusError
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY
from llm_platform.slo.profiles import PROFILES
from llm_platform.slo.prom import InstantQueryClient, PromSample
from llm_platform.slo.recheck import (
    RECHECK_CHECK,
    RecheckOutcome,
    RecheckTarget,
    evaluate_production_fleet,
)


class Unreachable:
    """The client when no Prometheus could be configured: every query raises that error."""

    def __init__(self, error: PrometheusError) -> None:
        self.error = error

    def query(self, promql: str, *, at: datetime) -> list[PromSample]:
        """Raise the configuration error (the re-check records it on every model)."""
        raise self.error


@dataclass
class FleetRecheck:
    """What one tick decided: per-model outcomes, models it could not judge, the evaluations
    to record and the checks-only runs to launch."""

    outcomes: dict[str, RecheckOutcome] = field(default_factory=dict)
    evaluations: list[dg.AssetCheckEvaluation] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    check_runs: dict[str, list[dg.AssetCheckKey]] = field(default_factory=dict)


def _keys(asset: str, names: list[str]) -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(dg.AssetKey(asset), n) for n in names]


def _targets(
    repo: GitRepo, production: dict[str, dg.EventLogRecord], configs: dict[str, dict[str, Any]]
) -> tuple[list[RecheckTarget], dict[str, str]]:
    """Each production model's revision, metric profile and effective objectives."""
    errors: dict[str, str] = {}
    shas: dict[str, str] = {}
    for model in production:
        meta = configs.get(model) or {}
        if not meta.get(CONFIG_VALID_KEY) or not meta.get(COMMIT_SHA_KEY):
            errors[model] = f"{model} has no valid {MODEL_CONFIG}; fix its model.yaml"
        else:
            shas[model] = str(meta[COMMIT_SHA_KEY])
    env_path = environment_config_path(PRODUCTION)
    wanted = [(sha, env_path) for sha in set(shas.values())]
    wanted += [(sha, model_config_path(m)) for m, sha in shas.items()]
    try:
        files = read_files(repo, wanted)
    except GitError as exc:  # one unreadable file: read one by one to blame the right models
        files = {}
        for key in wanted:
            try:
                files[key] = repo.read_file(*key)
            except GitError:
                pass
        if not files:
            return [], {m: f"models repo: {exc}" for m in production}
    targets, envs = [], {}
    for model, sha in shas.items():
        try:
            if sha not in envs:
                envs[sha] = parse_environment_config(
                    files[(sha, env_path)], source=env_path, expected_environment=PRODUCTION
                )
            rel = model_config_path(model)
            cfg = parse_model_config(files[(sha, rel)], source=rel, expected_name=model)
            deployed = DeploymentRecord.from_metadata(record_metadata(production[model]))
            targets.append(
                RecheckTarget(
                    model=model,
                    namespace=envs[sha].namespace,
                    revision=deployed.revision,
                    profile=PROFILES[deployed.metric_profile],
                    objectives=effective_slo(envs[sha], cfg),
                )
            )
        except KeyError as exc:
            errors[model] = f"{exc.args[0][1]} at {sha[:12]} could not be read"
        except (ConfigError, ValueError) as exc:
            errors[model] = f"at {sha[:12]}: {exc}"
    return targets, errors


def _awaiting_promotion(
    staging: dict[str, dg.EventLogRecord], production: dict[str, dg.EventLogRecord]
) -> list[str]:
    """Models whose staged digest is not the one production serves."""
    out = []
    for model, record in staging.items():
        staged = recorded_deployment(record)
        serving = recorded_deployment(production[model]) if model in production else None
        if (staged and staged.digest) != (serving and serving.digest):
            out.append(model)
    return out


def run_fleet_recheck(
    instance: dg.DagsterInstance, repo: GitRepo, client: InstantQueryClient, *, trigger: str
) -> FleetRecheck:
    """Evaluate and decide for every production model (see the module docstring); the caller
    records ``evaluations`` (:func:`assets.recheck_record.record_request`)."""
    partitions = set(instance.get_dynamic_partitions(MODELS_PARTITIONS_NAME))
    production = {
        m: r
        for m, r in latest_materializations_by_partition(instance, PRODUCTION_DEPLOYMENT).items()
        if m in partitions
    }
    staging = {
        m: r
        for m, r in latest_materializations_by_partition(instance, STAGING_DEPLOYMENT).items()
        if m in partitions
    }
    configs = {
        m: record_metadata(r)
        for m, r in latest_materializations_by_partition(instance, MODEL_CONFIG).items()
        if m in production
    }
    result = FleetRecheck()
    targets, result.errors = _targets(repo, production, configs)
    try:
        result.outcomes = evaluate_production_fleet(client, targets, env=PRODUCTION)
    except PrometheusError as exc:
        result.errors.update({t.model: f"Prometheus error: {exc}" for t in targets})
    for model, record in production.items():
        deployed = recorded_deployment(record)
        extra = {
            **(
                {
                    REVISION_KEY: deployed.revision,
                    DIGEST_KEY: deployed.digest,
                    METRIC_PROFILE_KEY: deployed.metric_profile,
                }
                if deployed
                else {}
            ),
            "recorded_by": trigger,
        }
        decided = result.outcomes.get(model)
        result.evaluations.append(
            recheck_evaluation(
                PRODUCTION_DEPLOYMENT,
                model,
                decided,
                record,
                extra,
                error=result.errors.get(model),
            )
        )
        if decided is not None and decided.action == "notify":
            names = [*SLO_CHECKS.values(), RECHECK_CHECK]
            result.check_runs[model] = _keys(PRODUCTION_DEPLOYMENT, names)
    for model in _awaiting_promotion(staging, production):
        keys = _keys(STAGING_DEPLOYMENT, list(SLO_CHECKS.values()))
        result.check_runs[model] = result.check_runs.get(model, []) + keys
    return result
