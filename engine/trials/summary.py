"""What the filtered trials add up to, for the Trials page's charts: how many trials
per period and family, and the primary metric's mean, lowest and highest per period.

Read from the trial rollups (``storage.repositories.trials.summary``: per UTC day and
filter value, summed in the database), never from the trials themselves, so the cost
follows days × families rather than the number of trials; then coarsened to at most
``MAX_PERIODS`` periods (days, weeks or months) so the charts carry a few hundred
points whatever the span. A metric range filter, which the rollups cannot answer, is
aggregated over the trials in the database instead (same result, slower).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from engine.actions.context import UserRef
from engine.lazy import pandas as pd
from engine.trials.query import TrialQuery, scope, to_filter
from storage.repositories import trials as repo

MAX_PERIODS = 120
PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class PeriodMetric:
    start: date
    trials: int  # trials with a value of the metric in this period
    mean: float
    lowest: float
    highest: float


@dataclass(frozen=True)
class TrialSummary:
    """The filtered trials per period: counts by family, and one metric's statistics."""

    total: int
    period: str  # day | week | month
    periods: list[date]
    counts: dict[str, list[int]]  # family ("" when none) -> trials per period
    failed: list[int]  # trials per period whose status is not "succeeded"
    metric: str | None  # the filter's metric, else the one most trials report
    metric_series: list[PeriodMetric] = field(default_factory=list)


def period_of(span_days: int) -> str:
    """The finest period that keeps a span within MAX_PERIODS points."""
    if span_days <= MAX_PERIODS:
        return "day"
    if span_days <= MAX_PERIODS * 7:
        return "week"
    return "month"


def period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())  # Monday
    if period == "month":
        return day.replace(day=1)
    return day


def period_end(start: date, period: str) -> date:
    """The first day after the period that begins on ``start`` (a :func:`period_start`)."""
    if period == "week":
        return start + timedelta(days=7)
    if period == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + timedelta(days=1)


def build(rows: list[repo.SummaryRow], metric_name: str | None) -> TrialSummary:
    """The summary of rollup rows (pure: tests feed it rows)."""
    if not rows:
        return TrialSummary(0, "day", [], {}, [], metric_name)
    first = min(r.day for r in rows)
    last = max(r.day for r in rows)
    period = period_of((last - first).days + 1)
    starts = sorted({period_start(r.day, period) for r in rows})
    index = {start: i for i, start in enumerate(starts)}
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
    failed = [0] * len(starts)
    valued_by_metric: dict[str, int] = defaultdict(int)
    for r in rows:
        i = index[period_start(r.day, period)]
        counts[r.family or ""][i] += r.trials
        if r.status != "succeeded":
            failed[i] += r.trials
        if r.metric_name and r.valued:
            valued_by_metric[r.metric_name] += r.valued
    metric = metric_name or (
        max(sorted(valued_by_metric), key=valued_by_metric.__getitem__)
        if valued_by_metric
        else None
    )
    sums: dict[int, list[float]] = {}
    for r in rows:
        if r.metric_name != metric or not r.valued or r.value_sum is None:
            continue
        i = index[period_start(r.day, period)]
        n, total, low, high = sums.get(i, [0, 0.0, float("inf"), float("-inf")])
        sums[i] = [
            n + r.valued,
            total + r.value_sum,
            min(low, r.value_min if r.value_min is not None else low),
            max(high, r.value_max if r.value_max is not None else high),
        ]
    series = [
        PeriodMetric(starts[i], int(n), total / n, low, high)
        for i, (n, total, low, high) in sorted(sums.items())
    ]
    return TrialSummary(
        total=sum(r.trials for r in rows),
        period=period,
        periods=starts,
        counts={family: counts[family] for family in sorted(counts)},
        failed=failed,
        metric=metric,
        metric_series=series,
    )


SUMMARY_TTL = 10.0  # seconds a process reuses a summary (as the filter choices: 15 s)
_cache: dict[tuple, tuple[float, TrialSummary]] = {}
_lock = threading.Lock()


def summarise(user: UserRef, query: TrialQuery) -> TrialSummary:
    """The summary of the trials ``user`` may see that match ``query`` (its order is
    irrelevant), the access scope inside the database's query. Reused for SUMMARY_TTL
    seconds by every session with the same scope and filters: charts per day or week
    need not follow each new trial within seconds, and every visit of the page asks."""
    from engine.config import get_settings

    flt, readers = to_filter(query), scope(user)
    key = (get_settings().database_url, readers, repr(flt))
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < SUMMARY_TTL:
        return hit[1]
    result = build(repo.summary(flt, readers), query.metric_name)
    with _lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = (now, result)
    return result


def clear_cache() -> None:
    with _lock:
        _cache.clear()


# --- the charts' data ------------------------------------------------------------------


def counts_frame(summary: TrialSummary) -> pd.DataFrame:
    """Long form for a stacked bar chart: one row per period and family with trials."""
    rows = [
        {"period": pd.Timestamp(start), "family": family or "no family", "trials": values[i]}
        for family, values in summary.counts.items()
        for i, start in enumerate(summary.periods)
        if values[i]
    ]
    return pd.DataFrame(rows, columns=["period", "family", "trials"])


def metric_frame(summary: TrialSummary) -> pd.DataFrame:
    """One row per period: the metric's mean, lowest and highest value, and over how
    many trials."""
    return pd.DataFrame(
        [
            {
                "period": pd.Timestamp(p.start),
                "mean": p.mean,
                "lowest": p.lowest,
                "highest": p.highest,
                "trials": p.trials,
            }
            for p in summary.metric_series
        ],
        columns=["period", "mean", "lowest", "highest", "trials"],
    )
