"""The Trials page's summary charts: trials per period by family, and the primary
metric's mean and range per period.

These two charts are on the page every analyst opens first, so they are drawn first as
static SVG images made here (no chart library for the browser to load and compile:
two Vega-Lite charts cost about 0.5 s of the first view on a loaded 2-core machine,
bench/bench_browser.py --scale); the interactive Vega-Lite versions, with tooltips, are
a toggle away. Every text is XML-escaped and the SVG is shown as an ``<img>``, where no
script runs; Vega-Lite draws labels as text, never as HTML.
"""

from __future__ import annotations

import math
from datetime import date

import streamlit as st

from engine.trials.summary import TrialSummary, counts_frame, metric_frame, period_end
from ui.svgchart import PALETTE, nice_ticks, tick_label, xml_text

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
    """Both charts side by side (nothing when no trial matches): static images, or the
    interactive charts when the user asked for them."""
    if not summary.total:
        return
    interactive = st.session_state.get(f"{key}-interactive", False)
    left, right = st.columns(2)
    if interactive:
        left.vega_lite_chart(counts_frame(summary), counts_spec(summary), key=f"{key}-counts")
    else:
        left.image(counts_svg(summary), width="stretch")
    if summary.metric_series:
        if interactive:
            right.vega_lite_chart(metric_frame(summary), metric_spec(summary), key=f"{key}-metric")
        else:
            right.image(metric_svg(summary), width="stretch")
    st.toggle("Interactive charts", key=f"{key}-interactive", help="With tooltips")


# --- static SVG ------------------------------------------------------------------------
SVG_WIDTH, SVG_HEIGHT = 560, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 50, 30
DAY_MS = 86_400_000


def _ms(day: date) -> float:
    return (day - date(1970, 1, 1)).days * float(DAY_MS)


class _Frame:
    """The plot area of one chart: scales from data to pixels, axes and the title."""

    def __init__(self, summary: TrialSummary, low: float, high: float, legend: bool) -> None:
        self.top = TOP + (18 if legend else 0)
        self.x0, self.x1 = LEFT, SVG_WIDTH - RIGHT
        self.y0, self.y1 = self.top, SVG_HEIGHT - BOTTOM
        self.xa = _ms(summary.periods[0])
        self.xb = _ms(period_end(summary.periods[-1], summary.period))
        self.ya, self.yb = low, high if high > low else low + 1.0

    def sx(self, ms: float) -> float:
        return self.x0 + (ms - self.xa) / (self.xb - self.xa) * (self.x1 - self.x0)

    def sy(self, value: float) -> float:
        return self.y1 - (value - self.ya) / (self.yb - self.ya) * (self.y1 - self.y0)

    def axes(self, title: str, y_title: str) -> list[str]:
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" '
            f'width="{SVG_WIDTH}" height="{SVG_HEIGHT}" font-family="sans-serif" '
            'font-size="11">',
            f'<rect width="{SVG_WIDTH}" height="{SVG_HEIGHT}" fill="white"/>',
            f'<text x="{LEFT}" y="18" font-size="14">{xml_text(title)}</text>',
        ]
        for tick in nice_ticks(self.ya, self.yb):
            y = self.sy(tick)
            out.append(
                f'<line x1="{self.x0}" y1="{y:.1f}" x2="{self.x1}" y2="{y:.1f}" '
                'stroke="#e5e5e5"/>'
                f'<text x="{self.x0 - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">'
                f"{xml_text(tick_label(tick, False, self.yb - self.ya))}</text>"
            )
        for tick in nice_ticks(self.xa, self.xb, 5):
            x = self.sx(tick)
            out.append(
                f'<line x1="{x:.1f}" y1="{self.y1}" x2="{x:.1f}" y2="{self.y1 + 4}" '
                'stroke="#999"/>'
                f'<text x="{x:.1f}" y="{self.y1 + 16}" text-anchor="middle" fill="#555">'
                f"{xml_text(tick_label(tick, True, self.xb - self.xa))}</text>"
            )
        cy = (self.y0 + self.y1) / 2
        out.append(
            f'<text x="14" y="{cy:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {cy:.1f})">{xml_text(y_title)}</text>'
        )
        return out


def counts_svg(summary: TrialSummary) -> str:
    """Trials per period as bars stacked by family, with a legend of the families."""
    families = list(summary.counts)
    totals = [sum(column) for column in zip(*summary.counts.values(), strict=True)]
    frame = _Frame(summary, 0.0, float(max(totals, default=0) or 1), legend=True)
    out = frame.axes(f"Trials per {summary.period}", "trials")
    x = LEFT
    for index, family in enumerate(families):
        name = family or "no family"
        color = PALETTE[index % len(PALETTE)]
        out.append(
            f'<rect x="{x}" y="{TOP - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{TOP}">{xml_text(name)}</text>'
        )
        x += 24 + 6 * len(name)
        if x > SVG_WIDTH - 60:
            break
    for i, start in enumerate(summary.periods):
        a = frame.sx(_ms(start))
        b = frame.sx(_ms(period_end(start, summary.period)))
        width = max((b - a) * 0.8, 1.0)
        stacked = 0
        for index, family in enumerate(families):
            count = summary.counts[family][i]
            if not count:
                continue
            top, bottom = frame.sy(stacked + count), frame.sy(stacked)
            out.append(
                f'<rect x="{a + (b - a) * 0.1:.1f}" y="{top:.1f}" width="{width:.1f}" '
                f'height="{bottom - top:.1f}" fill="{PALETTE[index % len(PALETTE)]}"/>'
            )
            stacked += count
    out.append("</svg>")
    return "".join(out)


def metric_svg(summary: TrialSummary) -> str | None:
    """The metric's mean per period (line and points) within its lowest–highest band;
    None when no period has finite values."""
    series = [
        p
        for p in summary.metric_series
        if math.isfinite(p.mean) and math.isfinite(p.lowest) and math.isfinite(p.highest)
    ]
    if not series:
        return None
    low = min(p.lowest for p in series)
    high = max(p.highest for p in series)
    pad = (high - low) * 0.04 or abs(low) * 0.05 or 1.0
    frame = _Frame(summary, low - pad, high + pad, legend=False)
    metric = summary.metric or "metric"
    out = frame.axes(f"{metric} per {summary.period}", metric)

    def mid(p) -> float:
        return frame.sx((_ms(p.start) + _ms(period_end(p.start, summary.period))) / 2)

    upper = " ".join(f"{mid(p):.1f},{frame.sy(p.highest):.1f}" for p in series)
    lower = " ".join(f"{mid(p):.1f},{frame.sy(p.lowest):.1f}" for p in reversed(series))
    out.append(f'<polygon points="{upper} {lower}" fill="{PALETTE[0]}" fill-opacity="0.25"/>')
    line = " ".join(f"{mid(p):.1f},{frame.sy(p.mean):.1f}" for p in series)
    out.append(f'<polyline points="{line}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    for p in series:
        out.append(
            f'<circle cx="{mid(p):.1f}" cy="{frame.sy(p.mean):.1f}" r="2.5" fill="{PALETTE[0]}"/>'
        )
    out.append("</svg>")
    return "".join(out)
