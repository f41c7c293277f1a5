"""Results are data: the job row of every finance and data action holds summary, values,
tables, series and units, never Plotly JSON, and reads back into the same result; one
priced option is stored in under 2 KB."""

from __future__ import annotations

import json

import pytest

from engine.actions import ActionResult, UserRef, call
from engine.actions.registry import load_catalog
from storage.repositories import jobs
from tests.data.conftest import fred_payload

STORED_KEYS = {"summary", "values", "tables", "series", "units", "artifacts", "value_units"}
# What Plotly JSON is made of: a figure ({"data", "layout"}), traces ({"type": "scatter",
# ...}), templates, and the library's own name.
PLOTLY_TRACE_TYPES = {"scatter", "scattergl", "bar", "candlestick", "heatmap", "histogram"}

CASES = {
    "price_option": {"spot": 100, "strike": 105, "maturity_years": 0.5, "volatility": 0.2},
    "implied_volatility": {"price": 6.5, "spot": 100, "strike": 100, "maturity_years": 0.5},
    "optimize_portfolio": {"symbols": ["AAPL", "KO", "XOM"], "start": "2015-01-01"},
    "efficient_frontier": {"symbols": ["AAPL", "KO", "XOM"], "start": "2015-01-01"},
    "risk_report": {"symbols": ["AAPL"], "benchmark": "SPX", "mc_paths": 2000},
    "compute_indicators": {"symbols": ["SPX"], "start": "2010-01-01"},
    "backtest_strategy": {"symbols": ["AAPL", "KO"], "strategy": "sma_crossover"},
    "correlation_matrix": {"symbols": ["AAPL", "KO", "XOM"]},
    "rolling_beta": {"symbols": ["AAPL"], "benchmark": "SPX"},
    "risk_contributions": {"symbols": ["AAPL", "KO"], "weights": {"AAPL": 0.6, "KO": 0.4}},
    "backtest_portfolio": {"symbols": ["AAPL", "KO"], "start": "2012-01-01", "end": "2016-12-31"},
    "list_datasets": {},
    "load_prices": {"symbols": ["SPX"], "field": "ohlcv"},
    "fetch_fred_series": {"series_id": "DGS10"},
    "describe_dataset": {"symbols": ["KO", "PEP"]},
    "generate_synthetic_prices": {"symbols": ["SYN"], "days": 5000, "seed": 3},
}


def plotly_traces(node, path="result") -> list[str]:
    """Where in a stored result something looks like Plotly JSON."""
    found = []
    if isinstance(node, dict):
        keys = set(node)
        if {"data", "layout"} <= keys or "figures" in keys or "template" in keys:
            found.append(path)
        if node.get("type") in PLOTLY_TRACE_TYPES and ({"x", "y"} & keys):
            found.append(path)
        for key, value in node.items():
            found += plotly_traces(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node[:50]):
            found += plotly_traces(value, f"{path}[{index}]")
    elif isinstance(node, str) and "plotly" in node.lower():
        found.append(path)
    return found


def test_the_cases_cover_every_finance_and_data_action():
    catalog = load_catalog()
    expected = {name for name, a in catalog.items() if a.category in ("finance", "data")}
    assert set(CASES) == expected


@pytest.fixture
def fred(fake_apis):
    fake_apis.expect_request("/fred/series/observations").respond_with_json(
        fred_payload([("2024-01-01", "."), ("2024-01-02", "3.95"), ("2024-01-03", "3.91")])
    )
    return fake_apis


@pytest.mark.parametrize("name", sorted(CASES))
def test_stored_results_hold_data_and_never_plotly_json(name, fred, isolated_db):
    outcome = call(name, CASES[name], UserRef.system())
    assert outcome.status == "succeeded", outcome.error
    stored = jobs.get_job(outcome.job_id).result
    assert set(stored) <= STORED_KEYS and {"summary", "values", "tables"} <= set(stored)
    assert plotly_traces(stored) == []
    text = json.dumps(stored)
    assert '"layout"' not in text and "plotly" not in text.lower()
    for table, units in stored.get("units", {}).items():  # units name real columns
        columns = stored["tables"][table]
        assert columns["data"] and set(units) <= set(columns["columns"]), table
    assert set(stored.get("value_units", {})) <= set(stored["values"])  # and real values
    back = ActionResult.from_json(stored)
    assert back.to_json(columnar=True) == stored  # reads back to the same data
    assert back.to_json() == outcome.result.to_json()  # and the same tables, row by row
    assert set(back.series) == set(outcome.result.series)
    for key, series in outcome.result.series.items():
        assert back.series[key].y == series.y and back.series[key].x == series.x
        assert series.points <= 5000  # long histories are downsampled


def test_a_single_priced_option_is_stored_in_under_2_kb(isolated_db):
    outcome = call("price_option", CASES["price_option"], UserRef.system())
    stored = jobs.get_job(outcome.job_id).result
    size = len(json.dumps(stored, separators=(",", ":")).encode())
    assert size < 2048, size
    # ... and it still says everything the old profile chart was drawn from
    assert stored["values"]["option"] == {
        "spot": 100.0,
        "strike": 105.0,
        "maturity_years": 0.5,
        "rate": 0.0,
        "volatility": 0.2,
        "dividend_yield": 0.0,
        "option_type": "call",
    }


def test_the_detector_finds_a_stored_plotly_figure():
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    assert plotly_traces({"figures": {"chart": figure.to_json()}})
    assert plotly_traces({"values": {"chart": json.loads(figure.to_json())}})
    assert plotly_traces({"tables": {"t": [{"type": "scatter", "x": [1], "y": [2]}]}})
