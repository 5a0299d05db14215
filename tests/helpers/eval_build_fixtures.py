"""Real GGUF builds derived from the packaged Gemma, made once per session (the quality gate's
tests serve them with llama.cpp), and a counting proxy to see who asks a server."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from llm_platform.config.eval_suite import EvalSuite, load_suite
from llm_platform.demo.gemma import EXAMPLE_SUITE
from llm_platform.evals.builds import damage_tensors, requantize, with_chat_template
from tests.helpers.engine_fixtures import require_llama_cpp
from tests.helpers.loopback_http import LoopbackServer, QuietHandler

#: A ChatML template (another family's): a re-export with the wrong template.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _gguf(artifact: Path) -> Path:
    [path] = artifact.glob("*.gguf")
    return path


@pytest.fixture(scope="session")
def example_suite() -> EvalSuite:
    """The example repo's Gemma suite (40 few-shot cases)."""
    return load_suite(EXAMPLE_SUITE)


@pytest.fixture(scope="session")
def gemma_damaged(gemma_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma with every ``ffn_down`` tensor zeroed (loads and answers, wrongly)."""
    out = tmp_path_factory.mktemp("gemma-damaged") / "gemma-3-270m-damaged.gguf"
    damaged = damage_tensors(_gguf(gemma_artifact), out, pattern="blk.*.ffn_down.weight")
    assert len(damaged) == 18  # one per layer of Gemma 3 270M
    return out.parent


@pytest.fixture(scope="session")
def gemma_q2k_chatml(gemma_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma re-quantized to Q2_K and re-exported with a ChatML chat template."""
    require_llama_cpp()
    work = tmp_path_factory.mktemp("gemma-q2k-work") / "q2k.gguf"
    requantize(_gguf(gemma_artifact), work, ftype="Q2_K")
    out = tmp_path_factory.mktemp("gemma-q2k-chatml") / "gemma-3-270m-q2_k.gguf"
    with_chat_template(work, out, CHATML_TEMPLATE)
    work.unlink()
    return out.parent


class CountingProxy(LoopbackServer):
    """A loopback HTTP proxy to ``upstream`` that counts the requests it gets; the first
    ``fail_first`` are answered 503 (a revision briefly out of rotation) instead of forwarded."""

    def __init__(self, upstream: str, *, fail_first: int = 0) -> None:
        self.upstream = upstream.rstrip("/")
        self.requests = 0
        self.fail_first = fail_first
        self._lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                with proxy._lock:
                    proxy.requests += 1
                    refuse = proxy.requests <= proxy.fail_first
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if refuse:
                    self.reply(503)
                    return
                r = httpx.post(
                    proxy.upstream + self.path,
                    content=body,
                    headers={"content-type": "application/json"},
                    timeout=120,
                )
                content_type = r.headers.get("content-type", "text/plain")
                self.reply(r.status_code, r.content, {"content-type": content_type})

        super().__init__(Handler)
