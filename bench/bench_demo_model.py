"""Generation throughput of the demo model against a pure-Python reference, same run.

The baseline evaluates exactly the same interpolated Kneser-Ney recursion with plain Python
dicts and lists (the obvious implementation); both must produce the same greedy text.

    .venv/bin/python bench/bench_demo_model.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from llm_platform.demo_model import DemoLM, build, load


class PurePythonLM:
    """The same model evaluated with dicts of dicts, one Python float per vocabulary entry."""

    def __init__(self, model_dir: Path, model: DemoLM) -> None:
        tensors = load_file(model_dir / "model.safetensors")
        self.order = model.order
        self.vocab = model.tokenizer.vocab_size
        self.unigram = [float(x) for x in tensors["unigram.prob"]]
        self.tables: list[dict[int, tuple[float, dict[int, float]]]] = [{}]
        for k in range(1, self.order):
            keys = tensors[f"order{k}.context"].tolist()
            off = tensors[f"order{k}.offset"].tolist()
            nxt = tensors[f"order{k}.next"].tolist()
            prob = tensors[f"order{k}.prob"].astype(np.float64).tolist()
            back = tensors[f"order{k}.backoff"].astype(np.float64).tolist()
            table = {}
            for row, key in enumerate(keys):
                entries = {nxt[i]: prob[i] for i in range(off[row], off[row + 1])}
                table[key] = (back[row], entries)
            self.tables.append(table)

    def greedy(self, context: list[int], max_tokens: int) -> list[int]:
        ctx = list(context)
        out = []
        for _ in range(max_tokens):
            p = list(self.unigram)
            key = 0
            for k in range(1, min(self.order - 1, len(ctx)) + 1):
                key += ctx[-k] * self.vocab ** (k - 1)
                hit = self.tables[k].get(key)
                if hit is None:
                    continue
                back, entries = hit
                p = [x * back for x in p]
                for tok, mass in entries.items():
                    p[tok] += mass
            best = max(range(self.vocab), key=lambda i: (p[i], -i))
            out.append(best)
            ctx = (ctx + [best])[-(self.order - 1) :]
        return out


def _rate(fn, requests: int, max_tokens: int) -> float:
    start = time.perf_counter()
    for i in range(requests):
        fn(i)
    return requests * max_tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    args = parser.parse_args()
    requests = 20 if args.quick else 200
    max_tokens = 64

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        model_dir = build(Path(tmp) / "tiny-shakespeare")
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        model = load(model_dir)
        load_s = time.perf_counter() - start
        ref = PurePythonLM(model_dir, model)

    prompt = "Shall I compare thee"
    ctx = model._context(model.tokenizer.encode(prompt))
    expected = model.generate(prompt, max_tokens=max_tokens).text
    assert model.tokenizer.decode(ref.greedy(ctx, max_tokens)) == expected, "outputs differ"

    greedy = _rate(lambda i: model.generate(prompt, max_tokens=max_tokens), requests, max_tokens)
    sampled = _rate(
        lambda i: model.generate(prompt, max_tokens=max_tokens, temperature=0.8, seed=i),
        requests,
        max_tokens,
    )
    baseline = _rate(lambda i: ref.greedy(ctx, max_tokens), max(requests // 10, 2), max_tokens)

    print(
        f"model: {model.info['architecture']} order {model.order}, "
        f"{model.parameter_count} parameters"
    )
    print(f"build: {build_s:.2f} s   load: {load_s * 1000:.0f} ms")
    print(f"requests: {requests} x {max_tokens} tokens")
    print(f"baseline (pure-Python reference, greedy): {baseline:10.0f} tokens/s")
    print(f"demo model greedy (temperature 0):        {greedy:10.0f} tokens/s")
    print(f"demo model sampled (temperature 0.8):     {sampled:10.0f} tokens/s")
    print(f"speedup greedy vs baseline: {greedy / baseline:.1f}x")


if __name__ == "__main__":
    main()
