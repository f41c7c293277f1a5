"""FRED (Federal Reserve Economic Data) series observations.

``GET {base}/fred/series/observations?series_id=..&api_key=..&file_type=json
&observation_start=..&observation_end=..`` (+ ``realtime_start``, ``realtime_end``,
``vintage_dates``, ``units``, ``frequency``, ``aggregation_method`` when given);
base ``https://api.stlouisfed.org`` unless ``FRED_BASE_URL`` is set. FRED's
missing value ``"."`` becomes NaN. With real-time or vintage parameters FRED can
return several observations per date (one per vintage): :func:`fetch_observations`
keeps them all; :func:`load_series` keeps the latest vintage of each date.
"""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
import pandas as pd

from engine.actions.base import ActionError
from engine.data.http import ApiClient, error_text, redact

DEFAULT_BASE_URL = "https://api.stlouisfed.org"
PAGE_LIMIT = 100_000
SERIES_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

MISSING_KEY_MESSAGE = (
    "FRED needs an API key. Set the environment variable FRED_API_KEY "
    '(export FRED_API_KEY=your-key) or add the line FRED_API_KEY = "your-key" to '
    ".streamlit/secrets.toml, then restart mlTrainer. Keys are free: "
    "https://fred.stlouisfed.org/docs/api/api_key.html. Without a key, source='bundled' "
    "has US quarterly macro series 1959-2009 as MACRO:realgdp, MACRO:cpi, MACRO:unemp, ..."
)


def base_url() -> str:
    return (os.environ.get("FRED_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def configured_key() -> str | None:
    from engine.config import get_settings

    return get_settings().fred_api_key


def _date_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return f"{pd.Timestamp(value):%Y-%m-%d}"


def vintage_text(vintage_dates: Any) -> str | None:
    if vintage_dates is None or vintage_dates == "" or vintage_dates == []:
        return None
    if isinstance(vintage_dates, str):
        vintage_dates = [part for part in vintage_dates.split(",") if part.strip()]
    return ",".join(
        _date_text(part.strip() if isinstance(part, str) else part) or "" for part in vintage_dates
    )


class FredClient(ApiClient):
    service = "FRED"
    missing_key_message = MISSING_KEY_MESSAGE
    configured_key = staticmethod(configured_key)
    default_base = staticmethod(base_url)

    def _check(self, response: httpx.Response, series_id: str) -> dict[str, Any]:
        status = response.status_code
        reason = redact(error_text(response), [self.api_key])
        if status >= 400:
            lowered = reason.lower()
            if "series does not exist" in lowered:
                raise ActionError(
                    f"FRED has no series {series_id!r} ({reason.strip()}). Check the id at "
                    "https://fred.stlouisfed.org (e.g. DGS10, CPIAUCSL, UNRATE, GDP)."
                )
            if "api_key" in lowered or status in (401, 403):
                raise ActionError(
                    f"FRED rejected the API key (HTTP {status}: {reason}). Check FRED_API_KEY "
                    "in the environment or .streamlit/secrets.toml (32 lower-case characters)."
                )
            raise ActionError(
                f"FRED refused the request for {series_id!r} (HTTP {status}: {reason})."
            )
        try:
            payload = response.json()
        except ValueError:
            raise ActionError(
                f"FRED returned a response that is not JSON for {series_id!r}."
            ) from None
        if not isinstance(payload, dict) or "observations" not in payload:
            raise ActionError(f"FRED returned an unexpected response for {series_id!r}.")
        return payload

    def observations(
        self,
        series_id: str,
        start=None,
        end=None,
        *,
        realtime_start=None,
        realtime_end=None,
        vintage_dates=None,
        units: str | None = None,
        frequency: str | None = None,
        aggregation_method: str | None = None,
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """All observations (every page): index ``date``; columns ``value``,
        ``realtime_start``, ``realtime_end``."""
        series_id = series_id.strip().upper()
        if not SERIES_PATTERN.match(series_id):
            raise ActionError(f"{series_id!r} is not a FRED series id (e.g. DGS10, CPIAUCSL).")
        params: dict[str, Any] = {
            "series_id": series_id,
            "api_key": self.api_key,
            "file_type": "json",
        }
        optional = {
            "observation_start": _date_text(start),
            "observation_end": _date_text(end),
            "realtime_start": _date_text(realtime_start),
            "realtime_end": _date_text(realtime_end),
            "vintage_dates": vintage_text(vintage_dates),
            "units": units,
            "frequency": frequency,
            "aggregation_method": aggregation_method,
        }
        params.update({key: value for key, value in optional.items() if value})
        url = f"{self.base}/fred/series/observations"
        observations: list[dict[str, Any]] = []
        offset = 0
        first: dict[str, Any] = {}
        while True:
            page_params = dict(params, limit=PAGE_LIMIT, offset=offset) if offset else params
            payload = self._check(self.http.get(url, page_params), series_id)
            first = first or payload
            page = payload.get("observations") or []
            observations.extend(page)
            offset += len(page)
            count = int(payload.get("count") or 0)
            if not page or offset >= count:
                break
        frame = observations_to_frame(observations)
        details = {
            "series_id": series_id,
            "units": first.get("units"),
            "output_type": first.get("output_type"),
            "realtime_start": first.get("realtime_start"),
            "realtime_end": first.get("realtime_end"),
            "observation_start": first.get("observation_start"),
            "observation_end": first.get("observation_end"),
            "count": int(first.get("count") or len(observations)),
            "missing_values": int(frame["value"].isna().sum()),
            "vintage_dates": optional["vintage_dates"],
            "frequency": frequency,
            "aggregation_method": aggregation_method,
            "http_requests": self.http.requests,
            "retries": self.http.retries,
        }
        return frame, details


def observations_to_frame(observations: list[dict[str, Any]]) -> pd.DataFrame:
    if not observations:
        frame = pd.DataFrame(
            {"value": pd.Series(dtype="float64"), "realtime_start": [], "realtime_end": []}
        )
        frame.index = pd.DatetimeIndex([], name="date").as_unit("ns")
        return frame
    raw = pd.DataFrame(observations)
    values = raw.get("value", pd.Series([None] * len(raw))).astype("string").str.strip()
    frame = pd.DataFrame(
        {
            # FRED writes a missing value as "."; anything else unparseable is NaN too.
            "value": pd.to_numeric(values.where(values != "."), errors="coerce").astype("float64"),
            "realtime_start": raw.get("realtime_start", pd.Series([None] * len(raw))).astype(str),
            "realtime_end": raw.get("realtime_end", pd.Series([None] * len(raw))).astype(str),
        }
    )
    frame.index = pd.DatetimeIndex(pd.to_datetime(raw["date"]), name="date").as_unit("ns")
    return frame.sort_index(kind="stable")


def latest_vintage(frame: pd.DataFrame) -> pd.Series:
    """One value per date: the observation with the latest ``realtime_start``."""
    ordered = frame.reset_index().sort_values(["date", "realtime_start"], kind="stable")
    last = ordered.drop_duplicates("date", keep="last").set_index("date")
    return last["value"]


def fetch_observations(
    series_id: str,
    start=None,
    end=None,
    *,
    realtime_start=None,
    realtime_end=None,
    vintage_dates=None,
    units: str | None = None,
    frequency: str | None = None,
    aggregation_method: str | None = None,
    refresh: bool = False,
    sleep=None,
):
    """Cached observations of one series: ``(frame, meta, cache_hit)``."""
    from engine.data.remote_cache import get_or_fetch

    key = configured_key()
    if not key:
        raise ActionError(MISSING_KEY_MESSAGE)
    series_id = series_id.strip().upper()
    request = {
        "series_id": series_id,
        "observation_start": _date_text(start),
        "observation_end": _date_text(end),
        "realtime_start": _date_text(realtime_start),
        "realtime_end": _date_text(realtime_end),
        "vintage_dates": vintage_text(vintage_dates),
        "units": units,
        "frequency": frequency,
        "aggregation_method": aggregation_method,
        "base": base_url(),
    }

    def fetch():
        client = FredClient(key, sleep=sleep)
        return client.observations(
            series_id,
            start,
            end,
            realtime_start=realtime_start,
            realtime_end=realtime_end,
            vintage_dates=vintage_dates,
            units=units,
            frequency=frequency,
            aggregation_method=aggregation_method,
        )

    cached = get_or_fetch("fred", request, fetch, refresh=refresh)
    return cached.frame, cached.meta, cached.hit


def load_series(symbols: list[str], start, end, *, refresh: bool = False, **options):
    """The loader's entry point: each series as a ``value`` column (latest vintage)."""
    from engine.data.sources import SourceFrames

    if not configured_key():
        raise ActionError(MISSING_KEY_MESSAGE)
    frames: dict[str, pd.DataFrame] = {}
    per_series: dict[str, Any] = {}
    fetched = []
    notes = []
    for symbol in symbols:
        series_id = symbol.strip().upper()
        if series_id.startswith("FRED:"):
            series_id = series_id[5:]
        frame, meta, hit = fetch_observations(series_id, start, end, refresh=refresh, **options)
        values = latest_vintage(frame) if frame.index.has_duplicates else frame["value"]
        if frame.index.has_duplicates:
            notes.append(f"{series_id}: several vintages per date; kept the latest of each.")
        frames[series_id] = values.to_frame("value")
        per_series[series_id] = {
            **meta.get("details", {}),
            "fetched_at": meta.get("fetched_at"),
            "cache": hit or "miss",
        }
        fetched.append(meta.get("fetched_at"))
    details = {"provider": "FRED, Federal Reserve Bank of St. Louis", "per_series": per_series}
    return SourceFrames(
        frames, details=details, fetched_at=min(f for f in fetched if f), notes=notes
    )
