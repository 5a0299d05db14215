"""Asset keys, check names, partition and tag names: one place, used everywhere."""

from __future__ import annotations

from llm_platform.slo.objectives import OBJECTIVES

MODELS_PARTITIONS_NAME = "models"

MODEL_CONFIG = "model_config"
REGISTERED_MODEL = "registered_model"
STAGING_DEPLOYMENT = "staging_deployment"
PRODUCTION_DEPLOYMENT = "production_deployment"
DELIVERY_METRICS = "delivery_metrics"

CHECK_CONFIG_VALID = "config_valid"
CHECK_ARTIFACT_INTEGRITY = "artifact_integrity"
CHECK_SECURITY_SCAN = "security_scan"
CHECK_REPOSITORY_SCAN = "repository_scan"
CHECK_INTEGRATION_TESTS = "integration_tests"
CHECK_OUTPUT_QUALITY = "output_quality"

TAG_COMMIT = "llm-platform/commit"
TAG_AUTHOR = "llm-platform/author"
TAG_SUBJECT = "llm-platform/subject"
TAG_PARTITION = "dagster/partition"

MODEL_JOB = "model_job"
#: Metadata key of a step's ``dg.Failure`` whose outcome the step already announced (a refused,
#: held or rolled-back promotion notifies from its ledger event): the run-failure sensor does
#: not announce that run a second time.
FAILURE_ANNOUNCED = "announced"
GIT_PUSH_SENSOR = "git_push_sensor"

#: Metadata of a ``model_config`` materialization that later steps and sensors read: whether
#: the config is valid, who committed it, and (also on its failed check) the problems found.
CONFIG_VALID_KEY = "valid"
COMMIT_AUTHOR_KEY = "commit_author"
CONFIG_PROBLEMS_KEY = "problems"

#: objective name in an SLO verdict -> asset check name, for every objective of the registry
#: (llm_platform.slo.objectives); a model gets results only for the objectives it configures.
SLO_CHECKS = {o.name: o.check_name for o in OBJECTIVES}

PRODUCTION_JOB = "production_job"
SLO_CHECKS_JOB = "slo_checks_job"
PROMOTION_AUTOMATION = "promotion_automation"
ROLLBACK_SENSOR = "production_rollback_sensor"
SLO_RULES_SENSOR = "slo_rules_sensor"
RUN_FAILURE_SENSOR = "run_failure_sensor"
DELIVERY_METRICS_AUTOMATION = "delivery_metrics_automation"
SLO_RECHECK_SCHEDULE = "slo_recheck_schedule"
#: The checks-only run per re-check tick that records every model's slo_recheck verdict.
FLEET_RECHECK_CHECK = "fleet_recheck"
TAG_TRIGGER = "llm-platform/trigger"

#: Who owns every asset and check (Dagster accepts ``team:<name>`` or an e-mail address).
OWNER = "team:ml-platform"
OWNERS = [OWNER]

#: The ``layer`` tag of an asset: where it sits in the delivery pipeline (kinds say what runs it).
TAG_LAYER = "layer"
TAG_ENVIRONMENT = "environment"
LAYER_CONFIG = "config"
LAYER_REGISTRY = "registry"
LAYER_DEPLOYMENT = "deployment"
LAYER_REPORTING = "reporting"
LAYER_SLO = "slo"
LAYER_QUALITY = "quality"


def asset_tags(layer: str, environment: str | None = None) -> dict[str, str]:
    """The UI tags of an asset: its layer and, for a deployment, its environment."""
    return {TAG_LAYER: layer, **({TAG_ENVIRONMENT: environment} if environment else {})}


def check_ui_metadata(layer: str) -> dict[str, str]:
    """What an asset check shows of its owner and layer (Dagster 1.13's checks take neither
    ``owners`` nor ``tags``, so they are definition metadata)."""
    return {"owner": OWNER, TAG_LAYER: layer}
