"""Questions about trials in chat: "what was my best model on KO last week?", "compare my
last 20 XGBoost trials". The read-only actions ``query_trials`` and ``compare_trials``
(:mod:`engine.trials.actions`) and the offline planner's intents
(:mod:`engine.trials.intents`) both go through here, over the same scoped queries as the
Trials page (:mod:`storage.repositories.trial_compare`).

- A model is named the way people name it ("xgboost", "random forest") or by its
  catalogue id; a name stands for every catalogue entry it matches by id or display
  name (``xgboost`` = XGBClassifier, XGBRegressor and their variants).
- Periods count in UTC from the database's clock: ``last_7_days`` is today and the six
  days before it ("last week" in chat); ``previous_week`` the calendar week (Monday to
  Sunday) before this one.
- "Best" ranks the succeeded trials of one primary metric in its direction (rmse: lower
  is better); when the matches mix metrics, the most common one is ranked and the answer
  says how many trials of other metrics were left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from engine.actions.base import ActionError
from engine.actions.bounds import MAX_QUERY_ROWS
from engine.actions.context import UserRef
from engine.auth import permissions
from engine.lazy import pandas as pd
from engine.trials.compare import ComparedTrial, greater_is_better
from engine.trials.query import params_summary, scope
from storage.repositories import trial_compare as repo
from storage.repositories.trials import TrialFilter

Period = Literal[
    "today",
    "yesterday",
    "last_7_days",
    "last_30_days",
    "this_week",
    "previous_week",
    "this_month",
    "previous_month",
]
Order = Literal["best", "worst", "newest", "oldest"]
MAX_QUERY_LIMIT = MAX_QUERY_ROWS


def period_range(period: Period, today: date) -> tuple[date, date]:
    """The first and last day (inclusive) of ``period`` seen from ``today``."""
    if period == "today":
        return today, today
    if period == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if period == "last_7_days":
        return today - timedelta(days=6), today
    if period == "last_30_days":
        return today - timedelta(days=29), today
    monday = today - timedelta(days=today.weekday())
    if period == "this_week":
        return monday, today
    if period == "previous_week":
        return monday - timedelta(days=7), monday - timedelta(days=1)
    first = today.replace(day=1)
    if period == "this_month":
        return first, today
    if period == "previous_month":
        last = first - timedelta(days=1)
        return last.replace(day=1), last
    raise ValueError(f"unknown period {period!r}")


def model_ids_for(text: str) -> tuple[str, ...]:
    """The catalogue ids a model name stands for (see the module's docstring)."""
    from engine.ml.catalog import catalog, find_models, normalise

    wanted = normalise(text)
    if not wanted:
        return ()
    specs = catalog()
    if text in specs:
        return (text,)
    matched = tuple(
        sorted(
            spec.id
            for spec in specs.values()
            if wanted in normalise(spec.id) or wanted in normalise(spec.name)
        )
    )
    if matched:
        return matched
    close = find_models(text, limit=1)
    if not close:
        raise ActionError(f"No model in the catalogue is called '{text}'.")
    return (close[0].id,)


@dataclass(frozen=True)
class TrialQuestion:
    """The filters of a chat question about trials."""

    symbol: str | None = None
    dataset_id: int | None = None
    model: str | None = None
    family: str | None = None
    metric: str | None = None
    goal_id: int | None = None
    status: Literal["succeeded", "failed"] | None = None
    period: Period | None = None
    created_from: date | None = None
    created_to: date | None = None
    mine: bool = False
    order: Order = "newest"
    limit: int = 20


@dataclass
class TrialAnswer:
    """The matching trials (at most ``limit``, in the order asked), how many match, the
    metric they were ranked by and the words that describe the selection."""

    trials: list[ComparedTrial]
    total: int
    metric: str | None
    described: str
    span: tuple[date, date] | None
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.trials]


def _filters(
    user: UserRef, question: TrialQuestion
) -> tuple[TrialFilter, repo.ChatFilter, tuple[date, date] | None]:
    span: tuple[date, date] | None = None
    if question.period is not None:
        span = period_range(question.period, repo.database_today().date())
    if question.created_from is not None or question.created_to is not None:
        start = question.created_from or (span[0] if span else date.min)
        end = question.created_to or (span[1] if span else date.max)
        span = (start, end)
    flt = TrialFilter(
        goal_id=question.goal_id,
        family=question.family,
        status=question.status,
    )
    if span is not None:
        flt.created_from = datetime.combine(span[0], time.min, UTC)
        flt.created_to = datetime.combine(span[1], time.max, UTC)
    extra = repo.ChatFilter(
        model_ids=model_ids_for(question.model) if question.model else (),
        symbol=question.symbol.upper() if question.symbol else None,
        dataset_id=question.dataset_id,
    )
    return flt, extra, span


def describe(question: TrialQuestion, span: tuple[date, date] | None, user: UserRef) -> str:
    parts = ["your" if question.mine else "the visible"]
    if question.status:
        parts.append(question.status)
    if question.model:
        parts.append(question.model)
    if question.family:
        parts.append(f"{question.family}-family")
    parts.append("trials")
    if question.symbol:
        parts.append(f"on {question.symbol.upper()}")
    if question.dataset_id is not None:
        parts.append(f"on dataset {question.dataset_id}")
    if question.goal_id is not None:
        parts.append(f"of goal {question.goal_id}")
    if span is not None:
        parts.append(
            f"created on {span[0]:%Y-%m-%d}"
            if span[0] == span[1]
            else f"created {span[0]:%Y-%m-%d} to {span[1]:%Y-%m-%d} (UTC)"
        )
    return " ".join(parts)


def ask(user: UserRef, question: TrialQuestion) -> TrialAnswer:
    """The trials answering ``question`` that ``user`` may see (scope in the query)."""
    limit = max(1, min(int(question.limit), MAX_QUERY_LIMIT))
    flt, extra, span = _filters(user, question)
    words = describe(question, span, user)
    # "my trials": only the rows the user owns (permissions.own_rows), never wider than
    # what they may read
    readers = permissions.own_rows(user, "trial") if question.mine else scope(user)
    metric = question.metric
    left_out: dict[str, int] = {}
    if question.order in ("best", "worst"):
        flt.status = "succeeded"
        extra = _succeeded(extra)
        counts = repo.metric_counts(flt, extra, readers)
        if metric is None and counts:
            metric = next(iter(counts))
        left_out = {name: n for name, n in counts.items() if name != metric}
        flt.metric_name = metric
        if metric is None:
            return TrialAnswer([], 0, None, words, span)
        better_high = greater_is_better(metric)
        descending = better_high if question.order == "best" else not better_high
        rows, total = repo.find_trials(
            flt, extra, readers, sort="metric_value", descending=descending, limit=limit
        )
    else:
        if metric is not None:
            flt.metric_name = metric
        rows, total = repo.find_trials(
            flt,
            extra,
            readers,
            sort="created_at",
            descending=question.order == "newest",
            limit=limit,
        )
    trials = [ComparedTrial.from_record(row) for row in rows]
    return TrialAnswer(trials, total, metric, words, span, left_out)


def _succeeded(extra: repo.ChatFilter) -> repo.ChatFilter:
    return repo.ChatFilter(
        model_ids=extra.model_ids,
        symbol=extra.symbol,
        dataset_id=extra.dataset_id,
        with_value=True,
    )


def symbols_of(trial: ComparedTrial) -> str:
    symbols = trial.params.get("symbols")
    if isinstance(symbols, list):
        return ", ".join(str(s) for s in symbols)
    return str(symbols) if symbols else ""


ANSWER_COLUMNS = [
    "trial",
    "created",
    "model",
    "family",
    "symbols",
    "status",
    "metric",
    "value",
    "± std",
    "holdout",
    "params",
]


def answer_frame(answer: TrialAnswer) -> pd.DataFrame:
    rows = []
    for t in answer.trials:
        stats = t.metrics.stats(t.metric_name) if t.metrics is not None else None
        rows.append(
            {
                "trial": t.id,
                "created": t.created_at,
                "model": t.model_id or "",
                "family": t.family or "",
                "symbols": symbols_of(t),
                "status": t.status,
                "metric": t.metric_name or "",
                "value": t.metric_value,
                "± std": stats.std if stats is not None else None,
                "holdout": (t.holdout or {}).get(t.metric_name or ""),
                "params": params_summary(t.params),
            }
        )
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


_SAFE = re.compile(r"[\x00-\x1f\x7f]")


def plain(text: object) -> str:
    """Model or user text for a one-line summary (no control characters)."""
    return _SAFE.sub(" ", str(text))
