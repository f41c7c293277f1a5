"""The Trials page's charts (AppTest): they add up what the filters match, over every
page of the table, and follow the filters (not the order or the page). Drawn first as
static SVG images (``ui.summary_charts``), the interactive Vega-Lite charts on a toggle."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

import pandas as pd
import pyarrow as pa

from tests.trials.conftest import spread
from tests.trials.test_trials_page import captions, table, trials_page


def charts(at) -> dict[str, pd.DataFrame]:
    """Each Vega-Lite chart's data by its title."""
    out = {}
    for chart in at.get("vega_lite_chart"):
        title = json.loads(chart.proto.spec)["title"]["text"]
        out[title] = pa.ipc.open_stream(chart.proto.data.data).read_pandas()
    return out


INTERACTIVE = "trials-summary-interactive"
SVG = "{http://www.w3.org/2000/svg}"


def images(at) -> list[ET.Element]:
    """Each static chart as parsed SVG (st.image inlines SVG as a data URI)."""
    out = []
    for element in at.get("image"):
        for image in element.proto.imgs:
            head, _, body = image.url.partition(",")
            assert head == "data:image/svg+xml;base64", head
            out.append(ET.fromstring(base64.b64decode(body)))
    return out


def texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text")]


def test_first_view_draws_static_images_and_the_toggle_the_interactive_charts(people):
    spread(60, people["alice"])
    at = trials_page("root")
    assert not charts(at)  # no chart library for the browser to load on the first view
    counts, metric = images(at)
    assert texts(counts)[0] == "Trials per day"
    assert {"boosting", "ensemble", "linear"} <= set(texts(counts))
    assert texts(metric)[0] == "balanced_accuracy per day"
    assert metric.find(f"{SVG}polygon") is not None  # the lowest–highest band
    at.toggle(key=INTERACTIVE).set_value(True).run()
    assert set(charts(at)) == {"Trials per day", "balanced_accuracy per day"}
    assert not images(at)


def test_charts_add_up_the_filtered_trials(people):
    made = spread(60, people["alice"])  # families cycle ensemble, linear, boosting
    at = trials_page("root")
    at.toggle(key=INTERACTIVE).set_value(True).run()  # the charts' data, as Vega-Lite gets it
    drawn = charts(at)
    assert set(drawn) == {"Trials per day", "balanced_accuracy per day"}
    counts = drawn["Trials per day"]
    assert counts["trials"].sum() == 60  # all 60, though the table shows 50
    assert set(counts["family"]) == {"boosting", "ensemble", "linear"}
    metric = drawn["balanced_accuracy per day"]
    assert metric["trials"].sum() == 60
    overall = (metric["mean"] * metric["trials"]).sum() / metric["trials"].sum()
    assert abs(overall - sum(t.metric_value for t in made) / 60) < 1e-9
    assert metric["lowest"].min() == min(t.metric_value for t in made)
    assert metric["highest"].max() == max(t.metric_value for t in made)

    at.button(key="trials_next").click().run()  # paging redraws the table only
    assert "Showing 51–60 of 60 trials" in captions(at)
    assert charts(at)["Trials per day"]["trials"].sum() == 60

    at.selectbox(key="tf_family").set_value("linear").run()
    assert len(table(at)) == 20
    assert charts(at)["Trials per day"]["trials"].sum() == 20
    at.number_input(key="tf_min").set_value(0.8).run()  # not in the rollups: same answer
    high = [t for t in made if t.family == "linear" and t.metric_value >= 0.8]
    assert len(table(at)) == len(high) == 10
    assert charts(at)["Trials per day"]["trials"].sum() == len(high)
    assert set(charts(at)["Trials per day"]["family"]) == {"linear"}
    at.number_input(key="tf_min").set_value(5.0).run()  # none: no charts
    assert "No trials match these filters yet." in [i.value for i in at.info]
    assert not charts(at)
