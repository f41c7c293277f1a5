"""The Trials page's summary charts, drawn with Vega-Lite (``st.vega_lite_chart``).

Not Plotly: these two charts are on the page every analyst opens first, and in a
browser without a GPU Plotly's library and layout cost seconds where Vega-Lite's cost
a fraction of one (bench/bench_browser.py --scale, BENCHMARKS.md). Vega-Lite draws
labels as text, never as HTML.
"""

from __future__ import annotations

import streamlit as st

from engine.trials.summary import TrialSummary, counts_frame, metric_frame

HEIGHT = 240
PERIOD_AXIS = {"field": "period", "type": "temporal", "title": None}


def _title(text: str) -> dict:
    return {"text": text, "anchor": "start", "fontSize": 14}


def counts_spec(summary: TrialSummary) -> dict:
    return {
        "title": _title(f"Trials per {summary.period}"),
        "height": HEIGHT,
        "mark": {"type": "bar"},
        "encoding": {
            "x": PERIOD_AXIS,
            "y": {"field": "trials", "type": "quantitative", "stack": "zero", "title": "trials"},
            "color": {"field": "family", "type": "nominal", "title": "family"},
            "tooltip": [
                {"field": "period", "type": "temporal", "title": summary.period},
                {"field": "family", "type": "nominal"},
                {"field": "trials", "type": "quantitative"},
            ],
        },
    }


def metric_spec(summary: TrialSummary) -> dict:
    metric = summary.metric or "metric"
    y = {"type": "quantitative", "scale": {"zero": False}, "title": metric}
    return {
        "title": _title(f"{metric} per {summary.period}"),
        "height": HEIGHT,
        "layer": [
            {
                "mark": {"type": "area", "opacity": 0.25},
                "encoding": {
                    "x": PERIOD_AXIS,
                    "y": {"field": "lowest", **y},
                    "y2": {"field": "highest"},
                },
            },
            {
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": PERIOD_AXIS,
                    "y": {"field": "mean", **y},
                    "tooltip": [
                        {"field": "period", "type": "temporal", "title": summary.period},
                        {"field": "mean", "type": "quantitative", "format": ".4f"},
                        {"field": "lowest", "type": "quantitative", "format": ".4f"},
                        {"field": "highest", "type": "quantitative", "format": ".4f"},
                        {"field": "trials", "type": "quantitative"},
                    ],
                },
            },
        ],
    }


def draw(summary: TrialSummary, key: str) -> None:
    """Both charts side by side (nothing when no trial matches)."""
    if not summary.total:
        return
    left, right = st.columns(2)
    left.vega_lite_chart(counts_frame(summary), counts_spec(summary), key=f"{key}-counts")
    if summary.metric_series:
        right.vega_lite_chart(metric_frame(summary), metric_spec(summary), key=f"{key}-metric")
