"""Progress points for a chart: at most ``max_points``, keeping the extremes.

Min-max decimation: the series is cut into buckets of consecutive points; each bucket
keeps its first and last point and, for every metric, the points holding its minimum and
maximum. A spike that lasted one step is still on the chart; the first and last points of
the whole series always are.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CACHE_JOBS = 32


def _bucket_picks(columns: list[np.ndarray], n: int, buckets: int) -> np.ndarray:
    """First, last, and each column's argmin/argmax in ``buckets`` equal runs of points."""
    edges = np.linspace(0, n, buckets + 1).round().astype(np.int64)
    starts = edges[:-1]
    lengths = np.diff(edges)
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    bucket_of = np.repeat(np.arange(len(starts)), lengths)
    picks = [starts, starts + lengths - 1]
    for column in columns:
        missing = np.isnan(column)
        for sign in (1.0, -1.0):  # minimum, then maximum (as the minimum of the negation)
            values = np.where(missing, np.inf, sign * column)
            lowest = np.minimum.reduceat(values, starts)
            hits = np.flatnonzero(values == lowest[bucket_of])
            found, first = np.unique(bucket_of[hits], return_index=True)
            finite = np.isfinite(lowest[found])
            picks.append(hits[first][finite])
    return np.unique(np.concatenate(picks))


def select_indices(columns: list[np.ndarray], n: int, max_points: int) -> np.ndarray:
    """Indices (sorted) of the points to keep out of ``n``: the most buckets whose first,
    last, minimum and maximum points (of every column) fit in ``max_points``."""
    if max_points <= 0:
        return np.empty(0, dtype=np.int64)
    if n <= max_points:
        return np.arange(n)
    if max_points == 1:
        return np.array([n - 1])
    per_bucket = 2 + 2 * len(columns)
    fits = max(1, (max_points - 2) // per_bucket)
    best = _bucket_picks(columns, n, fits)
    if len(best) > max_points:  # many metrics, few points: thin evenly, keep both ends
        picks = np.linspace(0, len(best) - 1, max_points).round().astype(np.int64)
        return best[np.unique(picks)]
    # Buckets often share points (a monotone metric peaks at a bucket's ends), so more
    # buckets fit than the worst case: grow, then bisect, while the result still fits.
    too_many = None
    while too_many is None and fits < n:
        trial = min(n, fits * 2)
        picked = _bucket_picks(columns, n, trial)
        if len(picked) > max_points:
            too_many = trial
        else:
            fits, best = trial, picked
    if too_many is not None:
        for _ in range(8):
            if too_many - fits <= 1:
                break
            trial = (fits + too_many) // 2
            picked = _bucket_picks(columns, n, trial)
            if len(picked) > max_points:
                too_many = trial
            else:
                fits, best = trial, picked
    return best


def _value(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


@dataclass
class Series:
    """Progress points of one job held column-wise; grows as new events arrive."""

    last_event_id: int = 0
    elapsed: list[float] = field(default_factory=list)
    fraction: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)

    def extend(self, rows: list[tuple[int, float, float, dict[str, float]]]) -> None:
        for event_id, elapsed, fraction, values in rows:
            position = len(self.elapsed)
            self.elapsed.append(float(elapsed))
            self.fraction.append(float(fraction))
            for name, value in values.items():
                column = self.metrics.get(name)
                if column is None:
                    column = self.metrics[name] = [math.nan] * position
                try:
                    column.append(math.nan if value is None else float(value))
                except (TypeError, ValueError):
                    column.append(math.nan)
            for column in self.metrics.values():
                if len(column) <= position:
                    column.append(math.nan)
            self.last_event_id = event_id

    def points(self, max_points: int) -> list[dict[str, Any]]:
        n = len(self.elapsed)
        names = sorted(self.metrics)
        arrays = {name: np.asarray(self.metrics[name], dtype=float) for name in names}
        indices = select_indices([arrays[name] for name in names], n, max_points)
        out = []
        for i in indices:
            point: dict[str, Any] = {"elapsed_s": self.elapsed[i], "fraction": self.fraction[i]}
            for name in names:
                point[name] = _value(arrays[name][i])
            out.append(point)
        return out


def downsample(
    events: list[tuple[float, float, dict[str, float]]], max_points: int
) -> list[dict[str, Any]]:
    """Chart points (``elapsed_s``, ``fraction`` and one key per metric) from raw events."""
    series = Series()
    series.extend([(i + 1, e, f, m) for i, (e, f, m) in enumerate(events)])
    return series.points(max_points)


class SeriesCache:
    """Per-process cache so a live chart refreshing every second reads only new events."""

    def __init__(self, size: int = CACHE_JOBS):
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, tuple[threading.Lock, Series]] = OrderedDict()

    def get(self, key: tuple) -> tuple[threading.Lock, Series]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                # another attempt of the same job replaces the old series
                for old in [k for k in self._entries if k[0] == key[0]]:
                    del self._entries[old]
                entry = self._entries[key] = (threading.Lock(), Series())
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
