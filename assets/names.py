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
