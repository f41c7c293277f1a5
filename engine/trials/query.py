"""Which trials a user sees: the table (filters, order, pages), single reads, comparisons.

Access comes from the authorization module: listings take
``permissions.scope_for(user, "trial")``, an ownership filter the repository applies
inside its SQL (admins and viewers see every trial, analysts their own and the
system's); a single trial is read only when ``permissions.allowed(user, "read", ...)``
says so, and a missing trial and someone else's get the same answer.
"""

from __future__ import annotations

import math
import threading
import time as time_module
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from engine.actions.base import ActionError
from engine.actions.bounds import MAX_COMPARE_TRIALS
from engine.actions.context import UserRef
from engine.auth import permissions
from engine.auth.permissions import Resource
from engine.lazy import pandas as pd
from engine.trials.record import Trial, parse, parse_all
from storage.access import OwnerScope
from storage.repositories import trials as repo
from storage.repositories.trials import TrialFilter

MAX_COMPARE = MAX_COMPARE_TRIALS  # trials one comparison holds (engine.trials.compare)
# Row ids fit the database's integer column: a larger one failed inside the query
# (OverflowError on SQLite, out of range on PostgreSQL) as an internal error.
MAX_ROW_ID = 2**31 - 1
PAGE_SIZES = (25, 50, 100, 200)
SORT_LABELS = {
    "created_at": "created",
    "metric_value": "metric value",
    "duration_s": "duration",
    "model_id": "model",
    "family": "family",
    "id": "trial id",
}


def scope(user: UserRef | None) -> OwnerScope:
    """The trials ``user`` may list (applied inside the repository's queries)."""
    return permissions.scope_for(user, "trial")


def sees_everyone(user: UserRef | None) -> bool:
    """Whether the user's listings hold every owner's trials (the owner filter is shown)."""
    return scope(user).everyone


def not_visible(trial_id: Any) -> ActionError:
    return ActionError(permissions.not_found("trial", trial_id))


def get_trial(user: UserRef | None, trial_id: int) -> Trial:
    """One trial the user may read; the same error for a missing one and a foreign one."""
    row = repo.get_trial(int(trial_id))
    if row is None or not permissions.allowed(user, "read", Resource.owned("trial", row.user_id)):
        raise not_visible(trial_id)
    return parse(row)


def trial_for_job(user: UserRef | None, job_id: int) -> Trial | None:
    """The newest trial a job recorded (a re-run finds its new trial), if visible."""
    row = repo.trial_for_job(int(job_id))
    if row is None or not permissions.allowed(user, "read", Resource.owned("trial", row.user_id)):
        return None
    return parse(row)


# --- the table -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialQuery:
    """The table's filters and order as the page's widgets give them."""

    goal_id: int | None = None
    family: str | None = None
    action: str | None = None
    status: str | None = None
    user_id: int | None = None
    model_id: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    metric_name: str | None = None
    metric_min: float | None = None
    metric_max: float | None = None
    sort: str = "created_at"
    descending: bool = True


def to_filter(query: TrialQuery) -> TrialFilter:
    """The repository filter of the widgets' values. Access is not part of it: the
    repository adds the reader's scope to the same query (an analyst asking for someone
    else's trials gets an empty page)."""
    return TrialFilter(
        goal_id=query.goal_id,
        family=query.family,
        action=query.action,
        status=query.status,
        user_id=query.user_id,
        model_id=query.model_id,
        created_from=(
            datetime.combine(query.created_from, time.min, UTC) if query.created_from else None
        ),
        created_to=datetime.combine(query.created_to, time.max, UTC) if query.created_to else None,
        metric_name=query.metric_name,
        metric_min=query.metric_min,
        metric_max=query.metric_max,
    )


@dataclass(frozen=True)
class FilterOptions:
    families: list[str]
    actions: list[str]
    statuses: list[str]
    metric_names: list[str]
    goals: dict[int, str]
    users: dict[int, str]  # empty when the user only sees their own trials


FILTER_OPTIONS_TTL = 15.0  # seconds a process reuses the filter choices
_options_cache: dict[tuple, tuple[float, FilterOptions]] = {}
_options_lock = threading.Lock()


def filter_options(user: UserRef) -> FilterOptions:
    """The choices of the filter widgets (distinct values over the trials the user may
    see), reused for FILTER_OPTIONS_TTL seconds: every rerun of the page needs them."""
    from engine.config import get_settings

    key = (get_settings().database_url, scope(user), permissions.scope_for(user, "goal"))
    now = time_module.monotonic()
    with _options_lock:
        hit = _options_cache.get(key)
        if hit is not None and now - hit[0] < FILTER_OPTIONS_TTL:
            return hit[1]
    options = _load_filter_options(user)
    with _options_lock:
        if len(_options_cache) > 256:
            _options_cache.clear()
        _options_cache[key] = (now, options)
    return options


def clear_filter_options() -> None:
    with _options_lock:
        _options_cache.clear()


def _load_filter_options(user: UserRef) -> FilterOptions:
    trials = scope(user)
    return FilterOptions(
        families=repo.distinct_values("family", trials),
        actions=repo.distinct_values("action", trials),
        statuses=repo.distinct_values("status", trials),
        metric_names=repo.distinct_values("metric_name", trials),
        goals=repo.goal_names(scope=permissions.scope_for(user, "goal")),
        users=repo.usernames(scope=trials) if trials.everyone else {},
    )


@dataclass(frozen=True)
class TrialPage:
    records: list[Trial]
    total: int
    page: int
    page_size: int
    frame: pd.DataFrame

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def first_row(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.page_size + 1

    @property
    def last_row(self) -> int:
        return min(self.total, self.page * self.page_size)


def search(user: UserRef, query: TrialQuery, page: int = 1, page_size: int = 50) -> TrialPage:
    """One page of the table, filtered, sorted, paginated and access-scoped in the
    database."""
    page_size = max(1, min(int(page_size), max(PAGE_SIZES)))
    page = max(1, int(page))
    rows, total = repo.search_trials(
        to_filter(query),
        scope(user),
        sort=query.sort,
        descending=query.descending,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    last_page = max(1, math.ceil(total / page_size))
    if page > last_page and total:
        return search(user, query, last_page, page_size)
    records = parse_all(rows)
    return TrialPage(records, total, page, page_size, table_frame(records))


def recent(user: UserRef, limit: int = 100) -> list[Trial]:
    """The user's visible trials, newest first."""
    rows, _ = repo.search_trials(TrialFilter(), scope(user), limit=limit)
    return parse_all(rows)


def recent_frame(user: UserRef, limit: int = 100) -> pd.DataFrame:
    """Recent visible trials, newest first, as a small table for choosing one (the
    Models page)."""
    columns = ["trial_id", "created", "action", "model_id", "task", "status", "metric", "value"]
    return pd.DataFrame(
        [
            {
                "trial_id": t.id,
                "created": t.created_at,
                "action": t.action,
                "model_id": t.model_id,
                "task": t.task,
                "status": t.status,
                "metric": t.metric_name,
                "value": t.metric_value,
            }
            for t in recent(user, limit)
        ],
        columns=columns,
    )


def params_summary(params: dict[str, Any] | None, limit: int = 120) -> str:
    from engine.trials.detail import flatten_params, short_value

    flat = flatten_params(params or {})
    text = ", ".join(f"{k}={short_value(v)}" for k, v in flat.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


TABLE_COLUMNS = [
    "trial",
    "created",
    "user",
    "goal",
    "action",
    "model",
    "family",
    "status",
    "metric",
    "value",
    "± std",
    "holdout",
    "seconds",
    "params",
]


def table_frame(
    records: list[Trial],
    *,
    users: dict[int, str] | None = None,
    goals: dict[int, str] | None = None,
) -> pd.DataFrame:
    """The rows the table shows (owner and goal names looked up in one query each)."""
    if users is None:
        users = repo.usernames({r.user_id for r in records if r.user_id is not None})
    if goals is None:
        goals = repo.goal_names({r.goal_id for r in records if r.goal_id is not None})
    rows = [
        {
            "trial": r.id,
            "created": r.created_at,
            "user": users.get(r.user_id, "") if r.user_id is not None else "system",
            "goal": goals.get(r.goal_id, str(r.goal_id)) if r.goal_id is not None else "",
            "action": r.action,
            "model": r.model_id or "",
            "family": r.family or "",
            "status": r.status,
            "metric": r.metric_name or "",
            "value": r.metric_value,
            "± std": r.primary_std,
            "holdout": r.primary_holdout,
            "seconds": r.duration_s,
            "params": params_summary(r.params),
        }
        for r in records
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


# --- comparison ------------------------------------------------------------------------


def parse_ids(text: str | Iterable[Any]) -> list[int]:
    """'12, 15 18' -> [12, 15, 18] (duplicates dropped, order kept)."""
    parts = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    out: dict[int, None] = {}  # a dict: linear in the number of ids (a long address)
    for part in parts:
        try:
            value = int(str(part).strip().lstrip("#"))
        except ValueError:
            raise ActionError(f"'{part}' is not a trial id.") from None
        out[value] = None
    return list(out)


def matching_ids(user: UserRef, query: TrialQuery, limit: int = MAX_COMPARE) -> list[int]:
    """The ids of the first ``limit`` trials of the table's filters and order, visible to
    ``user`` (what "compare all matching" compares)."""
    from storage.repositories import trial_compare

    return trial_compare.matching_ids(
        to_filter(query),
        scope(user),
        sort=query.sort,
        descending=query.descending,
        limit=max(1, min(int(limit), MAX_COMPARE)),
    )
