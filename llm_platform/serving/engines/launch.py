"""Verify an artifact's digest, then run an engine in this same process.

Run as::

    python -m llm_platform.serving.engines.launch --artifact DIR --digest SHA256 \\
        --module llama_cpp.server -- <engine arguments>

The artifact's manifest digest is recomputed and must equal ``--digest`` before any engine code
runs (exit 1 with the reason on stderr otherwise): a deployment serves exactly the bytes that
were scanned and approved, whichever engine loads them. The engine module then runs as
``__main__`` inside this process, so the process's command line stays the one the runtime
recorded (its pid-reuse guard compares them) and stopping it stops the engine.
"""

from __future__ import annotations

import argparse
import importlib.util
import runpy
import sys
from pathlib import Path

EXIT_REFUSED = 1


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    if "--" not in argv:
        raise SystemExit("launch: '--' must separate the launcher options from the engine's")
    split = argv.index("--")
    p = argparse.ArgumentParser(prog="python -m llm_platform.serving.engines.launch")
    p.add_argument("--artifact", required=True, type=Path, help="the artifact directory")
    p.add_argument("--digest", required=True, help="registered manifest sha256 of the artifact")
    p.add_argument("--module", required=True, help="the engine's Python module to run")
    return p.parse_args(argv[:split]), argv[split + 1 :]


def main(argv: list[str] | None = None) -> int:
    """Verify, then run the engine; returns an exit code only when the engine did not run."""
    from llm_platform.serving.model_server import StartupError, verify_artifact

    args, engine_args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        found = importlib.util.find_spec(args.module)
    except ModuleNotFoundError:
        found = None
    if found is None:
        sys.stderr.write(
            f"launch: engine module {args.module!r} is not installed in {sys.prefix} "
            "(run `make install`)\n"
        )
        return EXIT_REFUSED
    try:
        verify_artifact(args.artifact, args.digest)
    except StartupError as exc:
        sys.stderr.write(f"launch: {exc}\n")
        return EXIT_REFUSED
    sys.stderr.write(f"launch: {args.artifact} verified, starting {args.module}\n")
    sys.stderr.flush()
    sys.argv = [args.module, *engine_args]
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
