"""What verifying an approval costs: ``check_approval`` vs reading the claim alone, same run.

Builds a models repo whose ``approvals/llama.yaml`` grew by one entry per commit, N commits,
each SSH-signed by alice (real ssh-keygen keys, a real trust root), then times, median of R:
  (a) verified: ``check_approval`` (trace the entry's introducing commit through the file's
      history, git verifies the signature against the trust root, four eyes, the rule) for the
      newest entry (one version to walk) and the oldest (every version holds it);
  (b) baseline: the unverified claim as before this change — read the file at head and match
      environment, version, digest and approver name (no git history, no signature).
Prints each time and the ratio verified / baseline.

Usage: .venv/bin/python bench/bench_approvals.py [--quick] [--repeat R]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _timing import median_s, sized_args

from llm_platform.config import parse_environment_config
from llm_platform.demo.signing import DEMO_MODEL_OWNER, ensure_demo_signers
from llm_platform.gitops import GitRepo
from llm_platform.promotion import check_approval, load_approvals

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers.signing_fixtures import git_as  # noqa: E402

PRODUCTION = (
    "environment: production\nnamespace: production\ndeployment:\n  strategy: blue-green\n"
    "  approval_required: true\napprovers: [alice, bob]\n"
)


def digest_of(i: int) -> str:
    return f"ab{i:062x}"


def build(root: Path, n: int) -> tuple[Path, Path]:
    trust_root, keys = ensure_demo_signers(root / "home")
    repo = root / "repo"
    (repo / "models/llama").mkdir(parents=True)
    (repo / "config").mkdir()
    (repo / "approvals").mkdir()
    git_as(repo, DEMO_MODEL_OWNER, "init", "-q", "-b", "main")
    (repo / "models/llama/model.yaml").write_text("name: llama\nversion: 1.0.0\n")
    (repo / "config/production.yaml").write_text(PRODUCTION)
    git_as(repo, DEMO_MODEL_OWNER, "add", "-A")
    # The model change is signed by its owner (trusted, not alice): four eyes holds.
    owner_key = keys[DEMO_MODEL_OWNER]
    git_as(repo, DEMO_MODEL_OWNER, "commit", "-q", "-S", "-m", "llama", key=owner_key)
    text = "approvals:\n"
    for i in range(n):
        text += (
            f"  - environment: production\n    version: 1.0.{i}\n    digest: {digest_of(i)}\n"
            "    approver: alice\n    approved_at: '2026-11-28T10:00:00Z'\n"
        )
        (repo / "approvals/llama.yaml").write_text(text)
        git_as(repo, "alice", "add", "-A")
        git_as(repo, "alice", "commit", "-q", "-S", "-m", f"approve {i}", key=keys["alice"])
    return repo, trust_root


def counted(fn: Callable[[], bool]) -> Callable[[], None]:
    """``fn`` as a timed call that fails unless the approval counts."""

    def call() -> None:
        assert fn(), "the approval was expected to count"

    return call


def main() -> None:
    args = sized_args(__doc__, quick="30 commits instead of 150", repeat=5)
    n = 30 if args.quick else 150
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path, trust_root = build(Path(tmp), n)
        print(f"setup: {n} signed approval commits in {time.perf_counter() - t0:.1f}s")
        repo = GitRepo(str(path))
        head = repo.head()
        env = parse_environment_config(PRODUCTION.encode(), source="config/production.yaml")

        def verified(i: int) -> Callable[[], bool]:
            return lambda: (
                check_approval(
                    repo,
                    head,
                    env=env,
                    model="llama",
                    version=f"1.0.{i}",
                    digest=digest_of(i),
                    trust_root=trust_root,
                ).approved
            )

        def baseline(i: int) -> Callable[[], bool]:
            def claim() -> bool:
                return any(
                    a.environment == "production"
                    and a.version == f"1.0.{i}"
                    and digest_of(i).startswith(a.digest)
                    and a.approver in env.approvers
                    for a in load_approvals(repo, head, "llama")
                )

            return claim

        for label, i in (("newest", n - 1), ("oldest", 0)):
            ours = median_s(counted(verified(i)), args.repeat)
            base = median_s(counted(baseline(i)), args.repeat)
            print(
                f"{label} entry of {n}: verified {ours * 1000:.0f} ms, unverified claim "
                f"{base * 1000:.0f} ms, ratio verified/baseline {ours / base:.1f}x"
            )


if __name__ == "__main__":
    main()
