"""The endpoint integration suite (health, inference, concurrent load) used by staging."""

from llm_platform.integration.models import LoadResult, SuiteReport, TestResult
from llm_platform.integration.suite import arun_suite, render_text, run_suite

__all__ = ["LoadResult", "SuiteReport", "TestResult", "arun_suite", "render_text", "run_suite"]
