"""Planted secrets for the repository-scan tests, generated per test (so that this source file
holds no secret-shaped literal for any scanner to flag)."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Protocol

_UPPER_DIGITS = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits


class Writable(Protocol):
    """A test repository that can write a file (``WorkRepo``, conftest's ``ModelsRepo``)."""

    def write(self, rel: str, text: str) -> None: ...


@dataclass(frozen=True)
class Planted:
    """The secret values planted in a repo and where (file, 1-based line)."""

    aws_key: str
    slack_webhook: str
    key_body: str
    places: dict[str, tuple[str, int]]

    @property
    def values(self) -> tuple[str, ...]:
        """Every planted value: none of them may appear in any output."""
        return (
            self.aws_key,
            self.slack_webhook,
            self.slack_webhook.rsplit("/", 1)[1],
            self.key_body,
        )


def plant_secrets(repo: Writable, model: str = "alpha", seed: int = 7) -> Planted:
    """Write an AWS key and a Slack webhook into ``models/<model>/serving.env`` (lines 2 and 3)
    and a private key into ``models/<model>/deploy-key.pem`` (line 1)."""
    rng = random.Random(seed)
    aws = "AKIA" + "".join(rng.choice(_UPPER_DIGITS) for _ in range(16))
    token = "".join(rng.choice(_ALNUM) for _ in range(24))
    slack = (
        f"https://hooks.slack.com/services/T{rng.randrange(10**8)}/B{rng.randrange(10**8)}/{token}"
    )
    body = "".join(rng.choice(_ALNUM) for _ in range(64))
    env_file = f"models/{model}/serving.env"
    repo.write(env_file, f"# serving settings\nAWS_ACCESS_KEY_ID={aws}\nALERT_WEBHOOK={slack}\n")
    pem = f"models/{model}/deploy-key.pem"
    header, footer = "-----BEGIN " + "RSA PRIVATE KEY-----", "-----END " + "RSA PRIVATE KEY-----"
    repo.write(pem, f"{header}\n{body}\n{footer}\n")
    return Planted(
        aws_key=aws,
        slack_webhook=slack,
        key_body=body,
        places={
            "secret-aws-access-key": (env_file, 2),
            "secret-slack-token": (env_file, 3),
            "secret-private-key": (pem, 1),
        },
    )
