"""Shared HTTP behaviour of the remote sources (Polygon, FRED).

- HTTP 429 (and 502/503/504) are retried a bounded number of times, waiting for
  the server's ``Retry-After`` (seconds or an HTTP date) when it sends one, else
  exponential backoff; ``sleep`` is injectable so tests do not wait.
- Network failures become :class:`ActionError` with the host named.
- API keys never appear in an error message.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from engine.actions.base import ActionError

RETRY_STATUSES = {429, 502, 503, 504}
DEFAULT_MAX_RETRIES = 4
MAX_SINGLE_WAIT = 60.0


def retry_after_seconds(header: str | None, attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based)."""
    fallback = min(2.0**attempt, MAX_SINGLE_WAIT)
    if not header:
        return fallback
    header = header.strip()
    try:
        return min(max(float(header), 0.0), MAX_SINGLE_WAIT)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return fallback
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - datetime.now(UTC)).total_seconds(), 0.0), MAX_SINGLE_WAIT)


def redact(text: str, secrets: list[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def error_text(response: httpx.Response) -> str:
    """The server's own explanation, from a JSON body when there is one."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        for key in ("error_message", "message", "error", "detail"):
            if body.get(key):
                return str(body[key])
    return str(body)[:300]


class HttpFetcher:
    """GET JSON with bounded retries; counts the requests it makes."""

    def __init__(
        self,
        service: str,
        *,
        secrets: list[str | None],
        sleep: Callable[[float], None] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ):
        self.service = service
        self.secrets = secrets
        self.sleep = sleep or time.sleep
        self.max_retries = max_retries
        self.timeout = timeout
        self._client = client
        self.requests = 0
        self.retries = 0
        self.waited = 0.0

    def _get(self, url: str, params: dict[str, Any] | None) -> httpx.Response:
        if self._client is not None:
            return self._client.get(url, params=params, timeout=self.timeout)
        return httpx.get(url, params=params, timeout=self.timeout)

    def get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """The final response (any status but a retried one); raises ActionError when the
        server cannot be reached or keeps answering 429/5xx."""
        attempt = 0
        while True:
            self.requests += 1
            try:
                response = self._get(url, params)
            except httpx.HTTPError as error:
                reason = redact(f"{type(error).__name__}: {error}", self.secrets)
                host = httpx.URL(url).host or url
                raise ActionError(
                    f"Could not reach {self.service} at {host} ({reason}). "
                    "Check the network, or use source='bundled' offline."
                ) from None
            if response.status_code not in RETRY_STATUSES:
                return response
            if attempt >= self.max_retries:
                what = (
                    "rate limit (HTTP 429)"
                    if response.status_code == 429
                    else f"server error (HTTP {response.status_code})"
                )
                raise ActionError(
                    f"{self.service} kept answering with a {what} after {attempt + 1} "
                    "attempts; wait a minute and try again (free plans allow only a few "
                    "requests per minute)."
                )
            wait = retry_after_seconds(response.headers.get("Retry-After"), attempt)
            self.retries += 1
            self.waited += wait
            self.sleep(wait)
            attempt += 1


class ApiClient(ABC):
    """What every keyed REST source shares: the key (or a message saying how to set it),
    the base URL, and an HttpFetcher that never reveals the key. Subclasses name their
    service and say where the key and the default base URL come from."""

    service = "API"
    missing_key_message = "No API key is set."

    @staticmethod
    @abstractmethod
    def configured_key() -> str | None:
        """The key from the environment or secrets, if any."""

    @staticmethod
    @abstractmethod
    def default_base() -> str:
        """The service's base URL (overridable for tests)."""

    def __init__(
        self,
        api_key: str | None = None,
        base: str | None = None,
        *,
        sleep: Callable[[float], None] | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ):
        self.api_key = api_key if api_key is not None else self.configured_key()
        if not self.api_key:
            raise ActionError(self.missing_key_message)
        self.base = (base or self.default_base()).rstrip("/")
        self.http = HttpFetcher(
            self.service,
            secrets=[self.api_key],
            sleep=sleep,
            max_retries=max_retries,
            timeout=timeout,
            client=client,
        )
