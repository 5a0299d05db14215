"""Command line: ``python -m llm_platform.demo_model build OUT_DIR [--seed N]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm_platform.demo_model import build, load


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the command; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m llm_platform.demo_model")
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="train the demo model and write its artifact")
    build_cmd.add_argument("out_dir", type=Path, help="directory to write the artifact into")
    build_cmd.add_argument("--seed", type=int, default=0, help="held-out split seed")
    gen_cmd = commands.add_parser("generate", help="load an artifact and continue a prompt")
    gen_cmd.add_argument("model_dir", type=Path)
    gen_cmd.add_argument("prompt")
    gen_cmd.add_argument("--max-tokens", type=int, default=64)
    gen_cmd.add_argument("--temperature", type=float, default=0.0)
    gen_cmd.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)

    if args.command == "build":
        out = build(args.out_dir, seed=args.seed)
        info = load(out).info
        sys.stdout.write(
            f"built {out}: {info['architecture']} order {info['order']}, "
            f"{info['parameter_count']} parameters, "
            f"held-out {info['heldout_bits_per_char']} bits/char\n"
        )
        return 0
    model = load(args.model_dir)
    result = model.generate(
        args.prompt, max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed
    )
    sys.stdout.write(args.prompt + result.text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
