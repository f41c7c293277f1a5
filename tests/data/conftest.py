"""Fixtures of the data-layer tests: a temporary data directory, a fresh cache, API
keys pointing at a local fake server (pytest-httpserver), and helpers speaking the
real Polygon and FRED JSON shapes."""

from __future__ import annotations

import pytest

POLYGON_KEY = "test-polygon-key-123"
FRED_KEY = "abcdefghijklmnopqrstuvwxyz012345"


def reset_runtime() -> None:
    from engine.config import reset_settings
    from storage.cache import reset_cache

    reset_settings()
    reset_cache()


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A temporary MLTRAINER_DATA_DIR, no API keys, an empty cache."""
    path = tmp_path / "data"
    monkeypatch.setenv("MLTRAINER_DATA_DIR", str(path))
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("FRED_API_KEY", raising=False)
    monkeypatch.delenv("POLYGON_BASE_URL", raising=False)
    monkeypatch.delenv("FRED_BASE_URL", raising=False)
    monkeypatch.delenv("MLTRAINER_DATA_CACHE_TTL", raising=False)
    reset_runtime()
    yield path
    reset_runtime()


@pytest.fixture
def isolated_db(data_dir, fresh_db):
    """A temporary data dir and a fresh migrated SQLite database."""
    reset_runtime()
    yield fresh_db


@pytest.fixture
def fake_apis(data_dir, httpserver, monkeypatch):
    """API keys set and both base URLs pointing at the local fake server."""
    base = httpserver.url_for("").rstrip("/")
    monkeypatch.setenv("POLYGON_API_KEY", POLYGON_KEY)
    monkeypatch.setenv("FRED_API_KEY", FRED_KEY)
    monkeypatch.setenv("POLYGON_BASE_URL", base)
    monkeypatch.setenv("FRED_BASE_URL", base)
    reset_runtime()
    yield httpserver
    reset_runtime()


def polygon_bar(day: str, close: float, volume: float = 1_000_000.0) -> dict:
    """One result of Polygon's aggregates endpoint; ``t`` is 00:00 New York in ms UTC."""
    import pandas as pd

    stamp = pd.Timestamp(day, tz="America/New_York")
    return {
        "v": volume,
        "vw": close * 0.999,
        "o": close * 0.99,
        "c": close,
        "h": close * 1.01,
        "l": close * 0.98,
        "t": int(stamp.tz_convert("UTC").timestamp() * 1000),
        "n": 1234,
    }


def polygon_payload(ticker: str, bars: list[dict], next_url: str | None = None) -> dict:
    payload = {
        "ticker": ticker,
        "queryCount": len(bars),
        "resultsCount": len(bars),
        "adjusted": True,
        "results": bars,
        "status": "OK",
        "request_id": "6a7e466379af0a71039d60cc78e72282",
        "count": len(bars),
    }
    if next_url:
        payload["next_url"] = next_url
    return payload


def fred_payload(observations: list[tuple], count: int | None = None, **extra) -> dict:
    """FRED's observations shape; each tuple is (date, value[, realtime_start, realtime_end])."""
    rows = []
    for item in observations:
        day, value = item[0], item[1]
        start = item[2] if len(item) > 2 else "2024-05-01"
        end = item[3] if len(item) > 3 else "2024-05-01"
        rows.append({"realtime_start": start, "realtime_end": end, "date": day, "value": value})
    payload = {
        "realtime_start": "2024-05-01",
        "realtime_end": "2024-05-01",
        "observation_start": "1600-01-01",
        "observation_end": "9999-12-31",
        "units": "lin",
        "output_type": 1,
        "file_type": "json",
        "order_by": "observation_date",
        "sort_order": "asc",
        "count": len(rows) if count is None else count,
        "offset": 0,
        "limit": 100000,
        "observations": rows,
    }
    payload.update(extra)
    return payload
