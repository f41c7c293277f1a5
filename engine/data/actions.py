"""Data actions: list sources, load prices, fetch FRED series, describe, synthesise."""

from __future__ import annotations

from datetime import date
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from engine.actions import ActionContext, ActionError, ActionResult, register
from engine.actions.bounds import SourceName, Symbol
from engine.data.loader import PriceData, load_dataset, load_prices, record, recorded_datasets
from engine.data.provenance import column_label
from engine.data.series import price_series
from engine.lazy import pandas as pd

FieldName = Literal["close", "open", "high", "low", "adj_close", "volume", "vwap", "value", "ohlcv"]

SOURCE_HELP = (
    "source is 'bundled' (offline real data: 20 S&P 500 stocks AAPL AMD BAC BBY CVX GE HD "
    "JNJ JPM KO LLY MRK MSFT PEP PFE PG RRC UNH WMT XOM with daily close 1990-2022; SPX, "
    "the S&P 500 index, with daily OHLCV 1999-2018; US quarterly macro series 1959-2009 as "
    "MACRO:realgdp, MACRO:cpi, MACRO:unemp, MACRO:tbilrate, MACRO:infl, ...), "
    "'upload:<dataset_id>' (a validated uploaded file), 'polygon' (daily bars, needs "
    "POLYGON_API_KEY), 'fred' (series ids such as DGS10, needs FRED_API_KEY) or "
    "'synthetic' (seeded simulated prices, labelled synthetic)."
)


def key_status() -> dict[str, dict[str, object]]:
    from engine.data import fred, polygon

    return {
        "polygon": {
            "configured": bool(polygon.configured_key()),
            "env": "POLYGON_API_KEY",
            "base_url": polygon.base_url(),
            "how": "Set POLYGON_API_KEY in the environment or .streamlit/secrets.toml.",
        },
        "fred": {
            "configured": bool(fred.configured_key()),
            "env": "FRED_API_KEY",
            "base_url": fred.base_url(),
            "how": "Set FRED_API_KEY in the environment or .streamlit/secrets.toml.",
        },
    }


def table_view(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with flat column names ("SPX/close") for tables and JSON."""
    view = frame.copy()
    if isinstance(view.columns, pd.MultiIndex):
        view.columns = [column_label(column) for column in view.columns]
    else:
        view.columns = [str(column) for column in view.columns]
    return view


def _provenance_line(provenance: dict) -> str:
    parts = [
        f"source {provenance.get('source')}",
        f"{provenance.get('start')} to {provenance.get('end')}",
        f"{provenance.get('rows')} rows",
        f"fingerprint {str(provenance.get('fingerprint', ''))[:12]}",
    ]
    if provenance.get("synthetic"):
        parts.insert(0, "SYNTHETIC")
    return ", ".join(parts)


def _record_quietly(data: PriceData, ctx: ActionContext, name: str | None = None) -> int | None:
    try:
        return record(data, name=name, user_id=ctx.user.id)
    except ActionError:
        raise
    except Exception:  # provenance bookkeeping must not hide the data from the analyst
        ctx.log.exception("could not record dataset provenance")
        return None


# ----------------------------------------------------------------------------- list_datasets


class ListDatasetsParams(BaseModel):
    include_recorded: bool = Field(
        True, description="Also list uploaded and previously loaded datasets (newest first)."
    )
    limit: int = Field(50, ge=1, le=500, description="How many recorded datasets to list.")


@register(
    "list_datasets",
    description=f"""List every data source and symbol mlTrainer can load, with real date
    ranges, available fields and frequency, whether the Polygon and FRED API keys are
    configured, and the recorded datasets (uploads and earlier loads, with their ids,
    fingerprints and whether they are synthetic). Call this first to see what data
    exists. {SOURCE_HELP}""",
    params=ListDatasetsParams,
    cpu_bound=False,
    min_role="viewer",
    category="data",
)
def list_datasets_action(params: ListDatasetsParams, ctx: ActionContext) -> ActionResult:
    from engine.data import bundled

    symbols = pd.DataFrame([entry.as_dict() for entry in bundled.catalog().values()])
    keys = key_status()
    tables = {"symbols": symbols}
    recorded: list[dict] = []
    if params.include_recorded:
        for row in recorded_datasets(ctx.user, limit=params.limit):
            symbols_text = ", ".join(map(str, row["symbols"][:10]))
            recorded.append(
                {
                    **{k: row[k] for k in ("dataset_id", "name", "source", "load_as")},
                    "symbols": symbols_text + (" ..." if len(row["symbols"]) > 10 else ""),
                    **{k: row[k] for k in ("start", "end", "rows", "synthetic")},
                    "fingerprint": row["fingerprint"][:12],
                    "recorded_at": row["recorded_at"],
                }
            )
        tables["datasets"] = pd.DataFrame(recorded)
    stocks = symbols[symbols["package"].str.startswith("skfolio")]
    macro = symbols[symbols["symbol"].str.startswith("MACRO:")]
    spx = symbols[symbols["symbol"] == "SPX"].iloc[0]
    sources = {
        "bundled": {
            "available": True,
            "stocks": stocks["symbol"].tolist(),
            "stocks_range": [stocks["start"].min(), stocks["end"].max()],
            "stocks_fields": ["close"],
            "index": "SPX",
            "index_range": [spx["start"], spx["end"]],
            "index_fields": spx["fields"].split(", "),
            "macro": macro["symbol"].tolist(),
            "macro_range": [macro["start"].min(), macro["end"].max()],
        },
        "upload": {"available": True, "load_as": "upload:<dataset_id>"},
        "polygon": {"available": keys["polygon"]["configured"], **keys["polygon"]},
        "fred": {"available": keys["fred"]["configured"], **keys["fred"]},
        "synthetic": {"available": True, "models": ["gbm", "random_walk"]},
    }
    key_text = ", ".join(
        f"{name.capitalize() if name == 'polygon' else name.upper()} key "
        f"{'set' if info['configured'] else 'not set'}"
        for name, info in keys.items()
    )
    summary = (
        f"Bundled (offline, real): {len(stocks)} S&P 500 stocks, daily close "
        f"{stocks['start'].min()} to {stocks['end'].max()}; SPX daily OHLCV {spx['start']} to "
        f"{spx['end']}; {len(macro)} US quarterly macro series {macro['start'].min()} to "
        f"{macro['end'].max()}. {key_text}. Synthetic data is available for testing. "
        f"{len(recorded)} recorded dataset(s) listed."
    )
    return ActionResult(
        summary=summary,
        values={"sources": sources, "keys": keys, "datasets": recorded},
        tables=tables,
    )


# ----------------------------------------------------------------------------- load_prices


class LoadPricesParams(BaseModel):
    symbols: list[Symbol] = Field(
        ...,
        min_length=1,
        max_length=50,
        description="Tickers or series, e.g. ['AAPL', 'MSFT'], ['SPX'], ['MACRO:realgdp']; "
        "for an upload, its symbols or ['*'] for all.",
    )
    source: SourceName = Field(
        "bundled", description="bundled | upload:<id> | polygon | fred | synthetic"
    )
    start: date | None = Field(None, description="First date (inclusive), YYYY-MM-DD.")
    end: date | None = Field(None, description="Last date (inclusive), YYYY-MM-DD.")
    field: FieldName = Field(
        "close", description="One price field, or 'ohlcv' for open/high/low/close/volume."
    )
    refresh: bool = Field(False, description="Bypass the cache of remote sources.")
    chart: bool = Field(True, description="Include the series a price chart is drawn from.")

    @field_validator("symbols")
    @classmethod
    def _strip(cls, value: list[str]) -> list[str]:
        cleaned = [item.strip() for item in value if item and item.strip()]
        if not cleaned:
            raise ValueError("name at least one symbol")
        return cleaned

    @model_validator(mode="after")
    def _order(self):
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must be on or before end")
        return self


# FRED's unit transformations (the `units` parameter) in words: a chart's axis title.
FRED_UNITS = {
    "lin": "level (the series' own units)",
    "chg": "change",
    "ch1": "change from a year ago",
    "pch": "percent change",
    "pc1": "percent change from a year ago",
    "pca": "compounded annual rate of change, percent",
    "cch": "continuously compounded rate of change, percent",
    "cca": "continuously compounded annual rate of change, percent",
    "log": "natural log",
}


@register(
    "load_prices",
    description=f"""Load daily prices (or quarterly macro values) for one or more symbols
    and return them as a table (dates x symbols; for field='ohlcv' columns are
    symbol/field), the series the page charts (candlesticks when OHLC exists, lines
    otherwise, volume bars underneath; thinned when long), the provenance record (source,
    symbols, date range, fetch time, rows, content fingerprint, synthetic flag) and
    the recorded dataset id that trials reference. {SOURCE_HELP}
    Unknown symbols are reported with the closest matches.""",
    params=LoadPricesParams,
    cpu_bound=False,
    min_role="analyst",
    category="data",
)
def load_prices_action(params: LoadPricesParams, ctx: ActionContext) -> ActionResult:
    data = load_prices(
        params.symbols,
        params.source,
        params.start,
        params.end,
        params.field,
        refresh=params.refresh,
    )
    dataset_id = _record_quietly(data, ctx)
    provenance = data.provenance
    series = {}
    if params.chart:
        title = f"{', '.join(data.symbols[:6])}{' ...' if len(data.symbols) > 6 else ''}"
        series["prices"] = price_series(
            data.frame,
            f"{title} ({params.field}, {provenance['source']})",
            synthetic=data.synthetic,
        )
    summary = f"Loaded {', '.join(data.symbols)} ({params.field}): {_provenance_line(provenance)}."
    if dataset_id is not None:
        summary += f" Dataset id {dataset_id}."
    if data.notes:
        summary += " Notes: " + " ".join(data.notes)
    return ActionResult(
        summary=summary,
        values={"provenance": provenance, "dataset_id": dataset_id, "notes": data.notes},
        tables={"prices": table_view(data.frame)},
        series=series,
    )


# ----------------------------------------------------------------------------- fetch_fred_series


class FredParams(BaseModel):
    series_id: str = Field(..., min_length=1, max_length=64, description="FRED id, e.g. DGS10.")
    start: date | None = Field(None, description="observation_start (inclusive).")
    end: date | None = Field(None, description="observation_end (inclusive).")
    realtime_start: date | None = Field(
        None, description="Real-time period start: what was known from this date."
    )
    realtime_end: date | None = Field(None, description="Real-time period end.")
    vintage_dates: list[date] | None = Field(
        None, max_length=100, description="Vintage dates: the series as published on each date."
    )
    units: Literal["lin", "chg", "ch1", "pch", "pc1", "pca", "cch", "cca", "log"] | None = Field(
        None, description="FRED transformation (lin = levels, pch = % change, ...)."
    )
    frequency: Literal["d", "w", "bw", "m", "q", "sa", "a"] | None = Field(
        None, description="Aggregate to a lower frequency."
    )
    aggregation_method: Literal["avg", "sum", "eop"] | None = None
    refresh: bool = Field(False, description="Bypass the cache.")


@register(
    "fetch_fred_series",
    description="""Fetch one FRED (St. Louis Fed) economic series by id, e.g. DGS10 (10-year
    Treasury yield), CPIAUCSL (CPI), UNRATE (unemployment), GDP, FEDFUNDS. Supports
    real-time periods and vintage dates (what was known at a given time, for honest
    backtests), FRED unit transformations and frequency aggregation. Missing values
    ('.') become empty. Returns the observations table, a chart series, provenance and the
    recorded dataset id. Needs FRED_API_KEY; offline, use load_prices with the bundled
    MACRO:* series instead.""",
    params=FredParams,
    cpu_bound=False,
    min_role="analyst",
    category="data",
)
def fetch_fred_series_action(params: FredParams, ctx: ActionContext) -> ActionResult:
    from engine.data import fred
    from engine.data.provenance import build_provenance

    frame, meta, hit = fred.fetch_observations(
        params.series_id,
        params.start,
        params.end,
        realtime_start=params.realtime_start,
        realtime_end=params.realtime_end,
        vintage_dates=params.vintage_dates,
        units=params.units,
        frequency=params.frequency,
        aggregation_method=params.aggregation_method,
        refresh=params.refresh,
    )
    series_id = params.series_id.strip().upper()
    vintages = frame["realtime_start"].nunique() if len(frame) else 0
    values = fred.latest_vintage(frame) if frame.index.has_duplicates else frame["value"]
    series = values.to_frame(series_id).dropna(how="all")
    if series.empty:
        raise ActionError(
            f"FRED returned no values for {series_id} in that range (all observations missing)."
        )
    details = dict(meta.get("details", {}))
    details.update({"cache": hit or "miss", "vintages": int(vintages)})
    provenance = build_provenance(
        series,
        source="fred",
        symbols=[series_id],
        field="value",
        fetched_at=meta.get("fetched_at"),
        requested_start=f"{params.start}" if params.start else None,
        requested_end=f"{params.end}" if params.end else None,
        details=details,
    )
    data = PriceData(series, provenance)
    dataset_id = _record_quietly(data, ctx, name=f"FRED {series_id}")
    tables = {"observations": frame.reset_index()}
    figure_frame = series
    if vintages > 1:
        pivot = frame.reset_index().pivot_table(
            index="date", columns="realtime_start", values="value", aggfunc="last"
        )
        pivot.columns = [f"vintage {column}" for column in pivot.columns]
        tables["vintages"] = pivot
        figure_frame = pivot.iloc[:, -10:]
    unit = FRED_UNITS.get(str(details.get("units") or "lin"), str(details.get("units")))
    chart = price_series(
        figure_frame,
        f"FRED {series_id} ({unit})",
        units={str(column): unit for column in figure_frame.columns},
    )
    missing = int(frame["value"].isna().sum())
    vintage_text = (
        f", {vintages} vintages (table shows each; the dataset keeps the latest)"
        if vintages > 1
        else ""
    )
    summary = (
        f"FRED {series_id}: {len(series)} observations {provenance['start']} to "
        f"{provenance['end']}, units {details.get('units')}, {missing} missing value(s)"
        f"{vintage_text}"
        f"; {'from cache' if hit else 'fetched now'}. Fingerprint {provenance['fingerprint'][:12]}."
    )
    if dataset_id is not None:
        summary += f" Dataset id {dataset_id}."
    return ActionResult(
        summary=summary,
        values={"provenance": provenance, "dataset_id": dataset_id, "cache_hit": bool(hit)},
        tables=tables,
        series={"series": chart},
    )


# ----------------------------------------------------------------------------- describe_dataset


class DescribeParams(BaseModel):
    dataset_id: int | None = Field(None, description="A recorded dataset id (from list_datasets).")
    symbols: list[Symbol] | None = Field(
        None, max_length=50, description="Or symbols to load, as in load_prices."
    )
    source: SourceName = "bundled"
    start: date | None = None
    end: date | None = None
    field: FieldName = "close"

    @model_validator(mode="after")
    def _either(self):
        if self.dataset_id is None and not self.symbols:
            raise ValueError("give a dataset_id or symbols")
        return self


def infer_frequency(index: pd.DatetimeIndex) -> str:
    if len(index) < 3:
        return "unknown"
    median_days = (
        float(np.median(np.diff(index.values).astype("timedelta64[h]").astype(float))) / 24
    )
    if median_days <= 1.5:
        return "daily"
    if median_days <= 8:
        return "weekly"
    if median_days <= 32:
        return "monthly"
    if median_days <= 95:
        return "quarterly"
    return "annual" if median_days <= 370 else "irregular"


def describe_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Per-column summary, overall coverage, and missing values by year."""
    view = table_view(frame)
    numeric = view.select_dtypes("number")
    index = pd.DatetimeIndex(view.index)
    frequency = infer_frequency(index)
    periods = {"daily": 252, "weekly": 52, "monthly": 12, "quarterly": 4, "annual": 1}.get(
        frequency
    )
    rows = []
    for column in numeric.columns:
        series = numeric[column]
        valid = series.dropna()
        row = {
            "column": column,
            "first_date": valid.index[0] if len(valid) else None,
            "last_date": valid.index[-1] if len(valid) else None,
            "observations": int(valid.size),
            "missing": int(series.isna().sum()),
            "missing_pct": float(series.isna().mean() * 100) if len(series) else 0.0,
            "min": float(valid.min()) if len(valid) else np.nan,
            "max": float(valid.max()) if len(valid) else np.nan,
            "mean": float(valid.mean()) if len(valid) else np.nan,
            "std": float(valid.std()) if len(valid) > 1 else np.nan,
            "last": float(valid.iloc[-1]) if len(valid) else np.nan,
        }
        is_price = len(valid) > 2 and (valid > 0).all() and not column.endswith("volume")
        if is_price and periods:
            returns = np.log(valid).diff().dropna()
            row["annual_return_pct"] = float(returns.mean() * periods * 100)
            row["annual_volatility_pct"] = float(returns.std() * np.sqrt(periods) * 100)
            row["max_drawdown_pct"] = float((valid / valid.cummax() - 1).min() * 100)
        rows.append(row)
    summary = pd.DataFrame(rows)
    gaps = pd.Series(np.diff(index.values), index=index[1:]) if len(index) > 1 else pd.Series()
    largest = gaps.idxmax() if len(gaps) else None
    coverage = {
        "rows": int(len(view)),
        "columns": int(view.shape[1]),
        "start": index[0].strftime("%Y-%m-%d") if len(index) else None,
        "end": index[-1].strftime("%Y-%m-%d") if len(index) else None,
        "frequency": frequency,
        "missing_cells": int(numeric.isna().sum().sum()),
        "missing_pct": float(numeric.isna().to_numpy().mean() * 100) if numeric.size else 0.0,
        "duplicate_dates": int(index.duplicated().sum()),
        "largest_gap_days": float(gaps.max() / pd.Timedelta(days=1)) if len(gaps) else None,
        "largest_gap_ends": largest.strftime("%Y-%m-%d") if largest is not None else None,
    }
    by_year = numeric.isna().groupby(index.year).sum()
    by_year.index.name = "year"
    by_year = by_year.loc[:, by_year.sum() > 0] if by_year.size else by_year
    return summary, coverage, by_year


@register(
    "describe_dataset",
    description=f"""Describe a dataset: per column the first and last dates, observation and
    missing counts, min/max/mean/std and last value, and for price series the annualised
    log return, volatility and maximum drawdown; overall date coverage, inferred frequency,
    the largest gap between dates and missing values by year. Pass a recorded dataset_id
    (from list_datasets or load_prices) or symbols with a source as in load_prices.
    {SOURCE_HELP}""",
    params=DescribeParams,
    cpu_bound=False,
    min_role="analyst",
    category="data",
)
def describe_dataset_action(params: DescribeParams, ctx: ActionContext) -> ActionResult:
    if params.dataset_id is not None:
        data = load_dataset(params.dataset_id)
        if params.start or params.end:
            start = pd.Timestamp(params.start) if params.start else None
            end = pd.Timestamp(params.end) if params.end else None
            data.frame = data.frame.loc[start:end]
        dataset_id: int | None = params.dataset_id
    else:
        if not params.symbols:  # never: the model requires a dataset or symbols
            raise ActionError("Give a dataset id or symbols to describe.")
        data = load_prices(params.symbols, params.source, params.start, params.end, params.field)
        dataset_id = _record_quietly(data, ctx)
    frame = data.frame
    if isinstance(frame.columns, pd.Index) and not isinstance(frame.columns, pd.MultiIndex):
        frame = frame.select_dtypes("number") if frame.shape[1] else frame
    summary_table, coverage, by_year = describe_frame(frame)
    provenance = data.provenance
    tables = {"summary": summary_table}
    if by_year.shape[1]:
        tables["missing_by_year"] = by_year
    text = (
        f"{'SYNTHETIC data. ' if provenance.get('synthetic') else ''}"
        f"{coverage['rows']} rows x {coverage['columns']} columns, {coverage['frequency']}, "
        f"{coverage['start']} to {coverage['end']}; {coverage['missing_cells']} missing cells "
        f"({coverage['missing_pct']:.2f}%)"
    )
    if coverage["largest_gap_days"] is not None:
        text += (
            f"; largest gap {coverage['largest_gap_days']:.0f} days "
            f"(ending {coverage['largest_gap_ends']})"
        )
    fingerprint_text = str(provenance.get("fingerprint"))[:12]
    text += f". Source {provenance.get('source')}, fingerprint {fingerprint_text}."
    if data.notes:
        text += " " + " ".join(data.notes)
    return ActionResult(
        summary=text,
        values={"coverage": coverage, "dataset_id": dataset_id, "provenance": provenance},
        tables=tables,
    )


# ----------------------------------------------------------------------------- synthetic


class SyntheticParams(BaseModel):
    symbols: list[Symbol] = Field(["SYN"], min_length=1, max_length=50)
    model: Literal["gbm", "random_walk"] = Field(
        "gbm", description="Geometric Brownian motion (positive prices) or arithmetic walk."
    )
    days: int = Field(1260, ge=2, le=25_200, description="Business days to simulate.")
    start: date = Field(date(2015, 1, 2), description="First date.")
    drift: float = Field(0.07, ge=-2, le=2, description="Annual drift (0.07 = 7%).")
    volatility: float = Field(0.2, ge=0, le=5, description="Annual volatility (0.2 = 20%).")
    start_price: float = Field(100.0, gt=0, le=1e9)
    seed: int | None = Field(None, description="Random seed; the call's seed when omitted.")
    field: FieldName = "ohlcv"


@register(
    "generate_synthetic_prices",
    description="""Generate synthetic daily prices (seeded geometric Brownian motion or
    arithmetic random walk with annual drift and volatility, on business days) with
    open/high/low/close/volume, for testing strategies and pipelines. The result is
    always labelled SYNTHETIC in its summary, chart and provenance, and the same seed
    always gives the same numbers. Never present it as market data.""",
    params=SyntheticParams,
    cpu_bound=False,
    min_role="analyst",
    category="data",
)
def generate_synthetic_prices_action(params: SyntheticParams, ctx: ActionContext) -> ActionResult:
    from engine.data.synthetic import generate_prices

    seed = ctx.seed if params.seed is None else params.seed
    data = generate_prices(
        params.symbols,
        start=params.start,
        days=params.days,
        model=params.model,
        drift=params.drift,
        volatility=params.volatility,
        start_price=params.start_price,
        seed=seed,
        field=params.field,
    )
    dataset_id = _record_quietly(data, ctx, name=f"synthetic {params.model} seed {seed}")
    chart = price_series(
        data.frame, f"{', '.join(data.symbols[:6])} ({params.model}, seed {seed})", synthetic=True
    )
    summary = (
        f"SYNTHETIC {params.model} prices for {', '.join(data.symbols)} (seed {seed}, drift "
        f"{params.drift:.2%}, volatility {params.volatility:.2%}): "
        f"{_provenance_line(data.provenance)}."
    )
    if dataset_id is not None:
        summary += f" Dataset id {dataset_id}."
    return ActionResult(
        summary=summary,
        values={"provenance": data.provenance, "dataset_id": dataset_id, "synthetic": True},
        tables={"prices": table_view(data.frame)},
        series={"prices": chart},
    )
