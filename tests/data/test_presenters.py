"""The data presenters (ui/presenters/data.py) draw price charts from a result's series:
candles that stay true when a long history is thinned, lines (rebased when the scales
differ) otherwise, volume underneath; and any other series as lines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionResult, Series, UserRef, call
from engine.data.series import price_series
from tests.data.conftest import fred_payload
from ui.presenters import figures_for


def stored(result: ActionResult) -> ActionResult:
    return ActionResult.from_json(json.loads(json.dumps(result.to_json())))


def test_a_long_ohlc_history_is_merged_into_true_candles(isolated_db):
    outcome = call("load_prices", {"symbols": ["SPX"], "field": "ohlcv"}, UserRef.system())
    result = outcome.result
    table = result.tables["prices"]
    series = result.series["prices"]
    assert series.total_points == len(table) > series.points
    step = int(np.ceil(len(table) / 2000))
    first = table.iloc[:step]
    y = series.y
    assert y["SPX/open"][0] == first["SPX/open"].iloc[0]
    assert y["SPX/high"][0] == first["SPX/high"].max()
    assert y["SPX/low"][0] == first["SPX/low"].min()
    assert y["SPX/close"][0] == first["SPX/close"].iloc[-1]
    assert y["SPX/volume"][0] == pytest.approx(first["SPX/volume"].sum())
    assert y["SPX/close"][-1] == table["SPX/close"].iloc[-1]  # the last bar closes the data
    figure = figures_for("load_prices", stored(result))["prices"]
    candles, volume = figure.data
    assert candles.type == "candlestick" and volume.type == "bar"
    assert max(candles.high) == table["SPX/high"].max()
    assert "SPX (ohlcv, bundled)" == figure.layout.title.text


def test_series_of_different_scales_are_rebased_to_100(isolated_db):
    outcome = call(
        "load_prices", {"symbols": ["AAPL", "SPX"], "start": "2010-01-01"}, UserRef.system()
    )
    figure = figures_for("load_prices", outcome.result)["prices"]
    assert "rebased to 100" in figure.layout.title.text
    for trace in figure.data:
        assert trace.y[0] == pytest.approx(100.0)
    small = price_series(pd.DataFrame({"A": [1.0, 2.0], "B": [1.5, 2.5]}))
    lines = figures_for("load_prices", ActionResult("s", series={"prices": small}))["prices"]
    assert [list(t.y) for t in lines.data] == [[1.0, 2.0], [1.5, 2.5]]


def test_fred_series_is_drawn(fake_apis, isolated_db):
    fake_apis.expect_request("/fred/series/observations").respond_with_json(
        fred_payload([("2024-01-01", "."), ("2024-01-02", "3.95"), ("2024-01-03", "3.91")])
    )
    outcome = call("fetch_fred_series", {"series_id": "DGS10"}, UserRef.system())
    figure = figures_for("fetch_fred_series", stored(outcome.result))["series"]
    (line,) = figure.data
    assert list(line.y) == [3.95, 3.91]  # the missing observation stays in the table
    assert figure.layout.title.text.startswith("FRED DGS10")


def test_results_without_a_presenter_draw_each_series_as_lines():
    curve = Series.from_frame(
        pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, None]}, index=[10, 20, 30]),
        title="my curve",
    )
    points = Series(x=[1, 2, 3], y={"v": [0.5, 0.1, 0.2]}, labels=["p", "q", "p"])
    result = ActionResult("dynamic", series={"curve": curve, "points": points})
    figures = figures_for("some_dynamic_action", stored(result))
    assert [t.name for t in figures["curve"].data] == ["a", "b"]
    assert list(figures["curve"].data[1].y) == [3.0, 2.0, None]
    assert figures["curve"].layout.title.text == "my curve"
    assert {t.name: list(t.x) for t in figures["points"].data} == {"p": [1, 3], "q": [2]}


def test_series_downsampling_keeps_the_ends_and_at_most_max_points():
    frame = pd.DataFrame(
        {"v": np.arange(10_001.0)}, index=pd.bdate_range("2000-01-03", periods=10_001)
    )
    series = Series.from_frame(frame, max_points=5000)
    assert series.points <= 5000 and series.total_points == 10_001
    assert series.y["v"][0] == 0.0 and series.y["v"][-1] == 10_000.0
    assert series.x[0] == "2000-01-03T00:00:00"
    with pytest.raises(ValueError, match="has 2 values"):
        Series(x=[1, 2, 3], y={"v": [1, 2]})


def test_a_result_stored_before_results_were_data_shows_without_charts(caplog):
    legacy = ActionResult.from_json(
        {"summary": "old frontier", "values": {}, "tables": {}, "figures": {"frontier": "{}"}}
    )
    assert figures_for("efficient_frontier", legacy) == {}
    assert figures_for("backtest_strategy", legacy) == {}
    assert "Traceback" not in caplog.text
