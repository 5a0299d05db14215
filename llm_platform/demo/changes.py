"""The demo's changes to its models repo, made as its people make them: commits by alice and
bob (SSH-signed with their keys where the story needs it), approvals, new releases."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from llm_platform.demo.quality import BROKEN_FTYPE, BROKEN_VERSION, broken_gemma_model_yaml
from llm_platform.demo.signing import DEMO_MODEL_OWNER, demo_email, signing_options

#: The llama release of step 4: new weights (a copy of the demo's) under a new version.
LLAMA_V2_VERSION = "1.1.0"


class RepoChanges:
    """Commits to the demo models repo at ``repo``, each announced through ``say``.

    Args:
        repo: The models repo's work tree.
        keys: Each person's SSH signing key.
        say: Prints one line of the demo's output (rich markup).
    """

    def __init__(self, repo: Path, keys: dict[str, Path], say: Callable[[str], object]) -> None:
        self.repo, self.keys, self.say = repo, keys, say

    def git(self, *args: str, author: str = "alice", key: Path | None = None) -> str:
        """Run git in the repo as ``author`` (signing with ``key`` when given)."""
        env = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": demo_email(author),
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": demo_email(author),
            "PATH": "/usr/bin:/bin",
        }
        options = signing_options(key) if key else []
        return subprocess.run(
            ["git", "-C", str(self.repo), *options, *args],
            check=True,
            text=True,
            capture_output=True,
            env=env,
        ).stdout.strip()

    def commit(self, message: str, author: str = "alice", *, signed: bool = False) -> None:
        """Commit every change in the work tree as ``author``."""
        key = self.keys[author] if signed else None
        self.git("add", "-A", author=author)
        self.git("commit", "-q", *(["-S"] if key else []), "-m", message, author=author, key=key)
        how = " (SSH-signed)" if key else ""
        self.say(f"  [dim]git commit by {author}{how}:[/dim] {message}")

    def approve(self, model: str, *, version: str, digest: str, approver: str = "alice") -> None:
        """Add ``approver``'s approval of ``model`` ``version`` (``digest``) for production to
        ``approvals/<model>.yaml``, in a commit signed by the approver."""
        path = self.repo / "approvals" / f"{model}.yaml"
        path.parent.mkdir(exist_ok=True)
        existing = path.read_text() if path.exists() else "approvals:\n"
        path.write_text(
            existing
            + (
                f"  - environment: production\n    version: {version}\n"
                f"    digest: {digest}\n    approver: {approver}\n"
                f"    approved_at: '{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}'\n"
            )
        )
        self.commit(f"approve {model} {version} for production", author=approver, signed=True)

    def release_new_weights(self, model: str) -> None:
        """``model`` 1.1.0 on new weights (the demo's, copied), committed by the model owner."""
        shutil.copytree(self.repo / "weights/tiny-shakespeare", self.repo / "weights/llama-v2")
        (self.repo / "weights/llama-v2/RELEASE.txt").write_text(f"{LLAMA_V2_VERSION}\n")
        cfg = self.repo / f"models/{model}/model.yaml"
        cfg.write_text(
            cfg.read_text()
            .replace("version: 1.0.0", f"version: {LLAMA_V2_VERSION}")
            .replace("weights/tiny-shakespeare", "weights/llama-v2")
        )
        self.commit(f"{model} {LLAMA_V2_VERSION}", author=DEMO_MODEL_OWNER, signed=True)

    def release_broken_gemma(self, model: str, home: Path) -> None:
        """``model`` on the Q2_K re-quantization built under ``home``, by the model owner."""
        cfg = self.repo / f"models/{model}/model.yaml"
        cfg.write_text(broken_gemma_model_yaml(home))
        self.commit(
            f"{model} {BROKEN_VERSION}: {BROKEN_FTYPE} build (smaller, as fast)",
            author=DEMO_MODEL_OWNER,
            signed=True,
        )
