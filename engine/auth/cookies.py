"""The browser's re-authentication cookie.

The cookie holds a random secret and its HMAC-SHA256 signature under
``MLTRAINER_COOKIE_KEY``: ``v1.<secret>.<signature>``. The server stores only a
SHA-256 digest of the secret, as the ``cookie_id`` of the server-side session the
cookie was issued with, so

- a forged or altered cookie fails the signature check before any database look-up;
- a copy of the database's session table yields no usable cookie;
- logging out (which revokes the session row) kills every copy of the cookie.

The cookie names no user: the session row does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

COOKIE_NAME = "mltrainer_auth"
_VERSION = "v1"
_CONTEXT = b"mltrainer.session-cookie.v1:"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signature(key: str, secret: str) -> str:
    return _b64(hmac.new(key.encode(), _CONTEXT + secret.encode(), hashlib.sha256).digest())


def cookie_id(secret: str) -> str:
    """The digest stored with the session (64 hex characters)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(key: str) -> tuple[str, str]:
    """A new cookie value and the ``cookie_id`` to store with its session."""
    if not key:
        raise ValueError("a cookie key is required")
    secret = secrets.token_urlsafe(32)
    return f"{_VERSION}.{secret}.{_signature(key, secret)}", cookie_id(secret)


def verify(key: str, value: str | None) -> str | None:
    """The ``cookie_id`` of a correctly signed cookie value, else None."""
    if not key or not value or len(value) > 200:
        return None
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != _VERSION or not parts[1]:
        return None
    if not hmac.compare_digest(parts[2], _signature(key, parts[1])):
        return None
    return cookie_id(parts[1])
