"""The data actions through the registry, as chat, pages and the CLI call them."""

from __future__ import annotations

import json

import pytest

from engine.actions import ActionError, PermissionDenied, UserRef, call, get_action
from ui.presenters import figures_for

VIEWER = UserRef(None, "viewer", "viewer")


@pytest.fixture
def user(isolated_db):
    return UserRef.system()


def test_registered_as_quick_io_bound_data_actions():
    for name in (
        "list_datasets",
        "load_prices",
        "fetch_fred_series",
        "describe_dataset",
        "generate_synthetic_prices",
    ):
        action = get_action(name)
        assert action.category == "data" and not action.long and not action.cpu_bound
        assert len(action.description) > 100


def test_list_datasets_reports_sources_ranges_and_keys(user):
    outcome = call("list_datasets", {}, user)
    assert outcome.status == "succeeded", outcome.error
    result = outcome.result
    assert "1990-01-02 to 2022-12-28" in result.summary
    assert "Polygon key not set" in result.summary and "FRED key not set" in result.summary
    symbols = result.tables["symbols"]
    assert {"AAPL", "SPX", "MACRO:realgdp"} <= set(symbols["symbol"])
    assert result.values["keys"]["polygon"]["configured"] is False
    json.dumps(outcome.to_json())


def test_load_prices_returns_table_provenance_dataset_and_candles(user):
    outcome = call(
        "load_prices", {"symbols": ["SPX"], "field": "ohlcv", "start": "2018-06-01"}, user
    )
    assert outcome.status == "succeeded", outcome.error
    result = outcome.result
    assert "SPX/close" in result.tables["prices"].columns
    provenance = result.values["provenance"]
    assert provenance["source"] == "bundled" and provenance["start"] == "2018-06-01"
    dataset_id = result.values["dataset_id"]
    assert isinstance(dataset_id, int)
    prices = result.series["prices"]
    assert list(prices.y) == [
        f"SPX/{field}" for field in ("open", "high", "low", "close", "volume")
    ]
    assert prices.x[0].startswith("2018-06-01") and prices.units["SPX/volume"] == "volume"
    types = [trace.type for trace in figures_for("load_prices", result)["prices"].data]
    assert types[0] == "candlestick" and "bar" in types
    again = call("load_prices", {"symbols": ["SPX"], "field": "ohlcv", "start": "2018-06-01"}, user)
    assert again.result.values["dataset_id"] == dataset_id  # deduplicated by fingerprint
    lines = call("load_prices", {"symbols": ["AAPL", "KO"], "end": "2000-01-01"}, user)
    drawn = figures_for("load_prices", lines.result)["prices"]
    assert {trace.type for trace in drawn.data} == {"scatter"}


def test_unknown_symbol_fails_with_suggestion(user):
    outcome = call("load_prices", {"symbols": ["MSTF"]}, user)
    assert outcome.status == "failed" and "did you mean MSFT" in outcome.error


def test_describe_dataset_by_id_and_by_symbols(user):
    loaded = call("load_prices", {"symbols": ["KO", "PEP"], "start": "2008-01-01"}, user)
    dataset_id = loaded.result.values["dataset_id"]
    described = call("describe_dataset", {"dataset_id": dataset_id}, user)
    assert described.status == "succeeded", described.error
    summary = described.result.tables["summary"]
    assert set(summary["column"]) == {"KO", "PEP"}
    assert {"annual_volatility_pct", "max_drawdown_pct", "missing"} <= set(summary.columns)
    coverage = described.result.values["coverage"]
    assert coverage["frequency"] == "daily" and coverage["end"] == "2022-12-28"
    by_symbols = call("describe_dataset", {"symbols": ["MACRO:unemp"]}, user)
    assert by_symbols.result.values["coverage"]["frequency"] == "quarterly"
    with pytest.raises(ActionError, match="dataset_id or symbols"):
        call("describe_dataset", {}, user)


def test_synthetic_is_labelled_and_reproducible(user):
    params = {"symbols": ["SYN", "ALT"], "days": 300, "seed": 7}
    first = call("generate_synthetic_prices", params, user)
    assert first.status == "succeeded", first.error
    assert first.result.summary.startswith("SYNTHETIC")
    provenance = first.result.values["provenance"]
    assert provenance["synthetic"] is True and provenance["rows"] == 300
    assert first.result.series["prices"].title.startswith("SYNTHETIC")
    assert (
        "SYNTHETIC"
        in figures_for("generate_synthetic_prices", first.result)["prices"].layout.title.text
    )
    second = call("generate_synthetic_prices", params, user)
    assert second.result.values["provenance"]["fingerprint"] == provenance["fingerprint"]
    other = call("generate_synthetic_prices", dict(params, seed=8), user)
    assert other.result.values["provenance"]["fingerprint"] != provenance["fingerprint"]
    from storage.repositories.datasets import get_dataset

    assert get_dataset(first.result.values["dataset_id"]).is_synthetic
    from engine.data.loader import load_prices

    frame = load_prices(["SYN"], "synthetic", start="2020-01-01", end="2020-12-31").frame
    assert len(frame) == 262 and (frame["SYN"] > 0).all()


def test_viewer_lists_data_but_does_not_load_or_record_it(isolated_db):
    outcome = call("list_datasets", {}, VIEWER)
    assert outcome.status == "succeeded", outcome.error
    # loading records a dataset (and a remote source spends quota): analysts only
    with pytest.raises(PermissionDenied, match="needs analyst"):
        call("load_prices", {"symbols": ["AAPL"], "start": "2022-12-01"}, VIEWER)


def test_fred_action_against_fake_server(fake_apis, isolated_db):
    from tests.data.conftest import fred_payload

    fake_apis.expect_request("/fred/series/observations").respond_with_json(
        fred_payload([("2024-01-01", "."), ("2024-01-02", "3.95"), ("2024-01-03", "3.91")])
    )
    outcome = call("fetch_fred_series", {"series_id": "DGS10"}, UserRef.system())
    assert outcome.status == "succeeded", outcome.error
    assert "1 missing value" in outcome.result.summary
    assert outcome.result.values["provenance"]["rows"] == 2
    assert len(outcome.result.tables["observations"]) == 3
    cached = call("fetch_fred_series", {"series_id": "DGS10"}, UserRef.system())
    assert cached.result.values["cache_hit"] is True and len(fake_apis.log) == 1
