"""The Trials page's static summary charts (``ui.summary_charts``): bars that stack to
each period's count, a band and line that follow the metric, and names that stay text."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from datetime import date, timedelta

from engine.trials.summary import PeriodMetric, TrialSummary
from ui.summary_charts import counts_svg, metric_svg

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script> & "x"'


def summary(metric_series=None, counts=None) -> TrialSummary:
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(3)]
    counts = counts or {"boosting": [4, 0, 2], HOSTILE: [1, 3, 2]}
    return TrialSummary(
        total=sum(map(sum, counts.values())),
        period="day",
        periods=days,
        counts=counts,
        failed=[0, 0, 0],
        metric=HOSTILE,
        metric_series=metric_series
        or [
            PeriodMetric(days[0], 5, 0.50, 0.40, 0.60),
            PeriodMetric(days[1], 3, 0.55, 0.52, 0.58),
            PeriodMetric(days[2], 4, 0.45, 0.30, 0.70),
        ],
    )


def bars_by_column(svg: ET.Element) -> dict[float, float]:
    """Summed bar height per bar position (the legend's squares are 10 × 10)."""
    out: dict[float, float] = {}
    for rect in svg.iter(f"{SVG}rect"):
        if rect.get("fill") == "white" or rect.get("height") == "10":
            continue
        x = float(rect.get("x"))
        out[x] = out.get(x, 0.0) + float(rect.get("height"))
    return out


def test_bars_stack_to_each_period_total():
    svg = ET.fromstring(counts_svg(summary()))
    heights = [h for _, h in sorted(bars_by_column(svg).items())]
    assert len(heights) == 3  # one stack per period
    totals = [5, 3, 4]
    for height, total in zip(heights, totals, strict=True):
        assert math.isclose(height / heights[0], total / totals[0], rel_tol=1e-2)


def test_metric_line_follows_the_means_inside_the_band():
    svg = ET.fromstring(metric_svg(summary()))
    line = svg.find(f"{SVG}polyline")
    ys = [float(point.split(",")[1]) for point in line.get("points").split()]
    assert ys[1] < ys[0] < ys[2]  # higher mean is higher up (smaller y)
    band = [float(p.split(",")[1]) for p in svg.find(f"{SVG}polygon").get("points").split()]
    assert min(band) < min(ys) and max(band) > max(ys)


def test_names_are_text_never_markup():
    for svg_text in (counts_svg(summary()), metric_svg(summary())):
        svg = ET.fromstring(svg_text)  # well-formed XML whatever the names
        assert not [e for e in svg.iter() if e.tag.endswith("script")]
        assert any(HOSTILE in (t.text or "") for t in svg.iter(f"{SVG}text"))


def test_no_finite_metric_values_draw_no_metric_chart():
    day = date(2026, 11, 1)
    broken = summary([PeriodMetric(day, 1, math.nan, math.inf, -math.inf)])
    assert metric_svg(broken) is None
    assert len(bars_by_column(ET.fromstring(counts_svg(broken)))) == 3  # counts still drawn
