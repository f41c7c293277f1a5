"""Riding through database outages: which errors are a blip, and retrying with backoff.

A restarted PostgreSQL, a cut network path, ``pg_terminate_backend`` or an SQLite write
lock held beyond the busy timeout all surface as driver errors that say nothing about the
work itself. :func:`is_transient` recognises them (anywhere in an exception's chain, so an
error wrapped by the code that saw it still counts); :func:`retry_through_outage` repeats
an operation until it succeeds or the outage budget is spent; :class:`Backoff` paces
callers that must not block (progress writes, cancel polls) while they keep their state.

Settings (environment; read on every use, so tests and workers can set them):

- ``MLTRAINER_DB_OUTAGE_SECONDS`` (300): how long a blocking retry keeps trying.
- ``MLTRAINER_DB_RETRY_FIRST_SECONDS`` (0.1): the first pause after a failure.
- ``MLTRAINER_DB_RETRY_MAX_SECONDS`` (5): the longest pause (the pause doubles up to it).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc

log = logging.getLogger("mltrainer.storage")

T = TypeVar("T")

# SQLite result codes of a lock another connection holds (SQLITE_BUSY, SQLITE_LOCKED).
_SQLITE_LOCK_CODES = (5, 6)
# PostgreSQL "program limit exceeded" (class 54): an OperationalError that no retry fixes.
_POSTGRES_PERMANENT_CLASSES = ("54",)


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw.strip() else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    budget_seconds: float = 300.0
    first_delay: float = 0.1
    max_delay: float = 5.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(
            budget_seconds=_number("MLTRAINER_DB_OUTAGE_SECONDS", 300.0),
            first_delay=max(0.001, _number("MLTRAINER_DB_RETRY_FIRST_SECONDS", 0.1)),
            max_delay=max(0.001, _number("MLTRAINER_DB_RETRY_MAX_SECONDS", 5.0)),
        )

    def delay(self, failures: int) -> float:
        """The pause after ``failures`` failures in a row (1, 2, ...)."""
        return min(self.max_delay, self.first_delay * 2 ** min(max(failures - 1, 0), 30))


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending = [error]
    while pending and len(seen) < 32:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def _sqlite_locked(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_LOCK_CODES
    message = str(error).lower()
    return "database is locked" in message or "database table is locked" in message


def _psycopg() -> Any:
    """The driver module if this process loaded it (no psycopg error exists otherwise; an
    SQLite-only process does not pay for importing it)."""
    return sys.modules.get("psycopg")


def _postgres_transient(error: BaseException) -> bool:
    psycopg = _psycopg()
    if psycopg is None or not isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    state = getattr(error, "sqlstate", None) or ""
    return not state.startswith(_POSTGRES_PERMANENT_CLASSES)


def _one_transient(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
        if isinstance(original, sqlite3.Error):
            return _sqlite_locked(original)
        psycopg = _psycopg()
        if psycopg is not None and isinstance(original, psycopg.Error):
            return _postgres_transient(original)
        return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
    if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True  # a connection lost on checkout, or a pool exhausted while it reconnects
    if isinstance(error, sqlite3.OperationalError):
        return _sqlite_locked(error)
    return _postgres_transient(error)  # raw driver calls (COPY) are not wrapped


def is_transient(error: BaseException) -> bool:
    """True when ``error`` (or an exception it was raised from or while handling) is the
    database being unreachable or locked for a while, not something wrong with the work."""
    return any(_one_transient(linked) for linked in _chain(error))


def describe(error: BaseException) -> str:
    """One short line naming the database error behind ``error`` (for job errors)."""
    for linked in _chain(error):
        if _one_transient(linked):
            original = getattr(linked, "orig", None) or linked
            text = str(original).strip().splitlines()
            return (
                f"{type(original).__name__}: {text[0][:200]}" if text else type(original).__name__
            )
    return type(error).__name__


class Backoff:
    """Pacing for a caller that keeps working while the database is away: after each
    failure it waits longer (up to the policy's maximum) before trying again."""

    def __init__(self, policy: RetryPolicy | None = None):
        self.policy = policy or RetryPolicy.from_env()
        self.failures = 0
        self.next_try = 0.0
        self.failing_since: float | None = None

    def ready(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self.next_try

    def failed(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self.failures += 1
        if self.failing_since is None:
            self.failing_since = now
        delay = self.policy.delay(self.failures)
        self.next_try = now + delay
        return delay

    def succeeded(self) -> float | None:
        """Reset; returns how long the outage lasted for this caller (None if there was none)."""
        lasted = None if self.failing_since is None else time.monotonic() - self.failing_since
        self.failures, self.next_try, self.failing_since = 0, 0.0, None
        return lasted


def retry_through_outage(
    operation: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``operation()``, repeated with backoff while it fails with a transient database
    error, for at most the policy's budget; any other error, or the last transient one
    once the budget is spent, is raised."""
    policy = policy or RetryPolicy.from_env()
    deadline = time.monotonic() + policy.budget_seconds
    failures = 0
    while True:
        try:
            result = operation()
        except Exception as error:
            if not is_transient(error):
                raise
            failures += 1
            delay = policy.delay(failures)
            if time.monotonic() + delay > deadline:
                log.error("giving up on %s after %s tries: %s", what, failures, describe(error))
                raise
            log.log(
                logging.WARNING if failures == 1 else logging.DEBUG,
                "database unavailable for %s (%s); retrying in %.2fs",
                what,
                describe(error),
                delay,
            )
            sleep(delay)
            continue
        if failures:
            log.warning("%s succeeded after %s failed tries", what, failures)
        return result
