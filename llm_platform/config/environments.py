"""The environments the pipeline deploys to, by name: ``config/<name>.yaml`` of each.

Staging receives every registered candidate; production receives what passed staging.
"""

from __future__ import annotations

#: Where ``staging_deployment`` deploys every candidate (``config/staging.yaml``).
STAGING = "staging"
#: Where ``production_deployment`` promotes (``config/production.yaml``).
PRODUCTION = "production"
#: Both, in pipeline order (the embedded stack starts one gateway per environment).
PIPELINE_ENVIRONMENTS = (STAGING, PRODUCTION)
