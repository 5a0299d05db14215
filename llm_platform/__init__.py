"""llm-platform domain core: importable without Dagster.

Everything here is plain Python (config schemas, git change detection, registration,
serving, SLO maths). The Dagster layers (``assets``, ``sensors``, ``resources``) call into it.
"""

__version__ = "0.1.0"
