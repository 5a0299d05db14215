"""One promotion, run as its own process by ``tests/promotion/test_exclusive.py``.

``python -m tests.helpers.promote_once HOME LEDGER_DIR ARTIFACT DIGEST RUN_ID GO_FILE``: prints
``ready``, waits for ``GO_FILE`` (so that two processes start their promotions together), runs
``roll_out_and_record`` (Gemma on llama.cpp, first deployment to production) and prints one JSON
line: ``{"outcome": ...}`` or ``{"refused": <holder's run id>}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from llm_platform.artifact_store import open_store
from llm_platform.promotion import Ledger
from llm_platform.promotion.exclusive import PromotionInProgress, roll_out_and_record
from llm_platform.promotion.rollout import RolloutPlan
from llm_platform.targets.local.local import LocalRuntime

MODEL = "gemma-3-270m"


def main(argv: list[str]) -> None:
    home, ledger_dir, artifact, digest, run_id, go = argv
    plan = RolloutPlan(
        env="production",
        model=MODEL,
        version="1.0.0",
        digest=digest,
        artifact_uri=Path(artifact).as_uri(),
        strategy="blue-green",
        smoke_requests=2,
        ready_timeout_s=150,
        metrics_settle_s=0,
        engine="llama-cpp",
        context_size=512,
    )
    ledger = Ledger(open_store(ledger_dir))
    fields = {"model": MODEL, "env": "production", "version": "1.0.0", "digest": digest,
              "run_id": run_id, "actor": "test"}  # fmt: skip
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.01)
    try:
        result, _ = roll_out_and_record(
            LocalRuntime(Path(home)), plan, ledger, home=Path(home), run_id=run_id,
            event_fields=fields, evidence={},
        )  # fmt: skip
    except PromotionInProgress as exc:
        print(json.dumps({"refused": exc.holder.run_id if exc.holder else None}), flush=True)
        return
    print(json.dumps({"outcome": result.outcome, "reason": result.reason}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
