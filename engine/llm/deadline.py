"""One time limit for a whole chat turn, enforced inside the SDK's own retries.

The SDK's ``timeout`` is per attempt and it retries up to ``max_retries`` times, so a
hung endpoint kept a user waiting ``timeout × (retries + 1)`` (8 minutes with the
defaults). :class:`engine.llm.tuned_client.DeadlineClient` reads the current turn's
deadline (a context variable, so one client can serve turns in several threads) and

- shortens each attempt's timeout to the time left,
- refuses to start an attempt, or to sleep before a retry, past the deadline.

A stream that trickles ``ping`` events never times out (the SDK drops pings before the
caller sees them, and each one resets the read timeout), so :func:`watchdog` closes the
stream's connection when the deadline passes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

DEFAULT_TURN_DEADLINE = 90.0

_deadline: ContextVar[float | None] = ContextVar("claude_turn_deadline", default=None)


class TurnDeadlineExceeded(Exception):
    """The turn's deadline passed. Deliberately not an ``anthropic.APIError``: the SDK
    must not retry it."""


def remaining(deadline: float | None = None) -> float | None:
    """Seconds left before ``deadline`` (default: the current turn's); None: no limit."""
    deadline = _deadline.get() if deadline is None else deadline
    return None if deadline is None else deadline - time.monotonic()


def check(deadline: float | None = None) -> None:
    left = remaining(deadline)
    if left is not None and left <= 0:
        raise TurnDeadlineExceeded


@contextlib.contextmanager
def active(deadline: float | None) -> Iterator[None]:
    """Make ``deadline`` (a ``time.monotonic()`` value) the current turn's deadline."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def expired(deadline: float | None) -> bool:
    left = remaining(deadline)
    return left is not None and left <= 0


@contextlib.contextmanager
def watchdog(deadline: float | None, close: Callable[[], object]) -> Iterator[None]:
    """Call ``close`` (from a timer thread) if the block is still running at
    ``deadline``; the blocked read then fails and the caller checks :func:`expired`."""
    left = remaining(deadline)
    if left is None:
        yield
        return
    timer = threading.Timer(max(left, 0.0), close)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
