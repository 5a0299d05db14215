"""Chat-template drift: the candidate's GGUF chat template next to production's.

A re-export with another template (or none) answers chat requests differently while every
latency objective holds. The template is read with the security scanner's bounded GGUF parser
(the scan report of each registered artifact carries its sha256 and text too); when the two
differ the output-quality check shows a unified diff.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

from pydantic import BaseModel

from llm_platform.security.gguf import GgufError, chat_template
from llm_platform.serving.engines.detect import gguf_entry, gguf_files

#: Diff lines shown at most (a template is at most 64 KiB; the UI needs the gist).
MAX_DIFF_LINES = 200


class TemplateDrift(BaseModel):
    """The chat templates of candidate and production (None: the GGUF carries none)."""

    candidate_sha256: str | None
    production_sha256: str | None
    candidate: str | None
    production: str | None

    @property
    def changed(self) -> bool:
        """True when the candidate's template differs from production's."""
        return self.candidate_sha256 != self.production_sha256

    def markdown(self) -> str:
        """A unified diff (production → candidate) in a Markdown code block, or one line when
        both are the same."""
        if not self.changed:
            same = self.candidate_sha256[:12] if self.candidate_sha256 else "none"
            return f"chat template unchanged (sha256 {same})"
        diff = list(
            difflib.unified_diff(
                (self.production or "").splitlines(),
                (self.candidate or "").splitlines(),
                fromfile=f"production ({_label(self.production_sha256)})",
                tofile=f"candidate ({_label(self.candidate_sha256)})",
                lineterm="",
            )
        )
        if len(diff) > MAX_DIFF_LINES:
            diff = [*diff[:MAX_DIFF_LINES], f"... {len(diff) - MAX_DIFF_LINES} more lines"]
        body = "\n".join(diff).replace("```", "`\u200b``")
        return f"**chat template changed**\n\n```diff\n{body}\n```"


def _label(sha: str | None) -> str:
    return f"sha256 {sha[:12]}" if sha else "no template"


def _sha(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def artifact_chat_template(artifact: Path) -> str | None:
    """The chat template of the GGUF llama.cpp would load from ``artifact`` (a directory or
    file); None when it has none.

    Raises:
        ValueError: ``artifact`` holds no unambiguous GGUF, or the GGUF is invalid.
    """
    entry = gguf_entry(gguf_files(artifact))
    if entry is None:
        raise ValueError(f"{artifact}: no single GGUF file to read a chat template from")
    path = artifact / entry if artifact.is_dir() else artifact
    try:
        return chat_template(path)
    except (GgufError, OSError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def template_drift(candidate: str | None, production: str | None) -> TemplateDrift:
    """Compare two chat templates (texts as read from the GGUFs; None: no template)."""
    return TemplateDrift(
        candidate_sha256=_sha(candidate),
        production_sha256=_sha(production),
        candidate=candidate,
        production=production,
    )
