"""How the executor judges heartbeats when the database itself was away.

During an outage no worker can write its heartbeat, so when the database comes back every
running job looks stale. A service only declares a job dead from its heartbeat if it has
itself reached the database, without a gap, for the whole stale period: by then every live
worker has had time to beat again. (A worker cut off alone, while the services still reach
the database, is declared dead as before; its late result cannot overwrite the retry.)
"""

from __future__ import annotations

import math
import threading
import time


class Reachability:
    """What one process has seen of the database: since when it has reached it without an
    interruption. A process that never saw it fail trusts it from the start, so a service
    starting up recovers long-dead jobs at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since = -math.inf
        self._last_seen: float | None = None

    def failed(self) -> None:
        with self._lock:
            self._since = math.inf  # set again by the next success

    def reached(self, *, max_gap: float) -> None:
        """The database answered. ``max_gap``: a longer silence since the last answer
        counts as an outage this process did not see (its thread was stuck, or asleep)."""
        now = time.monotonic()
        with self._lock:
            blind = self._last_seen is not None and now - self._last_seen > max_gap
            if self._since == math.inf or blind:
                self._since = now
            self._last_seen = now

    def reachable_for(self) -> float:
        with self._lock:
            return time.monotonic() - self._since

    def reset(self) -> None:
        with self._lock:
            self._since, self._last_seen = -math.inf, None


DATABASE = Reachability()


def interruption_cause(error: str | None, default: str) -> str:
    """The reason in an ``Interrupted: <reason>.`` error (``default`` for anything else)."""
    prefix = "Interrupted: "
    if not error or not error.startswith(prefix):
        return default
    return error[len(prefix) :].rstrip(".").strip() or default
