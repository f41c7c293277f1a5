"""Nothing an analyst states is dropped silently (issue 21): every number, ticker or
constraint of a request is used in the planned call or named as not understood. The
planner tracks which words each extraction used; what is left over is reported."""

from __future__ import annotations

import pytest

from engine.llm import extract
from engine.llm.planner import plan


def test_an_unsupported_constraint_is_named_not_dropped():
    planned = plan("optimise a portfolio of AAPL and MSFT with a turnover limit of 20%")
    assert planned.calls and "weight_bounds" not in planned.calls[0].params
    named = " ".join(planned.not_understood)
    assert "'turnover'" in named and "'20%'" in named
    assert "Not understood" in planned.message and "20%" in planned.message


def test_a_value_an_extraction_misses_is_reported_whichever_it_is(monkeypatch):
    """Structural, not per phrase: break the cost extraction and the cost is named."""
    request = "backtest a MA crossover on AAPL with 5bp costs"
    assert plan(request).calls[0].params["cost_bps"] == 5.0
    assert not plan(request).not_understood
    monkeypatch.setattr(extract, "extract_bps", lambda text, keywords=(): None)
    planned = plan(request)
    assert "cost_bps" not in planned.calls[0].params
    assert any("5bp" in part for part in planned.not_understood), planned.message


def test_a_constraint_the_optimiser_takes_is_used():
    planned = plan("max sharpe portfolio of AAPL, MSFT and KO, no stock above 40%")
    assert planned.calls[0].params["weight_bounds"] == [0.0, 0.4]
    assert not planned.not_understood


def test_a_cap_on_something_else_is_not_applied_to_each_weight():
    planned = plan("max sharpe on AAPL MSFT KO with a sector cap of 30%")
    assert "weight_bounds" not in planned.calls[0].params
    assert any("sector" in part for part in planned.not_understood)


@pytest.mark.parametrize(
    "request_text",
    [
        "price an asian option on a 100 stock, 1y, 20% vol",
        "backtest a pairs trade on KO and PEP",
        "price a digital call, spot 100 strike 100, 1y, 20% vol",
    ],
)
def test_what_no_action_computes_is_refused_not_answered_with_something_else(request_text):
    planned = plan(request_text)
    assert not planned.calls and planned.not_understood
    assert "Not understood" in planned.message


@pytest.mark.parametrize(
    ("request_text", "symbols"),
    [
        ("backtest a MA crossover on AAPL with 5bp costs", ["AAPL"]),
        ("99% VaR 10 day for JPM", ["JPM"]),
        ("price an ATM call on a 100 stock, 6 months, 25% vol", []),
        ("5-fold CV of a random forest on KO", ["KO"]),
        ("IV of the AAPL ATM call", ["AAPL"]),
    ],
)
def test_finance_words_are_not_tickers(request_text, symbols):
    found = [s for s in extract.extract_symbols(request_text) if not s.startswith("MACRO:")]
    assert found == symbols


def test_tracked_search_does_not_read_a_used_number_twice():
    text = "backtest with 5 bps costs over 20 days"
    with extract.tracking(text) as tracker:
        assert extract.extract_bps(text) == 5.0
        window = extract.search(r"(\d+)\s*(?:bps|days)", text)
    assert window is not None and window.group(1) == "20"
    assert tracker.used(text.index("5 bps"), text.index("5 bps") + 5)


@pytest.mark.parametrize(
    ("typed", "repaired"),
    [
        ("pirce an europen call", "price an european call"),
        ("optimse a protfolio", "optimise a portfolio"),
        ("backtset with slipage", "backtest with slippage"),
        # right as written: inflections and ordinary words are left alone
        ("trading shares over the trial", "trading shares over the trial"),
        ("shorting and rebalancing with leverage", "shorting and rebalancing with leverage"),
    ],
)
def test_typos_are_repaired_and_correct_words_are_left(typed, repaired):
    assert extract.repair_typos(typed) == repaired


def test_a_typo_ridden_request_is_still_planned():
    planned = plan("pirce an europen call, spot 100 strike 110, 1 year, vol 20%")
    assert planned.calls[0].action == "price_option"
    assert planned.calls[0].params["strike"] == 110.0


def test_a_miss_is_short_and_says_what_it_understood():
    planned = plan("write the quarterly letter about AAPL and MSFT for 2019")
    assert not planned.calls
    assert "AAPL" in planned.message and planned.message.count("\n- ") <= 3
    assert len(planned.message.splitlines()) <= 7


def test_a_polygon_request_without_a_key_says_the_key_is_missing(monkeypatch):
    from engine.data import polygon

    monkeypatch.setattr(polygon, "configured_key", lambda: None)
    planned = plan("get me AAPL from polygon since 2023-01-01")
    assert planned.message.startswith("The Polygon API key is missing")
    assert "POLYGON_API_KEY" in planned.message
    monkeypatch.setattr(polygon, "configured_key", lambda: "k")
    assert "missing" not in plan("get me AAPL from polygon since 2023-01-01").message


def test_relative_periods_count_back_from_the_data():
    planned = plan("compare the risk of AAPL and MSFT over the last 3 years")
    assert [c.params["symbols"] for c in planned.calls] == [["AAPL"], ["MSFT"]]
    from engine.data.bundled import catalog

    end = catalog()["AAPL"].end
    for call in planned.calls:
        assert call.params["end"] == end
        assert int(call.params["start"][:4]) == int(end[:4]) - 3


@pytest.mark.parametrize(
    ("request_text", "dates"),
    [
        ("train xgboost on AAPL direction with seed 2020", (None, None)),
        ("stochastics on SPX 2017", ("2017-01-01", "2017-12-31")),
        ("load JPM 2007 to 2009", ("2007-01-01", "2009-12-31")),
        ("draw the efficient frontier for KO PEP WMT PG 2010-2020", ("2010-01-01", "2020-12-31")),
    ],
)
def test_a_year_is_a_date_only_where_it_is_one(request_text, dates):
    params = plan(request_text).calls[0].params
    assert (params.get("start"), params.get("end")) == dates
