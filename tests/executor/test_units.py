"""Pure pieces of the executor: downsampling, configuration, the event series cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.executor.config import ExecutorConfig
from engine.executor.downsample import Series, SeriesCache, downsample, select_indices


def _events(n: int, spike_at: int | None = None, dip_at: int | None = None):
    out = []
    for i in range(n):
        loss = 1.0 / (1 + i)
        if i == spike_at:
            loss = 50.0
        if i == dip_at:
            loss = -5.0
        out.append((i * 0.01, (i + 1) / n, {"loss": loss, "accuracy": math.sin(i / 50)}))
    return out


@pytest.mark.parametrize(
    "n,max_points",
    [(0, 10), (5, 10), (10, 10), (11, 10), (1000, 3), (1000, 50), (100_000, 500), (7, 1)],
)
def test_never_more_points_than_asked_and_in_time_order(n, max_points):
    points = downsample(_events(n), max_points)
    if n <= max_points:
        assert len(points) == n
    else:
        assert 0.9 * max_points <= len(points) <= max_points  # the budget is used, not wasted
    elapsed = [p["elapsed_s"] for p in points]
    assert elapsed == sorted(elapsed)


def test_extremes_and_ends_survive_decimation():
    events = _events(20_000, spike_at=12_345, dip_at=777)
    points = downsample(events, 300)
    losses = [p["loss"] for p in points]
    assert 50.0 in losses and -5.0 in losses
    assert points[0]["elapsed_s"] == 0.0
    assert points[-1]["elapsed_s"] == pytest.approx(19_999 * 0.01)
    accuracy = [p["accuracy"] for p in points]
    assert max(accuracy) == pytest.approx(max(e[2]["accuracy"] for e in events))
    assert len(points) >= 250  # the budget is used, not wasted


def test_metrics_that_come_and_go_are_none_where_missing():
    events = [(0.0, 0.1, {"a": 1.0}), (1.0, 0.5, {"b": 2.0}), (2.0, 1.0, {"a": float("nan")})]
    points = downsample(events, 10)
    assert points == [
        {"elapsed_s": 0.0, "fraction": 0.1, "a": 1.0, "b": None},
        {"elapsed_s": 1.0, "fraction": 0.5, "a": None, "b": 2.0},
        {"elapsed_s": 2.0, "fraction": 1.0, "a": None, "b": None},
    ]


def test_all_missing_buckets_and_many_metrics_still_fit():
    n = 1000
    columns = [np.full(n, np.nan)] + [np.random.default_rng(k).normal(size=n) for k in range(40)]
    indices = select_indices(columns, n, 20)
    assert len(indices) == 20 and indices[0] == 0 and indices[-1] == n - 1


def test_series_grows_incrementally():
    series = Series()
    series.extend([(1, 0.0, 0.5, {"x": 1.0})])
    series.extend([(5, 1.0, 1.0, {"x": 3.0, "y": 2.0})])
    assert series.last_event_id == 5
    assert series.points(10)[-1] == {"elapsed_s": 1.0, "fraction": 1.0, "x": 3.0, "y": 2.0}


def test_series_cache_drops_an_old_attempt_and_stays_bounded():
    cache = SeriesCache(size=2)
    _, first = cache.get((1, 1, "t"))
    _, retry = cache.get((1, 2, "t"))
    assert retry is not first
    cache.get((2, 1, "t"))
    cache.get((3, 1, "t"))
    _, again = cache.get((1, 2, "t"))
    assert again is not retry  # evicted (least recently used)


def test_config_refuses_unsafe_or_incomplete_settings():
    with pytest.raises(ValueError, match="MLTRAINER_DASK_ADDRESS"):
        ExecutorConfig(backend="dask")
    with pytest.raises(ValueError, match="local, dask"):
        ExecutorConfig(backend="celery")
    with pytest.raises(ValueError, match="at least twice"):
        ExecutorConfig(heartbeat_seconds=2, stale_seconds=3)
    assert ExecutorConfig(backend="dask", dask_address="tcp://x:8786").backend == "dask"


def test_config_reads_the_environment(monkeypatch):
    from engine.config import reset_settings

    monkeypatch.setenv("MLTRAINER_JOB_STALE_SECONDS", "12")
    monkeypatch.setenv("MLTRAINER_HEARTBEAT_SECONDS", "1.5")
    monkeypatch.setenv("MLTRAINER_PROCESS_WORKERS", "3")
    reset_settings()
    try:
        config = ExecutorConfig.from_env()
        assert (config.stale_seconds, config.heartbeat_seconds) == (12.0, 1.5)
        assert config.process_workers == 3
        monkeypatch.setenv("MLTRAINER_JOB_STALE_SECONDS", "soon")
        with pytest.raises(ValueError, match="MLTRAINER_JOB_STALE_SECONDS must be a number"):
            ExecutorConfig.from_env()
    finally:
        monkeypatch.undo()
        reset_settings()


def test_progress_kept_through_an_outage_is_thinned_keeping_extremes():
    from engine.executor.runner import EventBuffer

    buffer = EventBuffer(job_id=1, max_pending=1_000)
    buffer.pending = [(float(i), i / 5_000, {"loss": 1.0 / (1 + i)}) for i in range(5_000)]
    buffer.pending[2_345] = (2_345.0, 0.469, {"loss": 99.0})  # a one-step spike
    buffer._thin()
    assert len(buffer.pending) <= 500
    kept = [elapsed for elapsed, _, _ in buffer.pending]
    assert kept == sorted(kept) and kept[0] == 0.0 and kept[-1] == 4_999.0
    assert 2_345.0 in kept
