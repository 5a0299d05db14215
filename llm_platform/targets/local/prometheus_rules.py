"""The embedded Prometheus's SLO rules: one rule file per environment, reloaded on change.

:func:`install_rules` writes ``<home>/prometheus/rules/<env>.rules.yml`` (the glob the embedded
``prometheus.yml`` loads) when the generated text changed, after ``promtool check rules``
accepted it, and asks the running embedded Prometheus to reload (``POST /-/reload``). A file
Prometheus rejects is never left in place: the previous one is restored and the error raised.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from llm_platform.common.errors import ConfigurationError
from llm_platform.slo.rules import rules_yaml
from llm_platform.targets.local.layout import Layout
from llm_platform.targets.local.prometheus import RULE_FILE_SUFFIX, PrometheusPaths, embedded_url
from llm_platform.targets.local.state import atomic_write_text


class RulesRejected(ConfigurationError):
    """promtool or Prometheus rejected a generated rule file (the message holds why)."""


class RulesInstall(BaseModel):
    """What :func:`install_rules` did."""

    written: list[str]
    unchanged: list[str]
    reloaded: bool
    prometheus_url: str | None


def rule_file(home: Path, env: str) -> Path:
    """Where environment ``env``'s rules live under ``home``."""
    return PrometheusPaths(home).rules / f"{env}{RULE_FILE_SUFFIX}"


def check_rules(text: str) -> None:
    """Run ``promtool check rules`` on ``text`` (skipped when promtool is not installed).

    Raises:
        RulesRejected: promtool found a problem.
    """
    promtool = shutil.which("promtool")
    if promtool is None:
        return
    with tempfile.NamedTemporaryFile("w", suffix=RULE_FILE_SUFFIX, delete=False) as tmp:
        tmp.write(text)
    try:
        done = subprocess.run(
            [promtool, "check", "rules", tmp.name], capture_output=True, text=True, timeout=60
        )
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    if done.returncode != 0 or "SUCCESS" not in done.stdout:
        raise RulesRejected(f"promtool check rules: {(done.stdout + done.stderr).strip()}")


def reload_prometheus(url: str, *, timeout_s: float = 30.0) -> None:
    """Ask the Prometheus at ``url`` to reload its configuration and rule files.

    Raises:
        RulesRejected: Prometheus answered with an error (e.g. a rule file it cannot load).
        httpx.HTTPError: it could not be reached.
    """
    with httpx.Client(trust_env=False, timeout=timeout_s) as client:
        resp = client.post(f"{url}/-/reload")
    if resp.status_code != 200:
        raise RulesRejected(f"prometheus at {url} rejected the reload: {resp.text.strip()}")


def install_rules(
    home: Path, rules_by_env: dict[str, dict[str, Any]], *, prometheus_url: str | None = None
) -> RulesInstall:
    """Write each environment's rule file when it changed and reload the embedded Prometheus.

    Args:
        home: The platform home.
        rules_by_env: Rule groups by environment (:func:`llm_platform.slo.rules.generate_rules`).
        prometheus_url: The Prometheus to reload (default: the running embedded stack's;
            none running: the files are loaded when it starts).

    Raises:
        RulesRejected: promtool or Prometheus rejected a file (the previous files are restored).
    """
    written, unchanged, previous = [], [], {}
    for env, doc in sorted(rules_by_env.items()):
        text, path = rules_yaml(doc), rule_file(home, env)
        old = path.read_text() if path.exists() else None
        if old == text:
            unchanged.append(env)
            continue
        check_rules(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        previous[path] = old
        atomic_write_text(path, text)
        written.append(env)
    url = prometheus_url or embedded_url(Layout(home).stack_file)
    reloaded = False
    if written and url:
        try:
            reload_prometheus(url)
            reloaded = True
        except httpx.HTTPError:
            pass  # not running: it loads the files when it starts
        except RulesRejected:
            for path, old in previous.items():
                if old is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic_write_text(path, old)
            raise
    return RulesInstall(written=written, unchanged=unchanged, reloaded=reloaded, prometheus_url=url)
