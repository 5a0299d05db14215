"""SSH signing keys and a trust root for the demo's approvers (and for tests of approvals).

A team does the same by hand (docs/approvals.md): each approver has an SSH key and
signs commits with ``gpg.format=ssh``; the platform operator keeps an ``allowed_signers`` file of
their public keys outside the models repo and names it in ``LLM_PLATFORM_TRUSTED_SIGNERS``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from llm_platform.common.errors import ConfigurationError

#: The demo's approvers (the ``approvers`` of ``examples/models-repo/config/production.yaml``).
DEMO_APPROVERS = ("alice", "bob")
#: Who adds and changes the demo's models (signed commits), so alice approves them.
DEMO_MODEL_OWNER = "bob"
#: The demo's commit identities are ``<name>@example.com``.
DEMO_EMAIL_DOMAIN = "example.com"
#: Where the demo keeps keys and its trust root, under ``LLM_PLATFORM_HOME``.
SIGNING_DIRNAME = "signing"
ALLOWED_SIGNERS_FILENAME = "allowed_signers"


def demo_email(name: str) -> str:
    """The demo identity's e-mail (its commits and its trust-root principal)."""
    return f"{name}@{DEMO_EMAIL_DOMAIN}"


def create_ssh_key(path: Path, *, comment: str) -> Path:
    """Create an ed25519 key without passphrase at ``path`` (``path.pub`` is the public key).

    An existing key is kept. Returns the private key's path.

    Raises:
        ConfigurationError: ``ssh-keygen`` is missing or failed.
    """
    if path.exists() and path.with_suffix(".pub").exists():
        return path
    if shutil.which("ssh-keygen") is None:
        raise ConfigurationError(
            "ssh-keygen was not found on PATH: it creates and verifies SSH signing keys "
            "(Debian: apt-get install openssh-client)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise ConfigurationError(f"ssh-keygen could not create {path}: {proc.stderr.strip()}")
    return path


def public_key(private_key: Path) -> str:
    """``<type> <base64>`` of a key created by :func:`create_ssh_key` (without the comment)."""
    fields = private_key.with_suffix(".pub").read_text(encoding="utf-8").split()
    return " ".join(fields[:2])


def write_allowed_signers(path: Path, keys: Mapping[str, Path]) -> Path:
    """Write an ``allowed_signers`` file: one ``<principal> namespaces="git" <key>`` line per
    principal (e-mail) → private key path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f'{principal} namespaces="git" {public_key(k)}' for principal, k in keys.items()]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def signing_options(private_key: Path) -> list[str]:
    """``git -c`` options that SSH-sign a commit with ``private_key``."""
    return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={private_key}"]


def ensure_demo_signers(home: Path) -> tuple[Path, dict[str, Path]]:
    """Keys for :data:`DEMO_APPROVERS` and a trust root listing them, under ``home/signing``.

    Returns:
        The trust root's path and each approver's private key path.

    Raises:
        ConfigurationError: ``ssh-keygen`` is missing or failed.
    """
    root = home / SIGNING_DIRNAME
    keys = {
        name: create_ssh_key(root / f"{name}_ed25519", comment=demo_email(name))
        for name in DEMO_APPROVERS
    }
    trust_root = write_allowed_signers(
        root / ALLOWED_SIGNERS_FILENAME, {demo_email(n): k for n, k in keys.items()}
    )
    return trust_root, keys


__all__ = [
    "DEMO_APPROVERS",
    "create_ssh_key",
    "demo_email",
    "ensure_demo_signers",
    "public_key",
    "signing_options",
    "write_allowed_signers",
]
