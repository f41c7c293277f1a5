"""Light charts: a Plotly figure made of line and scatter traces drawn as one static SVG
on the server, shown as an image.

Plotly's browser bundle is several megabytes of JavaScript that a page loads and compiles
the first time it shows a chart (2–3 s in Chromium on a loaded 2-core machine, before
anything is drawn). The chat shows a result's charts this way first, with the
interactive Plotly chart a toggle away. Only what the figures of this app use is drawn:
scatter traces (lines, markers, dashes, colours) on any number of axis pairs placed by
their domains, numeric or date x axes, axis titles, the title, the legend, text
annotations and line shapes. A figure with anything else (bars, heatmaps, candlesticks)
returns None and is drawn by Plotly as before. Every text is XML-escaped, and the SVG is
shown as an ``<img>``, where no script runs.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np
import pandas as pd

WIDTH = 900
DEFAULT_HEIGHT = 400
MAX_POINTS = 1_500  # per trace; more are thinned (every n-th point, both ends kept)
PALETTE = (
    "#636efa",
    "#EF553B",
    "#00cc96",
    "#ab63fa",
    "#FFA15A",
    "#19d3f3",
    "#FF6692",
    "#B6E880",
    "#FF97FF",
    "#FECB52",
)
DASHES = {"dash": "6,4", "dot": "2,3", "dashdot": "6,3,2,3", "longdash": "10,4"}
SUPPORTED = ("scatter", "scattergl")
FONT = 'font-family="sans-serif"'


def xml_text(value: Any) -> str:
    return escape(str(value), quote=True)


def _title(node: Any) -> str:
    if isinstance(node, dict):
        return str(node.get("text") or "")
    return str(node or "")


def _numbers(values: Any) -> tuple[np.ndarray, bool]:
    """Values as floats, and whether they were dates (then epoch milliseconds)."""
    if values is None:
        return np.array([], dtype=float), False
    if isinstance(values, dict) and "bdata" in values:  # Plotly's typed array
        import base64

        array = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        return array.astype(float), False
    array = np.asarray(values)
    if array.dtype.kind in "iufb":
        return array.astype(float), False
    if array.dtype.kind == "M":
        return array.astype("datetime64[ms]").astype("int64").astype(float), True
    try:
        return np.asarray(pd.to_numeric(array, errors="raise"), dtype=float), False
    except (ValueError, TypeError):
        pass
    try:
        stamps = pd.to_datetime(array, errors="raise", utc=True)
    except (ValueError, TypeError):
        raise _Unsupported("x or y values are neither numbers nor dates") from None
    return (stamps.asi8 // 1_000_000).astype(float), True


class _Unsupported(Exception):
    pass


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def tick_label(value: float, dates: bool, span: float, percent: bool = False) -> str:
    if percent:
        return f"{value * 100:.{0 if span >= 0.05 else 1}f}%"
    if dates:
        stamp = pd.Timestamp(int(value), unit="ms")
        return stamp.strftime("%Y-%m-%d" if span < 4 * 365 * 86_400_000 else "%Y")
    return f"{value:.4g}"


def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_POINTS:
        return x, y
    keep = np.unique(np.r_[np.arange(0, len(x), math.ceil(len(x) / MAX_POINTS)), len(x) - 1])
    return x[keep], y[keep]


def _range(values: list[np.ndarray], pad: float) -> tuple[float, float] | None:
    finite = [v[np.isfinite(v)] for v in values if len(v)]
    finite = [v for v in finite if len(v)]
    if not finite:
        return None
    low = float(min(v.min() for v in finite))
    high = float(max(v.max() for v in finite))
    if high == low:
        spread = abs(low) * 0.05 or 1.0
        return low - spread, high + spread
    margin = (high - low) * pad
    return low - margin, high + margin


def figure_svg(figure: Any, width: int = WIDTH) -> str | None:
    """The figure as an SVG document, or None when it has traces or parts not drawn here."""
    try:
        spec = figure.to_dict() if hasattr(figure, "to_dict") else dict(figure)
        return _draw(spec, width)
    except _Unsupported:
        return None


def _draw(spec: dict[str, Any], width: int) -> str:
    traces = spec.get("data") or []
    layout = spec.get("layout") or {}
    if not traces or any(t.get("type", "scatter") not in SUPPORTED for t in traces):
        raise _Unsupported("trace type")
    if any(t.get("fill") or t.get("error_y") or t.get("text") for t in traces):
        raise _Unsupported("fills, error bars or text labels")
    height = int(layout.get("height") or DEFAULT_HEIGHT)
    margin = {"l": 60, "r": 20, "t": 50, "b": 45, **(layout.get("margin") or {})}
    title = _title(layout.get("title"))
    legend = [
        (i, t)
        for i, t in enumerate(traces)
        if t.get("name") and t.get("showlegend", True) is not False
    ]
    legend_rows = 1 if len(legend) > 1 else 0
    top = max(int(margin["t"]), 30 if title else 10) + 18 * legend_rows
    left, right, bottom = int(margin["l"]), int(margin["r"]), int(margin["b"])
    area_w, area_h = width - left - right, height - top - bottom
    if area_w < 50 or area_h < 50:
        raise _Unsupported("too small")

    # axis pairs and their data
    pairs: dict[tuple[str, str], list[tuple[int, np.ndarray, np.ndarray, bool]]] = {}
    for index, trace in enumerate(traces):
        x, x_dates = _numbers(
            trace.get("x") if trace.get("x") is not None else np.arange(len(trace.get("y") or []))
        )
        y, y_dates = _numbers(trace.get("y"))
        if y_dates or len(x) != len(y):
            raise _Unsupported("dates on y, or x and y of different lengths")
        key = (trace.get("xaxis") or "x", trace.get("yaxis") or "y")
        pairs.setdefault(key, []).append((index, x, y, x_dates))

    def axis_layout(ref: str) -> dict[str, Any]:
        return layout.get(ref[0] + "axis" + ref[1:]) or {}

    for name, axis in layout.items():
        if name[1:5] == "axis" and isinstance(axis, dict):
            if axis.get("type") not in (None, "-", "linear", "date"):
                raise _Unsupported(f"{axis.get('type')} axis")  # log, category: Plotly
            tick_format = axis.get("tickformat")
            if tick_format and not (name.startswith("y") and str(tick_format).endswith("%")):
                raise _Unsupported("tick format")  # only percentages on a y axis

    def box(xref: str, yref: str) -> tuple[float, float, float, float]:
        xd = axis_layout(xref).get("domain") or [0, 1]
        yd = axis_layout(yref).get("domain") or [0, 1]
        return (
            left + xd[0] * area_w,
            left + xd[1] * area_w,
            top + (1 - yd[1]) * area_h,
            top + (1 - yd[0]) * area_h,
        )

    shapes = layout.get("shapes") or []
    annotations = layout.get("annotations") or []
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" {FONT} font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    if title:
        out.append(f'<text x="{left}" y="20" font-size="15">{xml_text(title)}</text>')
    if legend_rows:
        x_pos = left
        y_pos = top - 10
        for index, trace in legend:
            color = (trace.get("line") or {}).get("color") or PALETTE[index % len(PALETTE)]
            name = xml_text(trace["name"])
            out.append(
                f'<line x1="{x_pos}" y1="{y_pos - 4}" x2="{x_pos + 18}" y2="{y_pos - 4}" '
                f'stroke="{xml_text(color)}" stroke-width="2"/>'
                f'<text x="{x_pos + 22}" y="{y_pos}">{name}</text>'
            )
            x_pos += 40 + 7 * len(str(trace["name"]))
            if x_pos > width - 100:
                break

    scales: dict[tuple[str, str], tuple[Any, Any]] = {}
    for (xref, yref), members in pairs.items():
        x0, x1, y0, y1 = box(xref, yref)
        x_dates = any(m[3] for m in members)
        extra_x = [
            np.asarray([float(s.get("x0", np.nan)), float(s.get("x1", np.nan))])
            for s in shapes
            if s.get("xref") == xref and not x_dates
        ]
        x_range = _range([m[1] for m in members] + extra_x, 0.0)
        y_range = _range([m[2] for m in members], 0.04)
        if x_range is None or y_range is None:
            continue
        (xa, xb), (ya, yb) = x_range, y_range
        if xb == xa:
            xb = xa + 1.0

        def sx(v: Any, xa: float = xa, xb: float = xb, x0: float = x0, x1: float = x1) -> Any:
            return x0 + (np.asarray(v, dtype=float) - xa) / (xb - xa) * (x1 - x0)

        def sy(v: Any, ya: float = ya, yb: float = yb, y0: float = y0, y1: float = y1) -> Any:
            return y1 - (np.asarray(v, dtype=float) - ya) / (yb - ya) * (y1 - y0)

        scales[(xref, yref)] = (sx, sy)
        out.append(
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
            'fill="#fafafa" stroke="#ccc"/>'
        )
        y_percent = bool(axis_layout(yref).get("tickformat"))  # only "…%" gets here
        for tick in nice_ticks(ya, yb):
            ty = float(sy(tick))
            out.append(
                f'<line x1="{x0:.1f}" y1="{ty:.1f}" x2="{x1:.1f}" y2="{ty:.1f}" stroke="#e5e5e5"/>'
                f'<text x="{x0 - 4:.1f}" y="{ty + 4:.1f}" text-anchor="end" fill="#555">'
                f"{xml_text(tick_label(tick, False, yb - ya, y_percent))}</text>"
            )
        for tick in nice_ticks(xa, xb, 6):
            tx = float(sx(tick))
            out.append(
                f'<line x1="{tx:.1f}" y1="{y1:.1f}" x2="{tx:.1f}" y2="{y1 + 4:.1f}" stroke="#999"/>'
                f'<text x="{tx:.1f}" y="{y1 + 16:.1f}" text-anchor="middle" fill="#555">'
                f"{xml_text(tick_label(tick, x_dates, xb - xa))}</text>"
            )
        x_title = _title(axis_layout(xref).get("title"))
        y_title = _title(axis_layout(yref).get("title"))
        if x_title:
            out.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="{y1 + 32:.1f}" text-anchor="middle">'
                f"{xml_text(x_title)}</text>"
            )
        if y_title:
            cx, cy = x0 - 45, (y0 + y1) / 2
            out.append(
                f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" '
                f'transform="rotate(-90 {cx:.1f} {cy:.1f})">{xml_text(y_title)}</text>'
            )
        for index, x, y, _ in members:
            trace = traces[index]
            x, y = _thin(x, y)
            line = trace.get("line") or {}
            color = xml_text(line.get("color") or PALETTE[index % len(PALETTE)])
            mode = trace.get("mode") or ("lines" if len(x) > 20 else "lines+markers")
            px, py = sx(x), sy(y)
            if "lines" in mode:
                dash = DASHES.get(str(line.get("dash") or ""), "")
                dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
                for part in _finite_runs(px, py):
                    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in part)
                    out.append(
                        f'<polyline points="{points}" fill="none" stroke="{color}" '
                        f'stroke-width="{float(line.get("width") or 2):g}"{dash_attr}/>'
                    )
            if "markers" in mode:
                for a, b in zip(px, py, strict=True):
                    if math.isfinite(a) and math.isfinite(b):
                        out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"/>')

    for shape in shapes:
        if shape.get("type") != "line":
            raise _Unsupported("shape type")
        xref = shape.get("xref") or "x"
        yref = str(shape.get("yref") or "y").replace(" domain", "")
        if (xref, yref) not in scales or "domain" not in str(shape.get("yref")):
            raise _Unsupported("shape reference")
        sx, _ = scales[(xref, yref)]
        _, _, y0, y1 = box(xref, yref)
        style = shape.get("line") or {}
        dash = DASHES.get(str(style.get("dash") or ""), "")
        a, b = float(sx(shape["x0"])), float(sx(shape["x1"]))
        out.append(
            f'<line x1="{a:.1f}" y1="{y1 - float(shape.get("y0", 0)) * (y1 - y0):.1f}" '
            f'x2="{b:.1f}" y2="{y1 - float(shape.get("y1", 1)) * (y1 - y0):.1f}" '
            f'stroke="{xml_text(style.get("color") or "#888")}" '
            f'stroke-width="{float(style.get("width") or 1):g}"'
            + (f' stroke-dasharray="{dash}"' if dash else "")
            + "/>"
        )
    for note in annotations:
        text = note.get("text")
        if not text:
            continue
        color = xml_text((note.get("font") or {}).get("color") or "#333")
        anchor = {"left": "start", "right": "end"}.get(note.get("xanchor") or "center", "middle")
        if note.get("xref") == "paper" and note.get("yref") == "paper":
            ax = left + float(note["x"]) * area_w
            ay = top + (1 - float(note["y"])) * area_h - 4
        else:
            xref = note.get("xref") or "x"
            yref = str(note.get("yref") or "y").replace(" domain", "")
            if (xref, yref) not in scales or "domain" not in str(note.get("yref")):
                raise _Unsupported("annotation reference")
            sx, _ = scales[(xref, yref)]
            _, _, y0, y1 = box(xref, yref)
            ax = float(sx(note["x"])) + 3
            ay = y1 - float(note["y"]) * (y1 - y0) + 12
        out.append(
            f'<text x="{ax:.1f}" y="{ay:.1f}" text-anchor="{anchor}" fill="{color}">'
            f"{xml_text(text)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _finite_runs(px: np.ndarray, py: np.ndarray) -> list[list[tuple[float, float]]]:
    """Runs of consecutive finite points (a gap in the data is a gap in the line)."""
    runs: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for a, b in zip(px.tolist(), py.tolist(), strict=True):
        if math.isfinite(a) and math.isfinite(b):
            current.append((a, b))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs
