"""Asset jobs that sensors and schedules launch."""

from __future__ import annotations

import dagster as dg

from assets.model_config import model_config
from assets.names import MODEL_JOB
from assets.registered_model import registered_model
from assets.staging import staging_deployment

#: Everything a push to one model's config sets in motion, for one partition (= model).
model_job = dg.define_asset_job(
    MODEL_JOB,
    selection=dg.AssetSelection.assets(model_config, registered_model, staging_deployment),
    description="Validate (and, downstream, register and stage) the models a push changed.",
)
