"""The approvals trust root: which SSH keys may sign approvals, and for whom.

The trust root is a file in git's SSH ``allowed_signers`` format (``man ssh-keygen``, section
ALLOWED SIGNERS), one key per line, principals are e-mail addresses::

    alice@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...
    bob@example.com namespaces="git" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA...

It is named by ``LLM_PLATFORM_TRUSTED_SIGNERS`` and lives outside the models repository (e.g. a
mounted secret): whoever can push to the models repo must not be able to add their own key.
Signatures are verified by git itself (``gpg.ssh.allowedSignersFile``); this module only checks
that the file is usable and runs git with the settings that make it the only source of trust.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from llm_platform.common.errors import ConfigurationError
from llm_platform.settings import TRUSTED_SIGNERS_ENV

_MAX_BYTES = 1024 * 1024


class TrustRootError(ConfigurationError):
    """The trust root is missing, unreadable, empty, or inside the models repository."""


def git_verification_options(trust_root: Path) -> list[str]:
    """``git -c`` options that make ``trust_root`` the only source of trust for ``%G?``.

    ``-c`` outranks every config file, so a repository-local ``gpg.ssh.*`` setting cannot point
    verification at another file or program.
    """
    return [
        "-c",
        "gpg.format=ssh",
        "-c",
        f"gpg.ssh.allowedSignersFile={trust_root}",
        "-c",
        "gpg.ssh.program=ssh-keygen",
    ]


def principal_matches(name: str, principal: str) -> bool:
    """Whether an approver name (``alice`` or ``alice@example.com``) names ``principal``.

    A value with ``@`` must equal the principal (case-insensitive); a bare name matches the
    principal's local part.
    """
    name, principal = name.strip().lower(), principal.strip().lower()
    if "@" in name:
        return name == principal
    return principal.partition("@")[0] == name


def load_trust_root(path: Path | None, *, repo_dir: Path | None = None) -> Path:
    """Check that the trust root can be used and return its resolved path.

    Args:
        path: The configured path (``LLM_PLATFORM_TRUSTED_SIGNERS``), None when unset.
        repo_dir: The models repository's directory; the trust root must not be inside it.

    Raises:
        TrustRootError: unset, missing, unreadable, too large, without a single key line, inside
            the models repository, or ``ssh-keygen`` (which git runs to verify) is missing.
    """
    if path is None:
        raise TrustRootError(
            f"{TRUSTED_SIGNERS_ENV} is not set: approvals cannot be verified without a trust "
            "root (an allowed_signers file of the approvers' SSH keys)"
        )
    resolved = path.resolve()
    if repo_dir is not None and resolved.is_relative_to(repo_dir.resolve()):
        raise TrustRootError(
            f"{TRUSTED_SIGNERS_ENV}={path}: the trust root is inside the models repository "
            f"{repo_dir}; anyone who can push could add their key. Keep it outside."
        )
    if not resolved.is_file():
        raise TrustRootError(f"{TRUSTED_SIGNERS_ENV}={path}: no such file")
    try:
        size = resolved.stat().st_size
        if size > _MAX_BYTES:
            raise TrustRootError(
                f"{TRUSTED_SIGNERS_ENV}={path}: {size} bytes; an allowed_signers file is small "
                f"(limit {_MAX_BYTES})"
            )
        text = resolved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrustRootError(f"{TRUSTED_SIGNERS_ENV}={path}: cannot be read: {exc}") from exc
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise TrustRootError(
            f"{TRUSTED_SIGNERS_ENV}={path}: no keys (expected lines '<e-mail> <key-type> <key>')"
        )
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#") and len(line.split()) < 3:
            raise TrustRootError(
                f"{TRUSTED_SIGNERS_ENV}={path}:{number}: expected '<e-mail> [options] "
                "<key-type> <key>'"
            )
    if shutil.which("ssh-keygen") is None:
        raise TrustRootError(
            "ssh-keygen was not found on PATH: git needs it to verify SSH signatures "
            "(Debian: apt-get install openssh-client)"
        )
    return resolved


__all__ = [
    "TrustRootError",
    "git_verification_options",
    "load_trust_root",
    "principal_matches",
]
