"""The controller loop: reconcile a runtime home about once a second until SIGTERM.

Run as ``python -m llm_platform.targets.local.controller --home DIR`` (``stack up`` starts it). A
failing pass is logged with its traceback and retried on the next tick; the loop itself only
ends on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.supervision import LIVENESS_TIMEOUT_S

log = logging.getLogger("llm_platform.targets.local.controller")


def run(
    home: Path,
    *,
    interval_s: float = 1.0,
    liveness_timeout_s: float = LIVENESS_TIMEOUT_S,
    stop: threading.Event | None = None,
) -> None:
    """Reconcile ``home`` every ``interval_s`` seconds until ``stop`` is set."""
    stop = stop or threading.Event()
    runtime = LocalRuntime(home, liveness_timeout_s=liveness_timeout_s)
    log.info("controller reconciling %s every %.1fs", runtime.home, interval_s)
    while not stop.is_set():
        try:
            runtime.reconcile()
        except Exception:  # a bad pass must not kill the control plane; it is logged in full
            log.exception("reconcile pass failed; retrying in %.1fs", interval_s)
        stop.wait(interval_s)
    log.info("controller stopped")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Reconcile the local runtime continuously.")
    parser.add_argument("--home", required=True, type=Path, help="platform home directory")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    parser.add_argument(
        "--liveness-timeout",
        type=float,
        default=LIVENESS_TIMEOUT_S,
        help="seconds without a passing health check before a server is killed and restarted",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d received, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    run(args.home, interval_s=args.interval, liveness_timeout_s=args.liveness_timeout, stop=stop)


if __name__ == "__main__":
    main()
