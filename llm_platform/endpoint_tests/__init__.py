"""The endpoint integration suite (health, completion, chat, streams, load) used by staging."""

from llm_platform.endpoint_tests.models import LoadResult, SuiteReport, TestResult
from llm_platform.endpoint_tests.suite import arun_suite, latency_lines, render_text, run_suite

__all__ = [
    "LoadResult",
    "SuiteReport",
    "TestResult",
    "arun_suite",
    "latency_lines",
    "render_text",
    "run_suite",
]
