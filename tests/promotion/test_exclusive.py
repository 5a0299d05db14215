"""One promotion per model at a time, across processes (issue 18, finding 5).

Before: two promotions of one model at once both rolled out and the ledger recorded two
``promoted`` events (DORA then counted two deploys for one).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_platform.artifact_store import open_store
from llm_platform.promotion import Ledger
from llm_platform.promotion.exclusive import PromotionInProgress, lock_path, promotion_lock
from tests.helpers.engine_fixtures import GEMMA, require_llama_cpp
from tests.helpers.paths import REPO_ROOT
from tests.helpers.runtime_fixtures import teardown_home, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROOT = REPO_ROOT


@pytest.fixture()
def home(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "home"
    root.mkdir()
    yield root
    assert teardown_home(root) == [], "processes were left behind"


def _spawn(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_two_promotions_of_one_model_at_once_record_one_promoted_event(
    home: Path, tmp_path: Path, gemma_artifact: Path, gemma_digest: str
) -> None:
    require_llama_cpp()
    ledger_dir, go = tmp_path / "ledger", tmp_path / "go"
    procs = {
        run: _spawn(
            "-m",
            "tests.helpers.promote_once",
            str(home),
            str(ledger_dir),
            str(gemma_artifact),
            gemma_digest,
            run,
            str(go),
        )  # fmt: skip
        for run in ("run-a", "run-b")
    }
    for proc in procs.values():  # both imported and waiting: they start together
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    outcomes = {}
    for run, proc in procs.items():
        out, err = proc.communicate(timeout=200)
        assert proc.returncode == 0, err[-3000:]
        outcomes[run] = json.loads(out.strip().splitlines()[-1])
    promoted = [run for run, o in outcomes.items() if o.get("outcome") == "promoted"]
    refused = {run: o["refused"] for run, o in outcomes.items() if "refused" in o}
    assert len(promoted) == 1, outcomes
    # The other one was refused with the reason: who holds the promotion.
    assert refused == {({"run-a", "run-b"} - set(promoted)).pop(): promoted[0]}, outcomes
    events = Ledger(open_store(str(ledger_dir))).history(GEMMA)
    assert [(e.kind, e.run_id) for e in events] == [("promoted", promoted[0])]


def test_the_lock_names_its_holder_and_dies_with_it(home: Path) -> None:
    holder = _spawn("-c", (
        "import sys, time; from pathlib import Path\n"
        "from llm_platform.promotion.exclusive import promotion_lock\n"
        f"with promotion_lock(Path({str(home)!r}), env='production', model='m', run_id='r1'):\n"
        "    print('held', flush=True); time.sleep(120)\n"
    ))  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(PromotionInProgress) as refused:
            with promotion_lock(home, env="production", model="m", run_id="r2"):
                pytest.fail("a second holder got the lock")
        assert refused.value.holder is not None
        assert (refused.value.holder.run_id, refused.value.holder.pid) == ("r1", holder.pid)
        assert "r1" in str(refused.value) and "production" in str(refused.value)
        # Another model, or another environment, is not blocked.
        with promotion_lock(home, env="staging", model="m", run_id="r3"):
            pass
        with promotion_lock(home, env="production", model="other", run_id="r4"):
            pass
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a crashed promotion never blocks the next
        holder.wait(timeout=10)
    assert lock_path(home, "production", "m").exists()

    def acquired() -> bool:
        try:
            with promotion_lock(home, env="production", model="m", run_id="r5") as me:
                return me.run_id == "r5"
        except PromotionInProgress:
            return False

    wait_until(acquired, 10, "the lock to be free once its holder died")
