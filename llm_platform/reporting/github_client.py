"""Posting commit statuses to GitHub (or GitHub Enterprise) through githubkit, never failing.

A status that cannot be posted is retried a bounded number of times (server errors, rate limits
and transport failures; never a 4xx such as a bad token or an unknown commit) and then reported
as a :class:`PostOutcome` with the reason. The token lives in a private attribute: it never
appears in a ``repr``, an outcome, a log line or an exception raised from here.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict

from llm_platform.gitops.mirror import resolve_location
from llm_platform.gitops.runner import GitError, run_git
from llm_platform.reporting.commit_status_settings import DEFAULT_GITHUB_API_URL

if TYPE_CHECKING:
    from llm_platform.reporting.commit_status import CommitStatus

logger = logging.getLogger(__name__)

_SLUG = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SCP_REMOTE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")
_SHA = re.compile(r"^[0-9a-fA-F]{4,64}$")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_REDACTED = "<redacted>"


class PostOutcome(BaseModel):
    """What happened to one status: posted or not, after how many attempts, and why not."""

    model_config = ConfigDict(frozen=True)

    posted: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None


def valid_repository(slug: str) -> bool:
    """Whether ``slug`` reads as ``owner/name``."""
    return bool(_SLUG.match(slug)) and ".." not in slug


def repository_from_remote(remote: str, *, api_url: str = DEFAULT_GITHUB_API_URL) -> str | None:
    """``owner/name`` of a git remote on the GitHub instance behind ``api_url``, else None.

    Understands ``https://host/owner/name(.git)``, ``ssh://git@host/owner/name.git`` and
    ``git@host:owner/name.git``. The remote's host must be the API's host (GitHub Enterprise) or
    the API's host without ``api.`` (github.com), so a remote elsewhere never gets statuses.
    """
    parsed = urlparse(remote)
    if parsed.scheme and parsed.netloc:
        host, path = parsed.hostname or "", parsed.path
    else:
        match = _SCP_REMOTE.match(remote)
        if match is None:
            return None
        host, path = match.group("host"), match.group("path")
    api_host = urlparse(api_url).hostname or ""
    if host.lower() not in {api_host.lower(), api_host.lower().removeprefix("api.")}:
        return None
    slug = path.strip("/").removesuffix(".git")
    return slug if valid_repository(slug) else None


def github_web_url(api_url: str = DEFAULT_GITHUB_API_URL) -> str:
    """The web root behind a REST API root: ``https://api.github.com`` -> ``https://github.com``,
    GitHub Enterprise Server's ``https://<host>/api/v3`` -> ``https://<host>``."""
    parsed = urlparse(api_url)
    host = parsed.netloc
    if host.lower().startswith("api."):
        host = host[len("api.") :]
    path = parsed.path.rstrip("/").removesuffix("/api/v3").removesuffix("/api")
    return f"{parsed.scheme or 'https'}://{host}{path}"


def commit_url(
    repository: str | None, sha: str, *, api_url: str = DEFAULT_GITHUB_API_URL
) -> str | None:
    """``https://github.com/<owner>/<repo>/commit/<sha>`` (on the instance behind ``api_url``),
    or None when the repository is unknown or not ``owner/name``, or ``sha`` is not hex."""
    if not repository or not valid_repository(repository) or not _SHA.match(sha):
        return None
    return f"{github_web_url(api_url)}/{repository}/commit/{sha}"


def repository_for_models_repo(
    location: str, *, api_url: str = DEFAULT_GITHUB_API_URL
) -> str | None:
    """``owner/name`` on GitHub of the models repo at ``location`` (a URL, or a local work tree
    whose ``origin`` remote is read), else None."""
    try:
        local, url = resolve_location(location)
        if local is not None:
            proc = run_git(local, ["config", "--get", "remote.origin.url"], ok_codes=(0, 1))
            url = proc.stdout.decode("utf-8", "replace").strip() or None
    except GitError as exc:
        logger.warning(
            "models repo %s: no GitHub repository for commit statuses: %s", location, exc
        )
        return None
    return repository_from_remote(url, api_url=api_url) if url else None


class CommitStatusPoster:
    """Posts :class:`CommitStatus` es to one repository with githubkit.

    Args:
        token: The API token (a secret).
        repository: ``owner/name``.
        api_url: REST API root (``https://<host>/api/v3`` for GitHub Enterprise Server).
        attempts: Tries per status (>= 1), including the first.
        backoff_s: Wait before the second try; doubled before each further one.
        timeout_s: Per-request timeout.
        sleep: How to wait between tries (tests pass a recorder).
    """

    def __init__(
        self,
        *,
        token: str,
        repository: str,
        api_url: str = DEFAULT_GITHUB_API_URL,
        attempts: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from githubkit import GitHub, TokenAuthStrategy

        if not valid_repository(repository):
            raise ValueError(f"GitHub repository {repository!r}: expected owner/name")
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.owner, self.name = repository.split("/", 1)
        self.api_url = api_url.rstrip("/")
        self.attempts = attempts
        self.backoff_s = backoff_s
        self._sleep = sleep
        self.__token = token
        # githubkit's own retry is off: this class bounds the tries and keeps them quiet.
        self.__client = GitHub(
            TokenAuthStrategy(token),
            base_url=self.api_url,
            timeout=timeout_s,
            auto_retry=False,
            user_agent="llm-platform",
        )

    def __repr__(self) -> str:
        return (
            f"CommitStatusPoster(repository='{self.owner}/{self.name}', "
            f"api_url={self.api_url!r}, token={_REDACTED!r})"
        )

    __str__ = __repr__

    def post(self, status: CommitStatus, *, sha: str, target_url: str | None) -> PostOutcome:
        """Create ``status`` on commit ``sha`` (``target_url``: the run's page), never raising.

        Returns:
            Posted, or not with the HTTP status / error and the number of attempts made.
        """
        from githubkit.exception import GitHubException, RateLimitExceeded, RequestFailed

        last_code: int | None = None
        last_error = ""
        for attempt in range(1, self.attempts + 1):
            try:
                self.__client.rest.repos.create_commit_status(
                    self.owner,
                    self.name,
                    sha,
                    state=status.state,
                    description=status.description,
                    context=status.context,
                    target_url=target_url,
                )
            except RequestFailed as exc:
                last_code = exc.response.status_code
                last_error = f"HTTP {last_code}: {self._body(exc)}"
                retry = last_code in _RETRY_STATUS or isinstance(exc, RateLimitExceeded)
            except GitHubException as exc:  # transport: refused, reset, timeout, TLS
                last_code = None
                last_error = self._redact(f"{type(exc).__name__}: {_origin(exc)}")
                retry = True
            else:
                return PostOutcome(posted=True, attempts=attempt, status_code=201)
            if not retry or attempt == self.attempts:
                return PostOutcome(
                    posted=False, attempts=attempt, status_code=last_code, error=last_error
                )
            delay = self.backoff_s * 2 ** (attempt - 1)
            logger.warning(
                "commit status %s on %s not posted (attempt %d/%d: %s); retrying in %.1fs",
                status.context,
                sha[:12],
                attempt,
                self.attempts,
                last_error,
                delay,
            )
            self._sleep(delay)
        raise AssertionError("unreachable: the loop returns on its last attempt")

    def _body(self, exc: object) -> str:
        response = getattr(exc, "response", None)
        try:
            text = response.raw_response.text if response is not None else ""
        except Exception:  # a streamed or undecodable body: the status code says enough
            text = ""
        return self._redact(" ".join(text.split())[:200]) or "no body"

    def _redact(self, text: str) -> str:
        return text.replace(self.__token, _REDACTED) if self.__token else text


def _origin(exc: object) -> str:
    """The transport error githubkit wrapped (its message names the cause, not the token)."""
    origin = getattr(exc, "exc", None)
    return str(origin or exc) or type(origin or exc).__name__
