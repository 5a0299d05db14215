"""Security scanning of model artifacts: pickled code, malformed safetensors, bad headers.

``scan_path`` never unpickles or imports anything from the artifact. Importing this package is
cheap (no numpy, no torch); numpy is loaded only when a .npy file is met.
"""

from __future__ import annotations

from llm_platform.security.report import FileResult, Finding, ScanReport
from llm_platform.security.scanner import scan_path

__all__ = ["FileResult", "Finding", "ScanReport", "scan_path"]
