"""FRED client against a local server speaking the real observations JSON shape."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from engine.actions import ActionError
from engine.data.fred import FredClient
from engine.data.loader import load_prices
from tests.data.conftest import FRED_KEY, fred_payload

PATH = "/fred/series/observations"


def _client(server, sleeps=None):
    return FredClient(
        FRED_KEY, server.url_for(""), sleep=sleeps.append if sleeps is not None else None
    )


def test_missing_values_become_nan(fake_apis):
    fake_apis.expect_request(
        PATH,
        query_string={
            "series_id": "DGS10",
            "api_key": FRED_KEY,
            "file_type": "json",
            "observation_start": "2024-01-01",
            "observation_end": "2024-01-05",
        },
    ).respond_with_json(
        fred_payload([("2024-01-01", "."), ("2024-01-02", "3.95"), ("2024-01-03", "3.91")])
    )
    frame, details = _client(fake_apis).observations("dgs10", "2024-01-01", "2024-01-05")
    assert math.isnan(frame["value"].iloc[0])
    assert frame["value"].iloc[1:].tolist() == [3.95, 3.91]
    assert details["units"] == "lin" and details["missing_values"] == 1
    assert frame.index[0] == pd.Timestamp("2024-01-01")


def test_realtime_and_vintage_parameters_pass_through(fake_apis):
    fake_apis.expect_request(
        PATH,
        query_string={
            "series_id": "GDP",
            "api_key": FRED_KEY,
            "file_type": "json",
            "realtime_start": "2020-01-01",
            "realtime_end": "2021-01-01",
            "units": "pch",
        },
    ).respond_with_json(fred_payload([("2019-10-01", "0.6")]))
    _client(fake_apis).observations(
        "GDP", realtime_start="2020-01-01", realtime_end="2021-01-01", units="pch"
    )
    fake_apis.expect_request(
        PATH,
        query_string={
            "series_id": "GDP",
            "api_key": FRED_KEY,
            "file_type": "json",
            "vintage_dates": "2020-01-30,2020-04-29",
        },
    ).respond_with_json(fred_payload([("2019-10-01", "0.5")]))
    _client(fake_apis).observations("GDP", vintage_dates=["2020-01-30", "2020-04-29"])
    fake_apis.check_assertions()
    assert len(fake_apis.log) == 2


def test_bad_series_id_is_clear(fake_apis):
    fake_apis.expect_request(PATH).respond_with_json(
        {"error_code": 400, "error_message": "Bad Request.  The series does not exist."}, status=400
    )
    with pytest.raises(ActionError, match="FRED has no series 'NOSUCHSERIES'") as error:
        _client(fake_apis).observations("NOSUCHSERIES")
    assert FRED_KEY not in str(error.value)


def test_bad_key_is_clear(fake_apis):
    fake_apis.expect_request(PATH).respond_with_json(
        {
            "error_code": 400,
            "error_message": "Bad Request.  The value for variable api_key is not registered.",
        },
        status=400,
    )
    with pytest.raises(ActionError, match="rejected the API key"):
        _client(fake_apis).observations("DGS10")


def test_pagination_by_offset_and_429(fake_apis):
    fake_apis.expect_oneshot_request(PATH).respond_with_json(
        {"error_code": 429, "error_message": "Too Many Requests."},
        status=429,
        headers={"Retry-After": "3"},
    )
    fake_apis.expect_request(
        PATH, query_string={"series_id": "UNRATE", "api_key": FRED_KEY, "file_type": "json"}
    ).respond_with_json(fred_payload([("2024-01-01", "3.7"), ("2024-02-01", "3.9")], count=3))
    fake_apis.expect_request(
        PATH,
        query_string={
            "series_id": "UNRATE",
            "api_key": FRED_KEY,
            "file_type": "json",
            "limit": "100000",
            "offset": "2",
        },
    ).respond_with_json(fred_payload([("2024-03-01", "3.8")], count=3))
    sleeps: list[float] = []
    frame, details = _client(fake_apis, sleeps).observations("UNRATE")
    assert sleeps == [3.0]
    assert frame["value"].tolist() == [3.7, 3.9, 3.8]
    assert details["http_requests"] == 3


def test_missing_key_says_how_to_set_it(data_dir):
    with pytest.raises(ActionError) as error:
        load_prices(["DGS10"], source="fred")
    assert "FRED_API_KEY" in str(error.value) and ".streamlit/secrets.toml" in str(error.value)


def test_load_prices_from_fred_is_cached_and_keeps_latest_vintage(fake_apis):
    fake_apis.expect_request(PATH).respond_with_json(
        fred_payload(
            [
                ("2020-01-01", "100.0", "2020-04-29", "2020-05-28"),
                ("2020-01-01", "101.0", "2020-05-28", "9999-12-31"),
                ("2020-04-01", ".", "2020-07-30", "9999-12-31"),
                ("2020-07-01", "99.0", "2020-10-29", "9999-12-31"),
            ]
        )
    )
    data = load_prices(["GDPC1"], "fred", "2020-01-01", "2020-12-31")
    assert data.frame["GDPC1"].tolist() == [101.0, 99.0]
    assert any("vintages" in note for note in data.notes)
    again = load_prices(["GDPC1"], "fred", "2020-01-01", "2020-12-31")
    assert len(fake_apis.log) == 1
    assert again.fingerprint == data.fingerprint
    assert data.provenance["details"]["per_series"]["GDPC1"]["units"] == "lin"
