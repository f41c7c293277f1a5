"""Reproduction reads the tables of stored results in both forms: row objects (results
stored before) and column by column (how the executor stores them now)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.actions import ActionResult
from engine.reproduce.observe import of_result


def test_observation_of_a_table_is_the_same_in_either_stored_form():
    frame = pd.DataFrame(
        {
            "date": pd.date_range("2020-01-01", periods=5),
            "equity": [1.0, 1.01, np.nan, 1.03, 1.05],
            "trades": [0, 1, 1, 2, 3],
            "note": ["a", None, "c", "d", "e"],
        }
    ).set_index("date")
    result = ActionResult("backtest", values={"sharpe": 0.7}, tables={"equity": frame})
    by_rows = of_result(result.to_json(), {})
    by_columns = of_result(result.to_json(columnar=True), {})
    assert by_columns.metrics == by_rows.metrics
    assert by_columns.digests == by_rows.digests
    assert set(by_columns.digests) == {"equity.equity", "equity.trades"}
    assert by_columns.metrics["equity.equity (last)"] == 1.05
