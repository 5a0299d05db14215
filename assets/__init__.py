"""The asset graph: configs, registered artifacts, staging and production deployments.

Checks are partitioned like their assets (``AssetCheckSpec(partitions_def=...)``), which
Dagster 1.13 flags as a preview feature once per spec and per process: ``make dev`` printed
about sixty identical warnings. We rely on it knowingly (docs/dagster-notes.md), so that one
warning is silenced here, before any asset module builds a spec; every other warning stays.
"""

import warnings

warnings.filterwarnings(
    "ignore",
    message=r"Specifying a partitions_def on an AssetCheckSpec is currently in preview",
)
