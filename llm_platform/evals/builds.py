"""GGUF builds derived from a GGUF: re-quantized, damaged, re-templated.

What the output-quality gate must catch, made for real from the packaged Gemma (nothing is
downloaded): a build re-quantized too far (llama.cpp's own ``llama_model_quantize`` through
llama-cpp-python), a build whose tensor data is damaged, and a re-export with another chat
template (rewritten with the ``gguf`` package). The demo's Gemma 1.1.0 and the tests use them.
Every build is written to a sibling temporary file and renamed into place, so a crash never
leaves a half-written GGUF under the final name.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from llm_platform.common.errors import PlatformError
from llm_platform.security.gguf import CHAT_TEMPLATE_KEY

#: The llama.cpp file types a build may be re-quantized to (``LLAMA_FTYPE_MOSTLY_<name>``).
FTYPES = ("Q2_0", "Q2_K", "Q2_K_S", "Q3_K_S", "Q4_0", "Q4_K_M", "Q8_0")
#: Tensor types for the output / token-embedding tensors (``GGML_TYPE_<name>``). A tensor's row
#: length must be a multiple of the type's block (Gemma 3 270M's 640 allows Q2_0 and Q4_0, not
#: the 256-element K-quants).
TENSOR_TYPES = ("Q2_0", "Q2_K", "Q3_K", "Q4_0", "Q4_K", "Q6_K", "Q8_0", "F16")
#: Longest a re-quantization may take (a 270M model takes a few seconds).
QUANTIZE_TIMEOUT_S = 600.0
#: The child process of :func:`requantize`: argv = src, dst, JSON {ftype, output_type,
#: embedding_type, pure}, threads. It imports only llama_cpp.
_QUANTIZE_CHILD = """
import json, sys
import llama_cpp
src, dst, spec, threads = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + spec["ftype"])
params.allow_requantize = True
params.nthread = threads
params.pure = bool(spec["pure"])
if spec["output_type"]:
    params.quantize_output_tensor = True
    params.output_tensor_type = getattr(llama_cpp, "GGML_TYPE_" + spec["output_type"])
if spec["embedding_type"]:
    params.token_embedding_type = getattr(llama_cpp, "GGML_TYPE_" + spec["embedding_type"])
sys.exit(llama_cpp.llama_model_quantize(src.encode(), dst.encode(), llama_cpp.byref(params)))
"""


class BuildError(PlatformError):
    """A derived build could not be made; the message names the file and the step."""


@contextlib.contextmanager
def _atomic_target(dst: Path) -> Iterator[Path]:
    """A temporary sibling of ``dst`` renamed onto it when the block succeeds."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def requantize(
    src: Path,
    dst: Path,
    *,
    ftype: str = "Q2_K",
    output_type: str | None = None,
    embedding_type: str | None = None,
    pure: bool = False,
    threads: int = 0,
) -> Path:
    """Re-quantize the GGUF ``src`` into ``dst`` with llama.cpp's quantizer.

    Args:
        src: A GGUF (already quantized ones are re-quantized: ``allow_requantize``).
        dst: The file to write (replaced atomically).
        ftype: One of :data:`FTYPES`.
        output_type: Also re-quantize the output tensor to this type (:data:`TENSOR_TYPES`);
            by default llama.cpp keeps it at a higher precision.
        embedding_type: The token-embedding tensor's type (:data:`TENSOR_TYPES`); by default
            llama.cpp chooses.
        pure: Every tensor to ``ftype`` (llama.cpp otherwise keeps some, e.g. ``attn_v``,
            at a higher precision); tensors whose rows the type cannot hold fall back anyway.
        threads: Quantizer threads (0: llama.cpp's default).

    Raises:
        BuildError: llama-cpp-python is missing, an unknown type, or the quantizer failed.
    """
    if ftype not in FTYPES:
        raise BuildError(f"ftype {ftype!r}: expected one of {', '.join(FTYPES)}")
    for what, value in (("output_type", output_type), ("embedding_type", embedding_type)):
        if value is not None and value not in TENSOR_TYPES:
            raise BuildError(f"{what} {value!r}: expected one of {', '.join(TENSOR_TYPES)}")
    if importlib.util.find_spec("llama_cpp") is None:
        raise BuildError("re-quantizing needs llama-cpp-python (make install)")
    spec = {
        "ftype": ftype,
        "output_type": output_type,
        "embedding_type": embedding_type,
        "pure": pure,
    }
    with _atomic_target(dst) as tmp:
        # In a child process: llama.cpp aborts the whole process on a type it cannot apply.
        argv = [sys.executable, "-c", _QUANTIZE_CHILD, str(src), str(tmp), json.dumps(spec)]
        argv.append(str(threads))
        try:
            done = subprocess.run(argv, capture_output=True, timeout=QUANTIZE_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"{src}: re-quantizing to {ftype} took over {exc.timeout} s") from exc
        if done.returncode != 0 or not tmp.is_file():
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            why = [ln for ln in lines if re.search(r"error|failed|ASSERT", ln)] or lines[-3:]
            raise BuildError(
                f"{src}: llama_model_quantize to {ftype} failed (exit {done.returncode}): "
                + " | ".join(why[:3])
            )
    return dst


def damage_tensors(
    src: Path,
    dst: Path,
    *,
    pattern: str,
    mode: Literal["zero", "noise"] = "zero",
    seed: int = 0,
) -> list[str]:
    """Copy ``src`` to ``dst`` with the data of every tensor matching ``pattern`` destroyed.

    Header, metadata and tensor table stay valid (the security scan and llama.cpp load the file);
    only the weights are wrong, as after a bad conversion or a flipped storage block.

    Args:
        pattern: ``fnmatch`` pattern over tensor names, e.g. ``blk.*.ffn_down.weight``.
        mode: ``zero`` (all bytes 0) or ``noise`` (seeded random bytes).

    Returns:
        The names of the damaged tensors.

    Raises:
        BuildError: no tensor matches, or ``src`` is not a readable GGUF.
    """
    import gguf
    import numpy as np

    with _atomic_target(dst) as tmp:
        shutil.copyfile(src, tmp)
        try:
            reader = gguf.GGUFReader(tmp, "r+")
        except (OSError, ValueError) as exc:
            raise BuildError(f"{src}: not a readable GGUF: {exc}") from exc
        rng = np.random.default_rng(seed)
        hit = [t for t in reader.tensors if fnmatch.fnmatchcase(t.name, pattern)]
        if not hit:
            raise BuildError(f"{src}: no tensor matches {pattern!r}")
        for tensor in hit:
            raw = tensor.data.view(np.uint8).reshape(-1)
            if mode == "zero":
                raw[:] = 0
            else:
                raw[:] = rng.integers(0, 256, size=raw.size, dtype=np.uint8)
        reader.data.flush()
        del reader
    return [t.name for t in hit]


def with_chat_template(src: Path, dst: Path, template: str) -> Path:
    """Copy ``src`` to ``dst`` with ``tokenizer.chat_template`` replaced by ``template``
    (a re-export with another template); every other key and all tensors are copied as-is.

    Raises:
        BuildError: ``src`` is not a readable GGUF.
    """
    import gguf

    try:
        reader = gguf.GGUFReader(src)
    except (OSError, ValueError) as exc:
        raise BuildError(f"{src}: not a readable GGUF: {exc}") from exc
    arch_field = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    if arch_field is None:
        raise BuildError(f"{src}: no general.architecture")
    with _atomic_target(dst) as tmp:
        writer = gguf.GGUFWriter(tmp, arch=str(arch_field.contents()), endianess=reader.endianess)
        alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
        if alignment is not None:
            writer.data_alignment = int(alignment.contents())
        for field in reader.fields.values():
            name = field.name
            if name == gguf.Keys.General.ARCHITECTURE or name.startswith("GGUF."):
                continue  # written by GGUFWriter itself
            if name == CHAT_TEMPLATE_KEY or name.startswith(CHAT_TEMPLATE_KEY + "."):
                continue
            vtype = field.types[0]
            sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(name, field.contents(), vtype, sub_type=sub)
        writer.add_chat_template(template)
        for tensor in reader.tensors:
            writer.add_tensor_info(
                tensor.name,
                tensor.data.shape,
                tensor.data.dtype,
                tensor.data.nbytes,
                tensor.tensor_type,
            )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor in reader.tensors:
            writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
        writer.close()
    return dst
