"""The Kubernetes DNS-1123 label: the one name rule for models, environments, namespaces and
revisions (at most 63 lowercase letters, digits and ``-``, starting and ending alphanumeric).

A leaf module, so that every layer can check a name with it (the config schema, the registry's
keys, revision names): such names become process, metric-label and cluster object names alike.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

DNS_LABEL_MAX = 63
#: The rule as a regular expression in the syntax Python, pydantic (Rust) and RE2/Go share.
DNS_LABEL_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"

_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_LABEL_CHARS = re.compile(r"[a-z0-9-]+")

#: A pydantic field holding a DNS-1123 label.
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, max_length=DNS_LABEL_MAX)]


def is_dns_label(value: str) -> bool:
    """Whether ``value`` is a DNS-1123 label."""
    return len(value) <= DNS_LABEL_MAX and _DNS_LABEL.fullmatch(value) is not None


def check_dns_label(value: str) -> str:
    """Validate a Kubernetes DNS-1123 label (``^[a-z0-9]([-a-z0-9]*[a-z0-9])?$``, <= 63 chars).

    Args:
        value: The candidate label.

    Returns:
        The value unchanged.

    Raises:
        ValueError: With a message saying which part of the rule is broken.
    """
    if not value:
        raise ValueError("must not be empty")
    if len(value) > DNS_LABEL_MAX:
        raise ValueError(
            f"must be at most {DNS_LABEL_MAX} characters (a DNS-1123 label), got {len(value)}"
        )
    if not _LABEL_CHARS.fullmatch(value):
        raise ValueError(f"{value!r} may contain only lowercase letters, digits and '-'")
    if value[0] == "-" or value[-1] == "-":
        raise ValueError(f"{value!r} must start and end with a lowercase letter or digit")
    return value
