"""A goal's trials for a page that refreshes itself while the loop writes them.

Each refresh reads the goal's row (the access check) and asks the database one cheap
question (how many counted trials the goal has and the newest id), and reads only the
trials written since the previous refresh; their parsed records are kept per process
(shared by every session watching the goal, after each one's access check).

The loop annotates a trial (who proposed it and why; which trial a hold-out check is
of) after the trial is written and before it updates the goal, so a trial written
after the goal's last update may still change: those few are read again when the goal
is updated. When the counts do not add up (a retried job's trials were superseded
meanwhile) the goal's trials are read again in full.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from engine.actions.context import UserRef
from engine.goals import service
from engine.trials.record import Trial, parse_all
from storage.repositories import trials as repo

CACHE_GOALS = 64


@dataclass
class GoalTrials:
    count: int = 0
    last_id: int = 0
    goal_updated_at: datetime | None = None
    trials: list[Trial] = field(default_factory=list)
    rows_read: int = 0  # trial rows read from the database so far (tests and metrics)


_lock = threading.Lock()
_entries: OrderedDict[tuple, tuple[threading.Lock, GoalTrials]] = OrderedDict()


def _entry(key: tuple) -> tuple[threading.Lock, GoalTrials]:
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = (threading.Lock(), GoalTrials())
        _entries.move_to_end(key)
        while len(_entries) > CACHE_GOALS:
            _entries.popitem(last=False)
        return entry


def _unsettled_from(held: GoalTrials) -> int:
    """Where the trials that may still be annotated start in ``held.trials``: after the
    last one written before the goal's last update."""
    stamp = held.goal_updated_at
    index = len(held.trials)
    while index and (stamp is None or held.trials[index - 1].created_at > stamp):
        index -= 1
    return index


def goal_trials(user: UserRef, goal_id: int) -> list[Trial]:
    """The goal's counted trials, oldest first, read incrementally (see the module)."""
    from engine.config import get_settings

    goal = service.get(user, goal_id)  # the same access check (and error) as every goal read
    lock, held = _entry((get_settings().database_url, goal_id))
    with lock:
        count, newest = repo.goal_trials_mark(goal_id)
        if (count, newest, goal.updated_at) != (held.count, held.last_id, held.goal_updated_at):
            keep = _unsettled_from(held) if held.goal_updated_at is not None else 0
            after = held.trials[keep - 1].id if keep else 0
            rows = repo.trials_for_goal(goal_id, after_id=after)
            if keep + len(rows) != count and after:  # superseded meanwhile: read all
                keep, rows = 0, repo.trials_for_goal(goal_id)
            held.rows_read += len(rows)
            held.trials = held.trials[:keep] + parse_all(rows)
            held.count = len(held.trials)
            held.last_id = held.trials[-1].id if held.trials else 0
            held.goal_updated_at = goal.updated_at
        return list(held.trials)


def held(goal_id: int) -> GoalTrials | None:
    """What this process holds for a goal (tests)."""
    from engine.config import get_settings

    with _lock:
        entry = _entries.get((get_settings().database_url, goal_id))
    return entry[1] if entry else None


def clear() -> None:
    with _lock:
        _entries.clear()
