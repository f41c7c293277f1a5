"""Polygon.io daily aggregates over REST.

``GET {base}/v2/aggs/ticker/{ticker}/range/1/day/{from}/{to}?adjusted=true&sort=asc
&limit=50000&apiKey=KEY``; base ``https://api.polygon.io`` unless ``POLYGON_BASE_URL``
is set (tests point it at a local server). Results follow ``next_url`` (the API
key is appended to it, as Polygon omits it). Bars are stamped in milliseconds
UTC at the start of the New York trading day; they are dated in New York time.
"""

from __future__ import annotations

import os
import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd

from engine.actions.base import ActionError
from engine.data.http import ApiClient, error_text, redact

DEFAULT_BASE_URL = "https://api.polygon.io"
DEFAULT_LOOKBACK_DAYS = 730
TICKER_PATTERN = re.compile(r"^(?:[A-Z]{1,2}:)?[A-Z0-9.\-^]{1,24}$")
COLUMNS = {
    "o": "open",
    "h": "high",
    "l": "low",
    "c": "close",
    "v": "volume",
    "vw": "vwap",
    "n": "transactions",
}

MISSING_KEY_MESSAGE = (
    "Polygon needs an API key. Set the environment variable POLYGON_API_KEY "
    '(export POLYGON_API_KEY=your-key) or add the line POLYGON_API_KEY = "your-key" '
    "to .streamlit/secrets.toml, then restart mlTrainer. Free keys: "
    "https://polygon.io/dashboard/signup. Without a key, source='bundled' has 20 S&P 500 "
    "stocks (1990-2022) and SPX with OHLCV (1999-2018)."
)


def base_url() -> str:
    return (os.environ.get("POLYGON_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def configured_key() -> str | None:
    from engine.config import get_settings

    return get_settings().polygon_api_key


class PolygonClient(ApiClient):
    service = "Polygon"
    missing_key_message = MISSING_KEY_MESSAGE
    configured_key = staticmethod(configured_key)
    default_base = staticmethod(base_url)

    def _check(self, response: httpx.Response, ticker: str) -> dict[str, Any]:
        status = response.status_code
        reason = redact(error_text(response), [self.api_key])
        if status == 401:
            raise ActionError(
                f"Polygon rejected the API key (HTTP 401: {reason}). Check POLYGON_API_KEY "
                "in the environment or .streamlit/secrets.toml."
            )
        if status == 403:
            raise ActionError(
                f"Polygon refused access to {ticker} (HTTP 403: {reason}). Your plan may not "
                "include this data or date range (free plans cover about two years)."
            )
        if status == 404:
            raise ActionError(
                f"Polygon answered 'not found' (HTTP 404) for ticker {ticker!r}: {reason}. "
                "Check the ticker (e.g. BRK.B, not BRK-B)."
            )
        if status >= 400:
            raise ActionError(f"Polygon returned HTTP {status} for {ticker}: {reason}")
        try:
            payload = response.json()
        except ValueError:
            raise ActionError(
                f"Polygon returned a response that is not JSON for {ticker} (HTTP {status})."
            ) from None
        if not isinstance(payload, dict):
            raise ActionError(f"Polygon returned an unexpected response for {ticker}.")
        if payload.get("status") == "ERROR":
            raise ActionError(f"Polygon reported an error for {ticker}: {error_text(response)}")
        return payload

    def daily_aggregates(
        self, ticker: str, start: date, end: date, *, adjusted: bool = True
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Daily bars of ``ticker`` from ``start`` to ``end`` (inclusive), all pages."""
        ticker = ticker.strip().upper()
        if not TICKER_PATTERN.match(ticker):
            raise ActionError(
                f"{ticker!r} does not look like a Polygon ticker (e.g. AAPL, BRK.B, I:SPX)."
            )
        url = (
            f"{self.base}/v2/aggs/ticker/{quote(ticker, safe=':.^-')}/range/1/day/"
            f"{start:%Y-%m-%d}/{end:%Y-%m-%d}"
        )
        params: dict[str, Any] | None = {
            "adjusted": "true" if adjusted else "false",
            "sort": "asc",
            "limit": 50000,
            "apiKey": self.api_key,
        }
        rows: list[dict[str, Any]] = []
        pages = 0
        request_ids = []
        statuses = set()
        while True:
            payload = self._check(self.http.get(url, params), ticker)
            pages += 1
            statuses.add(str(payload.get("status")))
            if payload.get("request_id"):
                request_ids.append(payload["request_id"])
            results = payload.get("results") or []
            if pages == 1 and (
                payload.get("status") == "NOT_FOUND"
                or not results
                or payload.get("resultsCount") == 0
            ):
                raise ActionError(
                    f"Polygon has no daily bars for {ticker!r} between {start:%Y-%m-%d} and "
                    f"{end:%Y-%m-%d}: the ticker may not exist (check spelling, e.g. BRK.B) "
                    "or the range holds no trading days."
                )
            rows.extend(results)
            next_url = payload.get("next_url")
            if not next_url or not results:
                break
            url = str(httpx.URL(next_url).copy_set_param("apiKey", self.api_key))
            params = None
            if pages > 1000:  # pragma: no cover - a server that never stops paging
                raise ActionError("Polygon kept returning pages; stopped after 1000.")
        frame = bars_to_frame(rows, ticker)
        details = {
            "ticker": ticker,
            "adjusted": adjusted,
            "pages": pages,
            "http_requests": self.http.requests,
            "retries": self.http.retries,
            "status": sorted(statuses),
            "request_ids": request_ids[:10],
            "endpoint": "/v2/aggs/ticker/{ticker}/range/1/day/{from}/{to}",
        }
        return frame, details


def bars_to_frame(rows: list[dict[str, Any]], ticker: str) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=list(COLUMNS.values()), index=pd.DatetimeIndex([], name="date"))
    raw = pd.DataFrame(rows)
    if "t" not in raw:
        raise ActionError(f"Polygon bars for {ticker} have no timestamps ('t').")
    stamps = pd.to_datetime(raw["t"].astype("int64"), unit="ms", utc=True)
    dates = stamps.dt.tz_convert("America/New_York").dt.tz_localize(None).dt.normalize()
    frame = pd.DataFrame(
        {
            name: pd.to_numeric(raw[key], errors="coerce") if key in raw else float("nan")
            for key, name in COLUMNS.items()
        }
    ).astype("float64")
    frame.index = pd.DatetimeIndex(dates, name="date").as_unit("ns")
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame


def load_daily(symbols: list[str], start, end, *, refresh: bool = False, sleep=None):
    """The loader's entry point: cached daily bars for each symbol."""
    from engine.data.remote_cache import get_or_fetch
    from engine.data.sources import SourceFrames

    key = configured_key()
    if not key:
        raise ActionError(MISSING_KEY_MESSAGE)
    end_date = (end if end is not None else pd.Timestamp.now(tz="UTC").tz_localize(None)).date()
    start_date = (
        start.date() if start is not None else end_date - timedelta(days=DEFAULT_LOOKBACK_DAYS)
    )
    frames: dict[str, pd.DataFrame] = {}
    per_symbol: dict[str, Any] = {}
    fetched = []
    client: PolygonClient | None = None
    for symbol in symbols:
        ticker = symbol.strip().upper()
        request = {
            "ticker": ticker,
            "from": f"{start_date:%Y-%m-%d}",
            "to": f"{end_date:%Y-%m-%d}",
            "adjusted": True,
            "base": base_url(),
        }

        def fetch(ticker=ticker):
            nonlocal client
            client = client or PolygonClient(key, sleep=sleep)
            return client.daily_aggregates(ticker, start_date, end_date)

        cached = get_or_fetch("polygon", request, fetch, refresh=refresh)
        frames[ticker] = cached.frame
        per_symbol[ticker] = {
            **cached.meta.get("details", {}),
            "fetched_at": cached.meta.get("fetched_at"),
            "cache": cached.hit or "miss",
        }
        fetched.append(cached.meta.get("fetched_at"))
    details = {
        "provider": "Polygon.io",
        "adjusted": True,
        "from": f"{start_date:%Y-%m-%d}",
        "to": f"{end_date:%Y-%m-%d}",
        "per_symbol": per_symbol,
    }
    return SourceFrames(frames, details=details, fetched_at=min(f for f in fetched if f))
