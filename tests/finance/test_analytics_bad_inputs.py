"""Bad inputs to the cross-asset analytics give a clear error, never a traceback or a
rounding-noise number presented as a result (attack regressions, session G)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionContext, ActionError, UserRef, get_action
from engine.finance import analytics


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    index = pd.bdate_range("2020-01-01", periods=300)
    return pd.DataFrame(
        {
            "AAA": 100 * np.cumprod(1 + rng.normal(0, 0.01, 300)),
            # grows 0.1 % every day: exactly constant returns, whose computed variance is
            # rounding noise rather than zero
            "GEO": 100 * 1.001 ** np.arange(300),
            "CCC": 100 * np.cumprod(1 + rng.normal(0, 0.01, 300)),
        },
        index=index,
    )


def test_a_benchmark_with_constant_returns_has_no_beta():
    prices = _frame()
    with pytest.raises(ActionError, match="benchmark's returns have no variation"):
        analytics.rolling_beta(prices["AAA"], prices["GEO"], 20)


def test_an_asset_with_constant_returns_has_no_correlation_to_report():
    prices = _frame()
    with pytest.raises(ActionError, match="GEO have no variation"):
        analytics.rolling_beta(prices["GEO"], prices["AAA"], 20)


def test_windows_where_the_benchmark_stops_moving_have_no_rolling_beta():
    prices = _frame()
    bench = prices["CCC"].copy()
    bench.iloc[200:] = bench.iloc[200]
    out = analytics.rolling_beta(prices["AAA"], bench, 20)
    flat_windows = out.rolling.index > bench.index[220]
    assert out.rolling.loc[flat_windows, "beta"].isna().all()
    assert out.rolling.loc[flat_windows, "correlation"].isna().all()


def test_constant_returns_are_not_correlated():
    with pytest.raises(ActionError, match="returns with no variation: GEO"):
        analytics.correlation_matrix(_frame())


@pytest.mark.parametrize("name", ["correlation_matrix", "risk_contributions"])
def test_one_symbol_named_twice_is_a_clear_error(name):
    action = get_action(name)
    params = action.params_model(symbols=["AAPL", "aapl"])
    with pytest.raises(ActionError, match="at least two different symbols"):
        action.run(params, ActionContext(user=UserRef.system()))
