"""Asset keys, check names, partition and tag names: one place, used everywhere."""

from __future__ import annotations

MODELS_PARTITIONS_NAME = "models"

MODEL_CONFIG = "model_config"
REGISTERED_MODEL = "registered_model"
STAGING_DEPLOYMENT = "staging_deployment"
PRODUCTION_DEPLOYMENT = "production_deployment"

CHECK_CONFIG_VALID = "config_valid"
CHECK_ARTIFACT_INTEGRITY = "artifact_integrity"
CHECK_SECURITY_SCAN = "security_scan"
CHECK_INTEGRATION_TESTS = "integration_tests"

TAG_COMMIT = "llm-platform/commit"
TAG_AUTHOR = "llm-platform/author"
TAG_SUBJECT = "llm-platform/subject"
TAG_PARTITION = "dagster/partition"

MODEL_JOB = "model_job"
GIT_PUSH_SENSOR = "git_push_sensor"

STAGING_ENV = "staging"
PRODUCTION_ENV = "production"

CHECK_SLO_AVAILABILITY = "slo_availability"
CHECK_SLO_LATENCY_P95 = "slo_latency_p95"
CHECK_SLO_ERROR_RATE = "slo_error_rate"
#: objective name in an SLO verdict -> asset check name
SLO_CHECKS = {
    "availability": CHECK_SLO_AVAILABILITY,
    "latency_p95": CHECK_SLO_LATENCY_P95,
    "error_rate": CHECK_SLO_ERROR_RATE,
}

PRODUCTION_JOB = "production_job"
SLO_CHECKS_JOB = "slo_checks_job"
PROMOTION_AUTOMATION = "promotion_automation"
ROLLBACK_SENSOR = "production_rollback_sensor"
SLO_RECHECK_SCHEDULE = "slo_recheck_schedule"
TAG_TRIGGER = "llm-platform/trigger"
