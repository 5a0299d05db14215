"""The one dynamic partitions definition: one partition per model (key = model name)."""

from __future__ import annotations

import dagster as dg

from assets.names import MODELS_PARTITIONS_NAME

models_partitions = dg.DynamicPartitionsDefinition(name=MODELS_PARTITIONS_NAME)
