"""Helpers for the runtime and stack tests: artifacts, traffic generators, process cleanup.

Every process these tests cause to exist is found again by pid (recorded state, or a /proc scan
for the test's own unique home directory) and stopped in teardown, even when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from llm_platform.common.digest import digest_directory
from llm_platform.targets.base import DeploymentSpec, RevisionSpec
from llm_platform.targets.local.stack import stack_down
from tests.helpers.serving_fixtures import build_artifact

WRONG_DIGEST = "0" * 64


def build_broken_artifact(out: Path) -> str:
    """The demo model with an unreadable tokenizer.json: it hashes fine and is recognisably the
    builtin format (config.json intact), but the server cannot load it."""
    build_artifact(out)
    (out / "tokenizer.json").write_text("{broken")
    return digest_directory(out).digest


def revision(
    name: str, digest: str, artifact: Path, *, weight: int, color: str = "stable"
) -> RevisionSpec:
    """A revision spec of the demo model."""
    return RevisionSpec(
        revision=name,
        version="1.0.0",
        digest=digest,
        artifact_uri=artifact.as_uri(),
        color=color,  # type: ignore[arg-type]
        weight=weight,
    )


def spec(model: str, *revisions: RevisionSpec, env: str = "staging") -> DeploymentSpec:
    """A deployment spec."""
    return DeploymentSpec(env=env, model=model, revisions=list(revisions))


def complete(client: httpx.Client, endpoint: str, model: str) -> httpx.Response:
    """One small completion request through the gateway endpoint."""
    return client.post(
        f"{endpoint}/v1/completions",
        json={"model": model, "prompt": "Shall I", "max_tokens": 2, "temperature": 0},
        timeout=10.0,
    )


class Traffic:
    """Bounded continuous traffic in a thread; records every response's status and revision.

    Args:
        endpoint: gateway URL + "/" + model.
        model: the model name.
        max_requests: hard bound on requests sent.
    """

    def __init__(self, endpoint: str, model: str, *, max_requests: int = 3000) -> None:
        self.endpoint, self.model, self.max_requests = endpoint, model, max_requests
        self.revisions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(trust_env=False) as client:
            while not self._stop.is_set() and self.sent < self.max_requests:
                self.sent += 1
                # Paced (~200 requests/s at most) so that the bound lasts through slow steps.
                self._stop.wait(0.005)
                try:
                    resp = complete(client, self.endpoint, self.model)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if resp.status_code != 200:
                    self.failures.append(f"{resp.status_code}: {resp.text[:200]}")
                else:
                    self.revisions[resp.headers.get("x-llm-revision", "?")] += 1

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def wait_for(self, revision: str, count: int, timeout_s: float = 10.0) -> None:
        """Block until ``revision`` served ``count`` more requests (or fail)."""
        target = self.revisions[revision] + count
        deadline = time.monotonic() + timeout_s
        while self.revisions[revision] < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"{revision} served {self.revisions} (wanted +{count})")
            time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def pids_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text`` (our unique home dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if text in cmdline and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def teardown_home(home: Path) -> list[int]:
    """Stop everything of ``home`` (stack down), then SIGKILL any straggler by pid.

    Returns:
        The stragglers that ``stack down`` missed (tests assert this is empty).
    """
    with contextlib.suppress(Exception):  # teardown must go on to the pid sweep below
        stack_down(home)
    stragglers = pids_mentioning(str(home))
    for pid in stragglers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return stragglers


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.1):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


def stack_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``llm-platform stack ...`` in a subprocess (as a user would).

    Only the stack commands are registered on the real app, so that a command module of another
    area failing to import cannot make these tests fail.
    """
    code = "from llm_platform.cli import app, stack_cmd; stack_cmd.register(app); app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
