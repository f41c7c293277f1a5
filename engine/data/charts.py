"""Plotly figures of price data: candlesticks when OHLC is there, lines otherwise,
volume as bars underneath."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

MAX_POINTS_PER_TRACE = 20_000


def _thin(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) <= MAX_POINTS_PER_TRACE:
        return frame
    step = -(-len(frame) // MAX_POINTS_PER_TRACE)
    return frame.iloc[::step]


def price_figure(frame: pd.DataFrame, title: str = "", *, synthetic: bool = False) -> go.Figure:
    if synthetic:
        title = f"SYNTHETIC — {title}" if title else "SYNTHETIC data"
    frame = _thin(frame)
    if isinstance(frame.columns, pd.MultiIndex):
        symbols = list(dict.fromkeys(frame.columns.get_level_values(0)))
        fields = set(frame.columns.get_level_values(1))
        has_volume = "volume" in fields and frame.xs("volume", axis=1, level=1).notna().any().any()
        figure = (
            make_subplots(
                rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.03
            )
            if has_volume
            else make_subplots(rows=1, cols=1)
        )
        if len(symbols) == 1 and {"open", "high", "low", "close"} <= fields:
            symbol = symbols[0]
            figure.add_trace(
                go.Candlestick(
                    x=frame.index,
                    open=frame[(symbol, "open")],
                    high=frame[(symbol, "high")],
                    low=frame[(symbol, "low")],
                    close=frame[(symbol, "close")],
                    name=symbol,
                ),
                row=1,
                col=1,
            )
        else:
            for symbol in symbols:
                figure.add_trace(
                    go.Scatter(
                        x=frame.index, y=frame[(symbol, "close")], name=symbol, mode="lines"
                    ),
                    row=1,
                    col=1,
                )
        if has_volume:
            for symbol in symbols:
                if (symbol, "volume") in frame.columns:
                    figure.add_trace(
                        go.Bar(
                            x=frame.index,
                            y=frame[(symbol, "volume")],
                            name=f"{symbol} volume",
                            marker_line_width=0,
                            opacity=0.6,
                        ),
                        row=2,
                        col=1,
                    )
            figure.update_yaxes(title_text="volume", row=2, col=1)
        figure.update_layout(xaxis_rangeslider_visible=False)
        figure.update_yaxes(title_text="price", row=1, col=1)
    else:
        figure = go.Figure()
        plotted = frame
        rebased = False
        if frame.shape[1] > 1:
            medians = frame.abs().median().replace(0, pd.NA).dropna()
            if len(medians) > 1 and medians.max() / medians.min() > 5:
                first = frame.apply(
                    lambda column: column.dropna().iloc[0] if column.notna().any() else pd.NA
                )
                if (first.dropna() > 0).all():
                    plotted = frame / first * 100
                    rebased = True
        for column in plotted.columns:
            figure.add_trace(
                go.Scatter(x=plotted.index, y=plotted[column], name=str(column), mode="lines")
            )
        figure.update_yaxes(title_text="rebased to 100" if rebased else "value")
        if rebased:
            title = f"{title} (rebased to 100 at each series' first value)"
    figure.update_layout(
        title=title,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.15},
        margin={"l": 40, "r": 20, "t": 60, "b": 40},
        template="plotly_white",
    )
    return figure
