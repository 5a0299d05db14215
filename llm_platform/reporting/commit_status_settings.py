"""Names and defaults of the commit-status settings (a leaf module: the settings import it,
so it sits outside ``llm_platform.gitops``, whose package imports the settings)."""

from __future__ import annotations

#: Secret: a token allowed to write commit statuses (``repo:status`` / ``statuses: write``).
GITHUB_TOKEN_ENV = "GITHUB_TOKEN"
#: The REST API root; GitHub Enterprise Server: ``https://<host>/api/v3``.
GITHUB_API_URL_ENV = "GITHUB_API_URL"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
#: ``owner/name`` of the models repo on GitHub (default: parsed from the models repo's remote).
GITHUB_REPOSITORY_ENV = "LLM_PLATFORM_GITHUB_REPOSITORY"
