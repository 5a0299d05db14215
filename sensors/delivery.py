"""Keeps ``delivery_metrics`` fresh: its automation condition, evaluated by its own sensor."""

import dagster as dg

from assets.delivery_metrics import delivery_metrics
from assets.names import DELIVERY_METRICS_AUTOMATION, TAG_TRIGGER

#: Separate from ``promotion_automation`` so that refreshing the metrics never shares a tick,
#: tags or a failure with promotions.
delivery_metrics_automation = dg.AutomationConditionSensorDefinition(
    DELIVERY_METRICS_AUTOMATION,
    target=dg.AssetSelection.assets(delivery_metrics),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    run_tags={TAG_TRIGGER: DELIVERY_METRICS_AUTOMATION},
    description="Requests delivery_metrics hourly and after every production change.",
)
