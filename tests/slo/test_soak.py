"""Soak: a staging verdict is inconclusive until the revision has served for ``min_soak``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from llm_platform.config import SLOObjectives, SLOOverrides
from llm_platform.slo import DEFAULT_PROFILE, PrometheusClient, evaluate
from llm_platform.slo.soak import soak_gate, soak_query
from tests.helpers.budget_fixtures import Timeline, start
from tests.helpers.prom_fixtures import PrometheusProcess, aligned_now

pytestmark = pytest.mark.integration

NS = "staging"
MIN, HOUR = 60, 3600
OBJ = SLOObjectives(window="1h", availability=0.99, min_requests=1000)
TIMELINES = [
    Timeline("young", NS, 20 * MIN, labels={"revision": "young-r1"}),
    Timeline("seasoned", NS, 3 * HOUR, labels={"revision": "seasoned-r1"}),
    Timeline("mixed", NS, 3 * HOUR, labels={"revision": "mixed-old"}),
    Timeline("mixed", NS, 10 * MIN, labels={"revision": "mixed-new"}),
]


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, int]]:
    end = aligned_now() // 60 * 60
    server = start(tmp_path_factory.mktemp("soak"), TIMELINES, end=end)
    try:
        yield server, end
    finally:
        server.stop()


def _check(prom: tuple[PrometheusProcess, int], model: str, revision: str, min_soak: str | None):
    with PrometheusClient(prom[0].url, timeout=30) as client:
        return evaluate(
            client,
            model=model,
            namespace=NS,
            objectives=OBJ,
            extra_labels={"revision": revision},
            at=datetime.fromtimestamp(prom[1], UTC),
            min_soak=min_soak,
        )


def test_young_revision_is_inconclusive_until_it_has_soaked(prom) -> None:  # noqa: ANN001
    young = _check(prom, "young", "young-r1", "1h")
    assert young.verdict == "inconclusive"
    assert {o.verdict for o in young.objectives} == {"inconclusive"}
    assert young.soak_seconds == pytest.approx(20 * MIN, abs=60)
    assert "served for 1200 s only" in young.reason and young.min_soak == "1h"
    # Without the soak rule the same traffic passes: the soak is what holds it.
    assert _check(prom, "young", "young-r1", None).verdict == "pass"
    assert _check(prom, "young", "young-r1", "15m").verdict == "pass"


def test_seasoned_revision_passes_and_reports_its_soak(prom) -> None:  # noqa: ANN001
    seasoned = _check(prom, "seasoned", "seasoned-r1", "1h")
    assert seasoned.verdict == "pass", seasoned.reason
    # The look-back is twice min_soak: the soak reported is capped at 2 h.
    assert 2 * HOUR - 60 <= (seasoned.soak_seconds or 0) <= 2 * HOUR


def test_soak_is_the_revisions_not_the_models(prom) -> None:  # noqa: ANN001
    assert _check(prom, "mixed", "mixed-old", "1h").verdict == "pass"
    new = _check(prom, "mixed", "mixed-new", "1h")
    assert new.verdict == "inconclusive" and new.soak_seconds == pytest.approx(600, abs=60)


def test_unknown_revision_has_not_served(prom) -> None:  # noqa: ANN001
    ghost = _check(prom, "young", "never-deployed", "1h")
    assert ghost.verdict == "inconclusive" and ghost.soak_seconds is None
    assert "has not served yet" in ghost.reason


def test_min_soak_defaults_to_the_window_and_overrides_merge() -> None:
    assert SLOObjectives(window="5m").soak == "5m"
    assert SLOObjectives(window="5m", min_soak="2h").soak == "2h"
    merged = SLOObjectives(window="24h").model_copy(
        update=SLOOverrides(min_soak="30m").model_dump(exclude_none=True)
    )
    assert merged.soak == "30m" and merged.budget_period == "30d"
    with pytest.raises(ValueError, match="min_soak"):
        SLOObjectives(min_soak="soon")


def test_soak_rules_and_query_shape() -> None:
    assert soak_gate(3599, "1h") is not None and soak_gate(3600, "1h") is None
    assert soak_gate(None, "1h") is not None
    query = soak_query(
        DEFAULT_PROFILE, namespace=NS, min_soak="1h", model="m", extra_labels={"revision": "r"}
    )
    assert query == (
        'min_over_time(min (timestamp(llm_requests_total{namespace="staging",model="m",'
        'revision="r"}))[7200s:15s])'
    )
