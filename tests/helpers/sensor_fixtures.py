"""Sensor ticks as the daemon evaluates them, against a Definitions object's resources."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.sensor_definition import SensorExecutionData


def sensor_tick(
    sensor: dg.SensorDefinition,
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    cursor: str | None,
) -> SensorExecutionData:
    """One tick of ``sensor`` from ``cursor``, with ``defs``'s resources and ``instance``."""
    with dg.build_sensor_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        definitions=defs,
        cursor=cursor,
        resources=dict(defs.resources or {}),
    ) as ctx:  # exits the instance it enters for the resources
        return sensor.evaluate_tick(ctx)
