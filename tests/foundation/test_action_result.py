"""The typed result: tables become JSON-safe rows a column at a time, series keep their
shape through storage, and stored results from before results were data (Plotly figures
under "figures") read back without parsing the figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionResult, Series
from engine.actions.base import downsample_positions, frame_to_records


def test_rows_are_json_safe_whatever_the_column_types():
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(["2020-01-02", None]),
            "text": ["a", None],
            "mixed": [1, "x"],
            "value": [np.nan, np.inf],
            "count": np.array([1, 2], dtype=np.int64),
            "flag": [True, False],
            "utc": pd.to_datetime(["2020-01-02", None]).tz_localize("UTC"),
            "nullable": pd.array([1, None], dtype="Int64"),
            "kind": pd.Categorical(["p", "q"]),
        }
    )
    rows = frame_to_records(frame)
    assert rows == [
        {
            "day": "2020-01-02T00:00:00",
            "text": "a",
            "mixed": 1,
            "value": None,
            "count": 1,
            "flag": True,
            "utc": "2020-01-02T00:00:00+00:00",
            "nullable": 1,
            "kind": "p",
        },
        {
            "day": None,  # a missing date is null (it was stored as the text "NaT")
            "text": None,
            "mixed": "x",
            "value": None,
            "count": 2,
            "flag": False,
            "utc": None,
            "nullable": None,
            "kind": "q",
        },
    ]
    json.dumps(rows, allow_nan=False)
    indexed = pd.DataFrame({"v": [1.5]}, index=pd.Index(["AAPL"], name="symbol"))
    assert frame_to_records(indexed) == [{"symbol": "AAPL", "v": 1.5}]


def _rows_one_at_a_time(frame: pd.DataFrame) -> list[dict]:
    """The reference: reset_index, then each value on its own (Timestamp.isoformat)."""
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    names = [str(column) for column in frame.columns]
    return [
        {
            name: None if pd.isna(value) else value.isoformat()
            for name, value in zip(names, row, strict=True)
        }
        for row in frame.itertuples(index=False)
    ]


@pytest.mark.parametrize(
    "stamps",
    [
        ["2020-01-02", "NaT", "1999-12-31 23:59:59"],  # whole seconds (encoded at once)
        ["2020-01-02 10:00:00.5", "2020-01-02"],  # a fraction of a second
        ["2020-01-02 10:00:00.000000001", "NaT"],  # nanoseconds
        ["NaT", "NaT"],
        ["1677-09-22", "2262-04-11"],  # the ends of datetime64[ns]
    ],
)
@pytest.mark.parametrize("unit", ["ns", "us"])
def test_date_columns_and_indexes_are_written_as_timestamps_write_themselves(stamps, unit):
    days = pd.DatetimeIndex(pd.to_datetime(stamps, format="ISO8601")).as_unit(unit)
    frames = [
        pd.DataFrame({"day": days}),
        pd.DataFrame({"v": days}, index=days.rename("date")),  # a named index
        pd.DataFrame({"v": days}, index=days),  # unnamed: reset_index calls it "index"
        pd.DataFrame({"index": days, "w": days}, index=days),  # ... or "level_0"
        pd.DataFrame({"v": days}, index=pd.MultiIndex.from_arrays([days, days], names=["a", "b"])),
    ]
    for frame in frames:
        assert frame_to_records(frame) == _rows_one_at_a_time(frame)


def test_a_result_round_trips_through_its_stored_form():
    frame = pd.DataFrame(
        {"equity": [1.0, 1.1, 0.9]}, index=pd.bdate_range("2024-01-01", periods=3, name="date")
    )
    result = ActionResult(
        "summary",
        {"sharpe": 1.2, "when": pd.Timestamp("2024-01-01")},
        {"equity": frame},
        {"equity": Series.from_frame(frame, units={"equity": "start = 1"}, title="Equity")},
        units={"equity": {"equity": "start = 1"}},
    )
    stored = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert stored["series"]["equity"] == {
        "x_label": "date",
        "x": ["2024-01-01T00:00:00", "2024-01-02T00:00:00", "2024-01-03T00:00:00"],
        "y": {"equity": [1.0, 1.1, 0.9]},
        "title": "Equity",
        "units": {"equity": "start = 1"},
    }
    back = ActionResult.from_json(stored)
    assert back.to_json() == stored
    assert back.series["equity"].frame()["equity"].tolist() == [1.0, 1.1, 0.9]
    assert back.units == {"equity": {"equity": "start = 1"}}


def test_legacy_stored_figures_are_ignored_not_parsed():
    legacy = {
        "summary": "old",
        "values": {"price": 1.0},
        "tables": {},
        "figures": {"profile": "this is not even valid Plotly JSON"},
        "artifacts": {},
    }
    back = ActionResult.from_json(legacy)
    assert back.summary == "old" and back.series == {}
    assert "figures" not in back.to_json()
    with pytest.raises(TypeError):
        ActionResult("x", figures={})  # the field is gone


def test_series_check_their_shape_and_thin_evenly_keeping_the_ends():
    with pytest.raises(ValueError, match="labels"):
        Series(x=[1, 2], y={"v": [1, 2]}, labels=["a"])
    for length, most in ((10, 20), (10_001, 5000), (4001, 2000), (2001, 2000)):
        keep = downsample_positions(length, most)
        assert len(keep) <= most and keep[0] == 0 and keep[-1] == length - 1
        assert np.all(np.diff(keep) > 0)
    long = pd.Series(np.arange(4001.0), name="v")
    thinned = Series.from_frame(long, max_points=2000)
    assert thinned.points <= 2000 and thinned.total_points == 4001
    assert thinned.to_json()["total_points"] == 4001


def test_json_safe_turns_every_leaf_kind_into_plain_json():
    import math

    from engine.actions.base import json_safe

    class Label(str):  # a str subclass stays a str
        pass

    leaves = [1, "a", Label("b"), None, 1.5, math.nan, -math.inf, True, np.bool_(False)]
    leaves += [np.int64(3), np.float32(2.5), np.float64("nan"), pd.Timestamp("2020-01-02")]
    converted = json_safe({"leaves": leaves, 7: (1, np.arange(2)), "s": pd.Series([1.0])})
    assert converted == {
        "leaves": [
            1,
            "a",
            "b",
            None,
            1.5,
            None,
            None,
            True,
            False,
            3,
            2.5,
            None,
            "2020-01-02T00:00:00",
        ],
        "7": [1, [0, 1]],
        "s": {"0": 1.0},
    }
    assert [type(v) for v in converted["leaves"][7:10]] == [bool, bool, int]
