"""Results read like a quant's: numbers formatted by the units the results carry, no
bookkeeping tiles, and the charts of the new actions, RSI bands, macro axes and the
paired model comparison drawn from real results' data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionContext, ActionResult, UserRef, get_action
from ui.presenters import figures_for
from ui.presenters.ml import mean_interval, paired_differences
from ui.results import (
    display_table,
    format_date,
    format_value,
    headline,
    period_line,
    readable,
    value_label,
)


def run(name: str, **params) -> ActionResult:
    action = get_action(name)
    result = action.run(action.params_model(**params), ActionContext(user=UserRef.system()))
    return ActionResult.from_json(json.loads(json.dumps(result.to_json(), allow_nan=False)))


# ----------------------------------------------------------------------------- formatting


def test_values_are_formatted_by_their_unit():
    assert format_value(6.4933, "fraction") == "649.33 %"
    assert format_value(-0.793, "fraction") == "-79.30 %"
    assert format_value(0.1419, "fraction a year") == "14.19 %"
    assert format_value(0.5850080223, "ratio") == "0.59"
    assert format_value(204.0, "count") == "204"
    assert format_value(12345, "days") == "12,345"
    assert format_value("2019-01-02T00:00:00", "date") == "2019-01-02"
    assert format_value(pd.Timestamp("2019-01-02")) == "2019-01-02"
    assert format_value(float("nan"), "fraction") == "n/a"
    assert format_value(None, "ratio") == "n/a"
    assert format_value(0.38666, "per vol point") == "0.3867"
    assert format_value(12345, "id") == "12345"
    assert format_date("2019-01-02 15:30:00") == "2019-01-02 15:30"


def test_labels_name_units_that_the_number_does_not_say():
    assert value_label("vega", "per vol point") == "vega (per vol point)"
    assert value_label("theta", "per calendar day") == "theta (per calendar day)"
    assert value_label("cagr", "fraction a year") == "cagr (annual)"
    assert value_label("total_return", "fraction") == "total return"
    assert value_label("sharpe", "ratio") == "sharpe"


def test_backtest_headline_reads_percentages_and_dates_without_times():
    result = run("backtest_strategy", symbols=["AAPL"], start="2005-01-01", end="2015-12-31")
    tiles = headline(result)
    assert list(tiles)[:5] == ["total_return", "cagr", "volatility", "sharpe", "sortino"]
    value, unit = tiles["total_return"]
    expected = f"{result.values['total_return'] * 100:,.2f} %"
    assert format_value(value, unit) == expected
    line = period_line(result)
    first = str(result.values["start"])[:10]
    assert f"start {first}" in line and "T00:00" not in line and "00:00:00" not in line
    shown = readable(result.values)
    assert shown["start"] == first


def test_option_tiles_have_no_count_or_seed_and_quote_desk_greeks():
    result = run("price_option", spot=100, strike=100, maturity_years=1, volatility=0.2)
    tiles = headline(result)
    assert {"price", "delta", "gamma", "vega", "theta", "rho"} == set(tiles)
    assert "count" not in tiles and "seed" not in tiles
    mc = run(
        "price_option",
        spot=100,
        strike=100,
        maturity_years=1,
        volatility=0.2,
        method="monte_carlo",
        paths=2000,
        seed=0,
    )
    assert not {"count", "seed", "paths"} & set(headline(mc))


def test_results_without_units_keep_their_numbers_but_not_bookkeeping():
    result = ActionResult(
        summary="x", values={"accuracy": 0.61, "count": 1, "seed": 0, "best_trial_id": 9}
    )
    assert list(headline(result)) == ["accuracy"]


def test_tables_show_dates_without_times_and_fractions_as_percentages():
    frame = pd.DataFrame(
        {"equity": [1.0, 1.1], "drawdown": [0.0, -0.05], "trades": [1, 2]},
        index=pd.DatetimeIndex(["2020-01-02", "2020-01-03"], name="date"),
    )
    shown, config = display_table(frame, {"drawdown": "fraction", "trades": "count"})
    assert [str(d) for d in shown["date"]] == ["2020-01-02", "2020-01-03"]
    assert config["drawdown"]["type_config"]["format"] == "percent"
    assert shown["drawdown"].tolist() == [0.0, -0.05]  # the data itself is unchanged
    stored = pd.DataFrame({"date": ["2020-01-02T00:00:00", "2020-01-03T00:00:00"]})
    shown, _ = display_table(stored, {})
    assert [str(d) for d in shown["date"]] == ["2020-01-02", "2020-01-03"]


# ----------------------------------------------------------------------------- charts


def test_rsi_panel_has_30_70_bands_and_the_current_value():
    result = run(
        "compute_indicators", symbols=["AAPL"], start="2020-01-01", indicators=["rsi", "sma"]
    )
    chart = figures_for("compute_indicators", result)["indicators"]
    rsi_axis = next(t.yaxis for t in chart.data if t.name.startswith("rsi_"))
    ref = "y" + rsi_axis[1:]
    levels = sorted(
        shape.y0 for shape in chart.layout.shapes if shape.type == "line" and shape.yref == ref
    )
    assert levels == [30.0, 70.0]
    latest = result.values["latest"]["AAPL"]["rsi_14"]
    notes = [a.text for a in chart.layout.annotations]
    assert f"rsi_14 now {latest:.1f}" in notes
    layout_axis = chart.layout["yaxis" + rsi_axis[1:]]
    assert tuple(layout_axis.range) == (0, 100)
    assert "index 0-100" in layout_axis.title.text


def test_macro_series_get_their_own_axes_with_units():
    result = run("load_prices", symbols=["MACRO:cpi", "MACRO:unemp"], start="1990-01-01")
    chart = figures_for("load_prices", result)["prices"]
    axes = {trace.name: trace.yaxis for trace in chart.data}
    assert axes["MACRO:cpi"] != axes["MACRO:unemp"]
    titles = {
        chart.layout["yaxis" + axes[name][1:]].title.text for name in ("MACRO:cpi", "MACRO:unemp")
    }
    assert titles == {"index, 1982-84 = 100", "percent of the labour force"}


def test_new_finance_actions_are_drawn():
    corr = run("correlation_matrix", symbols=["AAPL", "MSFT", "XOM"])
    heat = figures_for("correlation_matrix", corr)["correlation"].data[0]
    np.testing.assert_allclose(
        np.asarray(heat.z), corr.tables["correlation"][["AAPL", "MSFT", "XOM"]].to_numpy()
    )
    assert (heat.zmin, heat.zmax) == (-1, 1)
    beta = run("rolling_beta", symbols=["MSFT"], start="2010-01-01")
    chart = figures_for("rolling_beta", beta)["rolling_beta"]
    assert [t.name for t in chart.data] == ["MSFT"]
    assert any(s.y0 == 1 for s in chart.layout.shapes)
    assert any(s.y0 == pytest.approx(beta.values["beta"]) for s in chart.layout.shapes)
    contributions = run("risk_contributions", symbols=["AAPL", "MSFT", "XOM"])
    bars = figures_for("risk_contributions", contributions)["contributions"].data
    shares = dict(zip(bars[1].y, bars[1].x, strict=True))
    assert sum(shares.values()) == pytest.approx(1.0)
    walk = run("backtest_portfolio", symbols=["AAPL", "MSFT"], start="2012-01-01", end="2015-12-31")
    drawn = figures_for("backtest_portfolio", walk)
    assert {t.name for t in drawn["equity"].data} == {"optimised", "equal weight", "drawdown"}
    assert {t.name for t in drawn["weights"].data} == {"AAPL", "MSFT"}


def comparison_result() -> ActionResult:
    """A compare_models result with per-fold scores: B is best; A trails it by 0.01 on
    every fold, C by 0.02..0.06."""
    folds = [f"fold_{i}" for i in range(5)]
    base = np.array([0.55, 0.57, 0.52, 0.60, 0.58])
    scores = {"B": base, "A": base - 0.01, "C": base - np.array([0.02, 0.03, 0.04, 0.05, 0.06])}
    rows = [
        {"model": m, "model_id": m, "split": f, "balanced_accuracy": float(v)}
        for m, values in scores.items()
        for f, v in zip(folds, values, strict=True)
    ]
    rows.append({"model": "B", "model_id": "B", "split": "holdout", "balanced_accuracy": 0.9})
    board = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "model": ["B", "A", "C"],
            "status": ["succeeded"] * 3,
            "balanced_accuracy": [s.mean() for s in scores.values()],
            "balanced_accuracy_std": [s.std(ddof=1) for s in scores.values()],
        }
    )
    return ActionResult(
        summary="compared",
        values={
            "metric_name": "balanced_accuracy",
            "best_model_name": "B",
            "greater_is_better": True,
            "evaluation": "walk_forward",
            "n_folds": 5,
            "symbol": "SPX",
            "period_start": "2010-01-04T00:00:00",
            "period_end": "2018-12-31T00:00:00",
        },
        tables={"leaderboard": board, "fold_scores": pd.DataFrame(rows)},
    )


def test_comparison_shows_paired_differences_to_the_best_with_intervals():
    result = comparison_result()
    diffs = paired_differences(result.tables["fold_scores"], "balanced_accuracy", "B")
    a = diffs[diffs["model"] == "A"]["difference"].to_numpy()
    np.testing.assert_allclose(a, -0.01)  # the hold-out is not a fold
    chart = figures_for("compare_models", result)["leaderboard"]
    means = next(t for t in chart.data if t.name.startswith("mean difference"))
    assert list(means.y) == ["A", "C"]
    assert means.x[0] == pytest.approx(-0.01)
    assert means.x[1] == pytest.approx(-0.04)
    c = np.array([-0.02, -0.03, -0.04, -0.05, -0.06])
    half = 2.7764451051977987 * c.std(ddof=1) / np.sqrt(5)  # t(0.975, 4)
    assert means.error_x.array[1] == pytest.approx(half)
    assert mean_interval(c)[1] == pytest.approx(half)
    assert (
        "SPX" in chart.layout.title.text and "2010-01-04 to 2018-12-31" in chart.layout.title.text
    )
    # no bars from zero: the axis is the differences', zoomed on them
    assert all(trace.type == "scatter" for trace in chart.data)


def test_comparison_without_fold_scores_still_avoids_bars_from_zero():
    result = comparison_result()
    del result.tables["fold_scores"]
    chart = figures_for("compare_models", result)["leaderboard"]
    assert [t.type for t in chart.data] == ["scatter"]
    assert list(chart.data[0].y) == ["B", "A", "C"]


def test_live_progress_keeps_the_metric_on_its_own_axis_and_the_fold_counter_apart():
    from ui.jobs import progress_figure

    points = [
        {"elapsed_s": 1.0 + i, "fraction": i / 5, "fold": i, "balanced_accuracy": 0.5 + i / 100}
        for i in range(5)
    ]
    chart = progress_figure(points)
    traces = {trace.name: trace for trace in chart.data}
    assert traces["balanced_accuracy"].yaxis in (None, "y")
    assert traces["fold"].yaxis == "y2"
    assert chart.layout.yaxis.title.text == "balanced_accuracy"
    assert chart.layout.yaxis2.overlaying == "y" and chart.layout.yaxis2.side == "right"
    np.testing.assert_allclose(traces["balanced_accuracy"].y, [0.5, 0.51, 0.52, 0.53, 0.54])
    # a single point already shows (markers), as the first fold finishes
    first = progress_figure(points[:1])
    assert "markers" in first.data[0].mode


def test_weights_are_typed_as_symbol_and_percent_pairs():
    from ui.forms import parse_weights

    assert parse_weights("AAPL 40%, MSFT 0.6") == {"AAPL": 0.4, "MSFT": 0.6}
    assert parse_weights("aapl=0.5; ^GSPC: 50%") == {"AAPL": 0.5, "^GSPC": 0.5}
    assert parse_weights("MACRO:cpi 0.5, xom 50") == {"MACRO:cpi": 0.5, "XOM": 50.0}
    assert parse_weights("  ") is None
    assert parse_weights('{"AAPL": 1}') == '{"AAPL": 1}'  # the action says what is wrong


def test_risk_report_headline_has_its_var_at_the_horizon():
    result = run("risk_report", symbols=["JPM"], horizon_days=10, confidence=0.99, garch=False)
    tiles = headline(result)
    value, unit = tiles["historical_var"]
    assert value == result.values["var"]["historical"]["var"]
    assert unit == "fraction of value lost over 10 days"
    assert format_value(value, unit) == f"{value * 100:,.2f} %"
    assert value_label("historical_var", unit) == "historical var (of value lost over 10 days)"
