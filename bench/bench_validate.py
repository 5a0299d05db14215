"""Benchmark ``llm-platform validate`` against the seed's validator and a bare C YAML load.

Generates N model directories (a mix of valid shapes) in a temp dir, then times, over the same
files:
  (a) ours:  ``validate_paths([repo])`` (hardened loader + pydantic, every rule);
  (b) seed:  the reference document's approach re-written here: pure-Python ``yaml.safe_load``
             + ``jsonschema.validate`` with its schema dict + its two business rules, per file;
  (c) bare:  ``yaml.load(..., Loader=yaml.CSafeLoader)`` per file (the floor: no validation).
Prints seed/ours (target >= 10x) and ours/bare (target <= 2x).

Usage: .venv/bin/python bench/bench_validate.py [--quick] [--repeat N]
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import jsonschema
import yaml
from _timing import best_s, sized_args

from llm_platform.config import validate_paths

SEED_SCHEMA = {
    "type": "object",
    "required": ["name", "version", "architecture", "resources"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9-]+$"},
        "version": {"type": "string", "pattern": "^\\d+\\.\\d+\\.\\d+$"},
        "architecture": {"type": "string"},
        "description": {"type": "string"},
        "resources": {
            "type": "object",
            "required": ["memory_gb", "gpu_count"],
            "properties": {
                "memory_gb": {"type": "number", "minimum": 1},
                "gpu_count": {"type": "integer", "minimum": 1},
                "gpu_type": {"type": "string"},
            },
        },
        "serving": {
            "type": "object",
            "properties": {
                "max_batch_size": {"type": "integer", "minimum": 1},
                "max_sequence_length": {"type": "integer", "minimum": 1},
                "protocol": {"type": "string", "enum": ["http", "grpc"]},
            },
        },
        "source": {
            "type": "object",
            "required": ["type", "uri"],
            "properties": {
                "type": {"type": "string", "enum": ["s3", "huggingface", "local"]},
                "uri": {"type": "string"},
            },
        },
    },
}

ARCHES = ["llama", "mistral", "qwen2", "gemma", "phi3"]


def model_yaml(name: str, rng: random.Random) -> str:
    """One valid model.yaml in one of several shapes (minimal, full, flow style, comments)."""
    gpus = rng.choice([1, 1, 2, 4, 8])
    memory = 8 * gpus * rng.choice([1, 2, 3])
    version = f"{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
    shape = rng.randrange(4)
    head = f"name: {name}\nversion: {version}\narchitecture: {rng.choice(ARCHES)}\n"
    if shape == 0:
        return head + f"resources:\n  memory_gb: {memory}\n  gpu_count: {gpus}\n"
    if shape == 1:
        return head + f"resources: {{memory_gb: {memory}, gpu_count: {gpus}}}\n"
    body = (
        f"# {name}: generated for the benchmark\n"
        + head
        + f'description: "{name} served for team {rng.randint(1, 99)}"\n'
        + f"resources:\n  memory_gb: {memory}\n  gpu_count: {gpus}\n  gpu_type: nvidia-a100\n"
        + "serving:\n  max_batch_size: 32\n  max_sequence_length: 4096\n  protocol: http\n"
        + f"source:\n  type: s3\n  uri: s3://models/{name}/{version}\n"
    )
    if shape == 3:
        body += "slo:\n  latency_p95_ms: 1500\n  availability: 0.995\n"
    return body


def generate(root: Path, count: int) -> list[Path]:
    """Write ``count`` model directories under ``root/models``; return the model.yaml paths."""
    rng = random.Random(42)
    files = []
    for index in range(count):
        name = f"model-{index:05d}"
        directory = root / "models" / name
        directory.mkdir(parents=True)
        path = directory / "model.yaml"
        path.write_text(model_yaml(name, rng))
        files.append(path)
    return files


def seed_validate(config_path: Path) -> bool:
    """The seed's per-file validation (re-written): safe_load + jsonschema + two rules."""
    try:
        with open(config_path) as handle:
            config = yaml.safe_load(handle)
        jsonschema.validate(config, SEED_SCHEMA)
        if config["resources"]["memory_gb"] < config["resources"]["gpu_count"] * 8:
            raise ValueError("insufficient memory")
        if config["name"] != os.path.basename(os.path.dirname(config_path)):
            raise ValueError("name does not match directory")
        return True
    except Exception:  # the seed's behaviour: any failure is just "invalid"
        return False


def bare_load(config_path: Path) -> object:
    """The floor: read and parse with libyaml, no validation at all."""
    with open(config_path, "rb") as handle:
        return yaml.load(handle.read(), Loader=yaml.CSafeLoader)


def timed(label: str, func: Callable[[], object], repeat: int) -> float:
    best = best_s(func, repeat)
    print(f"  {label:<46} {best:8.3f} s")
    return best


def main() -> None:
    args = sized_args(
        __doc__,
        quick="1,000 files instead of 10,000",
        repeat=3,
        repeat_help="best of N runs for (a) and (c)",
    )
    count = 1_000 if args.quick else 10_000
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        root = Path(tmp)
        files = generate(root, count)
        print(f"{count} model.yaml files; (a) and (c) best of {args.repeat} runs")

        def ours() -> None:
            problems = validate_paths([root])
            assert not problems, problems[:3]

        def seed() -> None:
            assert all(seed_validate(path) for path in files)

        def bare() -> None:
            for path in files:
                bare_load(path)

        t_ours = timed("(a) ours: validate_paths([repo])", ours, args.repeat)
        # The seed is slow enough to time once; its run-to-run noise is small relative to it.
        t_seed = timed("(b) seed: safe_load + jsonschema.validate", seed, 1)
        t_bare = timed("(c) bare: yaml.load(CSafeLoader)", bare, args.repeat)
    print(
        f"  per file: ours {t_ours / count * 1e6:.0f} us, seed {t_seed / count * 1e6:.0f} us, "
        f"bare {t_bare / count * 1e6:.0f} us"
    )
    print(f"seed/ours = {t_seed / t_ours:.1f}x  (target >= 10x)")
    print(f"ours/bare = {t_ours / t_bare:.2f}x  (target <= 2x)")


if __name__ == "__main__":
    main()
