"""Process helpers: detached spawning, pid-reuse-safe liveness, graceful stop, HTTP health."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from llm_platform.common.errors import PlatformError
from llm_platform.serving.engines.base import LOOPBACK

# Local health checks must never go through an HTTP proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


#: Longest wait for a spawned process's argv to appear in /proc (microseconds, unless loaded).
EXEC_SETTLE_S = 1.0
#: Set in the environment of every process a platform home starts, to that home's resolved
#: path: ``stack down`` finds them in /proc even when every record of them is lost.
HOME_MARKER = "LLM_PLATFORM_PROCESS_OF"


def loopback_url(port: int | None) -> str:
    """The base URL of a process of this target on ``port`` (they all bind 127.0.0.1 only).

    A process record without a port yet (None) gives a URL nothing answers on.
    """
    return f"http://{LOOPBACK}:{port}"


class ProcessStartError(PlatformError):
    """A process could not be spawned (binary missing, log not writable)."""


def free_port(preferred: int | None = None) -> int:
    """A TCP port on 127.0.0.1 that is free right now; ``preferred`` when it is free.

    Args:
        preferred: try this port first (0 or None: any free port).
    """
    if preferred:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # Servers bind with SO_REUSEADDR, so a port whose old connections linger in
            # TIME_WAIT is free for them; listen() proves no live listener holds it.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((LOOPBACK, preferred))
                s.listen(1)
                return preferred
            except OSError:
                pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def spawn_detached(
    argv: list[str], log_path: Path, *, cwd: Path | None = None, home: Path | None = None
) -> int:
    """Start ``argv`` in its own session with stdout/stderr appended to ``log_path``.

    The process outlives the caller (a Dagster run, a CLI invocation). With ``home``, its
    environment carries :data:`HOME_MARKER` = that home (see ``runtime.sweep``).

    Returns:
        The pid (also the process group id).

    Raises:
        ProcessStartError: the executable cannot be started.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop(HOME_MARKER, None)  # never the caller's own mark (a controller's children)
    if home is not None:
        env[HOME_MARKER] = str(home.resolve())
    with open(log_path, "ab") as log:
        log.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd=cwd,
                env=env,
            )
        except OSError as exc:
            raise ProcessStartError(f"cannot start {argv[0]}: {exc}") from exc
    # Popen returns once exec has begun, a moment before the kernel shows the new argv in
    # /proc/<pid>/cmdline (empty meanwhile): wait for it, so is_our_process() never takes a
    # starting process for an exited one (and a failed start never leaks it unstopped).
    deadline = time.monotonic() + EXEC_SETTLE_S
    while read_cmdline(proc.pid) == [] and time.monotonic() < deadline:
        time.sleep(0.001)
    return proc.pid


def _reap(pid: int) -> int | None:
    """Collect ``pid`` if it is our exited child; returns its exit code when known."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    if done == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def exit_code_if_child(pid: int) -> int | None:
    """Reap ``pid`` when it is an exited child of this process and return its exit code."""
    return _reap(pid)


def read_cmdline(pid: int) -> list[str] | None:
    """The argv of a live, non-zombie process, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def is_our_process(pid: int | None, argv: list[str]) -> bool:
    """True when ``pid`` is alive and runs exactly ``argv`` (guards against pid reuse)."""
    if not pid or not argv:
        return False
    return read_cmdline(pid) == argv


def stop_process(pid: int | None, argv: list[str], *, timeout_s: float = 5.0) -> bool:
    """SIGTERM the process group of ``pid``, SIGKILL after ``timeout_s``.

    Only signals the process when it is still the one we started (same argv).

    Returns:
        True when a process was signalled.
    """
    if not is_our_process(pid, argv):
        return False
    assert pid is not None
    _signal_group(pid, signal.SIGTERM)
    if not _gone_within(pid, argv, timeout_s):
        _signal_group(pid, signal.SIGKILL)
        _gone_within(pid, argv, 2.0)
    _reap(pid)
    return True


def kill_process(pid: int | None, argv: list[str], *, timeout_s: float = 5.0) -> bool:
    """SIGKILL the process group of ``pid`` at once (for a hung process that ignores SIGTERM).

    Only signals the process when it is still the one we started (same argv).

    Returns:
        True when a process was signalled.
    """
    if not is_our_process(pid, argv):
        return False
    assert pid is not None
    _signal_group(pid, signal.SIGKILL)
    _gone_within(pid, argv, timeout_s)
    _reap(pid)
    return True


def _gone_within(pid: int, argv: list[str], timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``pid`` to stop running ``argv``; True when it did."""
    deadline = time.monotonic() + timeout_s
    while is_our_process(pid, argv):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def http_ok(url: str, *, timeout_s: float = 1.0) -> bool:
    """True when GET ``url`` answers 2xx within ``timeout_s``; False on refusal or timeout."""
    try:
        with _OPENER.open(url, timeout=timeout_s) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_get_json(url: str, *, timeout_s: float = 1.0) -> object:
    """GET ``url`` and decode its JSON body; None on any connection, HTTP or decoding error."""
    try:
        with _OPENER.open(url, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def tail_lines(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64 * 1024))
        data = f.read().decode(errors="replace")
    return "\n".join(data.splitlines()[-lines:])
