"""The ``delivery_metrics`` asset: DORA metrics of the fleet, refreshed hourly and after every
production change."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from assets.names import (
    DELIVERY_METRICS,
    LAYER_REPORTING,
    OWNERS,
    PRODUCTION_DEPLOYMENT,
    asset_tags,
)
from llm_platform.dora.format import markdown_table, numeric_metrics, title
from llm_platform.dora.sources import production_delivery_report
from llm_platform.promotion import Ledger
from resources.artifact_store import ArtifactStoreResource
from resources.git_repo import ModelsRepoResource

#: The periodic refresh (lead times and the window move even when nothing is promoted).
DELIVERY_METRICS_CRON = "0 * * * *"

#: Hourly, and whenever a production_deployment partition materializes (a promotion or a
#: rollback), without waiting for every model to reach production (which ``eager()`` would).
_hourly_or_changed: dg.AutomationCondition = (
    dg.AutomationCondition.cron_tick_passed(DELIVERY_METRICS_CRON)
    | dg.AutomationCondition.any_deps_updated()
)
delivery_refresh = (
    _hourly_or_changed.since_last_handled() & ~dg.AutomationCondition.in_progress()
).with_label("hourly or after a production change")


def metrics_metadata(report_values: dict[str, float | int]) -> dict[str, dg.MetadataValue]:
    """Plottable metadata: counts as ints, rates and durations as floats."""
    return {
        key: dg.MetadataValue.int(value)
        if isinstance(value, int)
        else dg.MetadataValue.float(float(value))
        for key, value in report_values.items()
    }


@dg.asset(
    name=DELIVERY_METRICS,
    deps=[PRODUCTION_DEPLOYMENT],
    group_name="delivery",
    kinds={"python"},
    owners=OWNERS,
    tags=asset_tags(LAYER_REPORTING),
    automation_condition=delivery_refresh,
)
def delivery_metrics(
    context: dg.AssetExecutionContext,
    artifact_store: ArtifactStoreResource,
    models_repo: ModelsRepoResource,
) -> dg.MaterializeResult:
    """Delivery (DORA) metrics of the last 30 days, per model and for the fleet.

    From the promotion ledger's production history and the models repo: deployment frequency,
    lead time from commit to production (p50, p90), change failure rate (failed rollouts and
    rollbacks per change) and time to restore (failed production check to healthy again). Each
    number is metadata (``<model>/<metric>``, ``fleet/<metric>``), so the UI plots it over
    materializations; ``llm-platform metrics`` prints the same table.
    """
    report = production_delivery_report(
        Ledger(artifact_store.store()),
        artifact_store.registry(),
        models_repo.repo(),
        until=datetime.now(UTC),
    )
    for note in report.notes:
        context.log.warning(note)
    metadata: dict[str, Any] = metrics_metadata(numeric_metrics(report))
    metadata["models"] = dg.MetadataValue.int(len(report.models))
    metadata["table"] = dg.MetadataValue.md(f"**{title(report)}**\n\n{markdown_table(report)}")
    metadata["report"] = dg.MetadataValue.json(report.model_dump(mode="json"))
    return dg.MaterializeResult(metadata=metadata)
