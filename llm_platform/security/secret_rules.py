"""The rule catalogue of the repository secret scan and its ``.secrets.baseline`` file.

One rule per detect-secrets plugin (``secret-<type>``): a format-specific detector (an AWS key,
a private key block, a Slack token) is ``high`` and blocks; the heuristic detectors (entropy,
keywords, public IPs) are ``medium`` and are reported only, since model configs carry hex
digests. The baseline is detect-secrets' own format, so ``detect-secrets scan`` / ``audit``
maintain it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from llm_platform.security.rules import Rule

#: The file in the models repository (at its root) listing reviewed secret findings.
SECRETS_BASELINE = ".secrets.baseline"
#: The rule of a baseline that cannot be read: the scan fails closed.
BASELINE_INVALID = "secrets-baseline-invalid"
#: detect-secrets types that are heuristics, not a credential format.
HEURISTIC_TYPES = frozenset(
    {"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword", "Public IP (ipv4)"}
)


def secret_rule_id(secret_type: str) -> str:
    """A detect-secrets type's rule id: ``AWS Access Key`` -> ``secret-aws-access-key``."""
    return "secret-" + re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


@cache
def secret_rules() -> dict[str, Rule]:
    """Every rule the repository scan can report, keyed by id (detect-secrets' plugins + one)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    rules = {
        BASELINE_INVALID: Rule(
            id=BASELINE_INVALID,
            name="SecretsBaselineInvalid",
            severity="high",
            description=f"The repository's {SECRETS_BASELINE} cannot be read, so no finding "
            "can be matched against the reviewed ones.",
        )
    }
    for secret_type in sorted(get_mapping_from_secret_type_to_class()):
        rule_id = secret_rule_id(secret_type)
        heuristic = secret_type in HEURISTIC_TYPES
        rules[rule_id] = Rule(
            id=rule_id,
            name=re.sub(r"[^A-Za-z0-9]", "", secret_type.title()),
            severity="medium" if heuristic else "high",
            description=f"A {secret_type} in a tracked file"
            + (" (heuristic: reported, does not block)." if heuristic else "."),
        )
    return rules


@dataclass(frozen=True)
class Baseline:
    """Reviewed findings: ``(file, type, hashed_secret)`` of entries not audited as real."""

    reviewed: frozenset[tuple[str, str, str]] = frozenset()

    def covers(self, path: str, secret_type: str, secret_hash: str) -> bool:
        """Whether the finding was reviewed as a false positive (or accepted) in the baseline."""
        return (path, secret_type, secret_hash) in self.reviewed


class BaselineError(ValueError):
    """The baseline file is not a detect-secrets baseline."""


def parse_baseline(text: bytes | str, where: str) -> Baseline:
    """Read a detect-secrets baseline; entries audited ``is_secret: true`` are not suppressed.

    Raises:
        BaselineError: not JSON, or ``results`` is not ``{file: [{type, hashed_secret}]}``.
    """
    try:
        data = json.loads(text)
        results = data["results"]
        reviewed = {
            (str(path), str(entry["type"]), str(entry["hashed_secret"]))
            for path, entries in results.items()
            for entry in entries
            if entry.get("is_secret") is not True
        }
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BaselineError(
            f"{where}: not a detect-secrets baseline ({type(exc).__name__}: {exc})"
        ) from exc
    return Baseline(frozenset(reviewed))
