"""The Markdown tables a deployment shows in the UI: the gate, the rollout steps, the suite."""

from __future__ import annotations

from collections.abc import Sequence

from llm_platform.common.gate_item import GateItem
from llm_platform.endpoint_tests import SuiteReport
from llm_platform.promotion.strategies import RolloutStep


class Markdown(str):
    """A metadata value the UI renders as Markdown."""


def gate_table(items: Sequence[GateItem]) -> Markdown:
    """The gate's conditions, one row each."""
    rows = "\n".join(f"| {i.name} | {'ok' if i.ok else 'HELD'} | {i.reason} |" for i in items)
    return Markdown("| condition | state | detail |\n|---|---|---|\n" + rows)


def steps_table(steps: Sequence[RolloutStep]) -> Markdown:
    """A rollout's steps with their results and durations."""
    rows = "\n".join(
        f"| {s.name} | {'ok' if s.ok else 'FAILED'} | {s.duration_s:.2f} | {s.detail} |"
        for s in steps
    )
    return Markdown("| step | result | seconds | detail |\n|---|---|---|---|\n" + rows)


def suite_table(report: SuiteReport) -> Markdown:
    """The integration suite's tests with their results."""
    rows = "\n".join(
        f"| {t.name} | {'pass' if t.passed else 'FAIL'} | {t.detail} |" for t in report.tests
    )
    return Markdown("| test | result | detail |\n|---|---|---|\n" + rows)


def log_block(text: str) -> Markdown:
    """A server log excerpt, verbatim."""
    return Markdown(f"```\n{text}\n```")
