"""Build benign and malicious model artifacts in code for the security scanner tests.

Malicious pickles are produced by ``pickle.dumps`` of an object whose ``__reduce__`` names
``os.system``: dumping records the call, it never runs it. Nothing here loads a pickle.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import typer

from llm_platform.cli import scan_cmd

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class Payload:
    """Pickles into a call of ``os.system(command)``; dumping it executes nothing."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (self.command,))


def marker_command(marker: Path) -> str:
    """A shell command that would create ``marker`` if anything ever ran the payload."""
    return f"echo pwned > {marker}"


def malicious_pickle(marker: Path, protocol: int = 4) -> bytes:
    """A pickle that calls os.system when loaded, at the given protocol (0-5)."""
    return pickle.dumps({"weights": [1, 2, 3], "x": Payload(marker_command(marker))}, protocol)


def benign_pickle(protocol: int = 4) -> bytes:
    """A dict of ints: no globals at all."""
    return pickle.dumps({"layer": 1, "units": 128, "ids": list(range(50))}, protocol)


def global_call_pickle(module: str, name: str, *, stack_global: bool = False) -> bytes:
    """Hand-assembled pickle that imports ``module.name`` and calls it with no arguments."""
    if not stack_global:
        return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."
    mod, nam = module.encode(), name.encode()
    return (
        b"\x80\x04\x8c" + bytes([len(mod)]) + mod + b"\x8c" + bytes([len(nam)]) + nam + b"\x93)R."
    )


def torch_zip(members: dict[str, bytes]) -> bytes:
    """A zip archive laid out like ``torch.save`` (stored, not compressed)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def torch_zip_with(data_pkl: bytes) -> bytes:
    """A PyTorch-style checkpoint whose ``archive/data.pkl`` is ``data_pkl``."""
    return torch_zip(
        {
            "archive/data.pkl": data_pkl,
            "archive/byteorder": b"little",
            "archive/data/0": np.arange(64, dtype=np.float32).tobytes(),
            "archive/version": b"3\n",
            "archive/.data/serialization_id": b"1234567890123456789012345678901234567890",
        }
    )


def legacy_torch(obj_pickle: bytes) -> bytes:
    """A pre-1.6 ``torch.save`` stream: magic, protocol, sys info, object, keys, raw storage."""
    return (
        pickle.dumps(TORCH_LEGACY_MAGIC, 2)
        + pickle.dumps(1001, 2)
        + pickle.dumps({"protocol_version": 1001, "little_endian": True}, 2)
        + obj_pickle
        + pickle.dumps(["0"], 2)
        + np.arange(16, dtype=np.float32).tobytes()
    )


def object_npy(marker: Path) -> bytes:
    """An .npy file of dtype object whose pickled element calls os.system."""
    array = np.empty(2, dtype=object)
    array[0] = 1
    array[1] = Payload(marker_command(marker))
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def numeric_npy() -> bytes:
    """A plain float32 .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, np.ones((3, 4), dtype=np.float32))
    return buffer.getvalue()


def safetensors_bytes(header: Any, data: bytes, *, length: int | None = None) -> bytes:
    """Assemble a safetensors file from a header (dict, or raw bytes) and a data section."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def write_clean_model(directory: Path) -> None:
    """A clean model directory: safetensors weights (via the safetensors package) + JSON."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "embed.weight": np.ones((8, 4), dtype=np.float32),
            "lm_head.bias": np.zeros(8, dtype=np.float16),
            "mask": np.array([True, False]),
        },
        str(directory / "model.safetensors"),
        metadata={"format": "np"},
    )
    tokenizer = {"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}}}
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer))
    (directory / "config.json").write_text(json.dumps({"architectures": ["Llama"]}))
    (directory / "README.md").write_text("# demo model\n\nWeights in safetensors.\n")


# The parts of the SARIF 2.1.0 schema that consumers rely on (the full schema is not
# available offline).
SARIF_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["$schema", "version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "version", "rules"],
                                "properties": {
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id", "shortDescription"],
                                        },
                                    }
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "level", "message", "locations"],
                            "properties": {
                                "level": {"enum": ["error", "warning", "note", "none"]},
                                "message": {"type": "object", "required": ["text"]},
                                "locations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["physicalLocation"],
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "required": ["artifactLocation"],
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "required": ["uri"],
                                                    }
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def scan_app() -> typer.Typer:
    """A Typer app with only the ``scan`` commands, registered as in the real CLI."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Group, so that ``scan`` is a subcommand as in the real app."""

    scan_cmd.register(app)
    return app
