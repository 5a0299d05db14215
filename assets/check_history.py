"""What the event log says about one asset partition: its latest materialization, and the
latest result of one of its checks (the one place these lookups are defined).

Dagster 1.13 has no public "latest check result for a partition" API on ``DagsterInstance``
(docs/dagster-notes.md, item 2), so this module — and only this module — uses the
event log storage's ``get_asset_check_execution_history`` with a ``PartitionKeyFilter``, its
``get_latest_storage_id_by_partition`` (the latest materialization of every partition in one
query, for the fleet re-check) and the target type of a run-less check evaluation. If a later
Dagster release changes them, this is the one place to adapt.
"""

from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus


@dataclass(frozen=True)
class CheckStatus:
    """What the latest execution of a check said, and which materialization it judged."""

    check_name: str
    executed: bool
    passed: bool
    target_storage_id: int | None
    run_id: str | None
    timestamp: float | None
    description: str | None
    metadata: dict[str, object]


def latest_check_status(
    instance: dg.DagsterInstance, asset: str, check_name: str, partition: str
) -> CheckStatus:
    """The latest execution of ``asset``'s check ``check_name`` for ``partition``."""
    key = dg.AssetCheckKey(dg.AssetKey(asset), check_name)
    history = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, partition_filter=PartitionKeyFilter(key=partition)
    )
    if not history:
        return CheckStatus(check_name, False, False, None, None, None, None, {})
    rec = history[0]
    # A check planned in a run but never yielded (an SLO objective the model does not
    # configure) carries a planned event, not an evaluation.
    evaluation = rec.evaluation if isinstance(rec.evaluation, dg.AssetCheckEvaluation) else None
    target = evaluation.target_materialization_data if evaluation else None
    return CheckStatus(
        check_name=check_name,
        executed=rec.status != AssetCheckExecutionRecordStatus.PLANNED,
        passed=rec.status == AssetCheckExecutionRecordStatus.SUCCEEDED,
        target_storage_id=target.storage_id if target else None,
        run_id=rec.run_id,
        timestamp=rec.create_timestamp,
        description=evaluation.description if evaluation else None,
        metadata={k: v.value for k, v in evaluation.metadata.items()} if evaluation else {},
    )


def latest_materialization(
    instance: dg.DagsterInstance, asset: str, partition: str
) -> dg.EventLogRecord | None:
    """The event-log record of the latest materialization of ``asset`` for ``partition``."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]),
        limit=1,
    ).records
    return records[0] if records else None


def latest_materialization_storage_id(
    instance: dg.DagsterInstance, asset: str, partition: str
) -> int | None:
    """Storage id of the latest materialization of ``asset`` for ``partition``."""
    record = latest_materialization(instance, asset, partition)
    return record.storage_id if record else None


def latest_materialization_metadata(
    instance: dg.DagsterInstance, asset: str, partition: str
) -> dict[str, Any] | None:
    """Metadata values of the latest materialization of ``asset`` for ``partition``."""
    record = latest_materialization(instance, asset, partition)
    materialization = record.asset_materialization if record else None
    if materialization is None:
        return None
    return {k: v.value for k, v in materialization.metadata.items()}


def partitions_with_new_check_events(
    instance: dg.DagsterInstance, asset: str, check_names: list[str], after_storage_id: int
) -> tuple[set[str], int]:
    """Partitions whose checks have an event newer than ``after_storage_id``, and a new cursor.

    Works on run-sharded SQLite storage (the ``dagster dev`` default), unlike a cursor over the
    raw event log.
    """
    keys = [dg.AssetCheckKey(dg.AssetKey(asset), name) for name in check_names]
    infos = instance.event_log_storage.get_asset_check_partition_info(
        keys, after_storage_id=after_storage_id or None
    )
    partitions = {i.partition_key for i in infos if i.partition_key}
    cursor = max([after_storage_id, *(i.latest_check_event_storage_id for i in infos)])
    return partitions, cursor


def latest_materializations_by_partition(
    instance: dg.DagsterInstance, asset: str
) -> dict[str, dg.EventLogRecord]:
    """The latest materialization of every partition of ``asset``, in two queries in all."""
    key = dg.AssetKey(asset)
    ids = instance.event_log_storage.get_latest_storage_id_by_partition(
        key, dg.DagsterEventType.ASSET_MATERIALIZATION
    )
    if not ids:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, storage_ids=list(ids.values())), limit=len(ids)
    ).records
    by_id = {r.storage_id: r for r in records}
    return {p: by_id[i] for p, i in ids.items() if i in by_id}


def record_metadata(record: dg.EventLogRecord) -> dict[str, Any]:
    """Metadata values of a materialization record."""
    materialization = record.asset_materialization
    return {k: v.value for k, v in materialization.metadata.items()} if materialization else {}


def evaluation_target(record: dg.EventLogRecord) -> AssetCheckEvaluationTargetMaterializationData:
    """What a run-less check evaluation judged: the materialization ``record``."""
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )
