"""The Trials page's charts (AppTest): they add up what the filters match, over every
page of the table, and follow the filters (not the order or the page)."""

from __future__ import annotations

import base64
import json

import numpy as np

from tests.trials.conftest import spread
from tests.trials.test_trials_page import captions, table, trials_page


def values(trace_values) -> list[float]:
    if isinstance(trace_values, dict):  # Plotly's typed arrays
        data = np.frombuffer(base64.b64decode(trace_values["bdata"]), dtype=trace_values["dtype"])
        return data.tolist()
    return list(trace_values)


def charts(at) -> dict[str, dict]:
    out = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec["layout"]["title"]
        out[title["text"] if isinstance(title, dict) else title] = spec
    return out


def bar_total(spec: dict) -> int:
    return int(sum(sum(values(trace["y"])) for trace in spec["data"] if trace["type"] == "bar"))


def test_charts_add_up_the_filtered_trials(people):
    made = spread(60, people["alice"])  # families cycle ensemble, linear, boosting
    at = trials_page("root")
    drawn = charts(at)
    assert set(drawn) == {"Trials per day", "balanced_accuracy per day"}
    counts = drawn["Trials per day"]
    assert bar_total(counts) == 60  # all 60, though the table shows 50
    assert {trace["name"] for trace in counts["data"]} == {"boosting", "ensemble", "linear"}
    mean = next(t for t in drawn["balanced_accuracy per day"]["data"] if t["name"] == "mean")
    weights = values(mean["customdata"])  # trials per period
    overall = sum(m * w for m, w in zip(values(mean["y"]), weights, strict=True)) / sum(weights)
    assert abs(overall - sum(t.metric_value for t in made) / 60) < 1e-9

    at.button(key="trials_next").click().run()  # paging redraws the table only
    assert "Showing 51–60 of 60 trials" in captions(at)
    assert bar_total(charts(at)["Trials per day"]) == 60

    at.selectbox(key="tf_family").set_value("linear").run()
    assert len(table(at)) == 20
    assert bar_total(charts(at)["Trials per day"]) == 20
    at.number_input(key="tf_min").set_value(0.8).run()  # not in the rollups: same answer
    high = [t for t in made if t.family == "linear" and t.metric_value >= 0.8]
    assert len(table(at)) == len(high) == 10
    assert bar_total(charts(at)["Trials per day"]) == len(high)
    at.number_input(key="tf_min").set_value(5.0).run()  # none: no charts
    assert "No trials match these filters yet." in [i.value for i in at.info]
    assert not charts(at)
