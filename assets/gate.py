"""Gathers the staging-check evidence for the promotion gate from Dagster's event log."""

from collections.abc import Callable, Sequence

import dagster as dg

from assets.check_history import latest_check_status, latest_materialization_storage_id
from assets.names import CHECK_INTEGRATION_TESTS, CHECK_OUTPUT_QUALITY, STAGING_DEPLOYMENT
from llm_platform.promotion.gate import CheckEvidence
from llm_platform.slo import Thresholds, configured


def staging_gate_checks(objectives: Thresholds) -> tuple[str, ...]:
    """The blocking staging checks promotion depends on: integration tests, output quality and
    one per SLO objective the model's effective staging ``slo:`` configures."""
    return (
        CHECK_INTEGRATION_TESTS,
        CHECK_OUTPUT_QUALITY,
        *(o.check_name for o, _ in configured(objectives)),
    )


def staging_check_evidence(
    instance: dg.DagsterInstance, model: str, checks: Sequence[str]
) -> list[CheckEvidence]:
    """The latest result of each of ``checks``, and whether it judged the latest deploy."""
    latest = latest_materialization_storage_id(instance, STAGING_DEPLOYMENT, model)
    evidence = []
    for name in checks:
        st = latest_check_status(instance, STAGING_DEPLOYMENT, name, model)
        evidence.append(
            CheckEvidence(
                name=name,
                executed=st.executed,
                passed=st.passed,
                current=latest is not None and st.target_storage_id == latest,
                description=st.description,
            )
        )
    return evidence


def staging_evidence(
    instance: dg.DagsterInstance, model: str
) -> Callable[[Thresholds], list[CheckEvidence]]:
    """The promotion gate's reader of the staging checks: the latest result of each blocking
    check (:func:`staging_gate_checks`) of ``model``'s effective staging objectives."""
    return lambda objectives: staging_check_evidence(
        instance, model, staging_gate_checks(objectives)
    )
