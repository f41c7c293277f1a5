"""What an action sees of the world while it runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class UserRef:
    """The caller of an action. ``id`` is None only for the built-in system user."""

    id: int | None
    username: str
    role: str

    @classmethod
    def system(cls) -> UserRef:
        return cls(id=None, username="system", role="admin")


ProgressSink = Callable[[float, dict[str, float]], None]


def _never_cancelled() -> bool:
    return False


def _no_budget_stop() -> str | None:
    return None


def _discard_progress(fraction: float, metrics: dict[str, float]) -> None:
    return None


@dataclass
class ActionContext:
    """Passed to every ``Action.run``.

    ``progress(fraction, **metrics)`` reports how far the action is (0..1) with any
    numeric metrics worth charting; ``cancelled()`` is polled between steps so a
    cancel request stops the action at its next step.
    """

    user: UserRef
    job_id: int | None = None
    goal_id: int | None = None
    seed: int = 0
    _progress_sink: ProgressSink = field(default=_discard_progress, repr=False)
    _cancel_check: Callable[[], bool] = field(default=_never_cancelled, repr=False)
    # Why the run must stop for its budget (the executor's budget guard trips it, polled
    # with the cancel check: once tripped, ``cancelled()`` is True too).
    _budget_check: Callable[[], str | None] = field(default=_no_budget_stop, repr=False)
    _budget_reason: str | None = field(default=None, repr=False)
    started_at: float = field(default_factory=time.monotonic)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger("mltrainer.action")

    @property
    def cache(self):
        from storage.cache import get_cache

        return get_cache()

    def progress(self, fraction: float, **metrics: float) -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        self._progress_sink(fraction, {k: float(v) for k, v in metrics.items()})

    def cancelled(self) -> bool:
        return self._cancel_check()

    def raise_if_cancelled(self) -> None:
        if self._cancel_check():
            from engine.actions.base import JobCancelled

            raise JobCancelled()

    def budget_exhausted(self) -> str | None:
        """Why the run's budget is spent (it then stops cleanly, keeping what it finished),
        else None. Actions that can keep partial results check it when ``cancelled()``."""
        if self._budget_reason is None:
            self._budget_reason = self._budget_check()
        return self._budget_reason

    def stop_for_budget(self, reason: str) -> None:
        """Mark the run as stopped by a budget (an action that checked one itself)."""
        self._budget_reason = reason
