"""Check the installed llama.cpp build: present, and not compiled for this CPU's extensions.

These VMs advertise AVX-512 and AMX but cannot execute them: a natively built llama.cpp starts,
answers ``/v1/models`` and dies with "invalid opcode" at the first inference. ``make install``
builds with ``CMAKE_ARGS=-DGGML_NATIVE=OFF`` and runs ``python -m
llm_platform.serving.engines.llama_build``, which exits 1 when the installed library reports
any of these compile-time features (e.g. a native wheel from pip's cache) so it is rebuilt.
"""

from __future__ import annotations

import re
import sys

# ggml CPU features that only a native build enables on x86 (the portable build stops at AVX2).
NATIVE_ONLY_FEATURES = frozenset(
    {"AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8", "AVX_VNNI"}
)
_ENABLED = re.compile(r"\b([A-Z0-9_]+) = 1\b")


def native_features(system_info: str) -> list[str]:
    """The native-only features a ``llama_print_system_info()`` string reports as enabled."""
    return sorted(set(_ENABLED.findall(system_info)) & NATIVE_ONLY_FEATURES)


def main() -> int:
    """Exit 0 for a portable build; 1 (reason on stderr) when missing or built natively."""
    try:
        import llama_cpp
    except ImportError as exc:
        sys.stderr.write(f"llama-cpp-python is not installed: {exc}\n")
        return 1
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    found = native_features(info)
    if found:
        sys.stderr.write(
            f"llama.cpp was built for this CPU ({', '.join(found)}); these machines cannot run "
            "those instructions: rebuild with CMAKE_ARGS=-DGGML_NATIVE=OFF\n"
        )
        return 1
    sys.stdout.write(f"llama.cpp build is portable: {info.strip()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
