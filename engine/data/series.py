"""Chart data of price tables (the charts are drawn in ``ui/presenters/data.py``).

A (symbol, field) frame becomes one "symbol/field" column per pair (the labels of the
result's table); a flat frame (dates x symbols, or one series) keeps its column names.
Long histories are thinned to at most ``MAX_SERIES_POINTS`` points; one symbol's OHLC
bars are merged per block (first open, highest high, lowest low, last close, summed
volume) so the candles stay true to the data.
"""

from __future__ import annotations

import numpy as np

from engine.actions.base import MAX_SERIES_POINTS, Series
from engine.data.bundled import macro_unit
from engine.data.provenance import column_label
from engine.lazy import pandas as pd

OHLC = ("open", "high", "low", "close")
FIELD_UNITS = {"volume": "volume"}
BLOCK_RULES = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def _merge_blocks(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """OHLCV bars of one symbol merged over consecutive blocks (dated by each block's
    first day)."""
    step = int(np.ceil(len(frame) / max_points))
    blocks = np.arange(len(frame)) // step
    rules = {column: BLOCK_RULES.get(column[1], "last") for column in frame.columns}
    merged = frame.groupby(blocks).agg(rules)
    if ("volume" in frame.columns.get_level_values(1)) and len(merged):
        for column in frame.columns:
            if column[1] == "volume":  # a block with no volume stays missing, not 0
                merged[column] = merged[column].where(frame[column].notna().groupby(blocks).any())
    merged.index = frame.index[::step][: len(merged)]
    return merged


def price_series(
    frame: pd.DataFrame | pd.Series,
    title: str = "",
    *,
    synthetic: bool = False,
    max_points: int = MAX_SERIES_POINTS,
    units: dict[str, str] | None = None,
) -> Series:
    """The series a price chart is drawn from (see the module docstring); units say which
    columns are prices and which volumes, and give a flat frame's columns their unit
    (``units``, or a bundled macro series' own, e.g. "percent a year")."""
    if synthetic:
        title = f"SYNTHETIC — {title}" if title else "SYNTHETIC data"
    if isinstance(frame, pd.Series):
        frame = frame.to_frame(frame.name or "value")
    if not isinstance(frame.columns, pd.MultiIndex):
        flat = frame.set_axis([str(c) for c in frame.columns], axis=1).rename_axis("date")
        known = {c: (units or {}).get(c) or macro_unit(c) for c in flat.columns}
        return Series.from_frame(
            flat,
            title=title,
            max_points=max_points,
            units={c: u for c, u in known.items() if u},
        )
    symbols = list(dict.fromkeys(frame.columns.get_level_values(0)))
    fields = set(frame.columns.get_level_values(1))
    total = len(frame)
    if len(symbols) == 1 and set(OHLC) <= fields and total > max_points:
        frame = _merge_blocks(frame, max_points)
    units = {column_label(c): FIELD_UNITS.get(str(c[1]), "price") for c in frame.columns}
    flat = frame.set_axis([column_label(c) for c in frame.columns], axis=1).rename_axis("date")
    series = Series.from_frame(flat, title=title, units=units, max_points=max_points)
    series.total_points = total
    return series
