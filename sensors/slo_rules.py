"""The SLO rules sensor: the embedded Prometheus evaluates the rules of the branch head."""

import dagster as dg

from assets.names import SLO_RULES_SENSOR
from llm_platform.config import ConfigError
from llm_platform.config.environments import PIPELINE_ENVIRONMENTS
from llm_platform.config.slo_rules_source import rules_at
from llm_platform.gitops import GitError
from llm_platform.targets.local.prometheus_rules import RulesRejected
from resources.git_repo import ModelsRepoResource
from resources.prometheus import PrometheusResource

#: The environments whose rules the embedded Prometheus evaluates.
RULE_ENVS = list(PIPELINE_ENVIRONMENTS)


@dg.sensor(
    name=SLO_RULES_SENSOR,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Regenerates the SLO recording rules and burn-rate alerts of staging and "
    "production from the models branch head (cursor = the head they were generated from) and "
    "reloads the embedded Prometheus when they changed. A head with an invalid config keeps "
    "the previous rules (the model's own run reports the config error). On Kubernetes the "
    "rules travel as PrometheusRule objects with each deployment instead.",
)
def slo_rules_sensor(
    context: dg.SensorEvaluationContext,
    models_repo: ModelsRepoResource,
    prometheus: PrometheusResource,
) -> dg.SkipReason:
    """Install the rules of a new head (``git_push_sensor`` fetches the branch)."""
    repo = models_repo.repo()
    head = repo.head()
    if context.cursor == head and prometheus.has_rules(RULE_ENVS):
        return dg.SkipReason(f"SLO rules are those of {head[:12]}")
    try:
        done = prometheus.install_rules(rules_at(repo, head, RULE_ENVS))
    except (ConfigError, GitError, RulesRejected) as exc:
        context.update_cursor(head)  # retried at the next commit, not every tick
        context.log.warning(f"SLO rules not updated at {head[:12]}: {exc}")
        return dg.SkipReason(f"SLO rules not updated at {head[:12]}: {exc}")
    context.update_cursor(head)
    if done is None:
        return dg.SkipReason("the cluster's Prometheus gets PrometheusRule objects instead")
    if not done.written:
        return dg.SkipReason(f"SLO rules of {head[:12]} unchanged")
    how = "reloaded" if done.reloaded else "loaded when Prometheus starts"
    return dg.SkipReason(
        f"SLO rules of {head[:12]} installed for {', '.join(done.written)} ({how})"
    )
