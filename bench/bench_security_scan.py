"""Benchmark ``scan_path`` against picklescan's own directory scan on a model-like directory.

The directory holds a PyTorch-style zip checkpoint (a data.pkl of N tensors plus raw storages),
a legacy pickle checkpoint, a large sparse safetensors file, a tokenizer JSON and a config.
Baseline: ``picklescan.scanner.scan_directory_path`` over the same directory, measured in the
same run. scan_path also validates the pickle stream with its own disassembly pass (fail
closed) and checks safetensors/JSON files that picklescan skips, so a ratio above 1 is the
price of those checks.

Run: ``.venv/bin/python bench/bench_security_scan.py [--quick]``
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import pickle
import struct
import sys
import tempfile
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _timing import best_s


def _fake_torch_rebuild() -> Callable[..., Any]:
    """A stand-in for torch._utils._rebuild_tensor_v2, importable by name for pickling only."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args: Any) -> None:
        return None

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    torch._utils = utils  # type: ignore[attr-defined]
    sys.modules.setdefault("torch", torch)
    sys.modules.setdefault("torch._utils", utils)
    return _rebuild_tensor_v2


class _Tensor:
    def __init__(self, key: int, rebuild: Callable[..., Any]) -> None:
        self.key = key
        self.rebuild = rebuild

    def __reduce__(self) -> tuple[Any, ...]:
        storage = ("storage", "FloatStorage", str(self.key), "cpu", 4096)
        return (self.rebuild, (storage, 0, (64, 64), (64, 1), False, collections.OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        return obj if isinstance(obj, tuple) and obj and obj[0] == "storage" else None


def _state_dict_pickle(tensors: int) -> bytes:
    import io

    rebuild = _fake_torch_rebuild()
    state = collections.OrderedDict(
        (f"layers.{i}.weight", _Tensor(i, rebuild)) for i in range(tensors)
    )
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(state)
    return buffer.getvalue()


def build(root: Path, tensors: int, storage_mb: int, sparse_gb: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    data_pkl = _state_dict_pickle(tensors)
    chunk = bytes(range(256)) * 4096  # 1 MiB
    with zipfile.ZipFile(root / "pytorch_model.bin", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        for i in range(storage_mb):
            archive.writestr(f"archive/data/{i}", chunk)
        archive.writestr("archive/version", "3\n")
    (root / "training_state.pkl").write_bytes(data_pkl * 3)
    numel = sparse_gb * 1024**3 // 4
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [numel], "data_offsets": [0, numel * 4]}}
    ).encode()
    with open(root / "model.safetensors", "wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header)
        handle.truncate(8 + len(header) + numel * 4)
    vocab = {f"tok{i}": i for i in range(50_000)}
    (root / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab}}))
    (root / "config.json").write_text(json.dumps({"architectures": ["Llama"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small directory, fewer repeats")
    args = parser.parse_args()
    tensors, storage_mb, sparse_gb, repeat = (200, 8, 1, 3) if args.quick else (3000, 64, 8, 5)

    from picklescan.scanner import scan_directory_path

    from llm_platform.security import scan_path

    logging.getLogger("picklescan").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "model"
        build(root, tensors, storage_mb, sparse_gb)
        report = scan_path(root)
        baseline = scan_directory_path(str(root))
        assert report.safe, report.bad_files()
        assert baseline.infected_files == 0 and not baseline.scan_err
        ours = best_s(lambda: scan_path(root), repeat)
        theirs = best_s(lambda: scan_directory_path(str(root)), repeat)
    print(
        f"directory: data.pkl with {tensors} tensors, {storage_mb} MiB storages, "
        f"{sparse_gb} GiB sparse safetensors, tokenizer.json (50k vocab)"
    )
    files = report.summary["files"]
    print(f"files scanned: scan_path {files}, picklescan {baseline.scanned_files}")
    print(f"picklescan.scan_directory_path (baseline): {theirs * 1000:8.1f} ms")
    print(f"llm_platform scan_path:                    {ours * 1000:8.1f} ms")
    print(f"ratio scan_path / baseline: {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
