"""Which metric profile a deployment's SLOs are read with.

A deployment records the profile its servers export (``metric_profile`` in its metadata); the
SLO checks read the series that profile names. A deployment that records none (made before the
field existed) is served by the built-in model server, which exports the default profile.
"""

from __future__ import annotations

from collections.abc import Mapping

from llm_platform.slo.profiles import DEFAULT_PROFILE, PROFILES, MetricProfile

#: The metadata key under which a deployment records its metric profile's name.
METRIC_PROFILE_KEY = "metric_profile"


def metric_profile_for(deployment: Mapping[str, object]) -> MetricProfile:
    """The metric profile named by a deployment's metadata (default profile when absent).

    Raises:
        ValueError: the deployment names a profile that does not exist.
    """
    name = deployment.get(METRIC_PROFILE_KEY) or DEFAULT_PROFILE.name
    profile = PROFILES.get(str(name))
    if profile is None:
        raise ValueError(
            f"{METRIC_PROFILE_KEY} {name!r}: no such metric profile (expected one of "
            f"{sorted(PROFILES)})"
        )
    return profile
