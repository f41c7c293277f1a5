"""The light charts (ui/svgchart.py): a figure of line traces becomes one well-formed SVG
whose lines follow the data; text is escaped; figures it does not cover return None (and
are drawn by Plotly); the chat shows the image with the interactive chart on a toggle."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ui.svgchart import figure_svg

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    assert "<script" not in svg
    return ET.fromstring(svg)


def polylines(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        for line in root.iter(f"{SVG}polyline")
    ]


def test_the_option_profile_is_drawn_with_every_panel_and_mark():
    from ui.presenters.finance import option_profile_figure

    figure = option_profile_figure(100, 105, 0.5, 0.05, 0.2)
    root = parse(figure_svg(figure))
    lines = polylines(root)
    assert len(lines) == len(figure.data) == 6  # payoff, value, delta, gamma, vega, theta
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "spot 100" in texts and "strike 105" in texts and "delta" in texts
    # the payoff is flat at 0 up to the strike, then rises: its right end is higher
    payoff = lines[0]
    assert payoff[-1][1] < payoff[0][1]  # SVG y grows downwards
    assert len([s for s in root.iter(f"{SVG}line") if s.get("stroke-dasharray")]) >= 10


def test_points_follow_the_data_and_gaps_split_the_line():
    figure = go.Figure(go.Scatter(x=[0, 1, 2, 3, 4], y=[0.0, 1.0, math.nan, 3.0, 4.0]))
    [first, second] = polylines(parse(figure_svg(figure)))
    assert len(first) == 2 and len(second) == 2
    xs = [x for x, _ in first + second]
    ys = [y for _, y in first + second]
    assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # rising line
    slope = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in (first, second)]
    assert math.isclose(slope[0], slope[1], rel_tol=1e-3)  # the same scale on both sides


def test_dates_on_x_and_text_escaped():
    dates = pd.bdate_range("2020-01-01", periods=300)
    figure = go.Figure(
        go.Scatter(x=dates, y=np.linspace(1, 2, 300), name="<b>equity</b> & co"),
        layout={"title": {"text": "<script>alert(1)</script>"}},
    )
    figure.add_scatter(x=dates, y=np.linspace(2, 1, 300), name="other")
    svg = figure_svg(figure)
    root = parse(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "<script>alert(1)</script>" in texts  # shown as text, never markup
    assert "<b>equity</b> & co" in texts
    assert any(t and t.startswith("2020-") for t in texts)


def test_percent_ticks_and_axes_it_does_not_cover():
    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[-0.2, -0.1, 0.0]))
    figure.update_yaxes(tickformat=".0%")
    texts = [t.text for t in parse(figure_svg(figure)).iter(f"{SVG}text")]
    assert "-20%" in texts and "0%" in texts
    log = go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 10, 100]))
    log.update_yaxes(type="log")
    assert figure_svg(log) is None  # never drawn on a linear scale by mistake
    dated = go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 2, 3]))
    dated.update_xaxes(tickformat="%b %Y")
    assert figure_svg(dated) is None


def test_figures_it_does_not_cover_are_left_to_plotly():
    assert figure_svg(go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))) is None
    assert figure_svg(go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]))) is None
    assert figure_svg(go.Figure()) is None


def test_the_chat_shows_the_chart_image_and_the_interactive_chart_on_request(fresh_db, make_user):
    from tests.chat.test_chat_page import open_chat

    make_user("alice")
    at = open_chat("alice")
    at.chat_input(key="chat_prompt").set_value(
        "Price a call with spot 100, strike 105, 6 months, vol 20%, rate 5%"
    ).run()
    assert not at.exception, at.exception
    assert at.get("image") and not at.get("plotly_chart")
    [toggle] = [t for t in at.toggle if t.label == "Interactive chart"]
    toggle.set_value(True).run()
    assert not at.exception, at.exception
    assert at.get("plotly_chart") and not at.get("image")
