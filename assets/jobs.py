"""Asset jobs that sensors and schedules launch."""

import dagster as dg

from assets.model_config import model_config
from assets.names import MODEL_JOB, PRODUCTION_JOB, SLO_CHECKS_JOB
from assets.production import production_deployment
from assets.recheck_record import fleet_recheck
from assets.registered_model import registered_model
from assets.slo_checks import production_slo_checks, staging_slo_checks
from assets.staging import staging_deployment

#: Everything a push to one model's config sets in motion, for one partition (= model).
model_job = dg.define_asset_job(
    MODEL_JOB,
    selection=dg.AssetSelection.assets(model_config, registered_model, staging_deployment),
    description="Validate, register and stage the models a push changed (one run per model).",
)

#: Promotion or rollback of one model (production SLO checks run on their schedule instead:
#: right after a switch there is not enough traffic for a verdict).
production_job = dg.define_asset_job(
    PRODUCTION_JOB,
    selection=dg.AssetSelection.assets(production_deployment).without_checks(),
    description="Promote (gated) or roll back one model in production.",
)

#: SLO checks only, no redeploy. Launched per model with a ``dagster/partition`` tag: a
#: checks-only job loses its partitions definition in Dagster 1.13 (see docs/dagster-notes.md).
slo_checks_job = dg.define_asset_job(
    SLO_CHECKS_JOB,
    selection=dg.AssetSelection.checks(staging_slo_checks, production_slo_checks, fleet_recheck),
    description="Re-evaluate staging and production SLOs against Prometheus.",
)
