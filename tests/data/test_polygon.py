"""Polygon client against a local server speaking the real aggregates JSON shape."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.actions import ActionError
from engine.data.loader import load_prices
from engine.data.polygon import PolygonClient
from tests.data.conftest import POLYGON_KEY, polygon_bar, polygon_payload

AAPL_PATH = "/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-05"


def _client(server, sleeps=None, **kwargs):
    return PolygonClient(
        POLYGON_KEY,
        server.url_for(""),
        sleep=(sleeps.append if sleeps is not None else None),
        **kwargs,
    )


def test_pagination_follows_next_url_with_api_key(fake_apis):
    server = fake_apis
    cursor_url = server.url_for("/v2/aggs/ticker/AAPL/range/1/day/1704171600000/2024-01-05")
    server.expect_ordered_request(
        AAPL_PATH,
        query_string={"adjusted": "true", "sort": "asc", "limit": "50000", "apiKey": POLYGON_KEY},
    ).respond_with_json(
        polygon_payload(
            "AAPL",
            [polygon_bar("2024-01-02", 185.6), polygon_bar("2024-01-03", 184.25)],
            next_url=cursor_url + "?cursor=bGltaXQ9MiZzb3J0PWFzYw",
        )
    )
    server.expect_ordered_request(
        "/v2/aggs/ticker/AAPL/range/1/day/1704171600000/2024-01-05",
        query_string={"cursor": "bGltaXQ9MiZzb3J0PWFzYw", "apiKey": POLYGON_KEY},
    ).respond_with_json(
        polygon_payload(
            "AAPL", [polygon_bar("2024-01-04", 181.91), polygon_bar("2024-01-05", 181.18)]
        )
    )
    frame, details = _client(server).daily_aggregates(
        "AAPL", pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-05").date()
    )
    server.check_assertions()
    assert details["pages"] == 2 and details["http_requests"] == 2
    assert list(frame.index) == list(
        pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])
    )
    assert frame.loc["2024-01-04", "close"] == pytest.approx(181.91)
    assert {"open", "high", "low", "close", "volume", "vwap", "transactions"} <= set(frame.columns)


def test_429_then_success_honours_retry_after(fake_apis):
    server = fake_apis
    server.expect_oneshot_request(AAPL_PATH).respond_with_json(
        {
            "status": "ERROR",
            "request_id": "x",
            "error": "You've exceeded the maximum requests per minute",
        },
        status=429,
        headers={"Retry-After": "7"},
    )
    server.expect_request(AAPL_PATH).respond_with_json(
        polygon_payload("AAPL", [polygon_bar("2024-01-02", 185.6)])
    )
    sleeps: list[float] = []
    frame, details = _client(server, sleeps).daily_aggregates(
        "AAPL", pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-05").date()
    )
    assert sleeps == [7.0]
    assert details["retries"] == 1 and len(frame) == 1


def test_429_retries_are_bounded(fake_apis):
    server = fake_apis
    server.expect_request(AAPL_PATH).respond_with_json({"status": "ERROR"}, status=429)
    sleeps: list[float] = []
    with pytest.raises(ActionError, match="rate limit"):
        _client(server, sleeps, max_retries=3).daily_aggregates(
            "AAPL", pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-05").date()
        )
    assert sleeps == [1.0, 2.0, 4.0]  # exponential backoff without Retry-After
    assert len(server.log) == 4


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"status": "ERROR", "request_id": "r", "error": "Unknown API Key"},
            "rejected the API key",
        ),
        (
            403,
            {
                "status": "NOT_AUTHORIZED",
                "request_id": "r",
                "message": "You are not entitled to this data.",
            },
            "refused access",
        ),
        (404, {"status": "NOT_FOUND", "message": "Not found"}, "not found"),
    ],
)
def test_http_errors_have_clear_messages(fake_apis, status, body, expected):
    fake_apis.expect_request(AAPL_PATH).respond_with_json(body, status=status)
    with pytest.raises(ActionError, match=expected) as error:
        _client(fake_apis).daily_aggregates(
            "AAPL", pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-05").date()
        )
    assert POLYGON_KEY not in str(error.value)


@pytest.mark.parametrize(
    "payload",
    [
        {
            "ticker": "ZZZZQ",
            "queryCount": 0,
            "resultsCount": 0,
            "adjusted": True,
            "status": "OK",
            "request_id": "r",
            "count": 0,
        },
        {"ticker": "ZZZZQ", "status": "NOT_FOUND", "request_id": "r", "resultsCount": 0},
        {
            "ticker": "ZZZZQ",
            "queryCount": 0,
            "resultsCount": 0,
            "results": [],
            "status": "OK",
            "request_id": "r",
        },
    ],
)
def test_unknown_ticker(fake_apis, payload):
    fake_apis.expect_request(
        "/v2/aggs/ticker/ZZZZQ/range/1/day/2024-01-02/2024-01-05"
    ).respond_with_json(payload)
    with pytest.raises(ActionError, match="no daily bars for 'ZZZZQ'"):
        _client(fake_apis).daily_aggregates(
            "zzzzq", pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-05").date()
        )


def test_missing_key_says_how_to_set_it(data_dir):
    with pytest.raises(ActionError) as error:
        load_prices(["AAPL"], source="polygon")
    message = str(error.value)
    assert "POLYGON_API_KEY" in message and ".streamlit/secrets.toml" in message


def test_cache_hit_makes_no_second_request(fake_apis):
    from storage.cache import reset_cache

    server = fake_apis
    server.expect_request(AAPL_PATH).respond_with_json(
        polygon_payload(
            "AAPL", [polygon_bar("2024-01-02", 185.6), polygon_bar("2024-01-03", 184.25)]
        )
    )
    first = load_prices(["AAPL"], "polygon", "2024-01-02", "2024-01-05", field="ohlcv")
    assert len(server.log) == 1
    second = load_prices(["AAPL"], "polygon", "2024-01-02", "2024-01-05", field="ohlcv")
    assert len(server.log) == 1
    assert second.fingerprint == first.fingerprint
    assert second.provenance["details"]["per_symbol"]["AAPL"]["cache"] == "memory"
    reset_cache()  # a restart: the persistent Parquet copy still answers
    third = load_prices(["AAPL"], "polygon", "2024-01-02", "2024-01-05", field="close")
    assert len(server.log) == 1
    assert third.provenance["details"]["per_symbol"]["AAPL"]["cache"] == "disk"
    assert first.provenance["source"] == "polygon" and first.provenance["rows"] == 2
    load_prices(["AAPL"], "polygon", "2024-01-02", "2024-01-05", refresh=True)
    assert len(server.log) == 2


def test_expired_ttl_fetches_again(fake_apis, monkeypatch):
    monkeypatch.setenv("MLTRAINER_DATA_CACHE_TTL", "0")
    fake_apis.expect_request(AAPL_PATH).respond_with_json(
        polygon_payload("AAPL", [polygon_bar("2024-01-02", 185.6)])
    )
    load_prices(["AAPL"], "polygon", "2024-01-02", "2024-01-05")
    load_prices(["AAPL"], "polygon", "2024-01-02", "2024-01-05")
    assert len(fake_apis.log) == 2


def test_server_errors_are_retried_then_reported(fake_apis):
    fake_apis.expect_oneshot_request(AAPL_PATH).respond_with_data("busy", status=503)
    fake_apis.expect_request(AAPL_PATH).respond_with_json(
        polygon_payload("AAPL", [polygon_bar("2024-01-02", 185.6)])
    )
    sleeps: list[float] = []
    frame, _ = _client(fake_apis, sleeps).daily_aggregates(
        "AAPL", pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-05").date()
    )
    assert sleeps == [1.0] and len(frame) == 1


def test_unreachable_server_is_a_clear_error(data_dir):
    client = PolygonClient(POLYGON_KEY, "http://127.0.0.1:9", timeout=2)
    with pytest.raises(ActionError, match="Could not reach Polygon at 127.0.0.1") as error:
        client.daily_aggregates(
            "AAPL", pd.Timestamp("2024-01-02").date(), pd.Timestamp("2024-01-05").date()
        )
    assert POLYGON_KEY not in str(error.value)
