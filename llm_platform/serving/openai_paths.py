"""The request paths of an OpenAI-compatible model endpoint, as servers, the gateway and the
endpoint test suite all spell them.

A leaf module: the endpoint tests (a client) import it without the serving stack.
"""

from __future__ import annotations

COMPLETIONS_PATH = "/v1/completions"
CHAT_COMPLETIONS_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
#: The health route of the platform's own servers and of the gateway (engines declare theirs).
HEALTH_PATH = "/health"
